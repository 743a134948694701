"""Dataset converters: VQA v2 / OK-VQA, A-OKVQA, the SelTDA reference JSON, CSV/TSV tables, saved
``datasets`` folders and the SelTDA evaluation sets (VQA-Rephrasings, VQA-CE, AdVQA, AQUA, PathVQA,
RSVQA) -> records; records -> reference JSON; predictions -> VQA results."""

from seltda.formats._common import FormatError
from seltda.formats.aokvqa import read_aokvqa
from seltda.formats.aqua import read_aqua
from seltda.formats.hf_dataset import (
    HfConversion,
    export_dataset_images,
    is_saved_dataset,
    read_hf_dataset,
    write_hf_dataset,
)
from seltda.formats.pathvqa import read_pathvqa
from seltda.formats.reference import read_reference, to_reference
from seltda.formats.registry import ALIASES, FORMATS, ConversionResult, FormatSpec, convert, resolve_format
from seltda.formats.results import read_predictions, to_vqa_results
from seltda.formats.rsvqa import read_rsvqa
from seltda.formats.table import read_table
from seltda.formats.vqa_family import read_advqa, read_vqa_ce, read_vqa_rephrasings
from seltda.formats.vqa_v2 import read_vqa_v2

__all__ = [
    "ALIASES",
    "FORMATS",
    "ConversionResult",
    "FormatError",
    "FormatSpec",
    "HfConversion",
    "convert",
    "export_dataset_images",
    "is_saved_dataset",
    "read_advqa",
    "read_aokvqa",
    "read_aqua",
    "read_hf_dataset",
    "read_pathvqa",
    "read_rsvqa",
    "read_vqa_ce",
    "read_vqa_rephrasings",
    "write_hf_dataset",
    "read_predictions",
    "read_reference",
    "read_table",
    "read_vqa_v2",
    "resolve_format",
    "to_reference",
    "to_vqa_results",
]
