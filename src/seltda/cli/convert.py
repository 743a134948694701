"""``seltda convert ...``: one small command per format (mounted by the main CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from seltda.cli.errors import user_errors
from seltda.core.fileio import atomic_write_json
from seltda.formats import aokvqa, aqua, rsvqa, vqa_family, vqa_v2
from seltda.formats.registry import ConversionResult, convert
from seltda.formats.results import read_predictions

__all__ = ["convert_app"]

convert_app = typer.Typer(
    help="Convert VQA datasets in common layouts to seltda records (JSONL), and predictions to VQA results.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False, soft_wrap=True)

Out = Annotated[Path, typer.Option("--out", help="records file to write (JSONL)")]
Input = Annotated[Path, typer.Argument(help="input file")]


def _report(result: ConversionResult) -> None:
    """The one-line summary of a conversion."""
    images = f", {result.images_written} images in {result.images_dir}" if result.images_dir else ""
    console.print(escape(f"{result.format}: {result.count} records -> {result.out}{images}"))


@convert_app.command("vqa2")
@user_errors
def vqa2_command(
    questions: Annotated[Path, typer.Option(help="questions JSON (v2_OpenEnded_mscoco_*_questions.json)")],
    out: Out,
    annotations: Annotated[
        Path | None, typer.Option(help="annotations JSON (required: records need answers)")
    ] = None,
    image_template: Annotated[str, typer.Option(help="image path template")] = vqa_v2.DEFAULT_IMAGE_TEMPLATE,
    subtype: Annotated[str | None, typer.Option(help="{subtype} value (default: data_subtype)")] = None,
) -> None:
    """VQA v2 or OK-VQA questions + annotations."""
    _report(
        convert(
            "vqa2",
            out,
            questions=questions,
            annotations=annotations,
            image_template=image_template,
            subtype=subtype,
        )
    )


@convert_app.command("aokvqa")
@user_errors
def aokvqa_command(
    path: Input,
    out: Out,
    split: Annotated[str, typer.Option(help="{split} value of the image template")] = "val",
    image_template: Annotated[str, typer.Option(help="image path template")] = aokvqa.DEFAULT_IMAGE_TEMPLATE,
    rationale: Annotated[
        str, typer.Option(help="'join' all rationales with ' | ' or keep the 'first'")
    ] = "join",
) -> None:
    """A-OKVQA JSON list (aokvqa_v1p0_<split>.json)."""
    _report(
        convert("aokvqa", out, path=path, split=split, image_template=image_template, rationale=rationale)
    )


@convert_app.command("reference")
@user_errors
def reference_command(path: Input, out: Out) -> None:
    """SelTDA/BLIP reference JSON list (question_id, image, question, answer, dataset)."""
    _report(convert("reference", out, path=path))


@convert_app.command("table")
@user_errors
def table_command(
    path: Input,
    out: Out,
    delimiter: Annotated[
        str | None, typer.Option(help="cell delimiter (default: tab for .tsv, else comma)")
    ] = None,
    image_column: Annotated[str, typer.Option(help="image column")] = "image",
    question_column: Annotated[str, typer.Option(help="question column")] = "question",
    answer_column: Annotated[str, typer.Option(help="answer column")] = "answer",
    id_column: Annotated[str, typer.Option(help="question id column (optional in the file)")] = "question_id",
    answer_separator: Annotated[str, typer.Option(help="separator of several answers in a cell")] = "|",
    image_ext: Annotated[str, typer.Option(help="extension added to image names without one")] = ".jpg",
) -> None:
    """CSV/TSV table with a header row (PathVQA, VQA-RAD exports)."""
    _report(
        convert(
            "table",
            out,
            path=path,
            delimiter=delimiter.replace("\\t", "\t") if delimiter else None,
            image_column=image_column,
            question_column=question_column,
            answer_column=answer_column,
            id_column=id_column,
            answer_separator=answer_separator or None,
            image_ext=image_ext,
            on_alias=_say_alias,
        )
    )


def _say_alias(role: str, asked: str, used: str) -> None:
    """Tell which header column stood in for an absent default column."""
    console.print(escape(f"table: no '{asked}' column; using '{used}' as the {role} column"))


@convert_app.command("hf-dataset")
@user_errors
def hf_dataset_command(
    path: Annotated[Path, typer.Argument(help="folder written by Dataset(Dict).save_to_disk")],
    out: Out,
    images_out: Annotated[Path | None, typer.Option(help="PNG folder (default: <out folder>/images)")] = None,
    split: Annotated[str | None, typer.Option(help="split of a saved DatasetDict")] = None,
    image_column: Annotated[str, typer.Option(help="Image feature column")] = "image",
    question_column: Annotated[str, typer.Option(help="question column")] = "question",
    answer_column: Annotated[str, typer.Option(help="answer column (string or list)")] = "answer",
    id_column: Annotated[str, typer.Option(help="question id column (optional in the data)")] = "question_id",
) -> None:
    """datasets folder with an image column; writes each distinct image once as PNG."""
    options: dict[str, Any] = {"images_out": images_out} if images_out is not None else {}
    _report(
        convert(
            "hf-dataset",
            out,
            path=path,
            split=split,
            image_column=image_column,
            question_column=question_column,
            answer_column=answer_column,
            id_column=id_column,
            **options,
        )
    )


Subtype = Annotated[str | None, typer.Option(help="{subtype} value (default: data_subtype)")]
ImagesOut = Annotated[Path | None, typer.Option(help="image folder (default: <out folder>/images)")]


@convert_app.command("vqa-rephrasings")
@user_errors
def vqa_rephrasings_command(
    questions: Annotated[
        Path, typer.Option(help="questions JSON (v2_OpenEnded_mscoco_valrep2014_humans_og_questions.json)")
    ],
    annotations: Annotated[Path, typer.Option(help="annotations JSON (v2_mscoco_valrep2014_humans_og_...)")],
    out: Out,
    image_template: Annotated[str, typer.Option(help="image path template")] = vqa_v2.DEFAULT_IMAGE_TEMPLATE,
    subtype: Annotated[
        str, typer.Option(help="{subtype} value: the COCO folder")
    ] = vqa_family.REPHRASINGS_SUBTYPE,
) -> None:
    """VQA-Rephrasings: groups of rephrased questions (group_id = the original's id) for CS(k)."""
    _report(
        convert(
            "vqa-rephrasings",
            out,
            questions=questions,
            annotations=annotations,
            image_template=image_template,
            subtype=subtype,
        )
    )


@convert_app.command("vqa-ce")
@user_errors
def vqa_ce_command(
    questions: Annotated[Path, typer.Option(help="VQA v2 val questions JSON")],
    annotations: Annotated[Path, typer.Option(help="VQA v2 val annotations JSON")],
    out: Out,
    counterexamples: Annotated[Path | None, typer.Option(help="counterexamples.json (question ids)")] = None,
    hard: Annotated[Path | None, typer.Option(help="hard.json (question ids)")] = None,
    easy: Annotated[Path | None, typer.Option(help="easy.json (default: neither of the others)")] = None,
    subset: Annotated[
        str, typer.Option(help="keep 'all' (flagged) or only 'counterexamples', 'hard' or 'easy'")
    ] = "all",
    image_template: Annotated[str, typer.Option(help="image path template")] = vqa_v2.DEFAULT_IMAGE_TEMPLATE,
    subtype: Subtype = None,
) -> None:
    """VQA-CE: VQA v2 val flagged counterexample / hard / easy."""
    _report(
        convert(
            "vqa-ce",
            out,
            questions=questions,
            annotations=annotations,
            counterexamples=counterexamples,
            hard=hard,
            easy=easy,
            subset=subset,
            image_template=image_template,
            subtype=subtype,
        )
    )


@convert_app.command("advqa")
@user_errors
def advqa_command(
    questions: Annotated[
        Path, typer.Option(help="questions JSON (v1_OpenEnded_mscoco_val2017_advqa_questions.json)")
    ],
    annotations: Annotated[Path, typer.Option(help="annotations JSON (v1_mscoco_val2017_advqa_annotations)")],
    out: Out,
    image_template: Annotated[
        str, typer.Option(help="image path template")
    ] = vqa_family.ADVQA_IMAGE_TEMPLATE,
    subtype: Subtype = None,
) -> None:
    """AdVQA: VQA v2-style questions + annotations (VQA metric)."""
    _report(
        convert(
            "advqa",
            out,
            questions=questions,
            annotations=annotations,
            image_template=image_template,
            subtype=subtype,
        )
    )


@convert_app.command("aqua")
@user_errors
def aqua_command(
    path: Annotated[Path, typer.Argument(help="AQUA split JSON (AQUA/test.json)")],
    out: Out,
    id_offset: Annotated[int, typer.Option(help="first question id (SelTDA numbers splits on)")] = 0,
    image_template: Annotated[
        str, typer.Option(help="image path template ({image})")
    ] = aqua.DEFAULT_IMAGE_TEMPLATE,
    keep_question: Annotated[bool, typer.Option(help="do not append the missing '?'")] = False,
) -> None:
    """AQUA / ArtVQA: one answer per question (exact match), question type = external knowledge or not."""
    _report(
        convert(
            "aqua",
            out,
            path=path,
            id_offset=id_offset,
            image_template=image_template,
            add_question_mark=not keep_question,
        )
    )


@convert_app.command("pathvqa")
@user_errors
def pathvqa_command(
    path: Annotated[Path, typer.Argument(help="parquet file, or a folder of them (one split)")],
    out: Out,
    images_out: ImagesOut = None,
    id_offset: Annotated[int, typer.Option(help="first question id")] = 0,
) -> None:
    """PathVQA from its parquet copy; writes each distinct image once (exact match metric)."""
    options: dict[str, Any] = {"images_out": images_out} if images_out is not None else {}
    _report(convert("pathvqa", out, path=path, id_offset=id_offset, **options))


@convert_app.command("rsvqa")
@user_errors
def rsvqa_command(
    path: Annotated[
        Path, typer.Argument(help="folder with <prefix>_split_<split>_{questions,answers,images}.json")
    ],
    out: Out,
    split: Annotated[str, typer.Option(help="split: train, val or test")] = rsvqa.DEFAULT_SPLIT,
    prefix: Annotated[
        str, typer.Option(help="file prefix: LR (low resolution) or USGS (high)")
    ] = rsvqa.DEFAULT_PREFIX,
    image_template: Annotated[str, typer.Option(help="image path template")] = rsvqa.DEFAULT_IMAGE_TEMPLATE,
) -> None:
    """RSVQA-LR (or HR): active questions, question type = 'type' (exact match metric)."""
    _report(convert("rsvqa", out, path=path, split=split, prefix=prefix, image_template=image_template))


@convert_app.command("results")
@user_errors
def results_command(
    path: Annotated[Path, typer.Argument(help="evaluation JSON (its 'predictions'), a list or {id: answer}")],
    out: Annotated[Path, typer.Option("--out", help="VQA results JSON to write")],
) -> None:
    """Predictions -> the official VQA results format [{"question_id", "answer"}]."""
    results = read_predictions(path)
    atomic_write_json(out, results, indent=None)
    console.print(escape(f"results: {len(results)} answers -> {out}"))
