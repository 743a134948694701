"""Collect a finished run folder into ``report.html`` (self-contained) and ``report.md``.

Every input is optional: a missing or unreadable piece turns its section into a short note, it never
stops the report. Model outputs (generated questions, predictions, raw teacher text) are untrusted and
only ever reach the HTML through jinja2's autoescaping.
"""

from __future__ import annotations

import base64
import io
import json
import math
import random
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import yaml
from PIL import Image

from seltda.core.fileio import atomic_write_bytes, atomic_write_text
from seltda.core.images import try_load_image
from seltda.core.records import resolve_image_path
from seltda.report import plots

__all__ = ["build_context", "write_report"]

THUMB_SIZE = 128
MAX_PAIRS_PER_IMAGE = 20
CURVE_STAGES = ("teacher", "baseline", "student")
TEMPLATES = Path(__file__).parent / "templates"


# ---------------------------------------------------------------------------------------------- public


def write_report(run_dir: Path, gallery_size: int = 12, examples: int = 8, seed: int = 0) -> dict[str, Path]:
    """Write ``run_dir/report.html`` and ``run_dir/report.md`` (plots for the latter in ``report_assets/``).

    Returns the written paths: ``"html"``, ``"markdown"`` and one ``"plot:<name>"`` per PNG asset.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    context, figures = build_context(run_dir, gallery_size=gallery_size, examples=examples, seed=seed)
    env = _environment()
    written: dict[str, Path] = {}

    html_context = dict(context, plots={name: _data_uri(png) for name, png in figures.items()})
    html = env.get_template("report.html.j2").render(html_context)
    written["html"] = atomic_write_text(run_dir / "report.html", html)

    assets: dict[str, str] = {}
    for name, png in figures.items():
        path = atomic_write_bytes(run_dir / "report_assets" / f"{name}.png", png)
        written[f"plot:{name}"] = path
        assets[name] = f"report_assets/{name}.png"
    markdown = env.get_template("report.md.j2").render(dict(context, plots=assets))
    written["markdown"] = atomic_write_text(run_dir / "report.md", markdown)
    return written


def build_context(
    run_dir: Path, gallery_size: int = 12, examples: int = 8, seed: int = 0
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The template context (plain data) and the plots (name -> PNG bytes) for ``run_dir``."""
    run = _Run(Path(run_dir))
    figures: dict[str, bytes] = {}
    context: dict[str, Any] = {
        "run_dir": str(run.run_dir),
        "run_name": run.run_dir.resolve().name,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "headline": _headline(run),
        "learning_curve": _learning_curve(run, figures),
        "rounds": _rounds(run),
        "per_type": _per_type(run, figures),
        "curves": _curves(run, figures),
        "funnel": _funnel(run, figures),
        "gallery": _gallery(run, gallery_size, seed),
        "examples": _examples(run, examples, seed),
        "suites": _suites(run),
        "timings": _timings(run),
        "config": _config_summary(run),
    }
    context["problems"] = run.problems
    return context, figures


# ---------------------------------------------------------------------------------------------- inputs


