from seltda.cli.app import main

main()
