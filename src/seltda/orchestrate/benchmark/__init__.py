"""`seltda benchmark CONFIG.yaml`: several models on several evaluation sets, in one table with each model's
gain over the first and its interval.

`config` reads the YAML, `evaluations` runs (or reuses) one evaluation per model, replicate and set,
`table` turns them into the `Benchmark` artifact (`benchmark.json`); `seltda.report.benchmark` renders
`benchmark.md` and `report.html` from it.
"""

from __future__ import annotations

from seltda.orchestrate.benchmark.config import BenchmarkConfig, load_benchmark_config
from seltda.orchestrate.benchmark.evaluations import run_evaluations
from seltda.orchestrate.benchmark.table import build_table
from seltda.run.artifacts import Benchmark
from seltda.run.layout import BenchmarkLayout

__all__ = ["BenchmarkConfig", "load_benchmark_config", "run_benchmark"]


def run_benchmark(cfg: BenchmarkConfig, on_done=None) -> Benchmark:
    """Evaluate (or reuse) every model on every set and write `benchmark.json`; `on_done(task, status)`
    hears of each evaluation as it finishes."""
    table = build_table(cfg, run_evaluations(cfg, on_done))
    table.write(BenchmarkLayout(cfg.out).json)
    return table
