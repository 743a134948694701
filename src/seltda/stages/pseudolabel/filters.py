"""The pseudo-label filters, one small class each, in the order they run.

A filter has a `name` (the funnel stage of what it keeps), runs where its inputs are (`"shard"`: one image's
samples while the teacher is loaded; `"merge"`: every record of the pool at once) and lists the `reasons`
it drops for. The funnel stages of `manifest.json` and the drop reasons come from `FILTERS`; adding a
filter is one class decorated with `@register`. The last stage of the funnel is reported as `kept`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from seltda.core.records import Record
from seltda.eval.metrics import normalize_answer
from seltda.qa_text import ParsedQA
from seltda.stages.pseudolabel.config import PseudoLabelConfig

Where = Literal["shard", "merge"]


@dataclass
class Sample:
    """One sampled generation of the teacher for an image, parsed (None: unparseable)."""

    image: str
    index: int
    text: str
    score: float
    parsed: ParsedQA | None


@dataclass
class Drop:
    """A dropped item and why; `at`: the sample whose check dropped it (orders one image's drops)."""

    item: Any
    reason: str
    at: int


@dataclass
class Filtered:
    kept: list
    dropped: list[Drop]


def rejection(image: str, index: int, text: str, score: float, reason: str) -> dict[str, Any]:
    """A dropped sample, kept for the report's gallery and for auditing filters."""
    return {"image": image, "sample_index": index, "raw_text": text, "score": score, "reason": reason}


def _described(item: Sample | Record) -> tuple[str, int, str, float]:
    if isinstance(item, Sample):
        return item.image, item.index, item.text, item.score
    provenance = item.provenance
    return item.image, provenance.sample_index, provenance.raw_text, provenance.score


def rejection_row(drop: Drop) -> dict[str, Any]:
    return rejection(*_described(drop.item), drop.reason)


class Filter:
    """Keeps some items and drops the others with a reason; counts its drops by reason."""

    name: ClassVar[str]
    where: ClassVar[Where]
    reasons: ClassVar[tuple[str, ...]]

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    @classmethod
    def from_config(cls, cfg: PseudoLabelConfig) -> Filter:
        return cls()

    def select(self, items: list) -> tuple[list, list[Drop]]:
        """The kept items (in their order) and the dropped ones."""
        raise NotImplementedError

    def apply(self, items: list) -> Filtered:
        kept, dropped = self.select(items)
        for drop in dropped:
            if drop.reason not in self.reasons:
                raise ValueError(f"filter {self.name!r} dropped for an undeclared reason {drop.reason!r}")
            self.counts[drop.reason] += 1
        return Filtered(kept, dropped)


class ItemFilter(Filter):
    """A filter that judges each item on its own."""

    def reason(self, item: Any) -> str | None:
        """Why this item is dropped, or None to keep it."""
        raise NotImplementedError

    def select(self, items: list) -> tuple[list, list[Drop]]:
        kept, dropped = [], []
        for item in items:
            why = self.reason(item)
            if why is None:
                kept.append(item)
            else:
                dropped.append(Drop(item, why, _described(item)[1]))
        return kept, dropped


class SubsetFilter(Filter):
    """A global filter: keeps a subset of all items; the others drop for its one reason."""

    def keep(self, items: list) -> list:
        raise NotImplementedError

    def select(self, items: list) -> tuple[list, list[Drop]]:
        kept_ids = {id(item) for item in self.keep(items)}
        kept = [item for item in items if id(item) in kept_ids]
        dropped = [Drop(i, self.reasons[0], _described(i)[1]) for i in items if id(i) not in kept_ids]
        return kept, dropped


FILTERS: list[type[Filter]] = []


def register(cls: type[Filter]) -> type[Filter]:
    """Add a filter class to the pipeline (after those of its `where` registered before)."""
    FILTERS.append(cls)
    return cls


def filter_classes(where: Where | None = None) -> list[type[Filter]]:
    """The registered filters in running order: every shard filter, then every merge filter."""
    ordered = [c for c in FILTERS if c.where == "shard"] + [c for c in FILTERS if c.where == "merge"]
    return [c for c in ordered if where is None or c.where == where]


def build_filters(cfg: PseudoLabelConfig, where: Where) -> list[Filter]:
    return [cls.from_config(cfg) for cls in filter_classes(where)]


def funnel_stages() -> list[str]:
    """`generated`, then the stage of each filter; the last one is reported as `kept`."""
    names = [cls.name for cls in filter_classes()]
    return ["generated", *names[:-1], "kept"]


def answer_problem(parsed: ParsedQA, max_words: int) -> str | None:
    """Why a parsed pair's answers are unusable, or None."""
    normalized = {normalize_answer(a) for a in parsed.answers}
    if not normalized or "" in normalized:
        return "empty_answer"
    if {"yes", "no"} <= normalized:
        return "contradictory_yes_no"
    if any(len(a.split()) > max_words for a in parsed.answers):
        return "answer_too_long"
    return None


def agrees(record: Record) -> bool:
    """The round-trip answer matches the teacher's (majority) answer after VQA normalization."""
    answer = record.provenance.roundtrip_answer
    return answer is not None and normalize_answer(answer) == normalize_answer(record.majority_answer())


def is_yes_no(record: Record) -> bool:
    return {normalize_answer(a) for a in record.answers} <= {"yes", "no"}


def rebalance(records: list[Record], max_yes_no_share: float | None) -> list[Record]:
    """Cap the share of yes/no pairs (the most confident kept): teachers over-produce them."""
    if max_yes_no_share is None:
        return records
    yes_no = [r for r in records if is_yes_no(r)]
    others = len(records) - len(yes_no)
    if max_yes_no_share >= 1:
        return records
    allowed = int(max_yes_no_share * others / (1 - max_yes_no_share))
    keep = {r.question_id for r in sorted(yes_no, key=lambda r: -r.provenance.score)[:allowed]}
    return [r for r in records if not is_yes_no(r) or r.question_id in keep]


@register
class Parseable(ItemFilter):
    """The generation reads as `question: ... answer: ...`."""

    name, where, reasons = "parsed", "shard", ("unparseable",)

    def reason(self, item: Sample) -> str | None:
        return None if item.parsed is not None else "unparseable"


@register
class AnswersUsable(ItemFilter):
    """The answers are non-empty, not both yes and no, and short."""

    name, where = "answer_ok", "shard"
    reasons = ("empty_answer", "contradictory_yes_no", "answer_too_long")

    def __init__(self, max_words: int) -> None:
        super().__init__()
        self.max_words = max_words

    @classmethod
    def from_config(cls, cfg: PseudoLabelConfig) -> AnswersUsable:
        return cls(cfg.max_answer_words)

    def reason(self, item: Sample) -> str | None:
        return answer_problem(item.parsed, self.max_words)


@register
class Deduplicate(Filter):
    """One pair per question of an image (normalized): the most confident sample wins."""

    name, where, reasons = "deduplicated", "shard", ("duplicate_question",)

    def select(self, items: list[Sample]) -> tuple[list[Sample], list[Drop]]:
        best: dict[str, Sample] = {}
        dropped: list[Drop] = []
        for sample in items:  # in sample order: a loser is dropped when the later copy is met
            key = normalize_answer(sample.parsed.question)
            previous = best.get(key)
            if previous is not None:
                loser = sample if sample.score <= previous.score else previous
                dropped.append(Drop(loser, "duplicate_question", sample.index))
                if loser is sample:
                    continue
            best[key] = sample
        winners = {id(s) for s in best.values()}
        return [s for s in items if id(s) in winners], dropped


@register
class RoundTripAgreement(SubsetFilter):
    """With a round-trip model: its answer to the question agrees with the teacher's."""

    name, where, reasons = "consistent", "merge", ("roundtrip_disagrees",)

    def __init__(self, enabled: bool) -> None:
        super().__init__()
        self.enabled = enabled

    @classmethod
    def from_config(cls, cfg: PseudoLabelConfig) -> RoundTripAgreement:
        return cls(bool(cfg.roundtrip_model))

    def keep(self, items: list[Record]) -> list[Record]:
        return [r for r in items if agrees(r)] if self.enabled else items


@register
class Confidence(SubsetFilter):
    """The global confidence filters: an absolute threshold, then the top fraction by score."""

    name, where, reasons = "confident", "merge", ("low_confidence",)

    def __init__(self, min_score: float | None, keep_top_fraction: float | None) -> None:
        super().__init__()
        self.min_score, self.keep_top_fraction = min_score, keep_top_fraction

    @classmethod
    def from_config(cls, cfg: PseudoLabelConfig) -> Confidence:
        return cls(cfg.min_score, cfg.keep_top_fraction)

    def keep(self, items: list[Record]) -> list[Record]:
        records = items
        if self.min_score is not None:
            records = [r for r in records if r.provenance.score >= self.min_score]
        if self.keep_top_fraction is not None and records:
            count = max(1, round(self.keep_top_fraction * len(records)))
            ranked = sorted(records, key=lambda r: -r.provenance.score)[:count]
            keep = {r.question_id for r in ranked}
            records = [r for r in records if r.question_id in keep]
        return records


@register
class YesNoCap(SubsetFilter):
    """Caps the share of yes/no pairs (see `rebalance`)."""

    name, where, reasons = "balanced", "merge", ("yes_no_cap",)

    def __init__(self, max_share: float | None) -> None:
        super().__init__()
        self.max_share = max_share

    @classmethod
    def from_config(cls, cfg: PseudoLabelConfig) -> YesNoCap:
        return cls(cfg.max_yes_no_share)

    def keep(self, items: list[Record]) -> list[Record]:
        return rebalance(items, self.max_share)
