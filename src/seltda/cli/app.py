"""`seltda` command line: a thin shell over the library (each command a few lines)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from seltda.cli.errors import user_errors
from seltda.core.fileio import SeltdaInputError, atomic_write_json, read_json

app = typer.Typer(
    help="SelTDA: self-train a vision-language model on unlabeled images to improve VQA on a small dataset.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()


def _mount_subcommands() -> None:
    from seltda.cli.convert import convert_app

    app.add_typer(
        convert_app, name="convert", help="Convert VQA v2, A-OKVQA, CSV/TSV, datasets, ... to records."
    )


_mount_subcommands()

Steps = Annotated[int, typer.Option(help="optimizer steps")]
BatchSize = Annotated[int, typer.Option(help="examples per device per step")]
LearningRate = Annotated[float, typer.Option(help="peak learning rate (cosine schedule)")]
Seed = Annotated[int, typer.Option(help="random seed")]
Lora = Annotated[
    bool, typer.Option("--lora", help="train a LoRA adapter (OUT/adapter); OUT gets the merged model")
]
LoraRank = Annotated[int, typer.Option(help="LoRA rank (with --lora; alpha stays 32)")]
PlainRecipe = Annotated[
    bool, typer.Option("--plain-recipe", help="the paper's recipe: no confidence filter, no yes/no cap")
]
MaxPixels = Annotated[
    int | None, typer.Option(help="dynamic-resolution VLMs: downscale images above this many pixels")
]
GradientCheckpointing = Annotated[
    bool, typer.Option("--gradient-checkpointing", help="recompute activations: less memory, slower")
]
ImagesRoot = Annotated[Path, typer.Option("--images", help="image root; record paths are relative to it")]


@app.command()
@user_errors
def teacher(
    train: Annotated[list[Path], typer.Option(help="labeled records (JSONL); repeatable")],
    images: ImagesRoot,
    out: Annotated[Path, typer.Option(help="teacher model folder to write")],
    model: Annotated[str, typer.Option(help="VLM folder or hub id to fine-tune")],
    steps: Steps = 600,
    batch_size: BatchSize = 64,
    learning_rate: LearningRate = 1e-3,
    seed: Seed = 0,
    lora: Lora = False,
    lora_rank: LoraRank = 16,
    gradient_checkpointing: GradientCheckpointing = False,
    max_pixels: MaxPixels = None,
) -> None:
    """Fine-tune the VLM to generate a question and its answers from the image alone."""
    from seltda.stages.teacher import train_teacher
    from seltda.stages.teacher_config import TeacherConfig

    cfg = TeacherConfig(
        model=model,
        max_pixels=max_pixels,
        max_steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        lora=lora,
        lora_rank=lora_rank,
        gradient_checkpointing=gradient_checkpointing,
    )
    metrics = train_teacher(train, images, out, cfg)
    console.print(f"teacher: {metrics['steps']} steps, loss {metrics['train_loss']:.3f} -> {out}")


@app.command()
@user_errors
def pseudolabel(
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
    per_image: Annotated[int, typer.Option(help="question-answer pairs sampled per image")] = 3,
    top_p: Annotated[float, typer.Option(help="nucleus sampling threshold")] = 0.9,
    batch_size: BatchSize = 64,
    keep_top_fraction: Annotated[float, typer.Option(help="keep the most confident share")] = 0.5,
    min_score: Annotated[float | None, typer.Option(help="minimum mean token log-prob")] = None,
    max_yes_no_share: Annotated[float, typer.Option(help="cap the share of yes/no pairs")] = 0.25,
    plain: PlainRecipe = False,
    shard_size: Annotated[int, typer.Option(help="images per shard (the unit of resume)")] = 512,
    num_tasks: Annotated[
        int, typer.Option(help="independent jobs sharing the shards (e.g. Slurm array)")
    ] = 1,
    task_index: Annotated[int, typer.Option(help="this job's index in [0, num_tasks)")] = 0,
    roundtrip_model: Annotated[
        str | None, typer.Option(help="VQA model (e.g. the baseline) whose answer must agree to keep a pair")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="image-decoding processes (default: GPU, half the cores to 8; CPU, 0)")
    ] = None,
    precision: Annotated[
        str, typer.Option(help="auto (bf16 on a GPU or a CPU with native bf16), bf16, fp16, fp32")
    ] = "auto",
    image_column: Annotated[str, typer.Option(help="image column of a `datasets` folder pool")] = "image",
    max_pixels: MaxPixels = None,
    seed: Seed = 0,
    resume: Annotated[bool, typer.Option(help="skip finished shards (always safe)")] = True,
) -> None:
    """Label unlabeled images with the teacher: N sampled pairs per image, parsed and filtered."""
    from seltda.stages.pseudolabel import pseudolabel as run_pseudolabel
    from seltda.stages.pseudolabel.config import PseudoLabelConfig

    cfg = PseudoLabelConfig(
        per_image=per_image,
        top_p=top_p,
        batch_size=batch_size,
        keep_top_fraction=None if plain else keep_top_fraction,
        min_score=min_score,
        max_yes_no_share=None if plain else max_yes_no_share,
        shard_size=shard_size,
        num_tasks=num_tasks,
        task_index=task_index,
        roundtrip_model=roundtrip_model,
        dataloader_workers=workers,
        precision=precision,
        image_column=image_column,
        max_pixels=max_pixels,
        seed=seed,
    )
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


@app.command()
@user_errors
def student(
    train: Annotated[list[Path], typer.Option(help="real labeled records (JSONL); repeatable")],
    images: ImagesRoot,
    out: Annotated[Path, typer.Option(help="student model folder to write")],
    model: Annotated[str, typer.Option(help="VLM folder or hub id to fine-tune (the original VLM)")],
    synthetic: Annotated[Path | None, typer.Option(help="pseudolabels.jsonl; omit for the baseline")] = None,
    synthetic_images: Annotated[Path | None, typer.Option(help="image root of the pseudo-labels")] = None,
    synthetic_ratio: Annotated[float, typer.Option(help="synthetic records per real record")] = 1.0,
    steps: Steps = 600,
    batch_size: BatchSize = 64,
    learning_rate: LearningRate = 1e-3,
    seed: Seed = 0,
    lora: Lora = False,
    lora_rank: LoraRank = 16,
    gradient_checkpointing: GradientCheckpointing = False,
    max_pixels: MaxPixels = None,
) -> None:
    """Fine-tune the VLM for VQA on real records (+ pseudo-labels); without --synthetic: the baseline."""
    from seltda.stages.student import train_student
    from seltda.stages.student_config import StudentConfig

    cfg = StudentConfig(
        model=model,
        max_pixels=max_pixels,
        synthetic_ratio=synthetic_ratio if synthetic else 0.0,
        max_steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        lora=lora,
        lora_rank=lora_rank,
        gradient_checkpointing=gradient_checkpointing,
    )
    metrics = train_student(train, images, out, cfg, synthetic, synthetic_images)
    console.print(
        f"student: {metrics['real_records']} real + {metrics['synthetic_records']} synthetic records, "
        f"{metrics['steps']} steps, loss {metrics['train_loss']:.3f} -> {out}"
    )


@app.command()
@user_errors
def evaluate(
    model: Annotated[Path, typer.Option(help="VQA model folder")],
    data: Annotated[Path, typer.Option(help="records to answer (JSONL)")],
    images: ImagesRoot,
    out: Annotated[Path, typer.Option(help="predictions + metrics JSON to write")],
    batch_size: BatchSize = 128,
    limit: Annotated[int | None, typer.Option(help="only the first N records")] = None,
    max_pixels: MaxPixels = None,
    suite: Annotated[
        list[str], typer.Option(help="robustness suites: rephrasing (group_id), flagged (flags), numeric")
    ] = ["rephrasing", "flagged", "numeric"],  # noqa: B006
) -> None:
    """Answer the questions and compute the official VQA accuracy, overall, per type and per suite."""
    from seltda.eval.suites import SUITES
    from seltda.stages.evaluate import EvaluateConfig
    from seltda.stages.evaluate import evaluate as run_evaluate

    unknown = set(suite) - set(SUITES)
    if unknown:
        raise SeltdaInputError(f"unknown suite(s) {sorted(unknown)}: choose among {list(SUITES)}")
    cfg = EvaluateConfig(batch_size=batch_size, limit=limit, suites=tuple(suite), max_pixels=max_pixels)
    result = run_evaluate(str(model), data, images, out, cfg)
    console.print(f"accuracy {result['accuracy']:.2f} on {result['n']} questions -> {out}")
    console.print(type_table({"model": result}))
    for name, metrics in result["suites"].items():
        console.print(f"suite {name}: " + ", ".join(f"{k} {v}" for k, v in metrics.items()))


@app.command()
@user_errors
def score(
    predictions: Annotated[
        Path, typer.Argument(help="predictions: VQA results JSON [{question_id, answer}]")
    ],
    data: Annotated[Path, typer.Option(help="records with the ground-truth answers (JSONL)")],
    out: Annotated[Path | None, typer.Option(help="metrics JSON to write (same as `evaluate`)")] = None,
) -> None:
    """Score predictions made by any model with the official VQA accuracy and the suites."""
    from seltda.stages.evaluate import score as run_score

    result = run_score(predictions, data, out)
    console.print(
        f"accuracy {result['accuracy']:.2f} on {result['n']} questions ({result['missing']} missing)"
    )
    console.print(type_table({"predictions": result}))


@app.command()
@user_errors
def pretrain(
    out: Annotated[Path, typer.Option(help="model folder to write")],
    steps: Annotated[int | None, typer.Option(help="image-text pretraining steps [default: 1500]")] = None,
    batch_size: BatchSize = 64,
    learning_rate: LearningRate = 1e-3,
    itm_weight: Annotated[
        float | None, typer.Option(help="weight of image-text matching, 0: off [default: 1.0]")
    ] = None,
    itc_weight: Annotated[
        float | None, typer.Option(help="weight of the image-text contrastive loss, 0: off [default: 1.0]")
    ] = None,
    tag_weight: Annotated[
        float | None, typer.Option(help="weight of image tagging from caption words, 0: off [default: 0]")
    ] = None,
    vision_steps: Annotated[
        int | None,
        typer.Option(help="first stage: the vision tower classifies one-object images [default: 3000]"),
    ] = None,
    seed: Seed = 0,
) -> None:
    """Pretrain the tiny BLIP on a generated image-caption corpus (the embedded default's 'web' VLM)."""
    from seltda.demo.pretrain.config import PretrainConfig
    from seltda.demo.pretrain.trainer import pretrain as run_pretrain

    chosen = {
        "max_steps": steps,
        "itm_weight": itm_weight,
        "itc_weight": itc_weight,
        "tag_weight": tag_weight,
        "vision_steps": vision_steps,
    }
    cfg = PretrainConfig(
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        **{key: value for key, value in chosen.items() if value is not None},
    )
    metrics = run_pretrain(out, cfg)
    probe = metrics["probe"]
    console.print(
        f"pretrained -> {out}: zero-shot captions name the shape {probe['shape_accuracy']:.1f}% "
        f"(chance {probe['chance_shape']:.1f}%), the colour {probe['color_accuracy']:.1f}% (held-out images)"
    )
    if "matching_accuracy" in probe:
        console.print(
            f"image-text matching prefers the caption to its one-attribute negative on "
            f"{probe['matching_accuracy']:.1f}% of held-out images (chance 50%)"
        )


@app.command()
@user_errors
def compare(
    a: Annotated[Path, typer.Argument(help="evaluation JSON of model A (e.g. the baseline)")],
    b: Annotated[Path, typer.Argument(help="evaluation JSON of model B (e.g. SelTDA)")],
    out: Annotated[Path | None, typer.Option(help="write the comparison JSON here")] = None,
    resamples: Annotated[int, typer.Option(help="bootstrap resamples")] = 10000,
    seed: Seed = 0,
) -> None:
    """Paired bootstrap 95% CI of accuracy(B) - accuracy(A) on the same questions."""
    from seltda.eval.metrics import compare_scores

    result = compare_scores(
        read_json(a)["per_question"], read_json(b)["per_question"], n_resamples=resamples, seed=seed
    )
    if out:
        atomic_write_json(out, result)
    console.print(
        f"B - A = {result['diff']:+.2f} points, 95% CI [{result['ci_low']:+.2f}, {result['ci_high']:+.2f}], "
        f"p = {result['p_value']:.3f}, {result['n_common']} questions"
    )


@app.command()
@user_errors
def split(
    data: Annotated[Path, typer.Option(help="labeled records (JSONL)")],
    out: Annotated[Path, typer.Option(help="folder for labeled.jsonl and unlabeled.txt")],
    fraction: Annotated[float, typer.Option(help="share of images kept labeled")] = 0.05,
    seed: Seed = 0,
) -> None:
    """Split records by image: a labeled fraction and an unlabeled image pool (for experiments)."""
    from seltda.core.records import read_records
    from seltda.orchestrate.split import write_split

    paths = write_split(read_records(data), fraction, seed, out)
    console.print(f"wrote {paths['labeled']} and {paths['unlabeled']}")


@app.command("init-model")
@user_errors
def init_model(
    train: Annotated[Path, typer.Option(help="records whose words the vocabulary must cover")],
    out: Annotated[Path, typer.Option(help="model folder to write")],
    seed: Seed = 0,
) -> None:
    """Create the tiny from-scratch BLIP (random weights, vocabulary from the records)."""
    from seltda.core.records import read_records
    from seltda.models.tiny_blip import build_tiny_blip
    from seltda.qa_text import format_target

    build_tiny_blip(out, [format_target(r) for r in read_records(train)], seed=seed)
    console.print(f"tiny BLIP -> {out}")


@app.command()
@user_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="a run folder (seltda run / demo output)")],
    gallery_size: Annotated[int, typer.Option(help="unlabeled images shown with their pseudo-labels")] = 12,
    examples: Annotated[int, typer.Option(help="test questions where the two models disagree, each way")] = 8,
) -> None:
    """Write report.html (self-contained) and report.md for a run folder."""
    from seltda.report import write_report

    paths = write_report(run_dir, gallery_size=gallery_size, examples=examples)
    console.print(f"report: {paths['html']} and {paths['markdown']}")


