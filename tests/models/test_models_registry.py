"""Model names: named models, local folders and hub ids, and the errors for each kind of missing model."""

from __future__ import annotations

from pathlib import Path

import pytest

from seltda.core.fileio import SeltdaInputError
from seltda.models import NAMED_MODELS, load_adapter, load_vqa, model_family, resolve_model


def test_named_model_resolves_to_the_shipped_folder():
    folder = Path(resolve_model("tiny-blip-pretrained"))
    assert folder == NAMED_MODELS["tiny-blip-pretrained"] and (folder / "model.safetensors").is_file()
    assert model_family("tiny-blip-pretrained") == "blip"
    assert load_adapter("tiny-blip-pretrained").tokenizer is not None
    assert load_vqa("tiny-blip-pretrained").config.model_type == "blip"


def test_local_folder_and_hub_id_pass_through(tiny_model: Path):
    assert resolve_model(tiny_model) == str(tiny_model)


def test_missing_local_folder(tmp_path: Path):
    missing = tmp_path / "models" / "student"
    with pytest.raises(SeltdaInputError, match=f"folder not found: {missing}"):
        load_vqa(str(missing))


def test_uncached_hub_id_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SeltdaInputError, match="not in the Hugging Face cache and HF_HUB_OFFLINE is set"):
        model_family("no-such-owner/no-such-model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert resolve_model("no-such-owner/no-such-model") == "no-such-owner/no-such-model"  # may download


def test_quiet_loading_restores_the_verbosity():
    from transformers import logging as hf_logging

    from seltda.models import quiet_loading

    hf_logging.set_verbosity_info()
    try:
        with quiet_loading():
            assert hf_logging.get_verbosity() == hf_logging.ERROR
        assert hf_logging.get_verbosity() == hf_logging.INFO
    finally:
        hf_logging.set_verbosity_warning()
