"""Progress bars (seltda.core.progress)."""

from __future__ import annotations

import io

from rich.console import Console

from seltda.core import progress


def test_track_yields_everything_and_stays_quiet_off_a_terminal(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=stream, force_terminal=False))
    assert list(progress.track((i for i in range(5)), "counting")) == [0, 1, 2, 3, 4]
    assert list(progress.track(range(3), "sized", total=3)) == [0, 1, 2]
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("counting") and lines[1].startswith("sized")
