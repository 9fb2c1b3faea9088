"""A table of groups of runs: describe each group, rank the groups, compare pairs of them,
correct the table's p-values for multiplicity (Holm), and say honestly what the numbers cannot
show. Pure functions over lists of floats: no database, no HTTP.

Three seeds per variant is the usual study, and with so few runs some tests can never reach
p < 0.05 (Mann–Whitney U with 3 vs 3 runs: the smallest two-sided p is 2/C(6, 3) = 0.1). The
table says so in its warnings instead of leaving the reader to wonder why nothing is significant.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from backend.services.statistics import (
    BOOTSTRAP_SEED,
    NO_SPREAD,
    CiMethod,
    Description,
    Direction,
    TestName,
    TestResult,
    compare,
    describe,
    min_attainable_p,
    no_spread,
)

Pairs = Literal["all", "best"]

TEST_TITLES = {"mannwhitney": "Mann–Whitney U", "welch": "Welch's t-test", "wilcoxon": "Wilcoxon signed-rank"}
# Above this many pairs, `table` compares the best group with each other one instead of all pairs.
MAX_COMPARISONS = 1000


def format_p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (None entries are not part of the
    family and stay None): the i-th smallest is multiplied by (m - i + 1), then made
    non-decreasing in that order and capped at 1."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


@dataclass
class Sample:
    """One group's values, one per run, with each run's seed (to pair runs by seed)."""

    label: str
    values: list[float]
    seeds: list[int | None] = field(default_factory=list)


@dataclass
class GroupRow:
    label: str
    description: Description
    rank: int | None  # 1 = best mean; None when the group has no values


@dataclass
class ComparisonRow:
    a: str
    b: str
    result: TestResult
    p_holm: float | None
    min_attainable_p: float | None
    better: str | None
    winner: str | None  # `better`, when significant after Holm's correction
    significant: bool
    pairs: int | None = None  # Wilcoxon: pairs of runs with the same seed


@dataclass
class Table:
    groups: list[GroupRow]
    ranking: list[str]
    comparisons: list[ComparisonRow]
    warnings: list[str]


def _pair_by_seed(a: Sample, b: Sample) -> tuple[list[float], list[float], list[int], str | None]:
    """The values of a and b paired by seed, the seeds left without a partner, and why pairing is
    impossible (None when it is possible)."""
    for sample in (a, b):
        seeds = sample.seeds
        if len(seeds) != len(sample.values) or any(seed is None for seed in seeds):
            return [], [], [], f"group '{sample.label}' has runs without a seed"
        if len(set(seeds)) < len(seeds):
            return [], [], [], f"group '{sample.label}' has several runs with one seed"
    by_seed_a = dict(zip(a.seeds, a.values, strict=True))
    by_seed_b = dict(zip(b.seeds, b.values, strict=True))
    common = sorted(set(by_seed_a) & set(by_seed_b))
    unpaired = sorted(set(by_seed_a) ^ set(by_seed_b))
    return [by_seed_a[s] for s in common], [by_seed_b[s] for s in common], unpaired, None


def table(
    samples: Sequence[Sample],
    *,
    direction: Direction,
    test: TestName = "mannwhitney",
    ci: CiMethod = "bootstrap",
    confidence: float = 0.95,
    alpha: float = 0.05,
    pairs: Pairs = "all",
    seed: int = BOOTSTRAP_SEED,
) -> Table:
    """Describe every group, rank them by mean (best first, by `direction`), compare pairs of
    groups with `test`, adjust the p-values of the whole table with Holm's method, and list what
    the reader must know: sample sizes too small to ever reach p < alpha, unpaired runs..."""
    warnings: list[str] = []
    rows = [GroupRow(s.label, describe(s.values, ci=ci, confidence=confidence, seed=seed), None) for s in samples]
    by_label = {s.label: s for s in samples}
    filled = [row for row in rows if row.description.n > 0]
    sign = -1.0 if direction == "max" else 1.0
    filled.sort(key=lambda row: (sign * row.description.mean, sign * row.description.median, row.label))
    for rank, row in enumerate(filled, start=1):
        row.rank = rank
    ranking = [row.label for row in filled]
    for row in rows:
        if row.description.n == 0:
            warnings.append(f"group '{row.label}' has no values; it is not compared")

    if pairs == "all" and len(ranking) * (len(ranking) - 1) // 2 > MAX_COMPARISONS:
        warnings.append(
            f"{len(ranking)} groups make {len(ranking) * (len(ranking) - 1) // 2} pairs: only the best group "
            "is compared with each of the others"
        )
        pairs = "best"
    if pairs == "all":
        label_pairs = list(itertools.combinations(ranking, 2))
    else:
        label_pairs = [(ranking[0], other) for other in ranking[1:]]

    title = TEST_TITLES[test]
    results: list[tuple[str, str, TestResult, float | None, int | None]] = []
    floors: dict[tuple[int, int], float] = {}
    welch_too_small: list[str] = []
    for label_a, label_b in label_pairs:
        a, b = by_label[label_a], by_label[label_b]
        n_pairs = None
        if test == "wilcoxon":
            x, y, unpaired, problem = _pair_by_seed(a, b)
            if problem is not None:
                warnings.append(f"{title} pairs runs by seed, but {problem}: '{label_a}' vs '{label_b}' is not tested")
            elif unpaired:
                seeds = ", ".join(map(str, unpaired))
                warnings.append(
                    f"{title} pairs runs by seed: '{label_a}' vs '{label_b}' has {len(x)} pairs; "
                    f"seed{'s' if len(unpaired) > 1 else ''} {seeds} {'have' if len(unpaired) > 1 else 'has'} "
                    "a run in one group only and "
                    f"{'are' if len(unpaired) > 1 else 'is'} left out"
                )
            n_pairs = len(x)
            result = compare(x, y, test=test, direction=direction)
            nonzero = sum(1 for u, v in zip(x, y, strict=True) if u != v)
            floor = min_attainable_p(test, nonzero) if problem is None and nonzero else None
            if floor is not None:
                floors.setdefault((nonzero, nonzero), floor)
        else:
            result = compare(a.values, b.values, test=test, direction=direction)
            floor = min_attainable_p(test, len(a.values), len(b.values))
            if floor is not None:
                floors.setdefault(tuple(sorted((len(a.values), len(b.values)))), floor)
            if test == "welch":
                welch_too_small += [s.label for s in (a, b) if len(s.values) < 2 and s.label not in welch_too_small]
        results.append((label_a, label_b, result, floor, n_pairs))

    for (n_a, n_b), floor in sorted(floors.items()):
        if floor >= alpha:
            if test == "wilcoxon":
                sizes = f"{n_a} pair{'s' if n_a != 1 else ''} that differ{'s' if n_a == 1 else ''}"
            else:
                sizes = f"{n_a} vs {n_b} runs"
            warnings.append(
                f"{title} with {sizes} cannot reach p < {alpha:g} (smallest possible two-sided p = {format_p(floor)})"
            )
    for label in welch_too_small:
        count = len(by_label[label].values)
        warnings.append(
            f"{title} needs at least 2 runs per group: group '{label}' has {count}; its comparisons have no p-value"
        )

    for label_a, label_b, _, _, _ in results:
        x, y = (np.asarray(by_label[label].values, dtype=float) for label in (label_a, label_b))
        if max(len(x), len(y)) > 1 and no_spread(x, y):
            warnings.append(f"'{label_a}' vs '{label_b}': {NO_SPREAD}; Cohen's d is undefined")
    adjusted = holm([result.p_value for _, _, result, _, _ in results])
    m = sum(1 for p in adjusted if p is not None)
    reachable = [floor for _, _, result, floor, _ in results if floor is not None and result.p_value is not None]
    if m > 1 and reachable and min(reachable) < alpha <= m * min(reachable):
        warnings.append(
            f"with Holm's correction over {m} comparisons, no comparison can reach adjusted p < {alpha:g} "
            f"(smallest possible adjusted p = {format_p(min(1.0, m * min(reachable)))})"
        )
    if ci == "bootstrap" and filled and min(row.description.n for row in filled) < 10:
        smallest = min(row.description.n for row in filled)
        warnings.append(
            f"bootstrap percentile intervals from {smallest} run{'s' if smallest != 1 else ''} are too narrow "
            f"(they hold the true mean less often than {confidence:.0%}); ci=t is wider and more honest at this size"
        )

    comparisons = []
    for (label_a, label_b, result, floor, n_pairs), p_holm in zip(results, adjusted, strict=True):
        better = {"a": label_a, "b": label_b}.get(result.better) if result.better else None
        significant = p_holm is not None and p_holm < alpha
        comparisons.append(
            ComparisonRow(
                label_a, label_b, result, p_holm, floor, better, better if significant else None, significant, n_pairs
            )
        )
    return Table(rows, ranking, comparisons, warnings)
