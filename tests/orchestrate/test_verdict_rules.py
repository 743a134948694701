"""benchmarks/verdict_rules.py: what each rule ships on finished points, in each point's order or another."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import verdict_rules  # noqa: E402
from test_verdict import _evaluation  # noqa: E402

from seltda.orchestrate.arms import Arm  # noqa: E402
from seltda.orchestrate.verdict import summarize  # noqa: E402
from seltda.run.artifacts import RunMetrics  # noqa: E402
from seltda.run.layout import RunLayout  # noqa: E402


def _point(folder: Path, order: list[str], prefer: str | None) -> None:
    """A finished point: `first` and `second` both confirmed on dev by accuracy, `second` by more; on test
    `first` gains 10 points and `second` 20."""
    layout = RunLayout(folder)
    arms = [Arm("baseline", True, None, [folder / "baseline"])]
    for name, dev_right, test_right in (("first", 160, 110), ("second", 190, 120)):
        arms.append(Arm(name, True, type("R", (), {"description": name})(), [folder / name]))
        arms[-1].dev, arms[-1].test = [_evaluation(dev_right)], [_evaluation(test_right)]
    arms[0].dev, arms[0].test = [_evaluation(100)], [_evaluation(100)]
    for arm in arms:
        arm.test[0].write(layout.arm_eval(arm.name))
    RunMetrics(arms=summarize(arms, {})).write(layout.metrics)
    config = f"candidates: [{', '.join(order)}]\n" + (f"prefer: {prefer}\n" if prefer else "")
    layout.config.write_text("out: o\ntrain: t\nimages: i\ntest: null\n" + config)


def _shipped(monkeypatch, capsys, *args: str) -> list[tuple[str, str]]:
    """(seed, arm shipped) for each row of the `accuracy` rule."""
    monkeypatch.setattr(sys, "argv", ["verdict_rules.py", *args])
    verdict_rules.main()
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if "| accuracy |" in line]
    return [(row[1], row[3]) for row in rows if len(row) == 8]


def test_each_point_is_judged_in_its_own_order_unless_told_another(tmp_path, monkeypatch, capsys):
    points = [tmp_path / "fraction-0.02" / f"seed-{s}" for s in (0, 1)]
    _point(points[0], ["first", "second"], "listed")
    _point(points[1], ["first", "second"], "listed")
    paths = [str(p) for p in points]
    # every point in its recorded order (the second point too: nothing of the first carries over)
    assert _shipped(monkeypatch, capsys, *paths) == [("0", "first"), ("1", "first")]
    assert _shipped(monkeypatch, capsys, *paths, "--prefer", "dev-gain") == [("0", "second"), ("1", "second")]
    assert _shipped(monkeypatch, capsys, *paths, "--prefer", "second,first") == [
        ("0", "second"),
        ("1", "second"),
    ]
    # --candidates gives the order where the point ranks in its listed order
    assert _shipped(monkeypatch, capsys, *paths, "--candidates", "second,first") == [
        ("0", "second"),
        ("1", "second"),
    ]
    with pytest.raises(SystemExit, match="names third"):
        _shipped(monkeypatch, capsys, *paths, "--prefer", "third,first")


def test_a_point_made_before_prefer_existed_ranks_by_dev_gain(tmp_path, monkeypatch, capsys):
    point = tmp_path / "fraction-0.02" / "seed-0"
    _point(point, ["first", "second"], None)
    assert _shipped(monkeypatch, capsys, str(point)) == [("0", "second")]
    assert _shipped(monkeypatch, capsys, str(point), "--prefer", "listed") == [("0", "first")]