class _Run:
    """Lazy, forgiving access to the pieces of a run folder."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.problems: list[str] = []  # unreadable files, shown at the end of the report
        self.metrics = _as_dict(self.json("metrics.json"))
        self.config = _as_dict(self._yaml("config.yaml"))
        self._thumbs: dict[Path, tuple[str | None, str | None]] = {}

    def json(self, relative: str) -> Any:
        path = self.run_dir / relative
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self.problems.append(f"{relative}: unreadable ({exc})")
            return None

    def _yaml(self, relative: str) -> Any:
        path = self.run_dir / relative
        if not path.is_file():
            return None
        try:
            return yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            self.problems.append(f"{relative}: unreadable ({exc})")
            return None

    def jsonl(self, path: Path) -> Iterator[dict[str, Any]]:
        """The JSON objects of a JSONL file, skipping (and counting) lines that are not objects."""
        bad = 0
        try:
            with path.open(encoding="utf-8-sig", errors="replace") as handle:
                for line in handle:
                    if not line.strip():
                        continue
                    try:
                        item = json.loads(line)
                    except ValueError:
                        bad += 1
                        continue
                    if isinstance(item, dict):
                        yield item
                    else:
                        bad += 1
        except OSError as exc:
            self.problems.append(f"{path}: unreadable ({exc})")
        if bad:
            self.problems.append(f"{path}: {bad} line(s) skipped (not JSON objects)")

    def config_path(self, key: str, fallback: str | None = None) -> Path | None:
        """A path from config.yaml (``fallback`` key when null), made absolute against cwd or the run."""
        value = self.config.get(key)
        if value in (None, "") and fallback:
            value = self.config.get(fallback)
        if not isinstance(value, str) or not value:
            return None
        path = Path(value).expanduser()
        if path.is_absolute() or path.exists():
            return path
        return self.run_dir / path

    def thumbnail(self, root: Path | None, relative: Any) -> tuple[str | None, str | None]:
        """``(data URI, None)`` for the image, or ``(None, why not)``."""
        if root is None:
            return None, "image root unknown (no config.yaml)"
        if not isinstance(relative, str):
            return None, "no image path"
        try:
            path = resolve_image_path(root, relative)
        except ValueError as exc:
            return None, str(exc)
        if path not in self._thumbs:
            image, reason = try_load_image(path)
            self._thumbs[path] = (_thumbnail_uri(image), None) if image else (None, f"image {reason}")
        return self._thumbs[path]


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _thumbnail_uri(image: Image.Image) -> str:
    """Small images are scaled up by an integer factor (crisp pixels), big ones down to ``THUMB_SIZE``."""
    side = max(image.size)
    if side <= THUMB_SIZE:
        factor = max(1, THUMB_SIZE // side)
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    else:
        image = image.copy()
        image.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", optimize=True)
    return _data_uri(buffer.getvalue())


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ---------------------------------------------------------------------------------------------- sections


def _arm(run: _Run, metrics_key: str, eval_name: str) -> dict[str, Any]:
    """One arm's evaluation summary: metrics.json first, eval/<arm>.json as fallback."""
    arm = _as_dict(run.metrics.get(metrics_key))
    if _num(arm.get("accuracy")) is None:
        arm = _as_dict(run.json(f"eval/{eval_name}.json"))
    return arm


def _headline(run: _Run) -> dict[str, Any] | None:
    baseline, seltda = _arm(run, "baseline", "baseline"), _arm(run, "seltda", "student")
    gain = _as_dict(run.metrics.get("gain")) or _as_dict(run.json("eval/compare.json"))
    base_acc, sel_acc = _num(baseline.get("accuracy")), _num(seltda.get("accuracy"))
    if base_acc is None and sel_acc is None and not gain:
        return None
    diff, low, high = _num(gain.get("diff")), _num(gain.get("ci_low")), _num(gain.get("ci_high"))
    if diff is None and base_acc is not None and sel_acc is not None:
        diff = sel_acc - base_acc
    confidence = _num(gain.get("confidence")) or 0.95
    level = f"{100 * confidence:g}%"
    if low is None or high is None:
        verdict, verdict_class = "No confidence interval in this run: the gain is not tested.", "neutral"
    elif low > 0:
        verdict = f"SelTDA beats the baseline: the {level} CI excludes 0."
        verdict_class = "good"
    elif high < 0:
        verdict = f"SelTDA is worse than the baseline: the {level} CI excludes 0."
        verdict_class = "bad"
    else:
        verdict = f"The {level} CI includes 0: not distinguishable from noise."
        verdict_class = "neutral"
    n = _num(gain.get("n_common")) or _num(gain.get("n")) or _num(baseline.get("n")) or _num(seltda.get("n"))
    return {
        "baseline": base_acc,
        "seltda": sel_acc,
        "diff": diff,
        "ci_low": low,
        "ci_high": high,
        "confidence": level,
        "p_value": _format_p(_num(gain.get("p_value")), _num(gain.get("n_resamples"))),
        "n_resamples": _num(gain.get("n_resamples")),
        "n": int(n) if n is not None else None,
        "missing_baseline": _num(baseline.get("missing")),
        "missing_seltda": _num(seltda.get("missing")),
        "verdict": verdict,
        "verdict_class": verdict_class,
    }


def _format_p(p_value: float | None, resamples: float | None) -> str | None:
    if p_value is None:
        return None
    if p_value == 0 and resamples:
        return f"< {1 / resamples:.2g}"
    return f"{p_value:.3g}" if p_value >= 0.001 else f"{p_value:.1e}"


