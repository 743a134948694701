"""Where everything of a run lives: the one place that spells the run folder's paths.

A run folder holds its config, environment, the models (base, baseline, teacher, student), the
pseudo-labels, the evaluations, `metrics.json` and the report. Round 1 is the run folder itself; round
r >= 2 lives in `round<r>/` with the same per-round layout. A curve folder holds one run per point in
`fraction-<f>/seed-<s>/`. The inner files of `pseudolabels/` belong to the pseudo-label stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RoundLayout:
    """The folders one SelTDA round writes (teacher -> pseudo-labels -> student -> evaluation)."""

    root: Path
    number: int = 1

    @property
    def teacher(self) -> Path:
        return self.root / "teacher"

    @property
    def pseudolabels(self) -> Path:
        return self.root / "pseudolabels"

    @property
    def pseudolabel_dataset(self) -> Path:
        """The pipeline's Hub-ready copy of the kept pseudo-labels (`datasets` folder, images embedded)."""
        return self.pseudolabels / "dataset"

    @property
    def student(self) -> Path:
        return self.root / "student"

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"

    @property
    def student_eval(self) -> Path:
        return self.eval_dir / "student.json"

    @property
    def compare(self) -> Path:
        return self.eval_dir / "compare.json"

    @property
    def suffix(self) -> str:
        """The round's suffix in stage timings: '' for round 1, '_round<r>' after."""
        return "" if self.number == 1 else f"_round{self.number}"


