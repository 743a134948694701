"""Cross-fitted dev (`dev_folds: k`): folds by image, a run per other fold, dev pooled before the verdict."""

from __future__ import annotations

import pytest
from conftest import tiny_run_config
from pydantic import ValidationError

from seltda.core.records import Record, read_records
from seltda.orchestrate.arms import BASELINE, Arm
from seltda.orchestrate.crossfit import fold_config, merge_evaluations, pool_folds
from seltda.orchestrate.pipeline import run
from seltda.orchestrate.split import image_folds
from seltda.report import write_report
from seltda.run.artifacts import Evaluation
from seltda.run.layout import RunLayout
from seltda.run.stage import read_stage


def _records(images: int) -> list[Record]:
    return [
        Record(question_id=f"q{i}-{k}", image=f"img{i}.png", question=f"question {k}?", answers=["a"])
        for i in range(images)
        for k in range(3)
    ]


def test_folds_split_by_image_evenly_and_by_seed():
    records = _records(10)
    folds = image_folds(records, 3, seed=7)
    images = [{r.image for r in fold} for fold in folds]
    assert sorted(len(i) for i in images) == [3, 3, 4]
    assert set().union(*images) == {r.image for r in records} and sum(len(i) for i in images) == 10
    assert all(len(fold) == 3 * len(i) for fold, i in zip(folds, images, strict=True))  # whole images
    assert image_folds(records, 3, seed=7) == folds and image_folds(records, 3, seed=8) != folds
    with pytest.raises(ValueError, match="at least 3 labeled images, got 2"):
        image_folds(_records(2), 3)


def test_dev_folds_one_or_beside_a_users_dev_is_refused(dataset, tiny_model, tmp_path):
    with pytest.raises(ValidationError, match="dev_folds: 1 is no cross-fitting"):
        tiny_run_config(dataset, tiny_model, tmp_path / "run", dev_folds=1)
    with pytest.raises(ValidationError, match="remove `dev:` or dev_folds"):
        tiny_run_config(dataset, tiny_model, tmp_path / "run", dev_folds=3, dev=dataset["train"])


def test_auto_cross_fits_only_where_a_held_out_dev_would_be_small(tmp_path):
    """`dev_folds: auto` (the default): 5 folds where 20% of the images would hold under 100 questions and
    the labeled set holds 100; one split for a large set, a tiny one, a user's dev or `dev_fraction: 0`;
    a number given is kept. Text (the command line) reads as a number or auto."""
    from seltda.core.records import write_records
    from seltda.orchestrate.crossfit import resolve_dev_folds
    from seltda.orchestrate.run_config import RunConfig

    def resolved(images: int, **changes) -> int:
        train = tmp_path / f"train-{images}.jsonl"
        write_records(train, _records(images))  # 3 questions per image
        cfg = RunConfig(out=tmp_path / "run", train=train, images=tmp_path, **changes)
        assert cfg.dev_folds == changes.get("dev_folds", "auto")
        return resolve_dev_folds(cfg).dev_folds

    assert resolved(40) == 5  # 120 questions, 8 dev images: 24 dev questions
    assert resolved(160) == 5  # 480 questions, 32 dev images: 96
    assert resolved(170) == 0  # 510 questions, 34 dev images: 102, enough for one held-out split
    assert resolved(20) == 0  # 60 questions: a pooled dev would not be larger than 100 either
    assert (
        resolved(40, dev_folds=0) == 0 and resolved(40, dev_folds=3) == 3 and resolved(400, dev_folds=4) == 4
    )
    assert resolved(40, dev_fraction=0) == 0
    assert resolved(40, dev=tmp_path / "train-40.jsonl") == 0
    assert resolved(100) == 5 and resolved(100, dev_fraction=0.4) == 0  # 60, then 120 dev questions
    assert RunConfig(out=tmp_path, train=tmp_path / "t.jsonl", images=tmp_path, dev_folds="4").dev_folds == 4
    with pytest.raises(ValidationError, match="dev_folds: 'five' is neither a number of folds nor auto"):
        RunConfig(out=tmp_path, train=tmp_path / "t.jsonl", images=tmp_path, dev_folds="five")
    with pytest.raises(ValidationError, match="dev_folds: -2 is below 0"):
        RunConfig(out=tmp_path, train=tmp_path / "t.jsonl", images=tmp_path, dev_folds=-2)


def _evaluation(scores: dict[str, float]) -> Evaluation:
    accuracy = round(100 * sum(scores.values()) / len(scores), 2)
    return Evaluation(
        model="m", data="d", accuracy=accuracy, exact_match=accuracy, n=len(scores), missing=0,
        per_question=scores,
    )  # fmt: skip


def test_merged_dev_weighs_each_question_once():
    merged = merge_evaluations([_evaluation({"a": 1.0}), _evaluation({"b": 0.0, "c": 0.0, "d": 1.0})])
    assert (
        merged.n == 4 and merged.accuracy == 50.0 and merged.per_question == {"a": 1, "b": 0, "c": 0, "d": 1}
    )


def test_merging_folds_that_share_a_question_is_an_error():
    with pytest.raises(ValueError, match="dev folds share questions"):
        merge_evaluations([_evaluation({"a": 1.0}), _evaluation({"a": 0.0})])