def _per_type(run: _Run, figures: dict[str, bytes]) -> dict[str, Any] | None:
    baseline, seltda = _arm(run, "baseline", "baseline"), _arm(run, "seltda", "student")
    tables = []
    for key, title in (("per_question_type", "question type"), ("per_answer_type", "answer type")):
        base_types, sel_types = _as_dict(baseline.get(key)), _as_dict(seltda.get(key))
        rows = []
        for name in sorted(set(base_types) | set(sel_types), key=str):
            b, s = _as_dict(base_types.get(name)), _as_dict(sel_types.get(name))
            b_acc, s_acc = _num(b.get("accuracy")), _num(s.get("accuracy"))
            n = _num(b.get("n")) or _num(s.get("n"))
            rows.append(
                {
                    "type": str(name),
                    "baseline": b_acc,
                    "seltda": s_acc,
                    "diff": s_acc - b_acc if b_acc is not None and s_acc is not None else None,
                    "n": int(n) if n is not None else None,
                }
            )
        if rows:
            tables.append({"title": title, "rows": rows})
    if not tables:
        return None
    main = tables[0]["rows"]
    if any(r["baseline"] is not None or r["seltda"] is not None for r in main):
        figures["accuracy_per_type"] = plots.accuracy_per_type_plot(
            [r["type"] for r in main], [r["baseline"] for r in main], [r["seltda"] for r in main]
        )
    return {"tables": tables}


def _learning_curve(run: _Run, figures: dict[str, bytes]) -> dict[str, Any] | None:
    """The data-efficiency curve of a `seltda curve` folder (curve.json)."""
    curve = run.json("curve.json") if (run.run_dir / "curve.json").exists() else None
    rows = [r for r in _as_dict(curve).get("rows", []) if isinstance(r, dict) and _num(r.get("fraction"))]
    if not rows:
        return None
    figures["learning_curve"] = plots.learning_curve_plot(rows)
    table = []
    for row in rows:
        pooled = _as_dict(row.get("pooled_gain"))
        table.append(
            {
                "fraction": row["fraction"],
                "labeled": row.get("labeled_questions"),
                "seeds": len(row.get("seeds", [])),
                "baseline": _num(row.get("baseline")),
                "baseline_std": _num(row.get("baseline_std")),
                "seltda": _num(row.get("seltda")),
                "seltda_std": _num(row.get("seltda_std")),
                "diff": _num(row.get("gain")),
                "ci_low": _num(pooled.get("ci_low")),
                "ci_high": _num(pooled.get("ci_high")),
                "pseudo": _num(row.get("pseudolabel_accuracy")),
            }
        )
    return {"rows": table}


def _rounds(run: _Run) -> list[dict[str, Any]] | None:
    """Accuracy per SelTDA round (runs with `rounds` >= 2)."""
    rounds = run.metrics.get("rounds")
    if not isinstance(rounds, list) or not rounds:
        return None
    baseline = _num(_as_dict(run.metrics.get("baseline")).get("accuracy"))
    rows = []
    for item in rounds:
        item = _as_dict(item)
        gain = _as_dict(item.get("gain"))
        rows.append(
            {
                "round": item.get("round"),
                "baseline": baseline,
                "seltda": _num(item.get("accuracy")),
                "diff": _num(gain.get("diff")),
                "ci_low": _num(gain.get("ci_low")),
                "ci_high": _num(gain.get("ci_high")),
                "pseudo": _num(item.get("pseudolabel_accuracy")),
            }
        )
    return rows


