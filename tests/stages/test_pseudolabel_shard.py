import pydantic
import pytest
import torch
from PIL import Image

from seltda.models.chat_vlm import ImageBatch
from seltda.stages.pseudolabel import fixed_choice, label_image, run_shard, size_ordered, synthetic_id
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.pseudolabel.engines import HfEngine


def test_label_image_dedupes_and_keeps_most_confident():
    samples = [
        ("question : what color ? answer : red", -2.0),
        ("question : What color? answer : blue", -0.5),
        ("garbage", -0.1),
        ("question : is it round ? answer : yes , no", -0.3),
    ]
    records, rejected = label_image("img/a.png", samples, PseudoLabelConfig.plain(), "teacher")
    assert [r.answers for r in records] == [["blue"]]
    assert records[0].question_id == synthetic_id("img/a.png", 1)
    assert records[0].source == "synthetic" and records[0].provenance.score == -0.5
    reasons = {r["sample_index"]: r["reason"] for r in rejected}
    assert reasons == {0: "duplicate_question", 2: "unparseable", 3: "contradictory_yes_no"}
    assert rejected[0]["raw_text"] == "question : what color ? answer : red"
    assert [r["sample_index"] for r in rejected] == [0, 2, 3]  # in the order the samples were met


def test_precision_on_a_cpu_is_probed_unless_asked(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert fixed_choice("auto") is None  # auto on a CPU: a timed probe decides (test_pseudolabel_precision)
    assert fixed_choice("fp32").dtype == "float32" and fixed_choice("bf16").dtype == "bfloat16"
    fp16 = fixed_choice("fp16")
    assert fp16.dtype == "float32" and fp16.reason == "explicit"  # fp16 only on a GPU
    with pytest.raises(pydantic.ValidationError, match="precision"):
        PseudoLabelConfig(precision="fp64")


@pytest.mark.parametrize("bf16", [True, False])
def test_auto_precision_on_a_gpu_follows_its_bf16_support(monkeypatch, bf16):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16)
    choice = fixed_choice("auto")
    assert choice.reason == "gpu" and choice.dtype == ("bfloat16" if bf16 else "float16")
    assert fixed_choice("fp16").dtype == "float16"


def test_dynamic_resolution_pools_are_batched_by_size(tmp_path):
    root = tmp_path / "pool"
    root.mkdir()
    for index, size in enumerate([(64, 64), (8, 8), (32, 16), (16, 16), (48, 40)]):
        Image.new("RGB", size).save(root / f"{index}.png")
    (root / "bad.png").write_bytes(b"not an image")
    names = sorted(path.name for path in root.iterdir())
    assert size_ordered(names, root) == ["1.png", "3.png", "2.png", "4.png", "0.png", "bad.png"]

    batches = []

    class RecordingAdapter:  # a dynamic-resolution VLM's adapter, minus the model
        image_tokens_vary = True

        def sampling_inputs(self, images):
            return ImageBatch(images)

        def sampling_inputs_on(self, inputs, device, dtype):
            return inputs

        def sample_questions(self, model, pixels, num_samples, **settings):
            batches.append([picture.width * picture.height for picture in pixels])
            return [[("question: what is it? answer: a square", -1.0)] * num_samples for _ in pixels]

    cfg = PseudoLabelConfig.plain(per_image=1, batch_size=2)
    stats = run_shard(
        0, names, root, HfEngine(torch.nn.Linear(1, 1), RecordingAdapter()), cfg, "t", tmp_path / "pl"
    )
    assert batches == [[64, 256], [512, 1920], [4096]]
    assert stats.records == 5 and stats.unreadable == {"not_an_image": 1}
