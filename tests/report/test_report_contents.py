"""The run report: a synthetic run folder in, report.html (self-contained) and report.md out."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from report_run import make_run

from seltda.report import build_context, write_report


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path)


def _sections(html: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([\w-]+)">(.*?)</section>', html, flags=re.S))


def test_full_report_contents(run_dir: Path) -> None:
    written = write_report(run_dir, gallery_size=12, examples=8, seed=0)
    assert written["html"] == run_dir / "report.html" and written["html"].is_file()
    assert written["markdown"] == run_dir / "report.md" and written["markdown"].is_file()
    html = written["html"].read_text(encoding="utf-8")
    sections = _sections(html)

    # 1. headline, with the CI and a verdict
    head = sections["headline"]
    assert "69.75" in head and "71.69" in head and "+1.94" in head
    assert "[+1.35, +2.53]" in head and "&lt; 0.0001" in head
    assert "the 95% CI excludes 0" in head
    # 2. per question type: table and plot
    assert 'id="accuracy-table"' in sections["per-type"]
    assert "+14.14" in sections["per-type"]  # color: 51.48 - 37.34
    plots = re.findall(r'<img class="plot"[^>]*src="data:image/png;base64,[A-Za-z0-9+/=]+"', html)
    assert len(plots) == 3  # per type, training curves, funnel
    # 4. funnel, drops, pseudo-label accuracy vs truth
    assert "unparsable" in sections["funnel"] and "66.67" in sections["funnel"]
    # 5. gallery: every pool image with generations, kept and rejected pairs distinct, thumbnails embedded
    gallery = sections["gallery"]
    items = re.findall(r'<div class="gallery-item">(.*?)</ul>', gallery, flags=re.S)
    assert len(items) == 3
    assert all('<img class="thumb"' in item and "data:image/png;base64," in item for item in items)
    assert gallery.count('<li class="kept">') == 3 and gallery.count('<li class="rejected">') == 2
    assert "empty_answer" in gallery and "is there a rectangle?" in gallery
    # 6. examples: q0 is right for the student only, q1 the reverse
    examples = sections["examples"]
    wins = examples.split('id="student-wins"')[1].split('id="baseline-wins"')[0]
    assert "what color is the circle?" in wins and "red" in wins and "green" in wins
    assert "what is the red shape?" in examples.split('id="baseline-wins"')[1]
    assert "circle ×9" in examples and "data:image/png;base64," in wins
    # 7. suites (numeric metrics only), timings, config
    assert 'id="suites"' in html and "robustness" in sections["suites"] and "text" not in sections["suites"]
    assert "1 h 01 min" in sections["timings"]
    assert "pseudolabel.per_image" in sections["config"]

    # self-contained: no scripts, no network resources
    assert "<script" not in html
    assert not re.search(r'(src|href)="(?!data:|#)', html)


def test_untrusted_text_is_escaped(run_dir: Path) -> None:
    html = write_report(run_dir)["html"].read_text(encoding="utf-8")
    assert "<script>" not in html and "<b>garbage</b>" not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    assert "&lt;b&gt;garbage&lt;/b&gt;" in html


def test_markdown_summary_and_assets(run_dir: Path) -> None:
    written = write_report(run_dir)
    markdown = written["markdown"].read_text(encoding="utf-8")
    assert "| baseline (real data) | 69.75 |" in markdown
    assert "| 95% CI | [+1.35, +2.53] |" in markdown
    assert "SelTDA beats the baseline: the 95% CI excludes 0." in markdown
    assert "| easy-vqa | accuracy | 69.75 | 71.69 | +1.94 |" in markdown
    assert "| easy-vqa | n | 4 | 4 | +0 |" in markdown  # integer metrics stay integers
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown):
        assert (run_dir / link).is_file()
    assert {"plot:accuracy_per_type", "plot:training_curves", "plot:funnel"} <= set(written)
    assert (run_dir / "report_assets" / "funnel.png").read_bytes().startswith(b"\x89PNG")


def test_ci_including_zero_is_called_noise(tmp_path: Path) -> None:
    run = make_run(tmp_path, ci=(-0.4, 2.1))
    html = write_report(run)["html"].read_text(encoding="utf-8")
    assert "The 95% CI includes 0: not distinguishable from noise." in html


def test_gallery_choice_is_seeded_and_sized(run_dir: Path) -> None:
    def chosen(seed: int) -> list[str]:
        context, _ = build_context(run_dir, gallery_size=2, seed=seed)
        return [item["image"] for item in context["gallery"]["items"]]

    assert len(chosen(0)) == 2 and chosen(0) == chosen(0)
    assert len({tuple(chosen(s)) for s in range(10)}) > 1


def test_examples_are_limited(run_dir: Path) -> None:
    context, _ = build_context(run_dir, examples=0)
    assert context["examples"] is None
    context, _ = build_context(run_dir, examples=1)
    assert len(context["examples"]["wins"]) == 1 and context["examples"]["n_wins"] == 1


@pytest.mark.parametrize(
    "remove",
    [
        ["eval"],
        ["pseudolabels"],
        ["teacher", "baseline", "student"],
        ["pseudolabels/rejected.jsonl"],
        ["config.yaml"],
        ["metrics.json"],
        ["eval", "pseudolabels", "teacher", "baseline", "student", "config.yaml", "metrics.json", "data"],
    ],
)
def test_missing_pieces_still_give_a_report(run_dir: Path, remove: list[str]) -> None:
    for name in remove:
        path = run_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    written = write_report(run_dir)
    html = written["html"].read_text(encoding="utf-8")
    assert written["markdown"].is_file() and "</html>" in html
    sections = _sections(html)
    if "eval" in remove:
        assert "examples omitted" in sections["examples"]
    if "pseudolabels" in remove:
        assert "gallery omitted" in sections["gallery"]
    if "teacher" in remove:
        assert "No trainer logs" in sections["curves"]
    if "pseudolabels/rejected.jsonl" in remove:
        assert "only kept pairs" in sections["gallery"] and "gallery-item" in sections["gallery"]
    if "metrics.json" in remove and "eval" not in remove:  # falls back to eval/*.json
        assert "[+1.35, +2.53]" in sections["headline"]
    if len(remove) > 5:
        assert "headline omitted" in sections["headline"] and 'id="suites"' not in html


def test_broken_inputs_are_reported_not_fatal(run_dir: Path, tmp_path: Path) -> None:
    (run_dir / "metrics.json").write_text("{not json", encoding="utf-8")
    (run_dir / "teacher" / "trainer_log.json").write_text('{"log_history": "nope"}', encoding="utf-8")
    with (run_dir / "pseudolabels" / "rejected.jsonl").open("a", encoding="utf-8") as handle:
        handle.write("not json\n[1, 2]\n")
    (tmp_path / "images" / "pool" / "1.png").write_bytes(b"not a png")
    (tmp_path / "images" / "pool" / "2.png").unlink()
    html = write_report(run_dir, gallery_size=3)["html"].read_text(encoding="utf-8")
    assert "metrics.json: unreadable" in html
    assert "2 line(s) skipped" in html
    gallery = _sections(html)["gallery"]
    assert "image not_an_image" in gallery and "image missing" in gallery
    assert gallery.count('<img class="thumb"') == 1


def test_missing_run_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "nope")


def test_the_arms_table_says_what_dev_could_confirm(run_dir: Path) -> None:
    """A dev gain within noise is shown with the smallest gain that dev split confirms 80% of the time."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["arms"] = {
        "baseline": {"dev": 80.0, "test": 79.0},
        "agreed": {
            "dev": 81.0,
            "test": 81.0,
            "gain_dev": {"diff": 1.0, "ci_low": -4.0, "ci_high": 6.0, "detectable": 7.15},
            "gain_test": {"diff": 2.0, "ci_low": 1.0, "ci_high": 3.0},
        },
    }
    metrics["verdict"] = "shipping the baseline: no candidate beats it on 160 dev questions beyond noise"
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    written = write_report(run_dir, gallery_size=4, examples=2, seed=0)
    table = _sections(written["html"].read_text(encoding="utf-8"))["verdict"]
    assert "+1.00 [-4.00, +6.00]" in table and "confirms a gain &ge; +7.15 80% of the time" in table
    assert table.count("confirms a gain") == 1  # the test gain has no such figure
    assert "+1.00 [-4.00, +6.00] (confirms >= +7.15)" in written["markdown"].read_text(encoding="utf-8")
