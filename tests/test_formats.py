"""Dataset converters: small hand-made samples in each real layout, converted and read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from seltda.cli.convert import convert_app
from seltda.core.fileio import SeltdaInputError
from seltda.core.records import Record, read_records
from seltda.formats import (
    FORMATS,
    FormatError,
    convert,
    read_predictions,
    read_reference,
    read_table,
    read_vqa_v2,
    to_reference,
    to_vqa_results,
    write_reference,
    write_vqa_results,
)

runner = CliRunner()

VQA_ANSWERS = ["yes", "yes", "yes", "no", "yes", "yes", "yeah", "yes", "yes", "yes"]


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def invoke(*args: object):
    return runner.invoke(convert_app, [str(arg) for arg in args])


# ------------------------------------------------------------------------------------------ VQA v2


def vqa_files(tmp_path: Path) -> tuple[Path, Path]:
    questions = {
        "info": {"description": "This is v2.0 of the VQA dataset."},
        "task_type": "Open-Ended",
        "data_type": "mscoco",
        "data_subtype": "val2014",
        "license": {"name": "Creative Commons Attribution 4.0 International License"},
        "questions": [
            {"image_id": 262148, "question": "Is the man on skis?", "question_id": 262148000},
            {"image_id": 262148, "question": "What color is the sky?", "question_id": 262148001},
            {"image_id": 393225, "question": "How many dogs are there?", "question_id": 393225002},
        ],
    }

    def annotation(qid, image_id, qtype, atype, answers):
        return {
            "question_id": qid,
            "image_id": image_id,
            "question_type": qtype,
            "answer_type": atype,
            "multiple_choice_answer": answers[0],
            "answers": [
                {"answer": a, "answer_confidence": "yes" if i % 3 else "maybe", "answer_id": i + 1}
                for i, a in enumerate(answers)
            ],
        }

    annotations = {
        "info": {},
        "data_subtype": "val2014",
        "annotations": [
            annotation(393225002, 393225, "how many", "number", ["2"] * 7 + ["3", "2", "two"]),
            annotation(262148000, 262148, "is the man", "yes/no", VQA_ANSWERS),
            annotation(262148001, 262148, "what color is the", "other", ["blue"] * 9 + ["light blue"]),
        ],
    }
    return (
        write_json(tmp_path / "v2_OpenEnded_mscoco_val2014_questions.json", questions),
        write_json(tmp_path / "v2_mscoco_val2014_annotations.json", annotations),
    )


def test_vqa2_keeps_all_answers_ids_types_and_paths(tmp_path: Path) -> None:
    questions, annotations = vqa_files(tmp_path)
    result = convert("vqa2", tmp_path / "val.jsonl", questions=questions, annotations=annotations)
    assert result.count == 3 and result.paths == [tmp_path / "val.jsonl"]
    records = read_records(tmp_path / "val.jsonl")
    assert [r.question_id for r in records] == ["262148000", "262148001", "393225002"]  # question order
    first = records[0]
    assert first.image == "val2014/COCO_val2014_000000262148.jpg"
    assert first.answers == VQA_ANSWERS  # all 10, in order, duplicates kept
    assert (first.question_type, first.answer_type) == ("is the man", "yes/no")
    assert first.meta["image_id"] == 262148 and first.meta["multiple_choice_answer"] == "yes"
    assert records[2].answers == ["2"] * 7 + ["3", "2", "two"]
    assert records[2].image == "val2014/COCO_val2014_000000393225.jpg"


def test_vqa2_custom_template_and_subtype(tmp_path: Path) -> None:
    questions, annotations = vqa_files(tmp_path)
    records = read_vqa_v2(questions, annotations, image_template="coco/{subtype}/{image_id}.jpg", subtype="x")
    assert records[0].image == "coco/x/262148.jpg"
    with pytest.raises(FormatError, match=r"unknown placeholder \{split\}"):
        read_vqa_v2(questions, annotations, image_template="{split}/{image_id}.jpg")


def test_vqa2_requires_annotations(tmp_path: Path) -> None:
    questions, _ = vqa_files(tmp_path)
    with pytest.raises(FormatError, match="annotations file is required"):
        read_vqa_v2(questions, None)


def test_vqa2_errors_name_file_item_and_field(tmp_path: Path) -> None:
    questions, annotations = vqa_files(tmp_path)
    data = json.loads(questions.read_text())
    del data["questions"][1]["question"]
    write_json(questions, data)
    with pytest.raises(FormatError) as info:
        read_vqa_v2(questions, annotations)
    assert str(info.value) == f"{questions}: questions[1]: field 'question': missing"

    data["questions"][1]["question"] = "What color is the sky?"
    data["questions"][2]["question_id"] = 999
    write_json(questions, data)
    with pytest.raises(FormatError, match=r"questions\[2\]: question_id 999 has no annotation"):
        read_vqa_v2(questions, annotations)

    bad = json.loads(annotations.read_text())
    bad["annotations"][1]["answers"][4]["answer"] = 5
    write_json(annotations, bad)
    data["questions"][2]["question_id"] = 393225002
    write_json(questions, data)
    with pytest.raises(
        FormatError, match=r"annotations\[1\]: answers\[4\]: field 'answer': expected a string"
    ):
        read_vqa_v2(questions, annotations)

    write_json(questions, {"annotations": []})
    with pytest.raises(FormatError, match="missing the 'questions' list"):
        read_vqa_v2(questions, annotations)


def test_okvqa_shares_the_layout(tmp_path: Path) -> None:
    questions = write_json(
        tmp_path / "OpenEnded_mscoco_val2014_questions.json",
        {
            "data_subtype": "val2014",
            "questions": [
                {"image_id": 297147, "question": "What sport can you use this for?", "question_id": 2971475}
            ],
        },
    )
    answers = ["racing"] * 4 + ["motocross"] * 4 + ["riding"] * 2
    annotations = write_json(
        tmp_path / "mscoco_val2014_annotations.json",
        {
            "annotations": [
                {
                    "image_id": 297147,
                    "answer_type": "other",
                    "question_type": "eight",
                    "question_id": 2971475,
                    "confidence": 3,
                    "answers": [
                        {"answer_id": i + 1, "raw_answer": a, "answer_confidence": "yes", "answer": a}
                        for i, a in enumerate(answers)
                    ],
                }
            ]
        },
    )
    (record,) = read_vqa_v2(questions, annotations)
    assert record.answers == answers and record.question_id == "2971475"
    assert record.image == "val2014/COCO_val2014_000000297147.jpg"


# ------------------------------------------------------------------------------------------ A-OKVQA


def aokvqa_items() -> list[dict]:
    return [
        {
            "split": "val",
            "image_id": 461751,
            "question_id": "22jbM6gDxdaMaunuzgrsBB",
            "question": "What is in the motorcyclist's mouth?",
            "choices": ["toothpick", "food", "popsicle stick", "cigarette"],
            "correct_choice_idx": 3,
            "direct_answers": ["cigarette"] * 9 + ["smoke"],
            "difficult_direct_answer": False,
            "rationales": [
                "He's smoking while riding.",
                "The motorcyclist has a lit cigarette in his mouth while he rides on the street.",
                "The man is smoking.",
            ],
        },
        {
            "split": "val",
            "image_id": 81922,
            "question_id": "2BTXBFzbQ3BEFgqfC7DgW6",
            "question": "Which number birthday is probably being celebrated?",
            "choices": ["one", "ten", "nine", "thirty"],
            "correct_choice_idx": 3,
            "direct_answers": [
                "thirty",
                "30",
                "thirty",
                "thirty",
                "thirty",
                "30",
                "30",
                "thirty",
                "30",
                "30",
            ],
            "difficult_direct_answer": True,
            "rationales": ["The cake says 30.", "There is a 30 on the cake.", "The candles show 30."],
        },
    ]


def test_aokvqa(tmp_path: Path) -> None:
    source = write_json(tmp_path / "aokvqa_v1p0_val.json", aokvqa_items())
    convert("aokvqa", tmp_path / "out.jsonl", path=source)
    first, second = read_records(tmp_path / "out.jsonl")
    assert first.question_id == "22jbM6gDxdaMaunuzgrsBB"
    assert first.image == "val2017/000000461751.jpg"
    assert first.answers == ["cigarette"] * 9 + ["smoke"]
    assert first.rationale == (
        "He's smoking while riding. | The motorcyclist has a lit cigarette in his mouth while he rides "
        "on the street. | The man is smoking."
    )
    assert first.meta["choices"][3] == "cigarette" and first.meta["correct_choice"] == "cigarette"
    assert first.meta["correct_choice_idx"] == 3 and first.flags == []
    assert second.flags == ["difficult_direct_answer"] and second.answers.count("30") == 5

    (record, _) = FORMATS["aokvqa"].reader(source, split="train", rationale="first")
    assert record.image == "train2017/000000461751.jpg" and record.rationale == "He's smoking while riding."


def test_aokvqa_errors(tmp_path: Path) -> None:
    items = aokvqa_items()
    del items[1]["direct_answers"]
    source = write_json(tmp_path / "aokvqa_v1p0_test.json", items)
    with pytest.raises(FormatError, match=r"aokvqa_v1p0_test.json: item 1: field 'direct_answers': missing"):
        convert("aokvqa", tmp_path / "out.jsonl", path=source)
    items = aokvqa_items()
    items[0]["direct_answers"][2] = "  "
    write_json(source, items)
    with pytest.raises(FormatError, match=r"item 0: field 'direct_answers': answer 2 is empty"):
        convert("aokvqa", tmp_path / "out.jsonl", path=source)


# ------------------------------------------------------------------------------------------ reference JSON


def test_reference_round_trip(tmp_path: Path) -> None:
    items = [
        {
            "question_id": 262148000,
            "question": "Is the man on skis?",
            "answer": VQA_ANSWERS,
            "image": "val2014/COCO_val2014_000000262148.jpg",
            "dataset": "vqa",
        },
        {
            "question_id": 58,
            "question": "what does this image show?",
            "answer": "lung",
            "image": "train/train_0422.jpg",
            "dataset": "pathvqa",
            "question_type": "what",
            "answer_type": "other",
        },
        {
            "question_id": "22jbM6gDxdaMaunuzgrsBB",
            "question": "What is in the motorcyclist's mouth?",
            "answer": ["cigarette", "smoke"],
            "image": "val2017/000000461751.jpg",
            "dataset": "aokvqa",
            "rationales": ["He's smoking.", "The man is smoking."],
        },
    ]
    source = write_json(tmp_path / "vqa_train.json", items)
    convert("reference", tmp_path / "out.jsonl", path=source)
    records = read_records(tmp_path / "out.jsonl")
    assert [r.question_id for r in records] == ["262148000", "58", "22jbM6gDxdaMaunuzgrsBB"]
    assert records[0].answers == VQA_ANSWERS and records[0].meta == {"dataset": "vqa"}
    assert records[1].answers == ["lung"] and records[1].question_type == "what"
    assert records[2].rationale == "He's smoking. | The man is smoking."
    assert to_reference(records) == [items[0], {**items[1], "answer": ["lung"]}, items[2]]
    write_reference(tmp_path / "back.json", records)
    assert read_reference(tmp_path / "back.json") == records


def test_reference_errors(tmp_path: Path) -> None:
    source = write_json(
        tmp_path / "test.json",
        [
            {"question_id": 1, "question": "Is it red?", "image": "a.jpg", "answer": ["yes"]},
            {"question_id": 2},
        ],
    )
    with pytest.raises(FormatError, match=r"test.json: item 1: field 'answer': missing"):
        read_reference(source)
    write_json(source, [{"question_id": 1, "question": "Is it red?", "image": "../a.jpg", "answer": ["yes"]}])
    with pytest.raises(FormatError, match=r"item 0: field 'image': image path '../a.jpg' contains '..'"):
        read_reference(source)
    write_json(source, [{"question_id": 1, "question": "Is it red?", "image": "a.jpg", "answer": []}])
    with pytest.raises(FormatError, match=r"item 0: field 'answer': expected a non-empty list"):
        read_reference(source)


# ------------------------------------------------------------------------------------------ tables


def test_table_csv_with_aliases_and_multiple_answers(tmp_path: Path) -> None:
    source = tmp_path / "vqa_rad.csv"
    source.write_text(
        "qid,Image_Name,Question,Answers,question_type,answer_type,phrase_type\n"
        "1,synpic54610.jpg,Is there evidence of an aortic aneurysm?,yes,PRES,CLOSED,freeform\n"
        '2,synpic42202,"Which organ is abnormal, heart or lung?",lung | lungs,ORGAN,OPEN,para\n'
        "\n"
        "3,images/synpic100.png,Is this a CT scan?,no,MODALITY,CLOSED,\n",
        encoding="utf-8",
    )
    records = read_table(source)
    assert [r.question_id for r in records] == ["1", "2", "3"]
    assert [r.image for r in records] == ["synpic54610.jpg", "synpic42202.jpg", "images/synpic100.png"]
    assert (
        records[1].answers == ["lung", "lungs"]
        and records[1].question == "Which organ is abnormal, heart or lung?"
    )
    assert (records[0].question_type, records[0].answer_type) == ("PRES", "CLOSED")
    assert records[0].meta == {"phrase_type": "freeform"} and records[2].meta == {}


def test_table_tsv_without_ids(tmp_path: Path) -> None:
    source = tmp_path / "pathvqa_train.tsv"
    source.write_text(
        "image\tquestion\tanswer\ntrain_0422\twhat does this image show?\tlung\n"
        'train_0423\t"is there\nfibrosis?"\tyes\ntrain_0424\twhere is this?\tliver\n',
        encoding="utf-8",
    )
    records = read_table(source, image_ext="png")
    assert [r.question_id for r in records] == ["row-2", "row-3", "row-5"]  # 1-based line of each row
    assert records[0].image == "train_0422.png" and records[2].answers == ["liver"]


def test_table_errors_name_file_line_and_column(tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_text("image,question,answer\na.jpg,Is it red?,yes\nb.jpg,,no\n", encoding="utf-8")
    with pytest.raises(FormatError, match=rf"^{source}:3: column 'question': empty$"):
        read_table(source)
    source.write_text("img,question,answer\na.jpg,Is it red?,yes\n", encoding="utf-8")
    with pytest.raises(FormatError, match=rf"^{source}:1: column 'image' not found \(columns: img, question"):
        read_table(source)
    assert read_table(source, image_column="IMG")[0].image == "a.jpg"
    source.write_text("image,question,answer\na.jpg,Is it red?,yes,extra\n", encoding="utf-8")
    with pytest.raises(FormatError, match=rf"^{source}:2: expected 3 cells"):
        read_table(source)
    source.write_text(
        "question_id,image,question,answer\n7,a.jpg,Red?,yes\n7,b.jpg,Blue?,no\n", encoding="utf-8"
    )
    with pytest.raises(FormatError, match=rf"{source}:3: duplicate question_id '7' \(first at {source}:2\)"):
        read_table(source)
    source.write_bytes(b'image,question,answer\r\n"a.jpg",Is it\r\nred?,yes\r\n\xff.jpg,Blue?,no\r\n')
    with pytest.raises(FormatError, match=rf"^{source}:4: not valid utf-8"):
        read_table(source)


# ------------------------------------------------------------------------------------------ datasets folders


def test_hf_dataset_writes_distinct_images_once(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict, Features, Sequence, Value
    from datasets import Image as ImageFeature

    red, blue = Image.new("RGB", (8, 8), "red"), Image.new("RGB", (8, 8), "blue")
    features = Features(
        {
            "image": ImageFeature(),
            "question": Value("string"),
            "answers": Sequence(Value("string")),
            "question_type": Value("string"),
        }
    )
    data = {
        "image": [red, red, blue],
        "question": ["what color is it?", "is it red?", "what color is it?"],
        "answers": [["red", "red", "dark red"], ["yes"], ["blue"]],
        "question_type": ["color", "yes/no", "color"],
    }
    DatasetDict({"train": Dataset.from_dict(data, features=features)}).save_to_disk(tmp_path / "ds")
    result = convert("hf-dataset", tmp_path / "out" / "train.jsonl", path=tmp_path / "ds", split="train")
    assert (result.count, result.images_written) == (3, 2)
    assert result.images_dir == tmp_path / "out" / "images"
    records = read_records(tmp_path / "out" / "train.jsonl")
    assert [r.question_id for r in records] == ["row-0", "row-1", "row-2"]
    assert [r.image for r in records] == ["000000.png", "000000.png", "000002.png"]
    assert records[0].answers == ["red", "red", "dark red"] and records[0].question_type == "color"
    assert sorted(p.name for p in result.images_dir.iterdir()) == ["000000.png", "000002.png"]
    with Image.open(result.images_dir / "000002.png") as image:
        assert image.getpixel((0, 0)) == (0, 0, 255)

    single = {"image": [blue], "question": ["what color?"], "answer": ["blue"], "question_id": [42]}
    single_features = Features(
        {
            "image": ImageFeature(),
            "question": Value("string"),
            "answer": Value("string"),
            "question_id": Value("int64"),
        }
    )
    Dataset.from_dict(single, features=single_features).save_to_disk(tmp_path / "single")
    result = convert(
        "hf-dataset", tmp_path / "s.jsonl", path=tmp_path / "single", images_out=tmp_path / "pngs"
    )
    (record,) = read_records(tmp_path / "s.jsonl")
    assert (record.question_id, record.image, record.answers) == ("42", "000000.png", ["blue"])
    assert (tmp_path / "pngs" / "000000.png").is_file()
    with pytest.raises(FormatError, match=r"no split 'test' \(splits: train\)"):
        convert("hf-dataset", tmp_path / "x.jsonl", path=tmp_path / "ds", split="test")
    with pytest.raises(FormatError, match=r"column 'query' not found"):
        convert("hf-dataset", tmp_path / "x.jsonl", path=tmp_path / "ds", question_column="query")


# ------------------------------------------------------------------------------------------ results


def test_vqa_results_round_trip(tmp_path: Path) -> None:
    evaluation = {
        "accuracy": 0.5,
        "predictions": [
            {"question_id": "262148000", "answer": "yes"},
            {"question_id": "22jbM6gDxdaMaunuzgrsBB", "answer": "cigarette"},
        ],
    }
    results = read_predictions(write_json(tmp_path / "eval.json", evaluation))
    assert results == [
        {"question_id": 262148000, "answer": "yes"},
        {"question_id": "22jbM6gDxdaMaunuzgrsBB", "answer": "cigarette"},
    ]
    assert to_vqa_results({"1": "two", "x1": "no"}) == [
        {"question_id": 1, "answer": "two"},
        {"question_id": "x1", "answer": "no"},
    ]
    write_vqa_results(tmp_path / "results.json", evaluation["predictions"])
    back = json.loads((tmp_path / "results.json").read_text())
    assert back == results
    assert {str(r["question_id"]): r["answer"] for r in back} == {
        p["question_id"]: p["answer"] for p in evaluation["predictions"]
    }
    with pytest.raises(FormatError, match=r"^predictions\[1\]: field 'answer': missing$"):
        to_vqa_results([{"question_id": 1, "answer": "a"}, {"question_id": 2}])
    with pytest.raises(FormatError, match="duplicate question_id '1'"):
        to_vqa_results([{"question_id": 1, "answer": "a"}, {"question_id": "1", "answer": "b"}])


# ------------------------------------------------------------------------------------------ registry and CLI


def test_convert_rejects_unknown_formats_and_options(tmp_path: Path) -> None:
    with pytest.raises(SeltdaInputError, match="unknown format 'gqa'"):
        convert("gqa", tmp_path / "out.jsonl")
    with pytest.raises(FormatError, match="unknown option.*annotation_file"):
        convert("vqa_v2", tmp_path / "out.jsonl", questions="q.json", annotation_file="a.json")


def test_cli_vqa2(tmp_path: Path) -> None:
    questions, annotations = vqa_files(tmp_path)
    out = tmp_path / "records.jsonl"
    result = invoke("vqa2", "--questions", questions, "--annotations", annotations, "--out", out,
                    "--image-template", "{image_id}.jpg")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "vqa2: 3 records" in result.output
    assert read_records(out)[0] == Record(
        question_id="262148000",
        image="262148.jpg",
        question="Is the man on skis?",
        answers=VQA_ANSWERS,
        question_type="is the man",
        answer_type="yes/no",
        meta=read_records(out)[0].meta,
    )
    missing = invoke("vqa2", "--questions", questions, "--out", out)
    assert missing.exit_code == 2 and "annotations file is required" in missing.output
    assert "Traceback" not in missing.output


def test_cli_table_and_error(tmp_path: Path) -> None:
    source = tmp_path / "data.tsv"
    source.write_text("Image\tQuestion\tAnswer\nimg1\tIs it red?\tyes|yeah\n", encoding="utf-8")
    out = tmp_path / "records.jsonl"
    result = invoke("table", source, "--out", out, "--image-ext", ".png")
    assert result.exit_code == 0, result.output
    (record,) = read_records(out)
    assert (record.image, record.answers, record.question_id) == ("img1.png", ["yes", "yeah"], "row-2")
    source.write_text("Image\tQuestion\tAnswer\nimg1\tIs it red?\t\n", encoding="utf-8")
    bad = invoke("table", source, "--out", out)
    assert bad.exit_code == 2 and "data.tsv:2: column 'Answer': empty" in bad.output


def test_cli_results(tmp_path: Path) -> None:
    evaluation = write_json(tmp_path / "eval.json", {"predictions": [{"question_id": "5", "answer": "yes"}]})
    out = tmp_path / "vqa_results.json"
    result = invoke("results", evaluation, "--out", out)
    assert result.exit_code == 0, result.output
    assert "results: 1 answers" in result.output
    assert json.loads(out.read_text()) == [{"question_id": 5, "answer": "yes"}]
    bad = invoke("results", tmp_path / "missing.json", "--out", out)
    assert bad.exit_code == 2 and "file not found" in bad.output


def test_cli_reference_and_aokvqa(tmp_path: Path) -> None:
    source = write_json(tmp_path / "aokvqa_v1p0_val.json", aokvqa_items())
    result = invoke("aokvqa", source, "--out", tmp_path / "a.jsonl", "--split", "train")
    assert result.exit_code == 0, result.output
    assert read_records(tmp_path / "a.jsonl")[1].image == "train2017/000000081922.jpg"
    write_reference(tmp_path / "ref.json", read_records(tmp_path / "a.jsonl"))
    result = invoke("reference", tmp_path / "ref.json", "--out", tmp_path / "b.jsonl")
    assert result.exit_code == 0, result.output
    assert [r.answers for r in read_records(tmp_path / "b.jsonl")] == [
        r.answers for r in read_records(tmp_path / "a.jsonl")
    ]


def test_pseudolabels_written_as_a_datasets_folder_round_trip(tmp_path):
    import datasets
    from PIL import Image

    from seltda.core.records import Provenance
    from seltda.formats import read_hf_dataset, write_hf_dataset

    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (8, 8), "red").save(tmp_path / "imgs" / "a.png")
    records = [
        Record(
            question_id="s1",
            image="imgs/a.png",
            question="what color?",
            answers=["red", "red"],
            source="synthetic",
            provenance=Provenance(teacher="t", score=-0.5, raw_text="question: ..."),
        ),
    ]
    out = write_hf_dataset(records, tmp_path, tmp_path / "ds")
    loaded = datasets.load_from_disk(str(out))
    assert loaded[0]["question"] == "what color?" and loaded[0]["answers"] == ["red", "red"]
    assert loaded[0]["image"].size == (8, 8) and loaded[0]["score"] == -0.5
    back = read_hf_dataset(out, tmp_path / "back")
    assert back.records[0].answers == ["red", "red"] and back.records[0].question_id == "s1"