@app.command()
@user_errors
def push(
    run_dir: Annotated[Path, typer.Argument(help="a run folder")],
    namespace: Annotated[str, typer.Option(help="Hub user or organisation")],
    public: Annotated[bool, typer.Option(help="create public repos (default: private)")] = False,
) -> None:
    """Upload the run's models (with model cards) and pseudo-label dataset to the Hugging Face Hub."""
    from seltda.publish.hub import push as run_push

    for part, repo in run_push(run_dir, namespace, private=not public).items():
        console.print(f"{part} -> https://huggingface.co/{repo}")


@app.command()
@user_errors
def run(
    config: Annotated[Path, typer.Argument(help="YAML run config (see README)")],
    rounds: Annotated[int | None, typer.Option(help="SelTDA rounds (default: the config's, 1)")] = None,
) -> None:
    """Run the whole chain on your data: teacher, pseudo-labels, baseline, student, evaluation."""
    from seltda.orchestrate.pipeline import load_run_config
    from seltda.orchestrate.pipeline import run as run_pipeline

    cfg = load_run_config(config)
    if rounds is not None:
        cfg = cfg.model_copy(update={"rounds": rounds})
    print_summary(run_pipeline(cfg), cfg.out)
    write_and_show_report(cfg.out)


@app.command()
@user_errors
def demo(
    out: Annotated[Path, typer.Option(help="run folder")] = Path("runs/demo"),
    labeled_fraction: Annotated[float, typer.Option(help="share of easy-VQA train images labeled")] = 0.02,
    steps: Steps = 600,
    per_image: Annotated[int, typer.Option(help="pseudo-labels sampled per unlabeled image")] = 3,
    test_limit: Annotated[int | None, typer.Option(help="first N test questions (default: all)")] = None,
    pool_limit: Annotated[int | None, typer.Option(help="first N unlabeled images (default: all)")] = None,
    from_scratch: Annotated[
        bool, typer.Option("--from-scratch", help="random weights instead of the pretrained tiny BLIP")
    ] = False,
    seed: Seed = 0,
    rounds: Annotated[
        int, typer.Option(help="SelTDA rounds (round r's teacher starts from round r-1's student)")
    ] = 1,
    plain_recipe: PlainRecipe = False,
) -> None:
    """SelTDA vs baseline on the embedded easy-VQA default with the tiny BLIP."""
    from seltda.demo.run import DemoConfig
    from seltda.demo.run import demo as run_demo

    cfg = DemoConfig(
        out=out,
        labeled_fraction=labeled_fraction,
        steps=steps,
        per_image=per_image,
        test_limit=test_limit,
        pool_limit=pool_limit,
        base="scratch" if from_scratch else "pretrained",
        seed=seed,
        rounds=rounds,
        plain_recipe=plain_recipe,
    )
    print_summary(run_demo(cfg), out)
    write_and_show_report(out)


