"""The recipes a run can compare: each one turns the same teacher's samples into a student.

A recipe changes the merge filters of the pseudo-labels (`pseudolabel`: fields of `PseudoLabelConfig`),
the student's settings (`student`: fields of `StudentConfig`), or aims the pseudo-labels at the question
types where the teacher answers the dev questions better than the baseline does (`aimed`), keeps the pairs
whose answer the baseline gives too (`agreed`), those whose answer their image supports (`grounded`), or
those that probes of the frozen vision features confirm (`probed`).
`seltda` is the run's own settings; the others are written relative to it. A run config names built-in
recipes or writes its own (`{name: ratio2, student: {synthetic_ratio: 2}}`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from seltda.stages.pseudolabel.config import PseudoLabelConfig
from seltda.stages.student_config import StudentConfig

BASELINE = "baseline"  # the arm trained on the real records only (the default judge)
OWN = "seltda"  # the run's own recipe: its `pseudolabel` and `student` settings as written
MERGE_FIELDS = ("keep_top_fraction", "max_yes_no_share", "min_score", "max_answer_words")


class Recipe(BaseModel):
    """One way of making a student from the teacher's samples."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="the arm's name (a folder name)")
    description: str = Field("", description="what the recipe does, in a sentence")
    pseudolabel: dict[str, Any] = Field({}, description=f"merge-filter overrides ({', '.join(MERGE_FIELDS)})")
    student: dict[str, Any] = Field({}, description="student setting overrides (StudentConfig fields)")
    aimed: bool = Field(
        False, description="keep only pairs of question types where the teacher beats the baseline on dev"
    )
    agreed: bool = Field(
        False, description="keep only pairs whose answer the run's baseline gives to the same question"
    )
    grounded: float | None = Field(
        None,
        description="keep only pairs whose answer their image supports: the baseline's log-likelihood of "
        "the answer on the pair's image minus the log of its mean on 4 other pool images, above this many "
        "nats (orchestrate/ground.py)",
    )
    probed: bool = Field(
        False,
        description="keep only pairs that linear probes of the judge's frozen vision features confirm: "
        "open answers, yes/no questions about one attribute and premises (orchestrate/probe.py)",
    )
    judge: str = Field(
        BASELINE,
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="the model that judges agreement and grounding: the run's baseline, or the first student "
        "of another recipe of the run (trained before this one; a second round of selection by a model that "
        "learned from the first round's pairs)",
    )

    def pseudolabel_config(self, own: PseudoLabelConfig) -> PseudoLabelConfig:
        unknown = sorted(set(self.pseudolabel) - set(MERGE_FIELDS))
        if unknown:
            raise ValueError(
                f"recipe {self.name!r}: pseudolabel can override only the merge filters "
                f"({', '.join(MERGE_FIELDS)}), not {', '.join(unknown)}"
            )
        return PseudoLabelConfig.model_validate({**own.model_dump(), **self.pseudolabel})

    def student_config(self, own: StudentConfig) -> StudentConfig:
        return StudentConfig.model_validate({**own.model_dump(), **self.student})

    @property
    def selects(self) -> bool:
        """Whether it keeps a subset of its merged pairs by a model's judgement (aimed, agreed, grounded,
        probed)."""
        return self.aimed or self.agreed or self.grounded is not None or self.probed

    @property
    def selection(self) -> tuple:
        """What decides its pseudo-labels (merge filters, aiming, agreement, grounding, probes, judge):
        recipes with the same selection differ in the student only and share one set of pseudo-labels."""
        filters = tuple(sorted(self.pseudolabel.items()))
        return filters, self.aimed, self.agreed, self.grounded, self.probed, self.judge

    @property
    def refilters(self) -> bool:
        """Whether its pseudo-labels differ from the run's own merge (a merge of its own is needed)."""
        return bool(self.pseudolabel)


