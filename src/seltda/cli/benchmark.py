"""`seltda benchmark CONFIG.yaml`: models x evaluation sets in one table, gains over the first model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from seltda.cli.errors import user_errors
from seltda.cli.summary import console


def benchmark_table(table) -> Table:
    """The benchmark as a rich table: a column per model, a gain column per model after the first."""
    names = [model.name for model in table.models]
    conf = f"{table.confidence:.0%}"
    headers = ["set", "figure", "n"]
    for name in names:
        headers += [name] if name == table.reference else [name, f"{name} − {table.reference} [{conf} CI]"]
    out = Table(*headers, title="benchmark")
    previous = None
    for row in table.rows:
        first = next(iter(row.cells.values()))
        cells = [row.set if row.set != previous else "", row.label, f"{first.n:,} {row.units}"]
        previous = row.set
        for name in names:
            cell, gain = row.cells.get(name), row.gains.get(name)
            cells.append("-" if cell is None else f"{cell.value:.2f}")
            if name != table.reference:
                cells.append(
                    f"{gain.diff:+.2f} [{gain.ci_low:+.2f}, {gain.ci_high:+.2f}]" if gain is not None else "-"
                )
        out.add_row(*cells)
    return out


@user_errors
def benchmark(
    config: Annotated[Path, typer.Argument(help="YAML benchmark config: models, sets (see README)")],
    root: Annotated[
        Path | None,
        typer.Option(
            help="folder the config's relative paths resolve against (default: the config's folder)"
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default: the config's `out`)")] = None,
) -> None:
    """Evaluate models on evaluation sets (resumable) and print one table with each model's gain over the
    first and its 95% interval; writes benchmark.json, benchmark.md and report.html."""
    from seltda.orchestrate.benchmark import load_benchmark_config, run_benchmark
    from seltda.report.benchmark import write_benchmark_report
    from seltda.run.layout import BenchmarkLayout

    cfg = load_benchmark_config(config, root)
    if out is not None:
        cfg = cfg.model_copy(update={"out": out})

    def done(task, status: str) -> None:
        replicate = f" replicate {task.replicate}" if task.model.replicates > 1 else ""
        console.print(f"{task.model.name}{replicate} on {task.set.name}: {status}", soft_wrap=True)

    table = run_benchmark(cfg, on_done=done)
    console.print(benchmark_table(table))
    for text in table.covers:
        console.print(f"intervals cover: {text}", soft_wrap=True)
    paths = write_benchmark_report(cfg.out)
    console.print(
        f"benchmark: {BenchmarkLayout(cfg.out).json}, {paths['markdown']} and [bold]{paths['html']}[/]",
        soft_wrap=True,
    )
