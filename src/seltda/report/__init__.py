"""The run report: ``write_report(run_dir)`` writes ``report.html`` (self-contained) and ``report.md``.

`inputs` reads the run's artifacts once, `sections` (and `samples`) turn them into the templates' data,
`render` writes the files, `plots` draws the figures.
"""

from seltda.report.render import write_report
from seltda.report.sections import build_context

__all__ = ["build_context", "write_report"]
