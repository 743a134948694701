"""Train more arms on finished run or curve points, in copies, without retraining what they share (issue 16).

A recipe tried on finished points needs only its own student: the baseline, teacher and pseudo-labels are
the point's. Each point folder is copied to `OUT/<fraction>/<seed>/` (the models are small) and run again
with the recipes added as references (never shipped: the point's verdict is unchanged), so the original's
`metrics.json` is left as it was. Recipes are written as in a run config (YAML or JSON mappings); `like:`
starts from a built-in recipe and overrides what the mapping gives (`student` and `pseudolabel` merged):

    OMP_NUM_THREADS=1 python benchmarks/extra_arms.py runs/c44/fraction-0.02/seed-{0,1} --out runs/c44x \\
        --recipe '{name: grounded-long, like: grounded, student: {max_steps: 1200}}'

Then score the copies as any point: `python benchmarks/verdict_rules.py runs/c44x/*/* --candidates ...`.
A rerun resumes (finished arms are kept).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import yaml

from seltda.orchestrate.pipeline import run
from seltda.orchestrate.recipes import Recipe, resolve_recipe
from seltda.orchestrate.run_config import load_recorded_config

SKIPPED = ("checkpoints",)  # a finished point's Trainer checkpoints are not needed to add an arm


def moved(value: Any, old: str, new: str) -> Any:
    """`value` (a config, recursively) with the paths under `old` moved under `new`."""
    if isinstance(value, str) and (value == old or value.startswith(old + "/")):
        return new + value[len(old) :]
    if isinstance(value, dict):
        return {key: moved(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [moved(item, old, new) for item in value]
    return value


def copy_point(point: Path, out: Path) -> Path:
    """`point` copied to `out/<fraction>/<seed>` (once), its recorded config's paths under the point (`out`,
    a base model built in the run folder, its records) moved to the copy."""
    target = out / point.parent.name / point.name
    if not target.exists():
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(point, partial, ignore=shutil.ignore_patterns(*SKIPPED))
        config = yaml.safe_load((partial / "config.yaml").read_text(encoding="utf-8"))
        for old in dict.fromkeys((str(point), str(point.resolve()))):
            config = moved(config, old, str(target))
        (partial / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        partial.rename(target)
    return target


def written(mapping: dict) -> Recipe:
    """A recipe from its mapping; `like: <built-in>` fills in what the mapping does not override."""
    mapping = dict(mapping)
    like = mapping.pop("like", None)
    if like is None:
        return Recipe.model_validate(mapping)
    base = resolve_recipe(like).model_dump()
    changes = {key: value for key, value in mapping.items() if key != "name"}
    for part in ("student", "pseudolabel"):
        mapping[part] = {**base[part], **mapping.get(part, {})}
    return Recipe.model_validate({**base, "description": f"{like}, with {changes}", **mapping})


def add_arms(point: Path, out: Path, recipes: list[Recipe]) -> dict:
    """`point` copied under `out` and run again with `recipes` added as references (a reference of the same
    name replaced: changed, its arm is refused as stale); its metrics."""
    target = copy_point(point, out)
    cfg = load_recorded_config(target / "config.yaml")
    names = {recipe.name for recipe in recipes}
    clash = names & {resolve_recipe(r).name for r in cfg.candidates}
    if clash:
        raise SystemExit(f"{point}: {', '.join(sorted(clash))} is a candidate of the point already")
    kept = [r for r in cfg.references if resolve_recipe(r).name not in names]
    return run(cfg.model_copy(update={"out": target, "references": [*kept, *recipes]}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("points", nargs="+", type=Path, help="finished points (fraction-F/seed-S folders)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--recipe", action="append", required=True, help="a recipe as a YAML/JSON mapping")
    args = parser.parse_args()
    recipes = [written(yaml.safe_load(text)) for text in args.recipe]
    for point in args.points:
        print(f"{point}: {', '.join(recipe.name for recipe in recipes)}", flush=True)
        add_arms(point, args.out, recipes)


if __name__ == "__main__":
    main()