@dataclass(frozen=True)
class RunLayout:
    """Every path of a run folder; `round(r)` gives a round's folders."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def inputs(self) -> Path:
        """The sha256 of each records file the run read (`train`, `test`, `dev`, `unlabeled_list`)."""
        return self.root / "inputs.json"

    @property
    def env(self) -> Path:
        return self.root / "env.json"

    @property
    def data(self) -> Path:
        """Inputs a run prepares for itself (the demo's export and labeled/unlabeled split)."""
        return self.root / "data"

    @property
    def split(self) -> Path:
        """A curve point's labeled share and unlabeled pool of the base config's records."""
        return self.root / "split"

    @property
    def base(self) -> Path:
        return self.root / "base"

    @property
    def selection(self) -> Path:
        """The labeled records split by image: `train.jsonl` (every model trains on it), `dev.jsonl`
        (held out to choose what is shipped)."""
        return self.root / "selection"

    @property
    def selection_train(self) -> Path:
        return self.selection / "train.jsonl"

    @property
    def selection_dev(self) -> Path:
        return self.selection / "dev.jsonl"

    @property
    def selection_split(self) -> Path:
        """What the split was made from (the records' sha256, the seed, `dev_fraction` or `dev_folds`)."""
        return self.selection / "split.json"

    @property
    def arms(self) -> Path:
        """Recipes other than the run's own: `arms/<recipe>/pseudolabels/` and `arms/<recipe>/student/`."""
        return self.root / "arms"

    def arm_model(self, arm: str, replicate: int = 1) -> Path:
        """An arm's model folder: `baseline/`, `student/` (the run's own recipe, `seltda`) or
        `arms/<arm>/student/`; replicate k >= 2 beside it with `-r<k>` appended."""
        folder = {"baseline": self.baseline, "seltda": self.student}.get(arm, self.arms / arm / "student")
        return folder if replicate == 1 else folder.with_name(f"{folder.name}-r{replicate}")

    def arm_pseudolabels(self, arm: str) -> Path:
        return self.pseudolabels if arm == "seltda" else self.arms / arm / "pseudolabels"

    def arm_eval(self, arm: str, replicate: int = 1, split: str = "test") -> Path:
        """`eval/<arm>[-r<k>].json` on the test records (`eval/baseline.json`, `eval/student.json` for the
        first replicates, as before), `eval/dev/<arm>[-r<k>].json` on dev."""
        if split == "test" and replicate == 1 and arm in ("baseline", "seltda"):
            return self.baseline_eval if arm == "baseline" else self.student_eval
        name = arm if replicate == 1 else f"{arm}-r{replicate}"
        return (self.eval_dir if split == "test" else self.eval_dir / split) / f"{name}.json"

    def arm_likelihood(self, arm: str, replicate: int = 1) -> Path:
        """`eval/dev/likelihood/<arm>[-r<k>].json`: the reference answers' log-likelihoods on dev."""
        name = arm if replicate == 1 else f"{arm}-r{replicate}"
        return self.eval_dir / "dev" / "likelihood" / f"{name}.json"

    @property
    def refit(self) -> Path:
        """After the verdict: `refit/<arm>/` (the shipped arm and the baseline trained again on train + dev),
        `refit/train.jsonl` (those records) and `refit/eval/<arm>.json` (their test evaluations)."""
        return self.root / "refit"

    def refit_model(self, arm: str) -> Path:
        return self.refit / arm

    def refit_eval(self, arm: str) -> Path:
        return self.refit / "eval" / f"{arm}.json"

    @property
    def folds(self) -> Path:
        """`dev_folds: k`: `folds/fold-<j>/` (j = 2..k), each a whole run that trains without fold j and
        holds it out as its dev; fold 1 is this run's own `selection/dev.jsonl`."""
        return self.root / "folds"

    def fold(self, number: int) -> Path:
        return self.folds / f"fold-{number}"

    def fold_records(self, number: int, split: str) -> Path:
        """Fold j's `train.jsonl` (every other fold) or `dev.jsonl` (fold j), in `selection/folds/`."""
        return self.selection / "folds" / f"fold-{number}-{split}.jsonl"

    @property
    def teacher_dev(self) -> Path:
        """The teacher's answers to the dev questions, scored per question type against the baseline's."""
        return self.eval_dir / "dev" / "teacher.json"

    @property
    def baseline(self) -> Path:
        return self.root / "baseline"

    @property
    def teacher(self) -> Path:
        return self.round(1).teacher

    @property
    def pseudolabels(self) -> Path:
        return self.round(1).pseudolabels

    @property
    def student(self) -> Path:
        return self.round(1).student

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"

    @property
    def baseline_eval(self) -> Path:
        return self.eval_dir / "baseline.json"

    @property
    def student_eval(self) -> Path:
        return self.round(1).student_eval

    @property
    def compare(self) -> Path:
        return self.round(1).compare

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def logs(self) -> Path:
        """The output of stages trained in a second process (`workers: 2`), one `<stage>.log` each."""
        return self.root / "logs"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_assets(self) -> Path:
        return self.root / "report_assets"

    def report_asset(self, name: str) -> Path:
        return self.report_assets / f"{name}.png"

    @property
    def pseudolabel_dataset(self) -> Path:
        return self.round(1).pseudolabel_dataset

    def trained(self) -> dict[str, Path]:
        """The trained model folders of round 1, by role (their trainer logs feed the report)."""
        return {"teacher": self.teacher, "baseline": self.baseline, "student": self.student}

    def round(self, number: int) -> RoundLayout:
        """Round 1 is the run folder itself; round r >= 2 is `round<r>/` inside it."""
        if number < 1:
            raise ValueError(f"rounds count from 1, got {number}")
        return RoundLayout(self.root if number == 1 else self.root / f"round{number}", number)


TRAINER_LOG = "trainer_log.json"  # written by the trainer into each trained model folder


@dataclass(frozen=True)
class CurveLayout:
    """A data-efficiency curve folder: one run per (fraction, seed) point, the curve's table and plot."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def point(self, fraction: float, seed: int) -> RunLayout:
        return RunLayout(self.root / f"fraction-{fraction:g}" / f"seed-{seed}")

    @property
    def json(self) -> Path:
        return self.root / "curve.json"

    @property
    def markdown(self) -> Path:
        return self.root / "curve.md"

    @property
    def plot(self) -> Path:
        return self.root / "curve.png"

    @property
    def data(self) -> Path:
        """The demo's exported data, shared by every point."""
        return self.root / "data"


def run_markers(folder: Path) -> tuple[Path, ...]:
    """The files of which one marks a folder as a seltda run (or curve) folder: a run's config and
    metrics, a curve's table."""
    run = RunLayout(folder)
    return run.config, run.metrics, CurveLayout(folder).json


def is_run_folder(folder: Path) -> bool:
    """Whether `folder` holds a seltda run or curve (any of `run_markers`)."""
    return any(path.is_file() for path in run_markers(folder))


@dataclass(frozen=True)
class BenchmarkLayout:
    """A benchmark folder (`seltda benchmark`): one evaluation per model, replicate and set, and the table."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def evaluation(self, model: str, evaluation_set: str, replicate: int = 1) -> Path:
        """`evals/<model>/<set>.json`, `evals/<model>/<set>-r<k>.json` for replicate k >= 2."""
        name = evaluation_set if replicate == 1 else f"{evaluation_set}-r{replicate}"
        return self.root / "evals" / model / f"{name}.json"

    @property
    def json(self) -> Path:
        return self.root / "benchmark.json"

    @property
    def markdown(self) -> Path:
        return self.root / "benchmark.md"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"
