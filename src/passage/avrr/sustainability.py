"""Reintegration sustainability: scoring monitoring surveys and reporting by cohort.

Method (IOM MEASURE 2017, Samuel Hall / IOM "Setting standards for an integrated approach to
reintegration"; IOM Reintegration Handbook 2019, modules 2.2.5 and 5): survey answers are mapped to
item scores in [0, 1]; each of the economic, social and psychosocial dimensions is the weighted mean of
its answered items; the composite is the weighted mean of the three dimensions. An answer of "don't
know", "prefer not to answer" or "not applicable" is left out of the mean; a dimension with fewer than
`min_answered_share` of its items answered has no score, and then neither has the composite.

The weights, the scales and the threshold are versioned configuration
(`data/sustainability/*.json`). The shipped `measure_2017_equal_v1` uses equal weights and a 0.5
threshold, marked provisional, because the published item weights were not found in the sources
checked (see `provisional_note`). The XLSForm survey is generated from the same file
(`passage.avrr.survey_xlsform`), so the questions asked and the answers scored cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from passage.avrr.statistics import Distribution, distribution, quantile
from passage.core.errors import FieldError, InvalidInput, NotFound
from passage.core.i18n import T_

SUSTAINABILITY_DIR = Path(__file__).parent / "data" / "sustainability"
DIMENSIONS: tuple[str, ...] = ("economic", "social", "psychosocial")
Dimension = Literal["economic", "social", "psychosocial"]


class ScaleChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    en: str
    zh: str
    score: float | None = Field(default=None, ge=0, le=1)
    """None: the answer is left out of the score (don't know, refused, not applicable)."""


class SurveyItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    dimension: Dimension
    scale: str
    weight: float = Field(gt=0)
    en: str
    zh: str


class ScoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config_id: str
    title: str = ""
    """What the configuration is, shown with every score (e.g. that it is Passage's own alternative, not IOM's survey)."""
    version: str
    effective_from: dt.date
    provisional: bool
    provisional_note: str | None = None
    sources: list[str] = Field(min_length=1)
    threshold: float = Field(ge=0, le=1)
    min_answered_share: float = Field(gt=0, le=1)
    dimension_weights: dict[Dimension, float]
    scales: dict[str, list[ScaleChoice]]
    items: list[SurveyItem] = Field(min_length=3)

    @model_validator(mode="after")
    def _consistent(self) -> ScoringConfig:
        problems = []
        if set(self.dimension_weights) != set(DIMENSIONS) or any(w <= 0 for w in self.dimension_weights.values()):
            problems.append("dimension_weights: give a positive weight to each of economic, social, psychosocial")
        names = [i.name for i in self.items]
        if len(set(names)) != len(names):
            problems.append("items: item names must be unique")
        for index, item in enumerate(self.items):
            if item.scale not in self.scales:
                problems.append(f"items.{index}.scale: unknown scale")
        for dim in DIMENSIONS:
            if not any(i.dimension == dim for i in self.items):
                problems.append(f"items: no item for the {dim} dimension")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def choices_for(self, item: SurveyItem) -> dict[str, float | None]:
        return {c.name: c.score for c in self.scales[item.scale]}


def load_scoring_config(config_id: str = "measure_2017_equal_v1", directory: Path = SUSTAINABILITY_DIR) -> ScoringConfig:
    path = directory / f"{config_id}.json"
    if not path.exists():
        raise NotFound(T_("unknown scoring configuration {config_id}", config_id=config_id), fields=[FieldError("scoring_config", T_("not found"))])
    try:
        return ScoringConfig.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValidationError as exc:
        fields = [FieldError(".".join(str(p) for p in e["loc"]) or "(root)", e["msg"]) for e in exc.errors()]
        raise InvalidInput(T_("{file}: invalid scoring configuration", file=path.name), fields=fields) from None


class SurveyScore(BaseModel):
    config_id: str
    provisional: bool
    dimensions: dict[str, float | None]
    composite: float | None
    above_threshold: bool | None
    answered: dict[str, int]
    items: dict[str, int]


def score_survey(answers: Mapping[str, str | None], config: ScoringConfig) -> SurveyScore:
    """Score one survey's answers (`{item name: choice name}`) into 0-1 per dimension and a composite.

    An answer that is not a choice of the item's scale is refused with its path `answers.<item>`.
    Scores are rounded to 4 decimals for storage and display; comparisons use the rounded values.
    """
    problems = []
    sums = {d: 0.0 for d in DIMENSIONS}
    weights = {d: 0.0 for d in DIMENSIONS}
    answered = {d: 0 for d in DIMENSIONS}
    totals = {d: 0 for d in DIMENSIONS}
    for item in config.items:
        totals[item.dimension] += 1
        value = answers.get(item.name)
        if value is None or value == "":
            continue
        choices = config.choices_for(item)
        if value not in choices:
            problems.append(FieldError(f"answers.{item.name}", T_("not a choice of scale {scale}", scale=item.scale)))
            continue
        score = choices[value]
        if score is None:
            continue
        sums[item.dimension] += item.weight * score
        weights[item.dimension] += item.weight
        answered[item.dimension] += 1
    if problems:
        raise InvalidInput(T_("survey answers cannot be scored"), fields=problems)
    dimensions: dict[str, float | None] = {}
    for dim in DIMENSIONS:
        enough = totals[dim] > 0 and answered[dim] / totals[dim] >= config.min_answered_share
        dimensions[dim] = round(sums[dim] / weights[dim], 4) if enough and weights[dim] else None
    composite: float | None = None
    dim_weights: dict[str, float] = {str(k): v for k, v in config.dimension_weights.items()}
    scored = {d: v for d, v in dimensions.items() if v is not None}
    if len(scored) == len(DIMENSIONS):
        total_weight = sum(dim_weights[d] for d in DIMENSIONS)
        composite = round(sum(dim_weights[d] * scored[d] for d in DIMENSIONS) / total_weight, 4)
    return SurveyScore(
        config_id=config.config_id, provisional=config.provisional, dimensions=dimensions, composite=composite,
        above_threshold=None if composite is None else composite >= config.threshold, answered=answered, items=totals,
    )


# --- cohort reports ----------------------------------------------------------------------------

CohortKey = Literal["country_of_return", "year", "programme_id", "assistance_kind"]


class ScoredRound(BaseModel):
    """One completed monitoring round, with the case attributes cohorts are cut by."""

    case_id: str
    country_of_return: str
    year: int
    """Year of return (departure)."""
    programme_id: str
    assistance_kinds: list[str]
    round_number: int
    economic: float | None
    social: float | None
    psychosocial: float | None
    composite: float | None


class RoundSummary(BaseModel):
    round_number: int
    n: int
    distributions: dict[str, Distribution]
    """Per dimension and `composite`: n, mean, min, q1, median, q3, max over the scored surveys."""
    share_above_threshold: float | None
    """Share of surveys with a composite score at or above the threshold."""


class CohortReport(BaseModel):
    cohort: dict[str, str | int]
    rounds: list[RoundSummary]
    composite_median_trend: list[tuple[int, float | None]]
    change_first_to_last: float | None
    """Median composite of the last round minus that of the first (None with fewer than two scored rounds)."""


def _cohort_values(row: ScoredRound, by: Sequence[CohortKey]) -> list[tuple[str | int, ...]]:
    keys: list[tuple[str | int, ...]] = [()]
    for key in by:
        if key == "assistance_kind":
            # a case with several kinds of assistance belongs to the cohort of each kind
            keys = [k + (kind,) for k in keys for kind in (row.assistance_kinds or ["none"])]
        elif key == "country_of_return":
            keys = [k + (row.country_of_return,) for k in keys]
        elif key == "year":
            keys = [k + (row.year,) for k in keys]
        else:
            keys = [k + (row.programme_id,) for k in keys]
    return keys


def cohort_reports(rows: Iterable[ScoredRound], *, by: Sequence[CohortKey], threshold: float) -> list[CohortReport]:
    """Score distributions per dimension, share above threshold and trend over rounds, per cohort.

    A key named twice in `by` counts once: repeated, `assistance_kind` multiplied each case's cohorts (kinds to
    the power of the repeats: 19 s for one request in the deep fuzz run) and mixed cohorts under one label."""
    by = list(dict.fromkeys(by))
    groups: dict[tuple[str | int, ...], dict[int, list[ScoredRound]]] = {}
    for row in rows:
        for key in _cohort_values(row, by):
            groups.setdefault(key, {}).setdefault(row.round_number, []).append(row)
    reports = []
    for key in sorted(groups, key=lambda k: tuple(str(v) for v in k)):
        rounds = []
        trend: list[tuple[int, float | None]] = []
        for round_number in sorted(groups[key]):
            members = groups[key][round_number]
            dists = {dim: distribution([getattr(r, dim) for r in members if getattr(r, dim) is not None])
                     for dim in (*DIMENSIONS, "composite")}
            composites = [r.composite for r in members if r.composite is not None]
            share = round(sum(1 for c in composites if c >= threshold) / len(composites), 4) if composites else None
            rounds.append(RoundSummary(round_number=round_number, n=len(members), distributions=dists,
                                       share_above_threshold=share))
            trend.append((round_number, round(quantile(composites, 0.5), 4) if composites else None))
        scored = [m for _, m in trend if m is not None]
        change = round(scored[-1] - scored[0], 4) if len(scored) >= 2 else None
        reports.append(CohortReport(cohort=dict(zip(by, key, strict=True)), rounds=rounds,
                                    composite_median_trend=trend, change_first_to_last=change))
    return reports
