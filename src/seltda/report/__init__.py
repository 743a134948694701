"""The run report: ``write_report(run_dir)`` writes ``report.html`` (self-contained) and ``report.md``."""

from seltda.report.build import build_context, write_report

__all__ = ["build_context", "write_report"]