@app.command()
@user_errors
def curve(
    config: Annotated[
        Path | None, typer.Argument(help="YAML run config; omit for the embedded easy-VQA demo")
    ] = None,
    fractions: Annotated[
        str, typer.Option(help="labeled fractions, comma-separated")
    ] = "0.02,0.05,0.1,0.25,1.0",
    seeds: Annotated[int, typer.Option(help="seeds per fraction (0, 1, ...)")] = 3,
    out: Annotated[
        Path | None, typer.Option(help="curve folder (default: the config's out, or runs/curve)")
    ] = None,
    steps: Annotated[int, typer.Option(help="demo only: optimizer steps per stage")] = 600,
    test_limit: Annotated[int | None, typer.Option(help="demo only: first N test questions")] = None,
    pool_limit: Annotated[int | None, typer.Option(help="demo only: first N unlabeled images")] = None,
    per_image: Annotated[int, typer.Option(help="demo only: pseudo-labels per unlabeled image")] = 3,
    plain_recipe: PlainRecipe = False,
) -> None:
    """Baseline vs SelTDA at several labeled fractions and seeds; resumes, writes a table and a plot."""
    from seltda.demo.run import DemoConfig, demo_runner
    from seltda.orchestrate.curve import curve as run_curve
    from seltda.orchestrate.curve import run_config_runner
    from seltda.orchestrate.pipeline import load_run_config

    try:
        values = [float(f) for f in fractions.split(",") if f.strip()]
    except ValueError as error:
        raise typer.BadParameter(f"--fractions: {error}") from error
    if config is not None:
        base = load_run_config(config)
        folder = out or base.out
        runner = run_config_runner(base)
    else:
        folder = out or Path("runs/curve")
        demo_cfg = DemoConfig(
            steps=steps,
            test_limit=test_limit,
            pool_limit=pool_limit,
            per_image=per_image,
            plain_recipe=plain_recipe,
        )
        runner = demo_runner(demo_cfg, folder / "data")
    run_curve(folder, values, list(range(seeds)), runner)
    console.print((folder / "curve.md").read_text(), soft_wrap=True, markup=False)
    console.print(f"curve: {folder / 'curve.json'}, {folder / 'curve.png'}")
    write_and_show_report(folder)


