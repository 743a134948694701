"""Checkpoint choice on dev and weight averaging, measured by the seed spread they leave (issue 16, item 4).

For each finished curve point given (fraction-F/seed-S, with its `selection/` split and an arm's
pseudo-labels), the baseline and one student arm are trained again exactly as the run trained them (the
stage's recorded config: same seed, steps and records), while a Trainer callback keeps in memory the
weights at several steps and an exponential moving average (EMA) of them. Each arm is then scored as

- `fixed`: the weights at the last step (what the pipeline ships today);
- `dev`: the snapshot with the best dev accuracy (later steps win ties);
- `ema`: the EMA of every step's weights (decay `--ema`);
- `lawa`: the uniform average of the snapshots of `--lawa` (latest weight averaging, Kaddour 2022).

dev accuracy for every snapshot and strategy, test accuracy (the full test set) for each strategy's model.
The summary gives, per strategy, the arms' mean and seed spread (sd over seeds) on test and the student's
gain over the baseline per seed with its interval over seeds and test questions (`eval.intervals`).

    OMP_NUM_THREADS=1 python benchmarks/checkpoint_choice.py runs/c20/fraction-0.02/seed-{0,1,2,3,4} \
        --out runs/ckpt20 --arm agreed

Resumable: each (point, arm) is written to OUT/<seed>/<arm>/result.json when done; a rerun skips it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import TrainerCallback

from seltda.core.records import read_records
from seltda.demo.easyvqa import image_root
from seltda.eval.intervals import seed_aware_gain
from seltda.eval.metrics import score_predictions
from seltda.models.registry import resolve_model
from seltda.stages.evaluate import EvaluateConfig, predict
from seltda.stages.student import train_student
from seltda.stages.student_config import StudentConfig


class Snapshots(TrainerCallback):
    """Copies of the trainable weights at `steps`, and their EMA over every optimizer step."""

    def __init__(self, steps: set[int], decay: float) -> None:
        self.steps, self.decay = steps, decay
        self.saved: dict[int, dict[str, torch.Tensor]] = {}
        self.ema: dict[str, torch.Tensor] | None = None

    def on_step_end(self, args, state, control, model=None, **kwargs):
        weights = {
            n: p.detach() for n, p in model.named_parameters(remove_duplicate=False) if p.requires_grad
        }
        if self.ema is None:
            self.ema = {n: w.clone() for n, w in weights.items()}
        else:
            for name, weight in weights.items():
                self.ema[name].mul_(self.decay).add_(weight, alpha=1 - self.decay)
        if state.global_step in self.steps:
            self.saved[state.global_step] = {n: w.clone() for n, w in weights.items()}


def write_variant(final: Path, weights: dict[str, torch.Tensor], out: Path) -> Path:
    """The final model folder with its trained weights replaced by `weights` (tied copies follow)."""
    if not (out / "model.safetensors").is_file():
        shutil.copytree(final, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("checkpoints"))
        state = load_file(str(final / "model.safetensors"))
        state.update({k: v.contiguous() for k, v in weights.items() if k in state})
        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def accuracy(model: Path, records: list, root: Path) -> tuple[float, dict[str, float]]:
    predictions, _ = predict(str(model), records, root, EvaluateConfig())
    scored = score_predictions(records, predictions)
    return scored["accuracy"], scored["per_question"]


def measure(point: Path, arm: str, out: Path, args: argparse.Namespace) -> dict:
    """Train one arm of one curve point again with snapshots; score every strategy."""
    result_file = out / "result.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    stage_dir = point / ("baseline" if arm == "baseline" else f"arms/{arm}/student")
    stage = json.loads((stage_dir / "seltda_stage.json").read_text())
    overrides = {"model": str(resolve_model(args.model))} | (
        {"max_steps": args.max_steps} if args.max_steps else {}
    )
    cfg = StudentConfig(**(stage["config"] | overrides))
    root = image_root()
    callback = Snapshots(set(args.steps), args.ema)
    final = out / "model"
    shutil.rmtree(final, ignore_errors=True)  # snapshots live in memory: a half-done arm restarts
    train_student(
        [Path(p) for p in stage["train_files"]],
        root,
        final,
        cfg,
        synthetic_file=Path(stage["synthetic_file"]) if stage.get("synthetic_file") else None,
        synthetic_image_root=root,
        callbacks=[callback],
    )
    dev = read_records(point / "selection/dev.jsonl")
    test = read_records(args.test)[: args.limit]
    dev_by_step = {}
    for step, weights in sorted(callback.saved.items()):
        folder = write_variant(final, weights, out / f"step-{step}")
        dev_by_step[step] = accuracy(folder, dev, root)[0]
    chosen = max(dev_by_step, key=lambda s: (dev_by_step[s], s))
    lawa = {
        name: torch.stack([callback.saved[s][name] for s in args.lawa]).mean(dim=0)
        for name in callback.saved[args.lawa[0]]
    }
    models = {
        "fixed": final,
        "dev": out / f"step-{chosen}",
        "ema": write_variant(final, callback.ema, out / "ema"),
        "lawa": write_variant(final, lawa, out / "lawa"),
    }
    result = {"dev_by_step": dev_by_step, "dev_choice": chosen, "strategies": {}}
    for name, folder in models.items():
        dev_acc = dev_by_step[chosen] if name == "dev" else accuracy(folder, dev, root)[0]
        test_acc, per_question = accuracy(folder, test, root)
        result["strategies"][name] = {"dev": dev_acc, "test": test_acc, "per_question": per_question}
        print(point.name, arm, name, dev_acc, test_acc, flush=True)
    for step in callback.saved:
        shutil.rmtree(out / f"step-{step}") if step != chosen else None
    result_file.write_text(json.dumps(result))
    return result


def summarize(results: dict[str, dict[str, dict]], arm: str) -> dict:
    """Per strategy: each arm's test mean and sd over seeds, the gain per seed and its interval."""
    points = sorted(results)
    summary = {}
    for strategy in ("fixed", "dev", "ema", "lawa"):
        base = [results[p]["baseline"]["strategies"][strategy] for p in points]
        cand = [results[p][arm]["strategies"][strategy] for p in points]
        gain = seed_aware_gain([b["per_question"] for b in base], [c["per_question"] for c in cand])
        summary[strategy] = {
            "baseline": {
                "mean": statistics.mean(b["test"] for b in base),
                "sd": statistics.stdev(b["test"] for b in base),
            },
            arm: {
                "mean": statistics.mean(c["test"] for c in cand),
                "sd": statistics.stdev(c["test"] for c in cand),
            },
            "gain": {
                "per_seed": gain["per_replicate"],
                "mean": gain["diff"],
                "sd": statistics.stdev(gain["per_replicate"]),
                "ci": [gain["ci_low"], gain["ci_high"]],
            },
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("points", nargs="+", type=Path, help="finished curve points (fraction-F/seed-S)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--arm", default="agreed", help="the student arm compared with the baseline")
    parser.add_argument(
        "--steps", type=lambda s: [int(x) for x in s.split(",")], default=[200, 300, 400, 500, 600]
    )
    parser.add_argument("--lawa", type=lambda s: [int(x) for x in s.split(",")], default=[400, 500, 600])
    parser.add_argument("--ema", type=float, default=0.99, help="EMA decay per optimizer step")
    parser.add_argument("--max-steps", type=int, help="override the recorded steps (a quick check only)")
    parser.add_argument("--limit", type=int, help="score the first N test questions only (a quick check)")
    parser.add_argument("--test", type=Path, help="test records (default: the curve's data/test.jsonl)")
    parser.add_argument("--model", default="tiny-blip-pretrained", help="the base model the run started from")
    args = parser.parse_args()
    results = {}
    for point in args.points:
        args.test = args.test or point.parent.parent / "data/test.jsonl"
        results[point.name] = {
            arm: measure(point, arm, args.out / point.name / arm, args) for arm in ("baseline", args.arm)
        }
    if len(results) > 1:
        summary = summarize(results, args.arm)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
        print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
