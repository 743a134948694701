"""Which engine samples: `hf`, `vllm`, or `auto` (vLLM when installed and serving the teacher's family).
Runs in every venv; the vLLM engine itself is tested in test_pseudolabel_vllm.py (marker `vllm`)."""

from __future__ import annotations

import importlib.util
import os
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


def test_settings_reach_vllm_and_two_engines_share_a_gpu(idefics3: str, monkeypatch):
    """What `LLM(...)` receives (a stand-in records it): the config's seed, dtype and tensor parallel size;
    the CPU settings without a GPU; under half the GPU each when teacher and round trip are both vLLM."""
    import types

    from seltda.models.vllm_llm import VllmAnswerer
    from seltda.stages.pseudolabel import launch
    from seltda.stages.pseudolabel.vllm_engine import VllmEngine

    seen: list[dict] = []
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=lambda **kwargs: seen.append(kwargs)))
    VllmEngine.load(idefics3, PseudoLabelConfig(tensor_parallel_size=4, seed=7), torch.bfloat16)
    VllmAnswerer.load(idefics3, tensor_parallel_size=2, gpu_memory_utilization=0.44)
    assert [s["tensor_parallel_size"] for s in seen] == [4, 2] and seen[0]["seed"] == 7
    assert seen[0]["dtype"] == "bfloat16" and seen[1]["dtype"] == "float32"
    assert seen[0]["model"] == idefics3 and seen[0]["limit_mm_per_prompt"] == {"image": 1}
    assert all(s["enforce_eager"] and s["kv_cache_memory_bytes"] for s in seen)  # no GPU here
    assert seen[1]["gpu_memory_utilization"] == 0.44
    assert launch.shared_gpu("vllm", "vllm") == {}  # a CPU: nothing to share
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert launch.shared_gpu("vllm", "vllm") == {"gpu_memory_utilization": 0.44}
    assert launch.shared_gpu("vllm", "hf") == {} and launch.shared_gpu("vllm", None) == {}


def test_each_torchrun_rank_builds_its_engine_on_its_own_gpus(idefics3: str, monkeypatch):
    """Under torchrun with GPUs, local rank r's engine gets GPUs r*tp .. r*tp+tp-1 (vLLM's `device_ids`,
    indices into the visible GPUs); one process, or a CPU, passes none; too few GPUs is an input error."""
    import types

    from seltda.models.vllm_llm import load_llm

    seen: list[dict] = []
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=lambda **kwargs: seen.append(kwargs)))
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    load_llm(idefics3, torch.float32)  # a CPU: no devices to choose
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    load_llm(idefics3, torch.float32)
    load_llm(idefics3, torch.float32, tensor_parallel_size=2)
    load_llm(idefics3, torch.float32, device_ids=[3])  # the user's choice stands
    assert "device_ids" not in seen[0]
    assert [s["device_ids"] for s in seen[1:]] == [[1], [2, 3], [3]]
    with pytest.raises(SeltdaInputError, match="need 6 GPUs, 4 are visible"):
        load_llm(idefics3, torch.float32, tensor_parallel_size=3)
    monkeypatch.setattr(vllm_llm, "takes_device_ids", lambda: False)  # an older vLLM: the env chooses
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    load_llm(idefics3, torch.float32)
    assert "device_ids" not in seen[-1] and os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    load_llm(idefics3, torch.float32)  # a second engine in this process (the round trip): already narrowed
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # the launcher pinned one GPU per process
    load_llm(idefics3, torch.float32)
    assert "device_ids" not in seen[-1] and os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    load_llm(idefics3, torch.float32)
    assert "device_ids" not in seen[-1]
