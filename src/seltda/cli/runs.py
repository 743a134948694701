"""Whole runs: `run` (your data), `demo` (the embedded default), `curve`, and what follows a run (`report`,
`push`), plus `pretrain` (the demo's stand-in for a web-pretrained VLM)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seltda.cli.errors import user_errors
from seltda.cli.options import config_options
from seltda.cli.summary import console, print_summary, write_and_show_report
from seltda.demo.config import DemoConfig
from seltda.demo.pretrain.config import PretrainConfig

FORCE_HELP = "retrain the finished stages whose settings changed, and what follows them"


@user_errors
def run(
    config: Annotated[Path, typer.Argument(help="YAML run config (see README)")],
    rounds: Annotated[int | None, typer.Option(help="SelTDA rounds (default: the config's, 1)")] = None,
    replicates: Annotated[
        int | None,
        typer.Option(help="models trained per arm, seeds seed..seed+K-1 (default: the config's, 1)"),
    ] = None,
    verdict: Annotated[
        str | None,
        typer.Option(help="what chooses on dev: accuracy or accuracy-or-likelihood (default: the config's)"),
    ] = None,
    prefer: Annotated[
        str | None,
        typer.Option(
            help="which confirmed candidate ships: listed (the first in candidates' order) or dev-gain "
            "(default: the config's)"
        ),
    ] = None,
    dev_folds: Annotated[
        str | None,
        typer.Option(
            help="k >= 2: cross-fit dev over k folds of the labeled images, k runs; 0: one held-out split; "
            "auto: cross-fit when a held-out split would be small (default: the config's)"
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
) -> None:
    """Run the whole chain on your data: teacher, pseudo-labels, baseline, student, evaluation."""
    from seltda.orchestrate.pipeline import load_run_config
    from seltda.orchestrate.pipeline import run as run_pipeline

    cfg = load_run_config(config)
    overrides = (
        ("rounds", rounds),
        ("replicates", replicates),
        ("verdict", verdict),
        ("prefer", prefer),
        ("dev_folds", dev_folds),
    )
    updates = {key: value for key, value in overrides if value is not None}
    if updates:
        cfg = type(cfg).model_validate({**cfg.model_dump(), **updates})
    print_summary(run_pipeline(cfg, force=force), cfg.out)
    write_and_show_report(cfg.out)


@user_errors
@config_options(DemoConfig, exclude=("data_dir",))
def demo(
    cfg: DemoConfig,
    from_scratch: Annotated[
        bool, typer.Option("--from-scratch", help="random weights instead of the pretrained tiny BLIP")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
) -> None:
    """SelTDA vs baseline on the embedded easy-VQA default with the tiny BLIP."""
    from seltda.demo.run import demo as run_demo

    if from_scratch:
        cfg = cfg.model_copy(update={"base": "scratch"})
    print_summary(run_demo(cfg, force=force), cfg.out)
    write_and_show_report(cfg.out)


def parse_seeds(text: str) -> list[int]:
    """`--seeds 3` means seeds 0, 1, 2; `--seeds 100,101` means those seeds."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise typer.BadParameter(f"--seeds: {error}") from error
    if len(values) == 1 and "," not in text:
        return list(range(values[0]))
    return values


@user_errors
@config_options(
    DemoConfig,
    arg="demo_cfg",
    exclude=("labeled_fraction", "seed", "data_dir", "rounds", "pretrained_model"),
    defaults={"references": ["plain"]},  # a curve reports the paper's recipe beside what is shipped
)
def curve(
    demo_cfg: DemoConfig,
    config: Annotated[
        Path | None, typer.Argument(help="YAML run config; omit for the embedded easy-VQA demo")
    ] = None,
    fractions: Annotated[
        str, typer.Option(help="labeled fractions, comma-separated")
    ] = "0.02,0.05,0.1,0.25,1.0",
    seeds: Annotated[str, typer.Option(help="a count (3: seeds 0, 1, 2) or a list (100,101,102)")] = "3",
    out: Annotated[
        Path | None, typer.Option(help="curve folder (default: the config's out, or runs/curve)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
) -> None:
    """Baseline vs SelTDA at several labeled fractions and seeds (the demo's settings apply without a
    config); resumes, writes a table and a plot."""
    from seltda.demo.run import demo_runner
    from seltda.orchestrate.curve import curve as run_curve
    from seltda.orchestrate.curve import run_config_runner
    from seltda.orchestrate.pipeline import load_run_config
    from seltda.run.layout import CurveLayout

    try:
        values = [float(f) for f in fractions.split(",") if f.strip()]
    except ValueError as error:
        raise typer.BadParameter(f"--fractions: {error}") from error
    if config is not None:
        # the demo's options describe the embedded default: with a config, refuse them rather than drop them
        unchanged = DemoConfig(references=["plain"])
        changed = [
            name
            for name in type(demo_cfg).model_fields
            if getattr(demo_cfg, name) != getattr(unchanged, name)
        ]
        if changed:
            flags = ", ".join(f"--{name.replace('_', '-')}" for name in changed)
            raise typer.BadParameter(
                f"{flags}: the embedded demo's options; with a config, set them in {config}"
            )
        base = load_run_config(config)
        folder = out or base.out
        runner = run_config_runner(base, force=force)
    else:
        folder = out or Path("runs/curve")
        runner = demo_runner(demo_cfg, CurveLayout(folder).data, force=force)
    run_curve(folder, values, parse_seeds(seeds), runner)
    layout = CurveLayout(folder)
    console.print(layout.markdown.read_text(), soft_wrap=True, markup=False)
    console.print(f"curve: {layout.json}, {layout.plot}")
    write_and_show_report(folder)


@user_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="a run folder (seltda run / demo output)")],
    gallery_size: Annotated[int, typer.Option(help="unlabeled images shown with their pseudo-labels")] = 12,
    examples: Annotated[int, typer.Option(help="test questions where the two models disagree, each way")] = 8,
) -> None:
    """Write report.html (self-contained) and report.md for a run folder."""
    from seltda.core.fileio import SeltdaInputError
    from seltda.report import write_report
    from seltda.run.layout import is_run_folder, run_markers

    if not is_run_folder(run_dir):
        names = " / ".join(path.name for path in run_markers(run_dir))
        raise SeltdaInputError(f"{run_dir} is not a seltda run folder (no {names})")
    paths = write_report(run_dir, gallery_size=gallery_size, examples=examples)
    console.print(f"report: {paths['html']} and {paths['markdown']}")


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


@user_errors
@config_options(PretrainConfig, names={"max_steps": ("--steps", "--max-steps")})
def pretrain(
    cfg: PretrainConfig,
    out: Annotated[Path, typer.Option(help="model folder to write")],
) -> None:
    """Pretrain the tiny BLIP on a generated image-caption corpus (the embedded default's 'web' VLM)."""
    from seltda.demo.pretrain.trainer import pretrain as run_pretrain

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
