"""The `seltda` command line: commands from `stages.py` (one per stage) and `runs.py` (whole runs), the
`convert` group from `convert.py`, `benchmark` from `benchmark.py`. Every command is a few lines over a
library function."""

from __future__ import annotations

import os
import sys

import typer

from seltda.cli import runs, stages
from seltda.cli.benchmark import benchmark
from seltda.cli.convert import convert_app
from seltda.cli.errors import err

app = typer.Typer(
    help="SelTDA: self-train a vision-language model on unlabeled images to improve VQA on a small dataset.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for command in (stages.teacher, stages.pseudolabel, stages.student, stages.evaluate, stages.score):
    app.command()(command)
app.command()(runs.pretrain)
for command in (stages.compare, benchmark, stages.split):
    app.command()(command)
app.command("init-model")(stages.init_model)
for command in (runs.report, runs.push, runs.run, runs.demo, runs.curve):
    app.command()(command)
app.add_typer(convert_app, name="convert", help="Convert VQA v2, A-OKVQA, CSV/TSV, datasets, ... to records.")


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # weight loading and saving bars: one line per stage is enough
    import datasets

    datasets.disable_progress_bars()  # the pseudo-label dataset copy's saving bars
    try:
        app()
    except KeyboardInterrupt:
        err.print("[bold yellow]interrupted:[/] finished work is saved; rerun the same command to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
