"""The `seltda` command line: a thin shell over the library."""

from seltda.cli.app import app, main

__all__ = ["app", "main"]
