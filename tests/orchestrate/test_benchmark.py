"""`seltda benchmark`: models x evaluation sets in one table, gains over the first model, resumable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import make_dataset

from seltda.core.fileio import SeltdaInputError
from seltda.core.records import write_records
from seltda.eval.intervals import SEEDS_AND_TEST, TEST_ONLY, seed_aware_gain
from seltda.orchestrate.benchmark import load_benchmark_config, run_benchmark
from seltda.run.artifacts import Evaluation
from seltda.run.layout import BenchmarkLayout


def robustness_records(root: Path) -> list:
    """The conftest dataset with the demo's suite fields: each image's two questions form a rephrasing
    group, and every third image's questions are flagged `negation`."""
    records = make_dataset(root, count=6)
    return [
        r.model_copy(update={"group_id": r.image, "flags": ["negation"] if index % 6 < 2 else []})
        for index, r in enumerate(records)
    ]


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def predictions(path: Path, records, right: set[str]) -> str:
    """A VQA results file answering the questions in `right` correctly and the others wrongly."""
    rows = [
        {"question_id": r.question_id, "answer": r.answers[0] if r.question_id in right else "wrong"}
        for r in records
    ]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path.name


@pytest.fixture
def sets(tmp_path: Path) -> dict:
    records = robustness_records(tmp_path)
    write_records(tmp_path / "test.jsonl", records)
    write_records(tmp_path / "small.jsonl", records[:6])
    return {"records": records, "ids": [r.question_id for r in records]}


def test_table_has_a_row_per_set_and_figure_and_gains_equal_cell_differences(tmp_path, sets) -> None:
    ids = sets["ids"]
    models = {
        "base": {"test": predictions(tmp_path / "base.json", sets["records"], set(ids[:4]))},
        "better": {"test": predictions(tmp_path / "better.json", sets["records"], set(ids[:9]))},
    }
    for name in models:  # the small set: the same predictions files, scored on its 6 records
        models[name]["small"] = models[name]["test"]
    config = write_yaml(
        tmp_path / "bench.yaml",
        {
            "models": [{"name": n, "predictions": p} for n, p in models.items()],
            "sets": [{"name": "test", "data": "test.jsonl"}, {"name": "small", "data": "small.jsonl"}],
            "out": "out",
        },
    )
    table = run_benchmark(load_benchmark_config(config))

    figures = [(row.set, row.figure) for row in table.rows]
    expected = ["accuracy", "rephrasing CS(1)", "rephrasing CS(2)", "flag:negation"]
    assert figures == [("test", f) for f in expected] + [("small", f) for f in expected]
    assert [m.name for m in table.models] == ["base", "better"] and table.reference == "base"
    by_key = {(row.set, row.figure): row for row in table.rows}
    accuracy = by_key["test", "accuracy"]
    assert accuracy.cells["base"].value == pytest.approx(100 * 4 / 12)
    assert accuracy.cells["better"].value == pytest.approx(100 * 9 / 12)
    assert accuracy.label == "accuracy (vqa)" and accuracy.cells["base"].n == 12
    # groups are the images' question pairs: base gets images 0, 1 fully right; better 0..3 and half of 4
    cs2 = by_key["test", "rephrasing CS(2)"]
    assert cs2.units == "groups" and cs2.cells["base"].n == 6
    assert cs2.cells["base"].value == pytest.approx(100 * 2 / 6)
    assert cs2.cells["better"].value == pytest.approx(100 * 4 / 6)
    negation = by_key["test", "flag:negation"]  # questions 0, 1, 6, 7: base 2 of 4 right, better 4 of 4
    assert negation.cells["base"].value == pytest.approx(50.0)
    assert negation.cells["better"].value == pytest.approx(100.0)
    for row in table.rows:
        assert set(row.cells) == {"base", "better"} and set(row.gains) == {"better"}
        gain = row.gains["better"]
        assert gain.diff == pytest.approx(row.cells["better"].value - row.cells["base"].value)
        assert gain.ci_low <= gain.diff <= gain.ci_high
        assert gain.replicates == 1 and gain.covers == TEST_ONLY
    assert table.covers == [TEST_ONLY]
    assert BenchmarkLayout(tmp_path / "out").json.is_file()
    assert BenchmarkLayout(tmp_path / "out").evaluation("better", "small").is_file()


