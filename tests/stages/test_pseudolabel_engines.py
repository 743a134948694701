"""Which engine samples: `hf`, `vllm`, or `auto` (vLLM when installed and serving the teacher's family).
Runs in every venv; the vLLM engine itself is tested in test_pseudolabel_vllm.py (marker `vllm`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from test_models_vlm import build_idefics3, chat_tokenizer  # noqa: E402

from seltda.core.fileio import SeltdaInputError  # noqa: E402
from seltda.models import vllm_llm  # noqa: E402
from seltda.stages.pseudolabel import engines  # noqa: E402
from seltda.stages.pseudolabel.config import PseudoLabelConfig  # noqa: E402

__all__ = ["chat_tokenizer"]  # the session fixture this module uses
INSTALLED = importlib.util.find_spec("vllm") is not None


@pytest.fixture(scope="module")
def idefics3(tmp_path_factory: pytest.TempPathFactory, chat_tokenizer: Path) -> str:
    torch.manual_seed(0)
    return str(build_idefics3(tmp_path_factory.mktemp("idefics3"), chat_tokenizer))


def test_auto_picks_vllm_where_installed_else_hf(idefics3: str, tiny_model: Path, monkeypatch):
    assert engines.choose_engine(idefics3, "auto") == "hf"  # no GPU: transformers (vLLM 0.66x on CPU)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert engines.choose_engine(idefics3, "auto") == ("vllm" if INSTALLED else "hf")
    assert engines.choose_engine(str(tiny_model), "auto") == "hf"  # BLIP: not a vLLM family here
    assert engines.choose_engine(idefics3, "hf") == "hf"


def test_vllm_without_vllm_says_how_to_install(idefics3: str, monkeypatch):
    monkeypatch.setattr(vllm_llm, "vllm_installed", lambda: False)
    assert engines.choose_engine(idefics3, "auto") == "hf"
    with pytest.raises(SeltdaInputError, match=r'not installed: pip install "seltda\[vllm\]"'):
        engines.choose_engine(idefics3, "vllm")


def test_vllm_for_a_family_it_does_not_serve_is_refused(tiny_model: Path, monkeypatch):
    monkeypatch.setattr(vllm_llm, "vllm_installed", lambda: True)
    with pytest.raises(SeltdaInputError, match="'blip' model: use engine 'hf'"):
        engines.choose_engine(str(tiny_model), "vllm")


def test_engine_is_a_validated_setting():
    assert PseudoLabelConfig().engine == "auto"
    with pytest.raises(ValueError, match="engine"):
        PseudoLabelConfig(engine="tgi")
