"""The probed recipe: pseudo-labels checked against linear probes of the frozen vision features."""

from __future__ import annotations

import json
import random

from conftest import run_with_pairs, synthetic_pair

from seltda.core.records import Record, read_records
from seltda.eval.question_types import TypeIndex
from seltda.orchestrate.arms import Arm, synthetic_records
from seltda.orchestrate.probe import AttributeProbes, families, image_labels, probed
from seltda.orchestrate.recipes import BUILTIN, Recipe
from seltda.stages.evaluate import EvaluateConfig

SHAPES, COLORS = ("circle", "triangle", "square"), ("red", "blue")


def _labeled(images: int = 30) -> tuple[list[Record], dict[str, tuple[str, str]]]:
    """Records about `images` images with one shape and one color each; a third of them known from yes/no
    answers only (one shape ruled in, or two ruled out)."""
    records, truth = [], {}
    for i in range(images):
        image, shape, color = f"i{i}.png", SHAPES[(i // 3) % 3], COLORS[i % 2]
        truth[image] = (shape, color)
        records.append(
            Record(question_id=f"c{i}", image=image, question="What color is it?", answers=[color])
        )
        if i % 3 == 0:
            others = [s for s in SHAPES if s != shape]
            for k, other in enumerate(others):
                records.append(
                    Record(
                        question_id=f"n{i}-{k}", image=image, question=f"Is there a {other}?", answers=["no"]
                    )
                )
        elif i % 3 == 1:
            records.append(
                Record(question_id=f"y{i}", image=image, question=f"Is there a {shape}?", answers=["yes"])
            )
        else:
            records.append(Record(question_id=f"s{i}", image=image, question="What shape?", answers=[shape]))
    return records, truth


def _features(truth: dict[str, tuple[str, str]], seed: int = 0) -> dict[str, list[float]]:
    """Features that carry the shape and the color (one-hot) under noise, plus pure-noise dimensions."""
    rng = random.Random(seed)
    features = {}
    for image, (shape, color) in truth.items():
        signal = [float(shape == s) for s in SHAPES] + [float(color == c) for c in COLORS]
        features[image] = [v + rng.gauss(0, 0.1) for v in signal] + [rng.gauss(0, 1) for _ in range(5)]
    return features


def test_attributes_are_grouped_by_opening_words_and_read_from_open_and_yes_no_answers():
    labeled, truth = _labeled()
    members = families(labeled)
    assert sorted(members.values()) == [sorted(COLORS), sorted(SHAPES)]
    labels = image_labels(labeled, members)
    shape_family = next(name for name, answers in members.items() if "circle" in answers)
    for image, (shape, _) in truth.items():  # ruled in, ruled out twice, or answered: every shape is known
        assert labels[(image, shape_family)] == shape


def test_the_probes_keep_right_pairs_and_drop_wrong_answers_and_false_premises():
    labeled, truth = _labeled()
    members = families(labeled)
    pool = {f"u{i}.png": (SHAPES[i % 3], COLORS[i % 2]) for i in range(12)}
    features = _features(truth | pool, seed=1)
    probes = AttributeProbes(members, labeled, features)
    assert all(entry["judges"] and entry["cv_accuracy"] > 90 for entry in probes.summary.values())

    def keeps(image: str, question: str, answer: str) -> bool:
        return probes.judge(synthetic_pair("p", image, question, answer), features[image])[0]

    for image, (shape, color) in pool.items():
        wrong_shape = next(s for s in SHAPES if s != shape)
        assert keeps(image, "What shape is it?", shape) and not keeps(image, "What shape is it?", wrong_shape)
        assert keeps(image, f"Is there a {shape}?", "yes") and not keeps(image, f"Is there a {shape}?", "no")
        assert keeps(image, f"Is there no {wrong_shape}?", "yes")  # negated
        assert keeps(image, f"What color is the {shape}?", color)
        assert not keeps(image, f"What color is the {wrong_shape}?", color)  # a false premise
        assert keeps(image, "How big is it?", "big")  # nothing to judge it by
    assert probes.judge(synthetic_pair("p", "x.png", "What shape?", "circle"), None) == (True, "unjudged")


def test_a_family_the_features_do_not_predict_judges_nothing():
    labeled, truth = _labeled()
    members = families(labeled)
    rng = random.Random(3)
    noise = {image: [rng.gauss(0, 1) for _ in range(6)] for image in truth}
    probes = AttributeProbes(members, labeled, noise)
    assert not any(entry["judges"] for entry in probes.summary.values()) and not probes.members
    image = next(iter(truth))
    assert probes.judge(synthetic_pair("p", image, "What shape?", "circle"), noise[image]) == (
        True,
        "unjudged",
    )


def test_builtin_probed_recipe_probes_the_grounded_pairs():
    recipe = BUILTIN["probed"]
    grounded = BUILTIN["grounded"]
    assert recipe.probed and recipe.selects and recipe.grounded == grounded.grounded and recipe.agreed
    assert recipe.student == grounded.student and recipe.selection != grounded.selection


def test_probed_arm_writes_its_pairs_and_the_probes_summary(dataset, tiny_model, tmp_path):
    cfg, layout, pairs = run_with_pairs(dataset, tiny_model, tmp_path / "run", candidates=["probed"])
    index = TypeIndex(dataset["records"])
    recipe = Recipe(name="probed", probed=True)  # the probes alone, on the run's own merge
    path = synthetic_records(Arm("probed", True, recipe, []), cfg, layout, None, index, dataset["root"])
    kept = read_records(path)
    summary = json.loads((path.parent / "probe.json").read_text())
    assert summary["pairs"] == len(pairs) and summary["kept"] == len(kept)
    assert set(summary["probes"]) == {"shape", "color"}  # the tiny dataset's typed open answers
    assert sum(summary["rules"].values()) == len(pairs)


def test_a_model_without_image_features_keeps_every_pair(dataset, tiny_model, monkeypatch):
    def unsupported(*args, **kwargs):
        raise NotImplementedError("no features for this family")

    monkeypatch.setattr("seltda.stages.evaluate.image_features", unsupported)
    pairs = [
        synthetic_pair(f"p{i}", r.image, r.question, r.answers[0]) for i, r in enumerate(dataset["records"])
    ]
    index = TypeIndex(dataset["records"])
    kept, summary = probed(
        tiny_model, dataset["records"], dataset["root"], pairs, dataset["root"], EvaluateConfig(), index
    )
    assert kept == pairs and summary["unjudged_because"] == "no features for this family"


def test_yes_no_answers_are_judged_only_where_the_probe_answers_the_labeled_ones_better_than_their_prior():
    labeled, truth = _labeled()
    rng = random.Random(5)
    # questions naming a color whose answers do not depend on it (where the shape is): the color probe
    # reads the color well, but its yes/no rule cannot answer these, so it must not judge such pairs
    labeled += [
        Record(question_id=f"l{i}", image=image, question=f"Is the {color} one on the left?", answers=[side])
        for i, (image, (_, color)) in enumerate(truth.items())
        for side in [rng.choice(["yes", "no"])]
    ]
    members = families(labeled)
    features = _features(truth, seed=1)
    probes = AttributeProbes(members, labeled, features)
    color, shape = probes.summary["what color"], probes.summary["what shape"]
    assert color["judges"] and not color["judges_yes_no"] and color["yes_no_questions"] == len(truth)
    assert shape["judges"] and shape["judges_yes_no"] and shape["yes_no_accuracy"] > shape["yes_no_majority"]
    image = next(iter(truth))
    _, true_color = truth[image]
    pair = synthetic_pair("p", image, f"Is the {true_color} one on the left?", "no")
    assert probes.judge(pair, features[image]) == (True, "unjudged")


def test_probed_after_grounded_reuses_the_judges_answers_and_groundings(
    dataset, tiny_model, tmp_path, monkeypatch
):
    cfg, layout, pairs = run_with_pairs(
        dataset, tiny_model, tmp_path / "run", candidates=["grounded", "probed"]
    )
    index = TypeIndex(dataset["records"])
    loose = {"agreed": False, "grounded": -1e9, "pseudolabel": {}}  # keep pairs; no merge of its own
    grounded, probed_recipe = (BUILTIN[name].model_copy(update=loose) for name in ("grounded", "probed"))
    cfg = cfg.model_copy(update={"candidates": [grounded, probed_recipe]})
    first = synthetic_records(Arm("grounded", True, grounded, []), cfg, layout, None, index, dataset["root"])
    assert (first.parent / "grounding.json").is_file()

    def judged_again(*args, **kwargs):
        raise AssertionError("judged again")

    monkeypatch.setattr("seltda.stages.evaluate.reference_likelihoods", judged_again)
    path = synthetic_records(
        Arm("probed", True, probed_recipe, []), cfg, layout, None, index, dataset["root"]
    )
    assert (path.parent / "grounding.json").read_text() == (first.parent / "grounding.json").read_text()
    assert json.loads((path.parent / "probe.json").read_text())["pairs"] == len(read_records(first))
