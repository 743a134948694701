"""The run report: a synthetic run folder in, report.html (self-contained) and report.md out."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from seltda.report import build_context, write_report

SCRIPT_QUESTION = "<script>alert('pwned')</script> what color is the shape?"
COLORS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 180, 30)}


def _image(path: Path, color: str, circle: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (32, 32), "white")
    pen = ImageDraw.Draw(image)
    (pen.ellipse if circle else pen.rectangle)((6, 6, 26, 26), fill=COLORS[color])
    image.save(path)


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")


def _arm(accuracy: float, color: float, shape: float) -> dict[str, Any]:
    return {
        "accuracy": accuracy,
        "exact_match": accuracy,
        "n": 4,
        "missing": 0,
        "per_question_type": {
            "color": {"accuracy": color, "exact_match": color, "n": 2},
            "shape": {"accuracy": shape, "exact_match": shape, "n": 2},
        },
        "per_answer_type": {"other": {"accuracy": accuracy, "exact_match": accuracy, "n": 4}},
    }


def _trainer_log(start: float) -> list[dict[str, Any]]:
    log = [
        {"loss": start / (1 + i), "learning_rate": 1e-3, "epoch": i, "step": 10 * (i + 1)} for i in range(5)
    ]
    return [*log, {"train_runtime": 12.5, "train_loss": start / 2, "epoch": 5, "step": 50}]


def _kept(image: str, question: str, answer: str, score: float, index: int) -> dict[str, Any]:
    raw = f"question : {question} answer : {answer}"
    provenance = {"score": score, "sample_index": index, "raw_text": raw}
    qid = f"syn-{image}-{index}"
    record = {"question_id": qid, "image": image, "question": question, "answers": [answer]}
    return dict(record, source="synthetic", provenance=provenance)


def _rejected(image: str, raw_text: str, reason: str, index: int) -> dict[str, Any]:
    return {"image": image, "sample_index": index, "raw_text": raw_text, "score": -3.0, "reason": reason}


def make_run(root: Path, ci: tuple[float, float] = (1.35, 2.53)) -> Path:
    """A finished run folder with every piece the report reads; images under ``root/images``."""
    run, images = root / "run", root / "images"
    pool = [("pool/0.png", "red", True), ("pool/1.png", "blue", False), ("pool/2.png", "green", True)]
    tests = [("test/0.png", "red", True), ("test/1.png", "blue", False)]
    for name, color, circle in pool + tests:
        _image(images / name, color, circle)

    test_records = [
        {"question_id": "q0", "image": "test/0.png", "question": "what color is the circle?",
         "answers": ["red"] * 10, "question_type": "color"},
        {"question_id": "q1", "image": "test/0.png", "question": "what is the red shape?",
         "answers": ["circle"] * 9 + ["oval"], "question_type": "shape"},
        {"question_id": "q2", "image": "test/1.png", "question": "what color is the rectangle?",
         "answers": ["blue"] * 10, "question_type": "color"},
        {"question_id": "q3", "image": "test/1.png", "question": "what is the blue shape?",
         "answers": ["rectangle"] * 10, "question_type": "shape"},
    ]  # fmt: skip
    _jsonl(run / "data" / "test.jsonl", test_records)
    (run / "config.yaml").write_text(
        f"images: {images}\ntest_images: null\nunlabeled_images: null\ntest: {run / 'data' / 'test.jsonl'}\n"
        "seed: 0\nteacher:\n  max_steps: 50\npseudolabel:\n  per_image: 3\nstudent:\n  max_steps: 50\n",
        encoding="utf-8",
    )

    baseline_scores = {"q0": 0.0, "q1": 100.0, "q2": 100.0, "q3": 0.0}
    student_scores = {"q0": 100.0, "q1": 0.0, "q2": 100.0, "q3": 0.0}
    baseline_answers = {"q0": "green", "q1": "circle", "q2": "blue", "q3": "circle"}
    student_answers = {"q0": "red", "q1": "triangle", "q2": "blue", "q3": "circle"}
    for name, scores, answers, acc in (
        ("baseline", baseline_scores, baseline_answers, 50.0),
        ("student", student_scores, student_answers, 50.0),
    ):
        _json(
            run / "eval" / f"{name}.json",
            dict(
                _arm(acc, 50.0, 50.0),
                per_question=scores,
                predictions=[{"question_id": q, "answer": a} for q, a in answers.items()],
            ),
        )
    gain = {
        "diff": 1.94, "ci_low": ci[0], "ci_high": ci[1], "p_value": 0.0, "n": 4, "n_resamples": 10000,
        "confidence": 0.95, "n_common": 4, "accuracy_a": 69.75, "accuracy_b": 71.69,
    }  # fmt: skip
    _json(run / "eval" / "compare.json", gain)

    kept = [
        _kept("pool/0.png", "what color is the circle?", "red", -0.25, 0),
        _kept("pool/0.png", SCRIPT_QUESTION, "red", -0.5, 2),
        _kept("pool/1.png", "is there a rectangle?", "yes", -0.1, 0),
    ]
    rejected = [
        _rejected("pool/0.png", "answer answer <b>garbage</b>", "unparsable", 1),
        _rejected("pool/2.png", "question : what shape? answer :", "empty_answer", 0),
    ]
    _jsonl(run / "pseudolabels" / "pseudolabels.jsonl", kept)
    _jsonl(run / "pseudolabels" / "rejected.jsonl", rejected)
    funnel = {"generated": 9, "parsed": 7, "answer_ok": 6, "deduplicated": 5, "confident": 4, "kept": 3}
    drops = {"unparsable": 2, "empty_answer": 1, "duplicate_question": 1, "low_score": 1, "other": 1}
    _json(
        run / "pseudolabels" / "manifest.json", {"image_root": str(images), "funnel": funnel, "drops": drops}
    )

    for stage, start in (("teacher", 4.0), ("baseline", 3.0), ("student", 3.5)):
        _json(run / stage / "trainer_log.json", _trainer_log(start))

    metrics = {
        "baseline": _arm(69.75, 37.34, 33.73),
        "seltda": _arm(71.69, 51.48, 33.25),
        "gain": gain,
        "pseudolabels": {
            "images": {"listed": 3, "unreadable": {}, "seen": 3},
            "funnel": funnel,
            "drops": drops,
            "accuracy_vs_truth": {
                "generated": 3,
                "scored": 3,
                "accuracy": 66.67,
                "per_question_type": {
                    "color": {"accuracy": 50.0, "n": 2},
                    "yes/no": {"accuracy": 100, "n": 1},
                },
            },
        },
        "timings_seconds": {"teacher": 12.5, "pseudolabel": 3.2, "baseline": 75.0, "student": 3700.0},
        "suites": {
            "easy-vqa": {"baseline": {"accuracy": 69.75, "n": 4}, "seltda": {"accuracy": 71.69, "n": 4}},
            "robustness": {"baseline": {"accuracy": 40.0, "note": "text"}, "seltda": {"accuracy": 42.5}},
        },
    }
    _json(run / "metrics.json", metrics)
    return run


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