def test_replicates_use_the_seed_aware_interval(tmp_path, sets) -> None:
    ids, records = sets["ids"], sets["records"]
    right = {"base": [set(ids[:4]), set(ids[:6])], "better": [set(ids[:9]), set(ids[2:12])]}
    entries = [
        {
            "name": name,
            "predictions": {
                "test": [predictions(tmp_path / f"{name}{k}.json", records, r) for k, r in enumerate(rights)]
            },
        }
        for name, rights in right.items()
    ]
    config = write_yaml(
        tmp_path / "bench.yaml",
        {"models": entries, "sets": [{"name": "test", "data": "test.jsonl", "suites": []}], "out": "out"},
    )
    table = run_benchmark(load_benchmark_config(config))
    (row,) = table.rows
    assert row.figure == "accuracy"
    assert row.cells["base"].per_replicate == pytest.approx([100 * 4 / 12, 100 * 6 / 12])
    gain = row.gains["better"]
    assert gain.replicates == 2 and gain.covers == SEEDS_AND_TEST
    layout = BenchmarkLayout(tmp_path / "out")
    scores = {
        name: [Evaluation.read(layout.evaluation(name, "test", k)).per_question for k in (1, 2)]
        for name in right
    }
    expected = seed_aware_gain(scores["base"], scores["better"])
    assert (gain.diff, gain.ci_low, gain.ci_high) == pytest.approx(
        (expected["diff"], expected["ci_low"], expected["ci_high"])
    )
    assert gain.diff == pytest.approx(row.cells["better"].value - row.cells["base"].value)
    assert layout.evaluation("better", "test", 2).name == "test-r2.json"