def _curves(run: _Run, figures: dict[str, bytes]) -> dict[str, Any] | None:
    curves: dict[str, tuple[list[float], list[float]]] = {}
    rows = []
    for stage in CURVE_STAGES:
        log = run.json(f"{stage}/trainer_log.json")
        if isinstance(log, dict):  # a whole trainer_state.json
            log = log.get("log_history")
        if not isinstance(log, list):
            continue
        points = [
            (_num(e.get("step")), _num(e.get("loss")))
            for e in log
            if isinstance(e, dict) and _num(e.get("step")) is not None and _num(e.get("loss")) is not None
        ]
        final = next((e for e in reversed(log) if isinstance(e, dict) and "train_loss" in e), {})
        if points:
            curves[stage] = ([p[0] for p in points], [p[1] for p in points])  # type: ignore[misc]
        rows.append(
            {
                "stage": stage,
                "points": len(points),
                "last_loss": points[-1][1] if points else None,
                "train_loss": _num(final.get("train_loss")),
                "steps": _num(final.get("step")) or (points[-1][0] if points else None),
                "runtime": _num(final.get("train_runtime")),
            }
        )
    if not rows:
        return None
    if curves:
        figures["training_curves"] = plots.training_curves_plot(curves)
    return {"rows": rows, "missing": [s for s in CURVE_STAGES if s not in {r["stage"] for r in rows}]}


def _funnel(run: _Run, figures: dict[str, bytes]) -> dict[str, Any] | None:
    pseudo = _as_dict(run.metrics.get("pseudolabels"))
    manifest = _as_dict(run.json("pseudolabels/manifest.json"))
    funnel = _as_dict(pseudo.get("funnel")) or _as_dict(manifest.get("funnel"))
    drops = _as_dict(pseudo.get("drops")) or _as_dict(manifest.get("drops"))
    images = _as_dict(pseudo.get("images")) or _as_dict(manifest.get("images"))
    truth = _as_dict(pseudo.get("accuracy_vs_truth"))
    if not (funnel or drops or truth):
        return None
    stages = [(str(k), int(v)) for k, v in funnel.items() if _num(v) is not None]
    first = stages[0][1] if stages else 0
    rows, previous = [], None
    for stage, count in stages:
        rows.append(
            {
                "stage": stage,
                "count": count,
                "share": 100 * count / first if first else None,
                "dropped": previous - count if previous is not None else None,
            }
        )
        previous = count
    if stages:
        figures["funnel"] = plots.funnel_plot([s for s, _ in stages], [c for _, c in stages])
    total_drops = sum(int(v) for v in drops.values() if _num(v) is not None)
    drop_rows = [
        {"reason": str(k), "count": int(v), "share": 100 * v / total_drops if total_drops else None}
        for k, v in sorted(drops.items(), key=lambda kv: -(_num(kv[1]) or 0))
        if _num(v) is not None
    ]
    truth_section = None
    if truth:
        scored = _num(truth.get("scored"))
        if scored is None:
            scored = _num(truth.get("matched"))
        truth_section = {
            "accuracy": _num(truth.get("accuracy")),
            "scored": int(scored) if scored is not None else None,
            "generated": _num(truth.get("generated")),
            "unanswerable": _num(truth.get("unanswerable_or_false_premise")),
            "rows": [
                {
                    "type": str(k),
                    "accuracy": _num(_as_dict(v).get("accuracy")),
                    "n": _num(_as_dict(v).get("n")),
                }
                for k, v in sorted(
                    _as_dict(truth.get("per_question_type")).items(), key=lambda kv: str(kv[0])
                )
            ],
        }
    unreadable = _as_dict(images.get("unreadable"))
    return {
        "rows": rows,
        "drops": drop_rows,
        "images": {
            "listed": _num(images.get("listed")),
            "seen": _num(images.get("seen")),
            "unreadable": {str(k): v for k, v in unreadable.items()},
        }
        if images
        else None,
        "truth": truth_section,
    }


