"""`answer_likelihoods`: each dev question's most common reference answer scored by one teacher-forced pass,
the statistic the verdict `accuracy-or-likelihood` compares."""

from __future__ import annotations

import pytest
from PIL import Image

from seltda.core.records import write_records
from seltda.models.blip import BlipAdapter, load_vqa_model
from seltda.run.artifacts import Likelihoods
from seltda.stages.evaluate import EvaluateConfig, answer_likelihoods, reference_answer


def test_the_reference_answer_is_the_most_common_one_ties_in_sorted_order():
    assert reference_answer(["red"] * 8 + ["dark red"] * 2) == "red"
    assert reference_answer(["b", "a", "b", "a"]) == "a"


def test_each_question_scores_its_reference_answer_as_alone_and_broken_images_are_counted(
    dataset, tiny_model, tmp_path
):
    records = dataset["records"][:6]
    (dataset["root"] / "images" / "broken.png").write_bytes(b"not a png")
    broken = records[0].model_copy(update={"question_id": "broken", "image": "images/broken.png"})
    data = tmp_path / "dev.jsonl"
    write_records(data, [*records, broken])
    out = tmp_path / "likelihood.json"
    result = answer_likelihoods(str(tiny_model), data, dataset["root"], EvaluateConfig(batch_size=4), out)
    assert Likelihoods.read(out) == result and result.n == 6 and "broken" not in result.per_question
    assert result.skipped_images["records_with_unreadable_image"] == 1
    adapter = BlipAdapter.from_pretrained(str(tiny_model))
    model = load_vqa_model(str(tiny_model)).eval()
    for record in records:  # batched as scored alone; a color's reference is "red", not "dark red"
        pixels = adapter.prepare_images([Image.open(dataset["root"] / record.image).convert("RGB")])
        [[alone]] = adapter.choice_scores(
            model, pixels, [record.question], [[reference_answer(record.answers)]]
        )
        assert result.per_question[record.question_id] == pytest.approx(alone, abs=1e-4)
        assert alone < 0
    assert result.mean == pytest.approx(sum(result.per_question.values()) / 6, abs=1e-3)
