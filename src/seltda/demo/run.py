"""The embedded default: easy-VQA, a labeled fraction of its train images, the pretrained tiny BLIP.

`demo` exports easy-VQA, splits it by image, builds a `RunConfig` and runs the library's pipeline on it,
scoring the pseudo-labels against the pool's ground truth; `demo_runner` gives `curve` its points.
"""

from __future__ import annotations

from pathlib import Path

from seltda.core.fileio import atomic_write_text
from seltda.core.records import Record, read_records, write_records
from seltda.demo import easyvqa
from seltda.demo.config import DemoConfig
from seltda.models.tiny_blip import SCRATCH_TINY
from seltda.orchestrate.curve import PointRunner
from seltda.orchestrate.pipeline import RunConfig, run
from seltda.orchestrate.split import write_split
from seltda.run.layout import RunLayout
from seltda.run.stage import stage_complete
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.student_config import StudentConfig
from seltda.stages.teacher_config import TeacherConfig

SHIPPED_PRETRAINED = Path(__file__).parents[1] / "models" / "assets" / "tiny-blip-pretrained"


def pretrained_base(cfg: DemoConfig) -> str:
    """The pretrained tiny BLIP: a given folder, the shipped weights, or pretrained now (then cached)."""
    if cfg.pretrained_model is not None:
        return str(cfg.pretrained_model)
    if stage_complete(SHIPPED_PRETRAINED):
        return str(SHIPPED_PRETRAINED)
    from seltda.demo.pretrain.trainer import pretrain

    cache = Path("runs/.cache/tiny-blip-pretrained")
    pretrain(cache)
    return str(cache)


def demo_run_config(cfg: DemoConfig) -> tuple[RunConfig, list[Record]]:
    """Export easy-VQA, split it by image and build the run config; also returns the pool's ground truth."""
    data = RunLayout(cfg.out).data
    paths = easyvqa.export(cfg.data_dir or data)
    train = read_records(paths["train"])
    split = write_split(train, cfg.labeled_fraction, cfg.seed, data)
    unlabeled = split["pool"]
    if cfg.pool_limit is not None:
        images = unlabeled.read_text().splitlines()[: cfg.pool_limit]
        unlabeled = data / "unlabeled_subset.txt"
        atomic_write_text(unlabeled, "".join(f"{i}\n" for i in images))
    test = paths["test"]
    if cfg.test_limit is not None:
        test = data / "test_subset.jsonl"
        write_records(test, read_records(paths["test"])[: cfg.test_limit])
    training = {"max_steps": cfg.steps, "save_steps": max(50, cfg.steps // 3)}
    if cfg.learning_rate is not None:
        training["learning_rate"] = cfg.learning_rate
    run_cfg = RunConfig(
        out=Path(cfg.out),
        model=pretrained_base(cfg) if cfg.base == "pretrained" else SCRATCH_TINY,
        train=split["labeled"],
        images=paths["image_root"],
        unlabeled_list=unlabeled,
        test=test,
        tiny=cfg.tiny,
        seed=cfg.seed,
        threads=cfg.threads,
        workers=cfg.workers,
        teacher=TeacherConfig(**training),
        pseudolabel=(PseudoLabelConfig.plain if cfg.plain_recipe else PseudoLabelConfig)(
            per_image=cfg.per_image,
            batch_size=256,  # the tiny model decodes 1.2x faster than at 64
        ),
        student=StudentConfig(**training),
        rounds=cfg.rounds,
        replicates=cfg.replicates,
        references=cfg.references,
        refit=cfg.refit,
        **{
            key: value
            for key in ("candidates", "dev_fraction", "dev_folds", "verdict", "prefer")
            if (value := getattr(cfg, key)) is not None
        },
    )
    pool = set(unlabeled.read_text().splitlines())
    return run_cfg, [r for r in train if r.image in pool]


def demo(cfg: DemoConfig, force: bool = False) -> dict:
    """Run SelTDA against the baseline on easy-VQA (`force`: retrain stages whose settings changed)."""
    run_cfg, truth = demo_run_config(cfg)

    def score(synthetic: list[Record]) -> dict:
        return easyvqa.pseudolabel_accuracy(synthetic, truth)

    return run(run_cfg, score, demo=cfg.model_dump(mode="json"), force=force)


def demo_runner(base: DemoConfig, data_dir: Path, force: bool = False) -> PointRunner:
    """Curve points over the embedded easy-VQA demo (pseudo-labels scored against the ground truth;
    `force`: retrain the finished stages whose settings changed)."""

    def run_one(fraction: float, seed: int, out: Path) -> dict:
        cfg = base.model_copy(
            update={"out": out, "labeled_fraction": fraction, "seed": seed, "data_dir": data_dir}
        )
        return demo(cfg, force=force)

    return run_one