BUILTIN: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(name=OWN, description="the run's own pseudo-label filters and student settings"),
        Recipe(
            name="plain",
            description="the paper's recipe: every parsed pair (no confidence filter, no yes/no cap), 1:1",
            pseudolabel={"keep_top_fraction": None, "max_yes_no_share": None, "min_score": None},
            student={"synthetic_ratio": 1.0},
        ),
        Recipe(
            name="aimed",
            description="the run's own filters, then only question types where the teacher answers the "
            "dev questions at least as well as the baseline",
            aimed=True,
        ),
        Recipe(
            name="agreed",
            description="every parsed pair whose answer the baseline gives too (co-training's agreement), "
            "all of them (up to 10 per real record)",
            pseudolabel={"keep_top_fraction": None, "max_yes_no_share": None, "min_score": None},
            student={"synthetic_ratio": 10.0},
            agreed=True,
        ),
        Recipe(
            name="grounded",
            description="the agreed pairs whose answer their image supports (grounding above 0.25 nats, "
            "not what both models say whatever the image), all of them (up to 10 per real record)",
            pseudolabel={"keep_top_fraction": None, "max_yes_no_share": None, "min_score": None},
            student={"synthetic_ratio": 10.0},
            agreed=True,
            grounded=0.25,
        ),
        Recipe(
            name="probed",
            description="the grounded pairs that linear probes of the frozen vision features confirm "
            "(open answers, yes/no about one attribute, premises), all of them (up to 10 per real record)",
            pseudolabel={"keep_top_fraction": None, "max_yes_no_share": None, "min_score": None},
            student={"synthetic_ratio": 10.0},
            agreed=True,
            grounded=0.25,
            probed=True,
        ),
        Recipe(
            name="regrounded",
            description="the teacher's pairs selected again as `grounded` does (agreement, grounding above "
            "0.25 nats), judged by the `grounded` student instead of the baseline: a second round of "
            "selection by a model that learned from the first's pairs",
            pseudolabel={"keep_top_fraction": None, "max_yes_no_share": None, "min_score": None},
            student={"synthetic_ratio": 10.0},
            agreed=True,
            grounded=0.25,
            judge="grounded",
        ),
        Recipe(
            name="noisy",
            description="the run's own pseudo-labels, Noisy Student training (input augmentation, dropout)",
            student={"noise": True},
        ),
        Recipe(
            name="ratio2",
            description="the run's own pseudo-labels, 2 synthetic records per real one",
            student={"synthetic_ratio": 2.0},
        ),
    )
}


def resolve_recipe(recipe: str | Recipe) -> Recipe:
    """A recipe by name (built-in) or as written."""
    if isinstance(recipe, Recipe):
        return recipe
    if recipe not in BUILTIN:
        raise ValueError(f"unknown recipe {recipe!r}: built-in ones are {', '.join(BUILTIN)}")
    return BUILTIN[recipe]


def judges_first(named: list[tuple[Recipe, bool]]) -> list[tuple[Recipe, bool]]:
    """`named` (recipe, is a candidate) in order, each recipe after the one whose student judges its pairs;
    a built-in judge the list lacks is added as a reference (not a candidate). Raises ValueError for an
    unknown judge or recipes that judge each other in a cycle."""
    by_name = {recipe.name: (recipe, candidate) for recipe, candidate in named}
    pending = [recipe for recipe, _ in named]
    while pending:
        judge = pending.pop().judge
        if judge != BASELINE and judge not in by_name:
            try:
                by_name[judge] = (resolve_recipe(judge), False)
            except ValueError as error:
                raise ValueError(f"unknown judge: {error}") from None
            pending.append(by_name[judge][0])
    ordered: list[tuple[Recipe, bool]] = []

    def place(name: str, chain: tuple[str, ...]) -> None:
        if name == BASELINE or any(recipe.name == name for recipe, _ in ordered):
            return
        if name in chain:
            raise ValueError(f"recipes judge each other in a cycle: {' <- '.join((*chain, name))}")
        recipe, candidate = by_name[name]
        place(recipe.judge, (*chain, name))
        ordered.append((recipe, candidate))

    for name in by_name:
        place(name, ())
    return ordered