def test_a_folds_run_trains_the_candidates_and_the_references_that_judge_them(dataset, tiny_model, tmp_path):
    cfg = tiny_run_config(
        dataset,
        tiny_model,
        tmp_path / "run",
        dev_folds=3,
        candidates=[{"name": "mine", "agreed": True, "judge": "helper"}, "seltda"],
        references=[{"name": "helper", "student": {"synthetic_ratio": 2}}, "plain"],
    )
    fold = fold_config(cfg, RunLayout(cfg.out), 2)
    assert [name for name, _ in ((r.name, c) for r, c in fold.recipes())] == ["seltda", "helper", "mine"]
    assert (
        fold.dev_folds == 0
        and fold.test is None
        and not fold.refit
        and fold.out == cfg.out / "folds" / "fold-2"
    )


def test_a_candidate_a_fold_did_not_train_is_left_unjudged(tmp_path):
    from seltda.orchestrate.run_config import RunConfig

    cfg = RunConfig(out=tmp_path, train=tmp_path / "t.jsonl", images=tmp_path, dev_folds=3)
    layout = RunLayout(tmp_path)
    for number in (2, 3):
        fold = RunLayout(layout.fold(number))
        _evaluation({f"b{number}": 1.0}).write(fold.arm_eval(BASELINE, 1, "dev"))
        if number == 2:  # fold 3's run kept no pair for `agreed`: not trained there
            _evaluation({f"b{number}": 0.0}).write(fold.arm_eval("agreed", 1, "dev"))
    baseline = Arm(BASELINE, True, None, [tmp_path / "b"], dev=[_evaluation({"a": 0.0})])
    agreed = Arm("agreed", True, None, [tmp_path / "s"], dev=[_evaluation({"a": 1.0})])
    warnings: list[str] = []
    pool_folds([baseline, agreed], cfg, layout, warnings)
    assert baseline.dev[0].per_question == {"a": 0.0, "b2": 1.0, "b3": 1.0} and baseline.dev[0].n == 3
    assert agreed.dev == [] and warnings == [
        f"recipe agreed was not judged: the dev fold runs {layout.fold(3)} did not train it "
        "(their metrics.json say why)"
    ]


def test_a_cross_fitted_run_judges_every_labeled_question_then_refits_on_all(dataset, tiny_model, tmp_path):
    out = tmp_path / "run"
    cfg = tiny_run_config(dataset, tiny_model, out, dev_folds=2, candidates=["seltda"], references=["plain"])
    metrics = run(cfg)
    layout = RunLayout(out)
    dev1, dev2 = read_records(layout.selection_dev), read_records(layout.fold_records(2, "dev"))
    assert not {r.image for r in dev1} & {r.image for r in dev2}
    assert len(dev1) + len(dev2) == len(dataset["records"])
    assert read_records(layout.fold_records(2, "train")) == dev1  # fold 2's run trains on fold 1
    fold = RunLayout(layout.fold(2))
    assert read_stage(fold.baseline)["train_files"] == [str(layout.fold_records(2, "train"))]
    assert read_stage(fold.student)["train_files"] == [str(layout.fold_records(2, "train"))]
    assert not fold.arm_model("plain").exists() and not fold.refit.exists()  # no references, no refit
    arms = metrics["arms"]
    assert arms["seltda"]["gain_dev"]["n"] == len(dataset["records"])  # every question, once
    assert arms["plain"]["dev"] is None and arms["plain"]["test"] is not None  # reported, not pooled
    assert "dev is cross-fitted over 2 folds" in metrics["verdict"]
    assert metrics["refit"]["records"] == len(dataset["records"])
    assert "cross-fitted" in write_report(out)["html"].read_text()  # the report shows the verdict
    marker = (fold.baseline / "seltda_stage.json").stat().st_mtime_ns
    assert run(cfg)["verdict"] == metrics["verdict"]  # a rerun reads every fold back
    assert (fold.baseline / "seltda_stage.json").stat().st_mtime_ns == marker


def test_the_dev_split_is_made_again_when_its_settings_change(dataset, tiny_model, tmp_path):
    from seltda.orchestrate.selection import prepare_selection

    out, warnings = tmp_path / "run", []
    layout = RunLayout(out)

    def dev_images(**changes) -> set[str]:
        prepare_selection(tiny_run_config(dataset, tiny_model, out, **changes), layout, warnings)
        return {r.image for r in read_records(layout.selection_dev)}

    first = dev_images()  # dev_fraction 0.2 of 12 images
    assert len(first) == 2 and dev_images() == first  # the same settings: the same split, kept
    assert len(dev_images(dev_fraction=0.5)) == 6  # nothing trained yet: the split follows the setting
    folds = dev_images(dev_folds=3)
    assert len(folds) == 4 and (layout.fold_records(3, "dev")).is_file()
    assert len(dev_images(seed=1, dev_folds=3)) == 4 and dev_images(dev_folds=3) == folds


def test_each_folds_run_starts_with_the_callers_threads_and_the_runs_are_restored(tmp_path):
    import torch

    from seltda.orchestrate.crossfit import run_folds
    from seltda.orchestrate.run_config import RunConfig

    cfg = RunConfig(out=tmp_path, train=tmp_path / "t.jsonl", images=tmp_path, dev_folds=3, workers=2)
    seen, before = [], torch.get_num_threads()
    run_folds(
        cfg,
        RunLayout(tmp_path),
        lambda fold, force: seen.append((fold.out.name, torch.get_num_threads())),
        False,
        3,
    )
    assert seen == [("fold-2", 3), ("fold-3", 3)] and torch.get_num_threads() == before
