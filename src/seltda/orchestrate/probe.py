"""Pseudo-labels checked against linear probes of the frozen vision features (beyond the paper).

At 2% labels on the embedded default, the teacher and the baseline both misread shape, so agreement and
grounding keep their shared mistakes, while a linear probe on the frozen vision tower, trained on the
same few labeled images, names the shape better (docs/benchmarks.md (w), (x)). This judge brings that
knowledge in; it needs no model beyond the judge's vision tower.

Open answers are image attributes: the labeled records' answers other than yes/no, grouped into families
by question type, or by opening words where records have no type (easy-VQA: shape = circle, rectangle,
triangle; color = ...). Each train image gets a label per family from its records: an open answer, a
yes/no answer about one attribute ("is there a red shape?" yes: red; no: not red), or the one member left
when the others are ruled out. One linear probe per family (softmax over its members, L2-regularised, on
standardised features) reads that label from the image's features. A family whose probe does not beat
its majority class by `MIN_LIFT` in 5-fold cross-validation over its images judges nothing. A pair is then

- an open answer of a family: kept when the probe ranks it first or gives it at least `PRESENT`;
- a yes/no question naming one attribute (negated by "not"/"no"): kept when its answer says what the
  probe says (the attribute present when it gets at least `PRESENT`), where the probe answers the train
  records' such questions better than their most common answer (held-out folds);
- an open question naming an attribute of another family (a premise, "what color is the circle?"):
  dropped when the probe gives that attribute less than `PREMISE`;
- anything else: kept, unjudged.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from seltda.core.records import Record
from seltda.eval.question_types import YES_NO, TypeIndex
from seltda.eval.vqa import normalize_answer
from seltda.orchestrate.agree import select

PRESENT = 0.5  # probability from which the probe says an attribute is there
PREMISE = 0.25  # below it, a question's premise about another attribute is taken as false
MIN_LIFT = 0.10  # cross-validated accuracy over the majority class a probe needs to judge
MIN_IMAGES = 10  # labeled images a family needs
NEGATIONS = frozenset({"not", "no"})
L2 = 1e-2


def _text(question: str) -> str:
    return " " + " ".join(re.sub(r"[^0-9a-z]+", " ", question.lower()).split()) + " "


def families(train: Sequence[Record]) -> dict[str, list[str]]:
    """Open answers grouped by the question type of the records they answer, or where records carry no
    type by the question's first two words ("what color"); each answer in its first family; families of at
    least two answers."""
    family: dict[str, str] = {}
    for record in train:
        answer = normalize_answer(record.majority_answer())
        if answer and answer not in ("yes", "no"):
            family.setdefault(answer, record.question_type or " ".join(_text(record.question).split()[:2]))
    grouped: dict[str, list[str]] = {}
    for answer, name in family.items():
        grouped.setdefault(name, []).append(answer)
    return {name: sorted(members) for name, members in grouped.items() if len(members) >= 2}


def _mentioned(question: str, members: dict[str, list[str]]) -> list[tuple[str, str]]:
    text = _text(question)
    return [(name, a) for name, answers in members.items() for a in answers if f" {a} " in text]


def image_labels(train: Sequence[Record], members: dict[str, list[str]]) -> dict[tuple[str, str], str]:
    """(image, family) -> the attribute the train records say the image has (see the module)."""
    owner = {a: name for name, answers in members.items() for a in answers}
    labels: dict[tuple[str, str], str] = {}
    ruled_out: dict[tuple[str, str], set[str]] = {}
    for record in train:
        answer = normalize_answer(record.majority_answer())
        if answer in owner:
            labels[(record.image, owner[answer])] = answer
        elif answer in ("yes", "no") and len(named := _mentioned(record.question, members)) == 1:
            (name, attribute), negated = named[0], bool(set(_text(record.question).split()) & NEGATIONS)
            if (answer == "yes") != negated:
                labels[(record.image, name)] = attribute
            else:
                ruled_out.setdefault((record.image, name), set()).add(attribute)
    for (image, name), ruled in ruled_out.items():
        left = set(members[name]) - ruled
        if len(left) == 1:
            labels.setdefault((image, name), left.pop())
    return labels


def _fit(x: torch.Tensor, y: torch.Tensor, classes: int) -> torch.nn.Linear:
    probe = torch.nn.Linear(x.shape[1], classes)
    torch.nn.init.zeros_(probe.weight)
    torch.nn.init.zeros_(probe.bias)
    optimizer = torch.optim.LBFGS(probe.parameters(), max_iter=200)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(probe(x), y) + L2 * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return probe


class AttributeProbes:
    """One probe per family, trained on the train images' features (`features`: image -> vector) to read
    the labels the train records give them (`image_labels`). A family judges open answers when its probe's
    cross-validated accuracy beats its majority class by `MIN_LIFT`, and yes/no answers too when, read from
    the held-out folds' probabilities, the yes/no rule answers the train records' yes/no questions about
    one of its attributes better than their most common answer does."""

    def __init__(
        self,
        members: dict[str, list[str]],
        train: Sequence[Record],
        features: dict[str, list[float]],
        seed: int = 0,
    ) -> None:
        labels = image_labels(train, members)
        rows = [features[i] for i in sorted({i for i, _ in labels} & set(features))]
        table = torch.tensor(rows) if rows else torch.zeros(1, len(next(iter(features.values()), [])))
        self.mean, self.scale = table.mean(0), table.std(0, unbiased=False) + 1e-5
        self.members: dict[str, list[str]] = {}
        self.yes_no: set[str] = set()  # the families that judge yes/no answers
        self.probes: dict[str, torch.nn.Linear] = {}
        self.summary: dict[str, dict[str, Any]] = {}
        for name, answers in members.items():
            items = sorted((i, a) for (i, f), a in labels.items() if f == name and i in features)
            entry: dict[str, Any] = {"attributes": answers, "images": len(items), "judges": False}
            self.summary[name] = entry
            if len(items) < MIN_IMAGES:
                continue
            x = self._standard([features[i] for i, _ in items])
            y = torch.tensor([answers.index(a) for _, a in items], dtype=torch.long)
            held = _out_of_fold(x, y, len(answers), seed)
            accuracy = float((held.argmax(1) == y).float().mean())
            majority = max(Counter(y.tolist()).values()) / len(items)
            entry |= {"cv_accuracy": round(100 * accuracy, 2), "majority": round(100 * majority, 2)}
            if accuracy < majority + MIN_LIFT:
                continue
            entry["judges"] = True
            self.members[name] = answers
            self.probes[name] = _fit(x, y, len(answers))
            by_image = {
                image: dict(zip(answers, p.tolist(), strict=True))
                for (image, _), p in zip(items, held, strict=True)
            }
            right, majority_share, asked = _yes_no_check(train, name, members, by_image)
            entry |= {"yes_no_questions": asked}
            if asked:
                entry |= {
                    "yes_no_accuracy": round(100 * right, 2),
                    "yes_no_majority": round(100 * majority_share, 2),
                }
            if asked >= MIN_IMAGES and right > majority_share:
                self.yes_no.add(name)
            entry["judges_yes_no"] = name in self.yes_no

    def _standard(self, rows: list[list[float]]) -> torch.Tensor:
        return (torch.tensor(rows).reshape(len(rows), -1) - self.mean) / self.scale

    def probabilities(self, features: list[float], name: str) -> dict[str, float]:
        with torch.no_grad():
            p = torch.softmax(self.probes[name](self._standard([features]))[0], 0)
        return dict(zip(self.members[name], p.tolist(), strict=True))

    def judge(self, record: Record, features: list[float] | None) -> tuple[bool, str]:
        """(keep, the rule that decided: open, yes/no, premise or unjudged)."""
        if features is None:
            return True, "unjudged"
        answer, named = normalize_answer(record.majority_answer()), _mentioned(record.question, self.members)
        if answer in ("yes", "no"):
            if len(named) != 1:
                return True, "unjudged"
            name, attribute = named[0]
            if name not in self.yes_no:
                return True, "unjudged"
            return answer == _yes_no(record.question, self.probabilities(features, name)[attribute]), YES_NO
        family = next((name for name, answers in self.members.items() if answer in answers), None)
        if family is None:
            return True, "unjudged"
        p = self.probabilities(features, family)
        for name, attribute in named:
            if name != family and self.probabilities(features, name)[attribute] < PREMISE:
                return False, "premise"
        return p[answer] >= min(PRESENT, max(p.values())), "open"


def _out_of_fold(x: torch.Tensor, y: torch.Tensor, classes: int, seed: int, folds: int = 5) -> torch.Tensor:
    """Each row's class probabilities from a probe trained on the other folds."""
    order = list(range(len(y)))
    random.Random(seed).shuffle(order)
    held = torch.zeros(len(y), classes)
    for k in range(folds):
        out = order[k::folds]
        kept = sorted(set(order) - set(out))
        probe = _fit(x[kept], y[kept], classes)
        with torch.no_grad():
            held[out] = torch.softmax(probe(x[out]), 1)
    return held


