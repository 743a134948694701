"""The benchmark's table as `benchmark.md` and `report.html` (the run report's templates and styles):
one row per evaluation set and figure, one column per model, each model's gain over the first with its
interval and what the interval covers."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from seltda.core.fileio import atomic_write_text
from seltda.report.render import environment
from seltda.run.artifacts import Benchmark
from seltda.run.layout import BenchmarkLayout


def benchmark_context(table: Benchmark, folder: Path) -> dict[str, Any]:
    """The templates' data: the models, and per row its cells (value, replicates, gain) in model order."""
    names = [model.name for model in table.models]
    rows = []
    previous_set = None
    for row in table.rows:
        reference = row.cells.get(table.reference) or next(iter(row.cells.values()), None)
        cells = []
        for name in names:
            cell, gain = row.cells.get(name), row.gains.get(name)
            cells.append(
                {
                    "model": name,
                    "value": cell.value if cell else None,
                    "per_replicate": cell.per_replicate if cell and len(cell.per_replicate) > 1 else [],
                    "gain": gain.model_dump() if gain else None,
                }
            )
        rows.append(
            {
                "set": row.set,
                "first_of_set": row.set != previous_set,
                "label": row.label,
                "units": row.units,
                "n": reference.n if reference else None,
                "cells": cells,
            }
        )
        previous_set = row.set
    return {
        "folder": str(folder),
        "generated_at": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "reference": table.reference,
        "confidence": f"{table.confidence:.0%}",
        "models": [m.model_dump() for m in table.models],
        "others": names[1:],
        "sets": [s.model_dump() for s in table.sets],
        "rows": rows,
        "covers": table.covers,
    }


def write_benchmark_report(folder: Path) -> dict[str, Path]:
    """Write `benchmark.md` and `report.html` from the folder's `benchmark.json`; returns their paths."""
    layout = BenchmarkLayout(folder)
    context = benchmark_context(Benchmark.read(layout.json), layout.root)
    env = environment()
    return {
        "markdown": atomic_write_text(layout.markdown, env.get_template("benchmark.md.j2").render(context)),
        "html": atomic_write_text(layout.report_html, env.get_template("benchmark.html.j2").render(context)),
    }