def test_rerun_reuses_evaluations_and_reruns_a_changed_model(tmp_path, sets, tiny_model, monkeypatch) -> None:
    import seltda.stages.evaluate as evaluate_stage

    for name in ("a", "b"):
        shutil.copytree(tiny_model, tmp_path / name)
    config = write_yaml(
        tmp_path / "bench.yaml",
        {
            "models": [{"name": "a", "path": "a"}, {"name": "b", "path": "b"}],
            "sets": [{"name": "test", "data": "test.jsonl", "images": "."}],
            "evaluate": {"batch_size": 8},
        },
    )
    answered: list[str] = []
    real_predict = evaluate_stage.predict

    def counting_predict(model_dir, *args, **kwargs):
        answered.append(Path(model_dir).name)
        return real_predict(model_dir, *args, **kwargs)

    monkeypatch.setattr(evaluate_stage, "predict", counting_predict)
    statuses: list[str] = []

    def on_done(task, status):
        statuses.append(f"{task.model.name}:{status}")

    first = run_benchmark(load_benchmark_config(config), on_done)
    assert answered == ["a", "b"] and statuses == ["a:evaluated", "b:evaluated"]
    assert first.rows[0].gains["b"].diff == pytest.approx(
        first.rows[0].cells["b"].value - first.rows[0].cells["a"].value
    )

    answered.clear(), statuses.clear()
    again = run_benchmark(load_benchmark_config(config), on_done)
    assert answered == [] and statuses == ["a:reused", "b:reused"]
    assert again.rows == first.rows

    answered.clear(), statuses.clear()
    (tmp_path / "b" / "README.md").write_text("shipped: dev confirmed it\n")  # a verdict's model card
    run_benchmark(load_benchmark_config(config), on_done)
    assert answered == [] and statuses == ["a:reused", "b:reused"]

    answered.clear(), statuses.clear()
    (tmp_path / "b" / "config.json").write_text((tmp_path / "b" / "config.json").read_text() + "\n")
    run_benchmark(load_benchmark_config(config), on_done)
    assert answered == ["b"] and statuses == ["a:reused", "b:re-evaluated (changed: fingerprint)"]

    answered.clear(), statuses.clear()
    write_records(tmp_path / "test.jsonl", sets["records"][:10])  # the records change: both rerun
    changed = run_benchmark(load_benchmark_config(config), on_done)
    assert answered == ["a", "b"] and changed.sets[0].n == 10


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"modles": []}, "'modles': Extra inputs are not permitted"),
        ({"sets": [{"name": "t", "data": "test.jsonl", "metric": "bleu"}]}, "'sets[0].metric'"),
        ({"models": [{"name": "a", "path": "a"}, {"name": "b", "paths": ["b1", "b2"]}]}, "models[1] (b)"),
        ({"models": [{"name": "a", "path": "a", "paths": ["x"]}]}, "'models[0]'"),
        ({"models": [{"name": "a/b", "path": "a"}]}, "'models[0].name'"),
        ({"sets": [{"name": "t", "data": "missing.jsonl", "images": "."}]}, "'sets[0].data': no records"),
        ({"sets": [{"name": "t", "data": "test.jsonl"}]}, "'sets[0].images'"),
        ({"models": [{"name": "a", "predictions": {"tset": "p.json"}}]}, "models[0].predictions: no set"),
    ],
)
def test_a_bad_config_names_the_file_and_the_field(tmp_path, sets, data, field) -> None:
    base = {
        "models": [{"name": "a", "path": "a"}],
        "sets": [{"name": "test", "data": "test.jsonl", "images": "."}],
    }
    config = write_yaml(tmp_path / "bench.yaml", {**base, **data})
    with pytest.raises(SeltdaInputError) as error:
        load_benchmark_config(config)
    assert str(error.value).startswith(f"{config}: ") and field in str(error.value)


def test_relative_paths_resolve_against_the_config_folder_or_a_root(tmp_path, sets) -> None:
    (tmp_path / "configs").mkdir()
    config = write_yaml(
        tmp_path / "configs" / "bench.yaml",
        {
            "models": [{"name": "a", "path": "model"}],
            "sets": [{"name": "t", "data": "test.jsonl", "images": "."}],
        },
    )
    (tmp_path / "model").mkdir()
    cfg = load_benchmark_config(config, root=tmp_path)
    assert cfg.sets[0].data == tmp_path / "test.jsonl" and cfg.models[0].path == str(tmp_path / "model")
    assert cfg.out == tmp_path / "benchmark"
    with pytest.raises(SeltdaInputError, match="no records file"):
        load_benchmark_config(config)  # against configs/: no test.jsonl there


def test_the_shipped_easyvqa_example_loads_against_a_run_folder(tmp_path, monkeypatch) -> None:
    example = Path(__file__).parents[2] / "benchmarks" / "easyvqa_benchmark.yaml"
    run = tmp_path / "run"
    for folder in ("baseline", "student", "data", "images"):
        (run / folder).mkdir(parents=True)
    write_records(run / "data" / "test.jsonl", make_dataset(run, count=2))
    monkeypatch.setenv("EASYVQA_IMAGES", str(run))
    cfg = load_benchmark_config(example, root=run)
    assert [m.path for m in cfg.models] == [str(run / "baseline"), str(run / "student")]
    assert cfg.sets[0].data == run / "data" / "test.jsonl" and cfg.sets[0].images == run
    assert cfg.out == run / "benchmark" and cfg.sets[0].suites == ("rephrasing", "flagged")
    monkeypatch.delenv("EASYVQA_IMAGES")
    with pytest.raises(SeltdaInputError, match="'sets\\[0\\].images': environment variable EASYVQA_IMAGES"):
        load_benchmark_config(example, root=run)
