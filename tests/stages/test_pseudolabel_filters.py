import json

import pytest
import torch
from PIL import Image

from seltda.core.records import Provenance, Record
from seltda.models.chat_vlm import ImageBatch
from seltda.qa_text import parse_generation
from seltda.stages.pseudolabel import filters as filters_module
from seltda.stages.pseudolabel import merge, rebalance, run_shard
from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.pseudolabel.engines import HfEngine
from seltda.stages.pseudolabel.filters import (
    AnswersUsable,
    Deduplicate,
    ItemFilter,
    Sample,
    SubsetFilter,
    answer_problem,
    funnel_stages,
    register,
)


def test_answer_checks():
    def problem(text):
        return answer_problem(parse_generation(text), max_words=3)

    assert problem("question: is it red? answer: yes") is None
    assert problem("question: is it red? answer: yes, no") == "contradictory_yes_no"
    assert problem("question: is it red? answer: Yes., no") == "contradictory_yes_no"
    assert problem("question: what is it? answer: a very long rambling answer") == "answer_too_long"


def _samples(*texts_scores):
    return [
        Sample("a.png", i, text, score, parse_generation(text))
        for i, (text, score) in enumerate(texts_scores)
    ]


def test_a_filter_drops_with_its_reason_and_counts_them():
    samples = _samples(
        ("question: is it red? answer: yes", -1.0),
        ("question: is it red? answer: yes, no", -1.0),
        ("question: what is it? answer: a very long rambling answer", -1.0),
        ("question: what shape? answer: circle", -1.0),
        ("question: is it blue? answer: yes, no", -1.0),
    )
    check = AnswersUsable(max_words=3)
    result = check.apply(samples)
    assert [s.index for s in result.kept] == [0, 3]
    assert [(d.item.index, d.reason) for d in result.dropped] == [
        (1, "contradictory_yes_no"),
        (2, "answer_too_long"),
        (4, "contradictory_yes_no"),
    ]
    assert check.counts == {"contradictory_yes_no": 2, "answer_too_long": 1}

    class Sloppy(ItemFilter):
        name, where, reasons = "sloppy", "shard", ("declared",)

        def reason(self, item):
            return "undeclared"

    with pytest.raises(ValueError, match="undeclared reason"):
        Sloppy().apply(samples)


def test_dedupe_drops_the_less_confident_copy_when_the_later_one_is_met():
    samples = _samples(
        ("question: what color? answer: red", -2.0),
        ("question: What color ? answer: blue", -0.5),
        ("question: what color? answer: green", -3.0),
    )
    result = Deduplicate().apply(samples)
    assert [s.index for s in result.kept] == [1]
    assert [(d.item.index, d.reason, d.at) for d in result.dropped] == [
        (0, "duplicate_question", 1),
        (2, "duplicate_question", 2),
    ]


def test_rebalance_caps_yes_no_share_keeping_the_most_confident():
    def pair(i, answer, score):
        return Record(
            question_id=str(i),
            image="a.png",
            question=f"q{i}?",
            answers=[answer],
            source="synthetic",
            provenance=Provenance(teacher="t", score=score),
        )

    records = [pair(i, "yes" if i % 2 else "no", -i) for i in range(8)] + [
        pair(10, "red", -1),
        pair(11, "cat", -2),
    ]
    assert rebalance(records, None) == records
    assert [r.question_id for r in rebalance(records, 0.0)] == ["10", "11"]
    half = rebalance(records, 0.5)  # 2 others allow 2 yes/no: the two most confident
    assert [r.question_id for r in half] == ["0", "1", "10", "11"]


class ScriptedAdapter:  # a teacher's adapter, minus the model: each image gets the same samples
    image_tokens_vary = False
    samples = [
        ("question: what color is it? answer: red", -1.0),
        ("question: what shape is it? answer: circle", -0.5),
        ("question: is it red? answer: yes", -0.2),
        ("garbage", -0.1),
    ]

    def sampling_inputs(self, images):
        return ImageBatch(images)

    def sampling_inputs_on(self, inputs, device, dtype):
        return inputs

    def sample_questions(self, model, pixels, num_samples, **settings):
        return [self.samples[:num_samples] for _ in pixels]


def _scripted_shards(tmp_path, cfg):
    root = tmp_path / "pool"
    root.mkdir()
    names = []
    for index in range(3):
        Image.new("RGB", (8, 8)).save(root / f"{index}.png")
        names.append(f"{index}.png")
    out = tmp_path / "pl"
    for shard, part in enumerate([names[:2], names[2:]]):
        run_shard(shard, part, root, HfEngine(torch.nn.Linear(1, 1), ScriptedAdapter()), cfg, "t", out)
    return out


def test_the_funnel_and_the_drops_come_from_the_filter_list(tmp_path, monkeypatch):
    assert funnel_stages() == [
        "generated",
        "parsed",
        "answer_ok",
        "deduplicated",
        "consistent",
        "confident",
        "kept",
    ]
    monkeypatch.setattr(filters_module, "FILTERS", list(filters_module.FILTERS))

    @register
    class NoColorQuestions(SubsetFilter):  # a global filter: registered last, its stage is `kept`
        name, where, reasons = "colorless", "merge", ("color_question",)

        def keep(self, items):
            return [r for r in items if "color" not in r.question]

    @register
    class NoShapeQuestions(ItemFilter):  # a shard filter: it runs after the shard filters before it
        name, where, reasons = "shapeless", "shard", ("shape_question",)

        def reason(self, item):
            return "shape_question" if "shape" in item.parsed.question else None

    assert funnel_stages() == [
        "generated",
        "parsed",
        "answer_ok",
        "deduplicated",
        "shapeless",
        "consistent",
        "confident",
        "balanced",
        "kept",
    ]
    cfg = PseudoLabelConfig.plain(per_image=4, batch_size=2)
    out = _scripted_shards(tmp_path, cfg)
    stats = json.loads((out / "shards" / "shard-00000.json").read_text())
    assert stats["drops"] == {"shape_question": 2, "unparseable": 2} and stats["records"] == 4
    manifest = merge(out, 2, cfg)
    assert list(manifest.funnel.items()) == [
        ("generated", 12),
        ("parsed", 9),
        ("answer_ok", 9),
        ("deduplicated", 9),
        ("shapeless", 6),
        ("consistent", 6),
        ("confident", 6),
        ("balanced", 6),
        ("kept", 3),
    ]
    assert manifest.drops == {"shape_question": 3, "unparseable": 3, "color_question": 3}
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert [r["reason"] for r in rejected].count("color_question") == 3
    assert {r["raw_text"] for r in rejected if r["reason"] == "color_question"} == {
        ScriptedAdapter.samples[0][0]
    }