def _gallery(run: _Run, size: int, seed: int) -> dict[str, Any] | None:
    kept_path = run.run_dir / "pseudolabels" / "pseudolabels.jsonl"
    rejected_path = run.run_dir / "pseudolabels" / "rejected.jsonl"
    sources = [(p, kind) for p, kind in ((kept_path, "kept"), (rejected_path, "rejected")) if p.is_file()]
    if not sources or size <= 0:
        return None
    names: set[str] = set()
    for path, _ in sources:  # first pass: only the image names, so a big pool stays cheap
        names.update(item["image"] for item in run.jsonl(path) if isinstance(item.get("image"), str))
    if not names:
        return None
    chosen = sorted(random.Random(seed).sample(sorted(names), min(size, len(names))))
    pairs: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    for path, kind in sources:
        for item in run.jsonl(path):
            if item.get("image") in pairs:
                pairs[item["image"]].append(_pair(item, kind))
    root = run.config_path("unlabeled_images", fallback="images")
    if root is None and isinstance(run.json("pseudolabels/manifest.json"), dict):
        manifest_root = run.json("pseudolabels/manifest.json").get("image_root")
        root = Path(manifest_root) if isinstance(manifest_root, str) else None
    items = []
    for name in chosen:
        entries = sorted(pairs[name], key=lambda p: (p["sample_index"] is None, p["sample_index"] or 0))
        thumb, why = run.thumbnail(root, name)
        items.append(
            {
                "image": name,
                "thumb": thumb,
                "thumb_problem": why,
                "pairs": entries[:MAX_PAIRS_PER_IMAGE],
                "more": max(0, len(entries) - MAX_PAIRS_PER_IMAGE),
                "kept": sum(p["kind"] == "kept" for p in entries),
                "rejected": sum(p["kind"] == "rejected" for p in entries),
            }
        )
    return {
        "items": items,
        "pool": len(names),
        "has_rejected": rejected_path.is_file(),
    }


def _pair(item: Mapping[str, Any], kind: str) -> dict[str, Any]:
    provenance = _as_dict(item.get("provenance"))
    index = item.get("sample_index", provenance.get("sample_index"))
    answers = item.get("answers")
    return {
        "kind": kind,
        "question": str(item.get("question", "")),
        "answers": ", ".join(map(str, answers)) if isinstance(answers, list) else "",
        "raw_text": str(item.get("raw_text", provenance.get("raw_text", ""))),
        "reason": str(item.get("reason", "")),
        "score": _num(item.get("score", provenance.get("score"))),
        "sample_index": index if isinstance(index, int) else None,
    }


def _examples(run: _Run, count: int, seed: int) -> dict[str, Any] | None:
    base_eval, student_eval = (
        _as_dict(run.json("eval/baseline.json")),
        _as_dict(run.json("eval/student.json")),
    )
    base_scores = _as_dict(base_eval.get("per_question"))
    student_scores = _as_dict(student_eval.get("per_question"))
    if not base_scores or not student_scores or count <= 0:
        return None

    def right(score: Any) -> bool:
        value = _num(score)
        return value is not None and value >= 99.9

    def wrong(score: Any) -> bool:
        value = _num(score)
        return value is not None and value <= 1e-9

    common = [q for q in base_scores if q in student_scores]
    wins = [q for q in common if right(student_scores[q]) and wrong(base_scores[q])]
    losses = [q for q in common if wrong(student_scores[q]) and right(base_scores[q])]
    rng = random.Random(seed)
    picked_wins = rng.sample(wins, min(count, len(wins)))
    picked_losses = rng.sample(losses, min(count, len(losses)))
    wanted = set(picked_wins) | set(picked_losses)

    records: dict[str, dict[str, Any]] = {}
    test_path = run.config_path("test")
    if wanted and test_path is not None and test_path.is_file():
        for record in run.jsonl(test_path):
            qid = record.get("question_id")
            if qid is not None and str(qid) in wanted:
                records[str(qid)] = record
    root = run.config_path("test_images", fallback="images")
    base_answers = _predictions(base_eval)
    student_answers = _predictions(student_eval)

    def example(qid: str) -> dict[str, Any]:
        record = records.get(qid, {})
        truth = record.get("answers")
        counted = Counter(map(str, truth)) if isinstance(truth, list) else Counter()
        thumb, why = run.thumbnail(root, record.get("image")) if record else (None, "test record not found")
        return {
            "question_id": qid,
            "question": str(record.get("question", "")),
            "question_type": str(record.get("question_type") or ""),
            "thumb": thumb,
            "thumb_problem": why,
            "baseline": base_answers.get(qid, ""),
            "student": student_answers.get(qid, ""),
            "truth": [{"answer": a, "count": n} for a, n in counted.most_common()],
        }

    return {
        "wins": [example(q) for q in picked_wins],
        "losses": [example(q) for q in picked_losses],
        "n_wins": len(wins),
        "n_losses": len(losses),
        "n_common": len(common),
        "test_records_found": bool(records) or not wanted,
    }


