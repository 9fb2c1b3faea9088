"""Statistics over groups of runs: the options of a stats request and the table it returns."""

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from backend.models.run import RunStatus

# auto: `selected` when runs select their epoch on a validation split (and reported it), else `final`.
Summary = Literal["auto", "selected", "final", "best", "at_epoch"]
ResolvedSummary = Literal["selected", "final", "best", "at_epoch"]
CiMethod = Literal["bootstrap", "t"]
TestName = Literal["mannwhitney", "welch", "wilcoxon"]
Pairs = Literal["all", "best"]


@dataclass(frozen=True)
class StatsOptions:
    """What a stats request asks for (query parameters, shared by the study and ad-hoc routes)."""

    metric: str | None = None  # default: the test counterpart of the runs' selection metric (test_accuracy...)
    summary: Summary = "auto"
    epoch: int | None = None  # with summary=at_epoch
    ci: CiMethod = "t"
    confidence: float = 0.95
    test: TestName = "mannwhitney"
    alpha: float = 0.05
    pairs: Pairs = "all"
    include_running: bool = False
    group_by: tuple[str, ...] = ()  # ("cell",), ("group",) or spec paths; default: the route's


class ExcludedRun(BaseModel):
    id: int
    status: RunStatus
    reason: str = Field(description="failed, cancelled, unfinished, or which value is missing")


class GroupStats(BaseModel):
    key: str = Field(description="The group's identity, as GET /compare gives it for the same group_by")
    label: str = Field(description="Unique in the table: 'model.norm=batch optimizer=sgd(momentum=0.9)', a group...")
    cell: dict[str, Any] | None = Field(description="Grid path (or group_by path) -> value; null for a `group`")
    rank: int | None = Field(description="1 = best mean by the metric's direction; null without values")
    n: int
    run_ids: list[int] = Field(description="The runs counted, in the order of `values` and `seeds`")
    seeds: list[int | None]
    values: list[float]
    mean: float | None
    median: float | None
    std: float | None = Field(description="Sample standard deviation (n - 1); null below 2 runs")
    min: float | None
    max: float | None
    ci_low: float | None = Field(description="Confidence interval of the mean; null below 2 runs")
    ci_high: float | None
    epochs: list[int] = Field(description="Distinct epoch budgets of the runs counted")
    incomplete_runs: int = Field(description="Runs of the group not counted (failed, unfinished, no value...)")
    excluded_runs: list[ExcludedRun]


class ComparisonStats(BaseModel):
    a: str = Field(description="Label of a group (the better ranked of the two)")
    b: str
    test: TestName
    method: str = Field(description="How the p-value was computed: exact, exact permutation (ties)...")
    n_a: int = Field(description="Values of a in the test (pairs, for Wilcoxon)")
    n_b: int
    pairs: int | None = Field(description="Wilcoxon: runs of a and b paired by seed")
    statistic: float | None = Field(description="U of a (Mann–Whitney), t (Welch), W (Wilcoxon)")
    p_value: float | None = Field(description="Two-sided; null when the test cannot be done (see note)")
    p_holm: float | None = Field(description="Holm-adjusted over every comparison of this table")
    min_attainable_p: float | None = Field(description="Smallest p the exact test can give at these sizes")
    cliffs_delta: float | None = Field(description="P(a > b) - P(a < b), from -1 to 1")
    cohens_d: float | None = Field(description="(mean a - mean b) / pooled sd")
    mean_difference: float | None = Field(description="mean a - mean b (paired: mean of the differences)")
    better: str | None = Field(description="The group that looks better by the metric's direction")
    winner: str | None = Field(description="`better`, when significant after Holm's correction; else null")
    significant: bool = Field(description="p_holm < alpha")
    note: str | None = None


class StatsPublic(BaseModel):
    study_id: int | None
    metric: str
    direction: Literal["min", "max"] = Field(description="min: lower is better (losses, times)")
    summary: ResolvedSummary = Field(
        description="The summary used: each run's value at its selected epoch (the best epoch of its selection "
        "metric), its final value, its best over all epochs, or its value at `epoch`"
    )
    summary_requested: Summary = Field(description="As asked: auto resolves to selected or final")
    summary_description: str = Field(
        description="What each value is, in words: 'test_accuracy at each run's best val_accuracy epoch'"
    )
    epoch: int | None
    group_by: list[str] = Field(description='["cell"], ["group"], or dotted spec paths: ["model.norm", "optimizer"]')
    ci: CiMethod
    confidence: float
    bootstrap_resamples: int | None
    bootstrap_seed: int | None
    test: TestName
    alpha: float
    pairs: Pairs = Field(description="all pairs of groups, or the best group against each other one")
    include_running: bool
    groups: list[GroupStats] = Field(
        description="In grid order (study cells), by value for one numeric spec path, else in order of first appearance"
    )
    ranking: list[str] = Field(description="Labels of the groups with values, best mean first")
    comparisons: list[ComparisonStats]
    warnings: list[str] = Field(description="What the reader must know before trusting the table")