def _yes_no(question: str, probability: float) -> str:
    """What the probe answers to a yes/no question naming one attribute it gives `probability`."""
    negated = bool(set(_text(question).split()) & NEGATIONS)
    return "yes" if (probability >= PRESENT) != negated else "no"


def _yes_no_check(
    train: Sequence[Record], name: str, members: dict[str, list[str]], held: dict[str, dict[str, float]]
) -> tuple[float, float, int]:
    """(share of the train yes/no questions naming one attribute of family `name` that `_yes_no` answers
    right from the held-out probabilities `held`, share of their most common answer, their number)."""
    said, truth = [], []
    for record in train:
        answer = normalize_answer(record.majority_answer())
        named = _mentioned(record.question, members)
        if answer in ("yes", "no") and len(named) == 1 and named[0][0] == name and record.image in held:
            said.append(_yes_no(record.question, held[record.image][named[0][1]]))
            truth.append(answer)
    if not truth:
        return 0.0, 0.0, 0
    right = sum(a == b for a, b in zip(said, truth, strict=True)) / len(truth)
    return right, max(Counter(truth).values()) / len(truth), len(truth)


def probed(
    judge: Path,
    train: Sequence[Record],
    train_images: Path,
    records: Sequence[Record],
    images: Path,
    cfg: Any,
    index: TypeIndex,
) -> tuple[list[Record], dict[str, Any]]:
    """The pairs the attribute probes of `judge`'s vision features keep (see the module) and a summary: the
    families and their probes' cross-validated accuracy, the pairs dropped per rule, kept per type. A model
    whose image features cannot be read (a chat VLM class without `get_image_features`) judges nothing:
    every pair is kept, the summary says why."""
    from seltda.stages.evaluate import image_features

    members = families(train)
    if not members:
        kept, summary = select(records, lambda r: (r, True), index)
        return kept, summary | {"probes": {}, "unjudged_because": "no open answers to probe for"}
    try:
        (seen, skipped), (pooled, pool_skipped) = image_features(
            str(judge), [(train, train_images), (records, images)], cfg
        )
    except NotImplementedError as error:
        kept, summary = select(records, lambda r: (r, True), index)
        return kept, summary | {"probes": {}, "unjudged_because": str(error)}
    probes = AttributeProbes(members, train, seen)
    rules: Counter[str] = Counter()

    def decide(record: Record) -> tuple[Record, bool]:
        keep, rule = probes.judge(record, pooled.get(record.image))
        rules[f"{rule} {'kept' if keep else 'dropped'}"] += 1
        return record, keep

    kept, summary = select(records, decide, index)
    skips = {"train": skipped, "pool": pool_skipped}
    return kept, summary | {"probes": probes.summary, "rules": dict(sorted(rules.items())), "skipped": skips}
