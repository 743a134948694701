"""The format registry and ``convert``: any supported dataset -> a records JSONL file."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seltda.core.records import write_records
from seltda.formats._common import FormatError
from seltda.formats.aokvqa import read_aokvqa
from seltda.formats.aqua import read_aqua
from seltda.formats.hf_dataset import HfConversion, read_hf_dataset
from seltda.formats.pathvqa import read_pathvqa
from seltda.formats.reference import read_reference
from seltda.formats.rsvqa import read_rsvqa
from seltda.formats.table import read_table
from seltda.formats.vqa_family import read_advqa, read_vqa_ce, read_vqa_rephrasings
from seltda.formats.vqa_v2 import read_vqa_v2

__all__ = ["ALIASES", "FORMATS", "ConversionResult", "FormatSpec", "convert", "resolve_format"]


@dataclass(frozen=True)
class FormatSpec:
    """One input format: its reader (keyword options) and a one-line description."""

    name: str
    reader: Callable[..., Any]
    description: str


@dataclass(frozen=True)
class ConversionResult:
    """What ``convert`` wrote."""

    format: str
    count: int
    out: Path
    images_dir: Path | None = None
    images_written: int = 0

    @property
    def paths(self) -> list[Path]:
        """The records file, then the image folder if images were written."""
        return [self.out] + ([self.images_dir] if self.images_dir is not None else [])


FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec("vqa2", read_vqa_v2, "VQA v2 / OK-VQA questions + annotations JSON"),
        FormatSpec("aokvqa", read_aokvqa, "A-OKVQA JSON list"),
        FormatSpec("reference", read_reference, "SelTDA/BLIP reference JSON list"),
        FormatSpec("table", read_table, "CSV/TSV table (PathVQA, VQA-RAD exports)"),
        FormatSpec("hf-dataset", read_hf_dataset, "datasets folder saved with save_to_disk"),
        FormatSpec("vqa-rephrasings", read_vqa_rephrasings, "VQA-Rephrasings questions + annotations JSON"),
        FormatSpec("vqa-ce", read_vqa_ce, "VQA v2 val + VQA-CE subset id lists"),
        FormatSpec("advqa", read_advqa, "AdVQA questions + annotations JSON"),
        FormatSpec("aqua", read_aqua, "AQUA (ArtVQA) JSON list"),
        FormatSpec("pathvqa", read_pathvqa, "PathVQA parquet (the datasets copy)"),
        FormatSpec("rsvqa", read_rsvqa, "RSVQA-LR/HR split JSON files"),
    )
}
ALIASES = {
    "vqa_v2": "vqa2",
    "vqav2": "vqa2",
    "okvqa": "vqa2",
    "csv": "table",
    "tsv": "table",
    "hf": "hf-dataset",
    "vqa-rep": "vqa-rephrasings",
    "vqace": "vqa-ce",
    "artvqa": "aqua",
    "rsvqa-lr": "rsvqa",
}


def resolve_format(fmt: str) -> FormatSpec:
    """The spec for a format name or alias (case, ``_`` and ``-`` insensitive)."""
    key = fmt.strip().lower().replace("_", "-")
    key = ALIASES.get(key, ALIASES.get(key.replace("-", "_"), key))
    if key not in FORMATS:
        raise FormatError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    return FORMATS[key]


def convert(fmt: str, out: str | os.PathLike[str], **options: Any) -> ConversionResult:
    """Read a dataset with the format's reader (``options`` are its keyword arguments) and write records.

    ``hf-dataset`` and ``pathvqa`` also write images: ``images_out`` defaults to ``<out folder>/images``,
    and the record image paths are relative to it.
    """
    spec = resolve_format(fmt)
    out = Path(out)
    if "images_out" in inspect.signature(spec.reader).parameters:
        options.setdefault("images_out", out.parent / "images")
    _check_options(spec, options)
    result = spec.reader(**options)
    if isinstance(result, HfConversion):
        write_records(out, result.records)
        return ConversionResult(spec.name, len(result.records), out, result.images_dir, result.images_written)
    write_records(out, result)
    return ConversionResult(spec.name, len(result), out)


def _check_options(spec: FormatSpec, options: dict[str, Any]) -> None:
    """Refuse unknown or missing reader options with the list of valid ones."""
    parameters = inspect.signature(spec.reader).parameters
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise FormatError(
            f"format {spec.name!r}: unknown option(s) {', '.join(unknown)} (options: {', '.join(parameters)})"
        )
    missing = [
        name for name, p in parameters.items() if p.default is inspect.Parameter.empty and name not in options
    ]
    if missing:
        raise FormatError(f"format {spec.name!r}: missing option(s) {', '.join(missing)}")
