"""Converters of VQA-Rephrasings, VQA-CE and AdVQA: samples in each release's own layout, converted and read
back (groups, subset flags, the recorded VQA metric) and located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import VQA_ANSWERS, write_json
from conftest import invoke_convert as invoke

from seltda.core.records import read_records
from seltda.eval.scorers import choose_metric
from seltda.eval.suites import rephrasing
from seltda.formats import FormatError, convert, read_advqa, read_vqa_ce, read_vqa_rephrasings


def annotation(qid: int, image_id: int, answers: list[str], qtype: str | None = "what color is the") -> dict:
    """One annotation in the VQA v2 layout (AdVQA's have no question_type)."""
    item = {
        "question_id": qid,
        "image_id": image_id,
        "answer_type": "other",
        "multiple_choice_answer": answers[0],
        "answers": [
            {"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(answers)
        ],
    }
    if qtype is not None:
        item["question_type"] = qtype
    return item


def rephrasings_files(tmp_path: Path) -> tuple[Path, Path]:
    """Two groups: 262148000 with three rephrasings (ids original * 10 + k), 393225002 with one."""

    def question(qid: int, text: str, original: int | None = None) -> dict:
        item = {"image_id": qid // 1000 if original is None else original // 1000, "question": text}
        return item | {"question_id": qid} | ({} if original is None else {"rephrasing_of": original})

    questions = [
        question(262148000, "What color is the sky?"),
        question(2621480000, "What is the sky's color?", 262148000),
        question(2621480001, "Which color is the sky?", 262148000),
        question(2621480002, "The sky is what color?", 262148000),
        question(393225002, "How many dogs?"),
        question(3932250020, "What number of dogs?", 393225002),
    ]
    answers = {262148: ["blue"] * 9 + ["light blue"], 393225: ["2"] * 10}
    annotations = [annotation(q["question_id"], q["image_id"], answers[q["image_id"]]) for q in questions]
    return (
        write_json(
            tmp_path / "v2_OpenEnded_mscoco_valrep2014_humans_og_questions.json",
            {"data_subtype": "valrep2014", "task_type": "Open-Ended", "questions": questions},
        ),
        write_json(
            tmp_path / "v2_mscoco_valrep2014_humans_og_annotations.json", {"annotations": annotations}
        ),
    )


def test_rephrasings_share_the_original_group_and_feed_cs_k(tmp_path: Path) -> None:
    questions, annotations = rephrasings_files(tmp_path)
    result = convert("vqa-rephrasings", tmp_path / "rep.jsonl", questions=questions, annotations=annotations)
    records = read_records(result.out)
    assert [r.group_id for r in records] == ["262148000"] * 4 + ["393225002"] * 2
    assert [r.flags for r in records] == [
        [],
        ["rephrasing"],
        ["rephrasing"],
        ["rephrasing"],
        [],
        ["rephrasing"],
    ]
    assert records[1].meta["rephrasing_of"] == 262148000 and records[1].answers[-1] == "light blue"
    assert records[0].image == "val2014/COCO_val2014_000000262148.jpg"  # not the file's "valrep2014"
    assert {r.meta["metric"] for r in records} == {"vqa"} and choose_metric(records)[0] == "vqa"
    scores = {r.question_id: 100.0 for r in records} | {"2621480002": 0.0}
    suite = rephrasing(records, scores, {r.question_id: "blue" for r in records})
    assert suite["groups"] == 2 and suite["questions"] == 6
    assert suite["CS(4)"] == 0.0 and suite["CS(1)"] == pytest.approx((75 + 100) / 2)

    written = invoke(
        "vqa-rephrasings",
        "--questions",
        questions,
        "--annotations",
        annotations,
        "--out",
        tmp_path / "c.jsonl",
    )
    assert written.exit_code == 0, written.output
    assert "vqa-rephrasings: 6 records" in written.output  # fmt: skip


def test_rephrasings_bad_rephrasing_of_is_located(tmp_path: Path) -> None:
    questions, annotations = rephrasings_files(tmp_path)
    data = json.loads(questions.read_text())
    data["questions"][2]["rephrasing_of"] = [262148000]
    write_json(questions, data)
    with pytest.raises(FormatError) as info:
        read_vqa_rephrasings(questions, annotations)
    assert str(info.value) == (
        f"{questions}: questions[2]: field 'rephrasing_of': expected an integer or a string, got array"
    )
    data["questions"][2]["rephrasing_of"] = 2621480001  # itself
    write_json(questions, data)
    with pytest.raises(
        FormatError, match=r"questions\[2\]: field 'rephrasing_of': 2621480001 is not another"
    ):
        read_vqa_rephrasings(questions, annotations)


def vqa_val_files(tmp_path: Path) -> tuple[Path, Path]:
    """Four VQA v2 val questions (the questions VQA-CE's id lists point into)."""
    ids = [(262148000, 262148), (262148001, 262148), (393225002, 393225), (393225003, 393225)]
    questions = [{"image_id": i, "question": f"Question {q}?", "question_id": q} for q, i in ids]
    return (
        write_json(
            tmp_path / "v2_OpenEnded_mscoco_val2014_questions.json",
            {"data_subtype": "val2014", "questions": questions},
        ),
        write_json(
            tmp_path / "v2_mscoco_val2014_annotations.json",
            {"annotations": [annotation(q, i, VQA_ANSWERS) for q, i in ids]},
        ),
    )


def test_vqa_ce_flags_subsets_and_keeps_one(tmp_path: Path) -> None:
    questions, annotations = vqa_val_files(tmp_path)
    counter = write_json(tmp_path / "counterexamples.json", [393225002, 262148001])
    hard = write_json(tmp_path / "hard.json", [262148000])
    records = read_vqa_ce(questions, annotations, counterexamples=counter, hard=hard)
    assert [(r.question_id, r.flags) for r in records] == [
        ("262148000", ["hard"]),
        ("262148001", ["counterexample"]),
        ("393225002", ["counterexample"]),
        ("393225003", ["easy"]),  # neither counterexample nor hard
    ]
    assert records[0].answers == VQA_ANSWERS and records[0].image == "val2014/COCO_val2014_000000262148.jpg"
    assert choose_metric(records)[0] == "vqa"
    kept = read_vqa_ce(questions, annotations, counterexamples=counter, hard=hard, subset="counterexamples")
    assert [r.question_id for r in kept] == ["262148001", "393225002"]
    only_counter = read_vqa_ce(questions, annotations, counterexamples=counter)  # no hard: no easy flag
    assert [r.flags for r in only_counter] == [[], ["counterexample"], ["counterexample"], []]
    with pytest.raises(FormatError, match="subset 'easy' needs the easy.json file"):
        read_vqa_ce(questions, annotations, counterexamples=counter, subset="easy")

    written = invoke(
        "vqa-ce", "--questions", questions, "--annotations", annotations, "--counterexamples", counter,
        "--subset", "counterexamples", "--out", tmp_path / "ce.jsonl",
    )  # fmt: skip
    assert written.exit_code == 0, written.output
    assert [r.question_id for r in read_records(tmp_path / "ce.jsonl")] == ["262148001", "393225002"]


def test_vqa_ce_bad_id_lists_are_located(tmp_path: Path) -> None:
    questions, annotations = vqa_val_files(tmp_path)
    counter = write_json(tmp_path / "counterexamples.json", [262148001, 999])
    with pytest.raises(FormatError) as info:
        read_vqa_ce(questions, annotations, counterexamples=counter)
    assert str(info.value) == f"{counter}: item 1: question_id 999 is not in {questions}"
    write_json(counter, [262148001, 1.5])
    with pytest.raises(FormatError, match=r"counterexamples.json: item 1: expected a question id"):
        read_vqa_ce(questions, annotations, counterexamples=counter)
    write_json(counter, {"question_ids": [262148001]})
    with pytest.raises(FormatError, match="counterexamples.json: expected a JSON list, got object"):
        read_vqa_ce(questions, annotations, counterexamples=counter)
    write_json(counter, [262148001])
    hard = write_json(tmp_path / "hard.json", [262148001])
    with pytest.raises(
        FormatError, match=r"hard.json: item 0: question_id 262148001 is already listed at .*item 0"
    ):
        read_vqa_ce(questions, annotations, counterexamples=counter, hard=hard)


def test_advqa_records_the_vqa_metric_and_coco_paths(tmp_path: Path) -> None:
    questions = write_json(
        tmp_path / "v1_OpenEnded_mscoco_val2017_advqa_questions.json",
        {"data_subtype": "val2017", "questions": [
            {"image_id": 139, "question": "How many people could sit at the table?", "question_id": 1390001},
        ]},
    )  # fmt: skip
    answers = ["6"] * 6 + ["8"] * 3 + ["six"]
    annotations = write_json(
        tmp_path / "v1_mscoco_val2017_advqa_annotations.json",
        {"annotations": [annotation(1390001, 139, answers, qtype=None) | {"answer_type": "number"}]},
    )
    (record,) = read_advqa(questions, annotations)
    assert (record.question_id, record.answers, record.answer_type) == ("1390001", answers, "number")
    assert record.question_type is None  # AdVQA's annotations have none
    assert record.image == "val2014/COCO_val2014_000000000139.jpg"
    assert record.meta["metric"] == "vqa" and record.meta["dataset"] == "advqa"
    (coco2017,) = read_advqa(questions, annotations, image_template="val2017/{image_id:012d}.jpg")
    assert coco2017.image == "val2017/000000000139.jpg"

    bad = json.loads(annotations.read_text())
    bad["annotations"][0]["answers"][2] = {"answer_id": 3}
    write_json(annotations, bad)
    with pytest.raises(FormatError, match=r"annotations\[0\]: answers\[2\]: field 'answer': missing"):
        read_advqa(questions, annotations)
    written = invoke(
        "advqa", "--questions", questions, "--annotations", annotations, "--out", tmp_path / "a.jsonl"
    )
    assert written.exit_code == 2 and "field 'answer': missing" in written.output  # fmt: skip