def _predictions(evaluation: Mapping[str, Any]) -> dict[str, str]:
    predictions = evaluation.get("predictions")
    if isinstance(predictions, dict):
        return {str(k): str(v) for k, v in predictions.items()}
    if not isinstance(predictions, list):
        return {}
    return {
        str(p.get("question_id")): str(p.get("answer", ""))
        for p in predictions
        if isinstance(p, dict) and p.get("question_id") is not None
    }


def _suites(run: _Run) -> list[dict[str, Any]] | None:
    suites = _as_dict(run.metrics.get("suites"))
    out = []
    for name, arms in suites.items():
        arms = _as_dict(arms)
        base, sel = _as_dict(arms.get("baseline")), _as_dict(arms.get("seltda"))
        rows = []
        for metric in list(dict.fromkeys([*base, *sel])):
            b, s = _exact(base.get(metric)), _exact(sel.get(metric))
            if b is None and s is None:
                continue
            rows.append({"metric": str(metric), "baseline": b, "seltda": s, "diff": _diff(b, s)})
        if rows:
            out.append({"name": str(name), "rows": rows})
    return out or None


def _exact(value: Any) -> int | float | None:
    """A finite number as given (ints stay ints), else None."""
    return value if _num(value) is not None else None


def _diff(a: float | None, b: float | None) -> float | None:
    return b - a if a is not None and b is not None else None


def _timings(run: _Run) -> dict[str, Any] | None:
    timings = _as_dict(run.metrics.get("timings_seconds"))
    rows = [{"stage": str(k), "seconds": _num(v)} for k, v in timings.items() if _num(v) is not None]
    if not rows:
        return None
    return {"rows": rows, "total": sum(r["seconds"] for r in rows)}


def _config_summary(run: _Run) -> dict[str, Any] | None:
    demo = _as_dict(run.metrics.get("demo"))
    if not run.config and not demo:
        return None
    rows = [{"key": str(k), "value": _scalar(v)} for k, v in run.config.items() if not isinstance(v, dict)]
    for section, values in run.config.items():
        if isinstance(values, dict):
            for key in _CONFIG_HIGHLIGHTS.get(str(section), ()):
                if key in values:
                    rows.append({"key": f"{section}.{key}", "value": _scalar(values[key])})
    return {
        "rows": rows,
        "yaml": yaml.safe_dump(run.config, sort_keys=False) if run.config else None,
        "demo": [{"key": str(k), "value": _scalar(v)} for k, v in demo.items() if not isinstance(v, dict)],
    }


_CONFIG_HIGHLIGHTS = {
    "teacher": ("max_steps", "batch_size", "learning_rate"),
    "pseudolabel": ("per_image", "top_p", "temperature", "min_score", "keep_top_fraction"),
    "student": ("max_steps", "batch_size", "learning_rate", "synthetic_ratio"),
}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) if value else "[]"
    return str(value)


# ---------------------------------------------------------------------------------------------- rendering


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=lambda name: bool(name) and not str(name).endswith(".md.j2"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _fmt_num
    env.filters["signed"] = _fmt_signed
    env.filters["count"] = _fmt_count
    env.filters["metric"] = _fmt_metric
    env.filters["duration"] = _fmt_duration
    env.filters["cell"] = _md_cell
    return env


def _fmt_num(value: Any, digits: int = 2) -> str:
    number = _num(value)
    return "–" if number is None else f"{number:.{digits}f}"


def _fmt_signed(value: Any, digits: int = 2) -> str:
    number = _num(value)
    if number is None:
        return "–"
    return f"{value:+,d}" if isinstance(value, int) else f"{number:+.{digits}f}"


def _fmt_metric(value: Any) -> str:
    """Integers as counts, other numbers with 2 decimals (4 significant digits when tiny)."""
    number = _num(value)
    if number is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,d}"
    return f"{number:.4g}" if 0 < abs(number) < 0.01 else f"{number:.2f}"


def _fmt_count(value: Any) -> str:
    number = _num(value)
    return "–" if number is None else f"{int(number):,}"


def _fmt_duration(value: Any) -> str:
    seconds = _num(value)
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: one line, pipes and HTML-ish brackets escaped."""
    text = " ".join(str(value).split())
    for char in ("\\", "|", "<", ">", "`", "*", "_", "[", "]"):
        text = text.replace(char, "\\" + char)
    return text
