"""Pseudo-label filters and rebalancing vs the paper's plain recipe, on finished demo runs.

For each run folder (a `seltda demo` or `benchmarks/easyvqa_seeds.py` seed), the teacher's existing
pseudo-label shards are re-filtered (no new sampling), a student is trained on each variant with the run's
own student settings, evaluated on the run's test set and compared with the run's baseline (paired
bootstrap 95% CI). Also scores each variant's pseudo-labels against easy-VQA's ground truth. Resumable.

    python benchmarks/easyvqa_filters.py runs/bench-pre/seed0 runs/bench-pre/seed1 runs/bench-pre/seed2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import yaml

from seltda.core.records import read_image_list, read_records
from seltda.demo import easyvqa
from seltda.eval.metrics import compare_scores, paired_bootstrap
from seltda.stages.evaluate import EvaluateConfig, evaluate
from seltda.stages.pseudolabel import merge
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.student import train_student
from seltda.stages.student_config import StudentConfig

VARIANTS = {
    "confident half": {"keep_top_fraction": 0.5},
    "no yes/no": {"max_yes_no_share": 0.0},
    "yes/no <= 25%": {"max_yes_no_share": 0.25},
    "yes/no <= 25%, confident half": {"max_yes_no_share": 0.25, "keep_top_fraction": 0.5},
    "round trip": {"roundtrip_model": "baseline"},
    "round trip, yes/no <= 25%": {"roundtrip_model": "baseline", "max_yes_no_share": 0.25},
    # the plain recipe with more of the unlabeled pool: synthetic records per real one (the reference's
    # example truncates real + synthetic to twice the real set, i.e. 1:1, which the curve uses)
    "plain, 4 synthetic per real": {"synthetic_ratio": 4.0},
    "plain, every pair": {"synthetic_ratio": 1000.0},
    "yes/no <= 25%, confident half, every pair": {
        "max_yes_no_share": 0.25,
        "keep_top_fraction": 0.5,
        "synthetic_ratio": 1000.0,
    },
}
STUDENT_KEYS = {"synthetic_ratio"}  # variant settings of the student; the others are pseudo-label filters


def roundtrip_shards(run: Path, shard_count: int) -> Path:
    """The run's shards with every pair answered by the run's baseline (written once, then reused)."""
    import shutil

    from PIL import Image

    from seltda.core.records import write_records
    from seltda.stages.pseudolabel import RoundTrip

    out = run / "variants" / "roundtrip_shards"
    if (out / "shards" / f"shard-{shard_count - 1:05d}.json").exists():
        return out
    config = yaml.safe_load((run / "config.yaml").read_text())
    root = Path(config["unlabeled_images"] or config["images"])
    checker = RoundTrip.load(str(run / "baseline"), "cpu", torch.float32, batch_size=128)
    for index in range(shard_count):
        source = run / "pseudolabels" / "shards" / f"shard-{index:05d}"
        records = read_records(source.with_suffix(".jsonl"))
        pictures = {name: Image.open(root / name).convert("RGB") for name in {r.image for r in records}}
        for record, answer in zip(records, checker.answer(records, pictures), strict=True):
            record.provenance.roundtrip_answer = answer
        target = out / "shards" / source.name
        write_records(target.with_suffix(".jsonl"), records)
        if source.with_suffix(".rejected.jsonl").exists():
            shutil.copy(source.with_suffix(".rejected.jsonl"), target.with_suffix(".rejected.jsonl"))
        stats = json.loads(source.with_suffix(".json").read_text())
        (target.with_suffix(".json")).write_text(json.dumps({**stats, "roundtrip_model": "baseline"}))
    return out


def run_variant(run: Path, name: str, updates: dict, truth: list) -> dict:
    config = yaml.safe_load((run / "config.yaml").read_text())
    folder = run / "variants" / name.replace(" ", "_").replace("/", "").replace("<=", "le").replace(",", "")
    manifest = json.loads((run / "pseudolabels" / "manifest.json").read_text())
    filters = {k: v for k, v in updates.items() if k not in STUDENT_KEYS}
    if "synthetic_ratio" in updates and not filters:  # the plain recipe: no filter, whatever the run used
        filters = {"keep_top_fraction": None, "max_yes_no_share": None}
    cfg = PseudoLabelConfig(**{**manifest["config"], **filters})
    shards = run / "pseudolabels"
    if cfg.roundtrip_model:  # the baseline answers each pair once; the merge keeps the agreeing ones
        shards = roundtrip_shards(run, manifest["shards"])
    merge(folder / "pseudolabels", manifest["shards"], cfg, {}, shards_from=shards)
    synthetic_file = folder / "pseudolabels" / "pseudolabels.jsonl"
    quality = easyvqa.pseudolabel_accuracy(read_records(synthetic_file), truth)
    student_updates = {k: updates[k] for k in STUDENT_KEYS & set(updates)}
    student_cfg = StudentConfig(**{**config["student"], **student_updates})
    if student_cfg.model == "base":  # configs written before stage models were resolved
        student_cfg.model = config["model"] or str(run / "base")
    images = Path(config["images"])
    train_student([Path(config["train"])], images, folder / "student", student_cfg, synthetic_file, images)
    result_file = folder / "student.json"
    result = (
        json.loads(result_file.read_text())
        if result_file.exists()
        else evaluate(str(folder / "student"), Path(config["test"]), images, result_file, EvaluateConfig())
    )
    return {"result": result, "pseudolabels": quality, "kept": len(read_records(synthetic_file))}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), help="default: all")
    args = parser.parse_args()
    rows: dict[str, list] = {}
    pooled: dict[str, tuple[list, list]] = {}
    for run in args.runs:
        config = yaml.safe_load((run / "config.yaml").read_text())
        pool = set(read_image_list(Path(config["unlabeled_list"])))
        truth = [r for r in easyvqa.load_split("train") if r.image in pool]
        baseline = json.loads((run / "eval" / "baseline.json").read_text())
        plain = json.loads((run / "eval" / "student.json").read_text())
        plain_quality = json.loads((run / "metrics.json").read_text())["pseudolabels"]["accuracy_vs_truth"]
        outcomes = {"plain (paper)": {"result": plain, "pseudolabels": plain_quality, "kept": None}}
        for name in args.variants:
            outcomes[name] = run_variant(run, name, VARIANTS[name], truth)
        for name, outcome in outcomes.items():
            gain = compare_scores(
                baseline["per_question"], outcome["result"]["per_question"], n_resamples=2000
            )
            keys = sorted(baseline["per_question"])
            a, b = pooled.setdefault(name, ([], []))
            a += [baseline["per_question"][k] for k in keys]
            b += [outcome["result"]["per_question"][k] for k in keys]
            types = outcome["result"]["per_question_type"]
            rows.setdefault(name, []).append(
                f"| {name} | {run.name} | {outcome['pseudolabels']['accuracy']:.1f} | "
                f"{outcome['kept'] or '-'} | "
                f"{baseline['accuracy']:.2f} | {outcome['result']['accuracy']:.2f} | "
                f"{gain['diff']:+.2f} [{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}] | "
                + " / ".join(f"{types[t]['accuracy']:.1f}" for t in ("yes/no", "color", "shape"))
                + " |"
            )
    print(
        "| variant | run | pseudo-label acc. | kept | baseline | student | gain [95% CI] | "
        "student yes/no / color / shape |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in rows:
        print("\n".join(rows[name]))
    print("\npooled over runs:")
    for name, (a, b) in pooled.items():
        gain = paired_bootstrap(a, b, n_resamples=2000)
        print(f"- {name}: {gain['diff']:+.2f} [{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}]")


if __name__ == "__main__":
    main()
