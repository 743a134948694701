"""One command per stage (teacher, pseudolabel, student, evaluate) and the tools around them.

Each stage command's options are its config's fields (`options.config_options`); the function builds
nothing but the config and calls the library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seltda.cli.errors import user_errors
from seltda.cli.options import config_options
from seltda.cli.summary import console, print_warnings, type_table
from seltda.core.fileio import SeltdaInputError, atomic_write_json, read_json
from seltda.stages.evaluate import EvaluateConfig
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.student_config import StudentConfig
from seltda.stages.teacher_config import TeacherConfig

STEPS = {"max_steps": ("--steps", "--max-steps")}
ImagesRoot = Annotated[Path, typer.Option("--images", help="image root; record paths are relative to it")]
PlainRecipe = Annotated[
    bool,
    typer.Option("--plain-recipe", "--plain", help="the paper's recipe: no confidence filter, no yes/no cap"),
]


@user_errors
@config_options(TeacherConfig, names=STEPS)
def teacher(
    cfg: TeacherConfig,
    train: Annotated[list[Path], typer.Option(help="labeled records (JSONL); repeatable")],
    images: ImagesRoot,
    out: Annotated[Path, typer.Option(help="teacher model folder to write")],
) -> None:
    """Fine-tune the VLM to generate a question and its answers from the image alone."""
    from seltda.stages.teacher import train_teacher

    metrics = train_teacher(train, images, out, cfg)
    console.print(f"teacher: {metrics['steps']} steps, loss {metrics['train_loss']:.3f} -> {out}")


@user_errors
@config_options(PseudoLabelConfig, names={"dataloader_workers": ("--workers", "--dataloader-workers")})
def pseudolabel(
    cfg: PseudoLabelConfig,
    teacher: Annotated[Path, typer.Option(help="teacher model folder")],
    images: Annotated[
        Path,
        typer.Option(help="folder of unlabeled images (scanned recursively) or a saved `datasets` folder"),
    ],
    out: Annotated[Path, typer.Option(help="output folder (pseudolabels.jsonl, manifest.json)")],
    image_list: Annotated[
        Path | None,
        typer.Option(help="only these images (relative to --images): one per line, or a records JSONL"),
    ] = None,
    plain: PlainRecipe = False,
    resume: Annotated[bool, typer.Option(help="skip finished shards (always safe)")] = True,
) -> None:
    """Label unlabeled images with the teacher: N sampled pairs per image, parsed and filtered."""
    from seltda.stages.pseudolabel import pseudolabel as run_pseudolabel

    if plain:
        cfg = cfg.model_copy(update={"keep_top_fraction": None, "max_yes_no_share": None})
    outcome = run_pseudolabel(str(teacher), images, out, cfg, image_list, fresh=not resume)
    if outcome.status == "rank_done":
        console.print("pseudo-labels: this process's shards are done; rank 0 merges")
        return
    if outcome.manifest is None:
        console.print(
            f"pseudo-labels: this task's shards are done; {outcome.shards} shards in all, merge pending"
        )
        return
    funnel = " -> ".join(f"{k} {v}" for k, v in outcome.manifest.funnel.items())
    console.print(f"pseudo-labels: {funnel} ({outcome.manifest.images.seen} images) -> {out}")


@user_errors
@config_options(StudentConfig, names=STEPS)
def student(
    cfg: StudentConfig,
    train: Annotated[list[Path], typer.Option(help="real labeled records (JSONL); repeatable")],
    images: ImagesRoot,
    out: Annotated[Path, typer.Option(help="student model folder to write")],
    synthetic: Annotated[Path | None, typer.Option(help="pseudolabels.jsonl; omit for the baseline")] = None,
    synthetic_images: Annotated[Path | None, typer.Option(help="image root of the pseudo-labels")] = None,
) -> None:
    """Fine-tune the VLM for VQA on real records (+ pseudo-labels); without --synthetic: the baseline."""
    from seltda.stages.student import train_student

    if synthetic is None:
        cfg = cfg.model_copy(update={"synthetic_ratio": 0.0})
    metrics = train_student(train, images, out, cfg, synthetic, synthetic_images)
    console.print(
        f"student: {metrics['real_records']} real + {metrics['synthetic_records']} synthetic records, "
        f"{metrics['steps']} steps, loss {metrics['train_loss']:.3f} -> {out}"
    )


@user_errors
@config_options(EvaluateConfig, names={"suites": ("--suite",)})
def evaluate(
    cfg: EvaluateConfig,
    model: Annotated[Path, typer.Option(help="VQA model folder")],
    data: Annotated[Path, typer.Option(help="records to answer (JSONL)")],
    images: ImagesRoot,
    out: Annotated[Path, typer.Option(help="predictions + metrics JSON to write")],
) -> None:
    """Answer the questions and score them, overall, per type and per robustness suite."""
    from seltda.eval.suites import SUITES
    from seltda.stages.evaluate import evaluate as run_evaluate

    unknown = set(cfg.suites) - set(SUITES)
    if unknown:
        raise SeltdaInputError(f"unknown suite(s) {sorted(unknown)}: choose among {list(SUITES)}")
    result = run_evaluate(str(model), data, images, out, cfg)
    console.print(f"accuracy {result['accuracy']:.2f} on {result['n']} questions -> {out}")
    print_warnings(result)
    console.print(type_table({"model": result}))
    for name, metrics in result["suites"].items():
        console.print(f"suite {name}: " + ", ".join(f"{k} {v}" for k, v in metrics.items()))


@user_errors
def score(
    predictions: Annotated[
        Path, typer.Argument(help="predictions: VQA results JSON [{question_id, answer}]")
    ],
    data: Annotated[Path, typer.Option(help="records with the ground-truth answers (JSONL)")],
    out: Annotated[Path | None, typer.Option(help="metrics JSON to write (same as `evaluate`)")] = None,
    metric: Annotated[
        str, typer.Option(help=EvaluateConfig.model_fields["metric"].description)
    ] = EvaluateConfig.model_fields["metric"].default,
) -> None:
    """Score predictions made by any model (the metric chosen for the records, see docs/metrics.md)."""
    from seltda.stages.evaluate import score as run_score

    result = run_score(predictions, data, out, metric=metric)
    console.print(
        f"accuracy {result['accuracy']:.2f} on {result['n']} questions ({result['missing']} missing)"
    )
    print_warnings(result)
    console.print(type_table({"predictions": result}))


@user_errors
def compare(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="evaluation JSONs: model A's then model B's (A.json B.json; with replicates, "
            "A1.json A2.json B1.json B2.json, replicate k of A paired with replicate k of B)"
        ),
    ],
    out: Annotated[Path | None, typer.Option(help="write the comparison JSON here")] = None,
    resamples: Annotated[int, typer.Option(help="bootstrap resamples")] = 10000,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Accuracy(B) - accuracy(A) with its 95% CI: a paired bootstrap over questions for one model each;
    with replicates (independently trained seeds), an interval that includes the seed spread."""
    from seltda.eval.intervals import seed_aware_gain
    from seltda.eval.metrics import compare_scores

    if len(files) < 2 or len(files) % 2:
        raise typer.BadParameter(f"give A's and B's evaluations, as many of each; got {len(files)} files")
    k = len(files) // 2
    scores = [read_json(path)["per_question"] for path in files]
    result = seed_aware_gain(scores[:k], scores[k:], n_resamples=resamples, seed=seed)
    if k == 1:
        result = {**compare_scores(scores[0], scores[1], n_resamples=resamples, seed=seed), **result}
    if out:
        atomic_write_json(out, result)
    line = f"B - A = {result['diff']:+.2f} points, 95% CI [{result['ci_low']:+.2f}, {result['ci_high']:+.2f}]"
    if k == 1:
        line += f", p = {result['p_value']:.3f}"
    else:
        line += f"; per replicate {', '.join(f'{g:+.2f}' for g in result['per_replicate'])}"
    console.print(f"{line}, {result['n']} questions; the interval covers {result['covers']}", soft_wrap=True)


@user_errors
def split(
    data: Annotated[Path, typer.Option(help="labeled records (JSONL)")],
    out: Annotated[Path, typer.Option(help="folder for labeled.jsonl and unlabeled.txt")],
    fraction: Annotated[float, typer.Option(help="share of images kept labeled")] = 0.05,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Split records by image: a labeled fraction and an unlabeled image pool (for experiments)."""
    from seltda.core.records import read_records
    from seltda.orchestrate.split import write_split

    paths = write_split(read_records(data), fraction, seed, out)
    console.print(f"wrote {paths['labeled']} and {paths['unlabeled']}")


@user_errors
def init_model(
    train: Annotated[Path, typer.Option(help="records whose words the vocabulary must cover")],
    out: Annotated[Path, typer.Option(help="model folder to write")],
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Create the tiny from-scratch BLIP (random weights, vocabulary from the records)."""
    from seltda.core.records import read_records
    from seltda.models.tiny_blip import build_tiny_blip
    from seltda.qa_text import format_target

    build_tiny_blip(out, [format_target(r) for r in read_records(train)], seed=seed)
    console.print(f"tiny BLIP -> {out}")