def type_table(results: dict[str, dict]) -> Table:
    """Accuracy per question type, one column per model."""
    table = Table("question type", *results.keys())
    kinds = sorted({k for r in results.values() for k in r.get("per_question_type", {})})
    for kind in kinds:
        cells = [results[name].get("per_question_type", {}).get(kind, {}) for name in results]
        table.add_row(f"{kind} (n={cells[0].get('n', '?')})", *[f"{c.get('accuracy', 0):.2f}" for c in cells])
    table.add_row("[bold]overall", *[f"[bold]{r['accuracy']:.2f}" for r in results.values()])
    return table


def print_summary(metrics: dict, out: Path) -> None:
    """The end-of-run table: baseline vs SelTDA, pseudo-labels, stage times."""
    if "baseline" in metrics:
        console.print(type_table({"baseline": metrics["baseline"], "SelTDA": metrics["seltda"]}))
        gain = metrics["gain"]
        console.print(
            f"SelTDA - baseline: [bold]{gain['diff']:+.2f}[/] points, paired bootstrap 95% CI "
            f"[{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}] on {gain['n_common']} questions"
        )
    pseudo = metrics["pseudolabels"]
    console.print("pseudo-labels: " + " -> ".join(f"{k} {v}" for k, v in pseudo["funnel"].items()))
    truth = pseudo.get("accuracy_vs_truth")
    if truth:
        per_type = ", ".join(f"{k} {v['accuracy']:.1f}" for k, v in truth["per_question_type"].items())
        console.print(
            f"pseudo-label accuracy vs ground truth: {truth['accuracy']:.2f} "
            f"({truth['scored']} of {truth['generated']} pairs scorable; {per_type})"
        )
    times = ", ".join(f"{k} {v:.0f}s" for k, v in metrics["timings_seconds"].items())
    console.print(f"stage times: {times}")
    console.print(f"run folder: {out} (metrics.json)")


def write_and_show_report(run_dir: Path) -> None:
    from seltda.report import write_report

    paths = write_report(run_dir)
    console.print(f"report: [bold]{paths['html']}[/] (open it in a browser) and {paths['markdown']}")


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()


if __name__ == "__main__":
    main()
