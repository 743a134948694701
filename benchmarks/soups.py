"""Weight averages of a run's trained arms ("model soups", Wortsman et al. 2022; WiSE-FT when the baseline is
an ingredient) on finished curve points, scored on dev and test (issue 16).

Every arm of a run fine-tunes the same base model with the same schedule, so their weights can be averaged
without training anything: a soup costs one evaluation. For each point (a `fraction-F/seed-S` folder) and
each soup (`name=arm+arm[+...]`, uniform weights; `baseline` is the real-records model) this writes the
averaged model to `OUT/<fraction>/<seed>/<name>/`, evaluates it on the point's dev and test records, and
prints per fraction the soup's gain over the baseline per seed, with the interval over seeds and test
questions (`eval.intervals.seed_aware_gain`), beside the ingredients' own gains:

    OMP_NUM_THREADS=1 python benchmarks/soups.py runs/c40/fraction-0.02/seed-{0,1,3,4} --out runs/soup40 \\
        --soup students=seltda+agreed+grounded --soup wise=baseline+grounded

Nothing is retrained; evaluations already written are read back.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from seltda.eval.intervals import seed_aware_gain
from seltda.orchestrate.arms import BASELINE
from seltda.orchestrate.run_config import load_run_config
from seltda.orchestrate.selection import prepare_selection
from seltda.run.artifacts import Evaluation, RunMetrics
from seltda.run.layout import RunLayout
from seltda.stages.evaluate import EvaluateConfig, evaluate

WEIGHTS = "model.safetensors"


def average(models: list[Path], out: Path) -> Path:
    """The uniform average of `models`' weights (same architecture), with the first model's other files."""
    if (out / WEIGHTS).exists():
        return out
    states = [load_file(str(m / WEIGHTS)) for m in models]
    soup = {
        key: (sum(s[key].double() for s in states) / len(states)).to(states[0][key].dtype)
        if states[0][key].is_floating_point()
        else states[0][key]
        for key in states[0]
    }
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(models[0], tmp, ignore=shutil.ignore_patterns("checkpoints", WEIGHTS, "*.bin"))
    save_file({k: v.contiguous() for k, v in soup.items()}, str(tmp / WEIGHTS))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def scored(model: Path, data: Path, images: Path, cfg: EvaluateConfig, out_file: Path) -> dict[str, float]:
    """The model's per-question scores, evaluated with the run's settings (read back when done)."""
    if not out_file.exists():
        evaluate(str(model), data, images, out_file, cfg)
    return Evaluation.read(out_file).per_question


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("points", type=Path, nargs="+", help="curve points (fraction-F/seed-S)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--soup", action="append", required=True, help="name=arm+arm[+...]")
    args = parser.parse_args()
    soups = {name: arms.split("+") for name, arms in (s.split("=", 1) for s in args.soup)}
    torch.manual_seed(0)
    rows: dict[str, dict[str, list]] = {}
    for point in args.points:
        layout, fraction = RunLayout(point), point.parent.name.removeprefix("fraction-")
        cfg = load_run_config(layout.config)
        metrics = RunMetrics.read(layout.metrics)
        here = args.out / fraction / point.name
        base_test = Evaluation.read(layout.arm_eval(BASELINE)).per_question
        base_dev = Evaluation.read(layout.arm_eval(BASELINE, split="dev")).per_question
        per = rows.setdefault(fraction, {})
        for arm in [a for a in metrics.arms if a != BASELINE]:
            test = Evaluation.read(layout.arm_eval(arm)).per_question
            per.setdefault(arm, []).append((base_test, test, None))
        for name, arms in soups.items():
            kept = here / f"{name}.json"  # a soup's name stands for its ingredients: one meaning per folder
            if kept.is_file() and json.loads(kept.read_text()) != arms:
                raise SystemExit(f"{here / name} holds {kept.read_text()}, not {arms}: use another name")
            here.mkdir(parents=True, exist_ok=True)
            kept.write_text(json.dumps(arms))
            model = average([layout.arm_model(a) for a in arms], here / name)
            dev_file, dev_images = prepare_selection(cfg, layout, [])[1]  # the point's dev, as it chose on
            dev = scored(model, dev_file, dev_images, cfg.evaluate, here / f"{name}.dev.json")
            test = scored(
                model, cfg.test, cfg.test_images or cfg.images, cfg.evaluate, here / f"{name}.test.json"
            )
            dev_gain = seed_aware_gain([base_dev], [dev], questions="dev")
            per.setdefault(name, []).append((base_test, test, dev_gain))
            print(
                f"{fraction} {point.name} {name}: dev {dev_gain['diff']:+.2f} "
                f"[{dev_gain['ci_low']:+.2f}, {dev_gain['ci_high']:+.2f}]",
                flush=True,
            )
    print(
        "\n| fraction | arm or soup | seeds | test gain [95% CI, seeds and test] | per seed | dev per seed |"
    )
    print("|---|---|---|---|---|---|")
    for fraction, per in sorted(rows.items(), key=lambda item: float(item[0])):
        for name, results in per.items():
            gain = seed_aware_gain([b for b, _, _ in results], [t for _, t, _ in results])
            seeds = ", ".join(f"{v:+.2f}" for v in gain["per_replicate"])
            devs = ", ".join(f"{d['diff']:+.2f}" for _, _, d in results if d)
            print(
                f"| {fraction} | {name} | {len(results)} | {gain['diff']:+.2f} "
                f"[{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}] | {seeds} | {devs} |"
            )


if __name__ == "__main__":
    main()
