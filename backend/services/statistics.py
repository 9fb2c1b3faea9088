"""Statistics for small-sample experiments: describe a group of runs' values, compare two groups,
correct a table of comparisons for multiplicity (Holm), and say honestly what the numbers cannot
show. Pure functions over arrays of finite floats: no database, no HTTP.

Three seeds per variant is the usual study, and with so few runs some tests can never reach
p < 0.05 (Mann–Whitney U with 3 vs 3 runs: the smallest two-sided p is 2/C(6, 3) = 0.1). The
table says so in its warnings instead of leaving the reader to wonder why nothing is significant.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

TestName = Literal["mannwhitney", "welch", "wilcoxon"]
CiMethod = Literal["bootstrap", "t"]
Direction = Literal["min", "max"]
Pairs = Literal["all", "best"]

TEST_TITLES = {"mannwhitney": "Mann–Whitney U", "welch": "Welch's t-test", "wilcoxon": "Wilcoxon signed-rank"}
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0
# Above this many pairs, `table` compares the best group with each other one instead of all pairs.
MAX_COMPARISONS = 1000
# Permutation p-values are exact while the distinct permutations are at most this many.
EXACT_PERMUTATIONS = 9999
# Values closer than this, relative to their magnitude, are one value: float rounding (a mean of
# [0.8, 0.8, 0.8] is off by an ulp, ~1e-16 relative) is far below it, any real difference of
# scores far above it.
SPREAD_TOLERANCE = 1e-12
NO_SPREAD = "no spread in either group: a t-test has no variance to work with"


def _finite(value: float | np.floating | None) -> float | None:
    """A plain float, or None for NaN, infinities and None (JSON has no literal for them)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def no_spread(*samples: np.ndarray) -> bool:
    """True when every sample holds one value, up to SPREAD_TOLERANCE of its magnitude: then a
    variance, a t-statistic or a Cohen's d is rounding error, not evidence."""
    for x in samples:
        if len(x) > 1 and np.ptp(x) > SPREAD_TOLERANCE * float(np.max(np.abs(x))):
            return False
    return True


def format_p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


# --- one group ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Description:
    n: int
    mean: float | None
    median: float | None
    std: float | None  # sample standard deviation (ddof=1); None below 2 values
    min: float | None
    max: float | None
    ci_low: float | None  # confidence interval of the mean; None below 2 values
    ci_high: float | None


def describe(
    values: Sequence[float],
    *,
    ci: CiMethod = "bootstrap",
    confidence: float = 0.95,
    seed: int = BOOTSTRAP_SEED,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Description:
    """n, mean, median, sample std, min, max and a confidence interval of the mean: the
    percentile bootstrap (deterministic for a given seed) or Student's t-interval."""
    from scipy import stats  # on first use: it costs the API's start a second
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Description(0, None, None, None, None, None, None, None)
    mean, median = float(np.mean(x)), float(np.median(x))
    flat = no_spread(x)
    std = (0.0 if flat else float(np.std(x, ddof=1))) if n >= 2 else None
    low = high = None
    if n >= 2:
        if flat:
            low = high = mean  # no spread: every resample and every t-interval is the point itself
        elif ci == "bootstrap":
            result = stats.bootstrap(
                (x,), np.mean, n_resamples=resamples, confidence_level=confidence, method="percentile",
                rng=np.random.default_rng(seed),
            )  # fmt: skip
            low, high = result.confidence_interval
        else:
            low, high = stats.t.interval(confidence, df=n - 1, loc=mean, scale=stats.sem(x))
    return Description(n, mean, median, _finite(std), float(np.min(x)), float(np.max(x)), _finite(low), _finite(high))


# --- two groups --------------------------------------------------------------------------------


def cliffs_delta(a: Sequence[float], b: Sequence[float]) -> float | None:
    """P(a > b) - P(a < b) over all pairs of one value of each: -1 when every a is below every b."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) == 0 or len(y) == 0:
        return None
    signs = np.sign(x[:, None] - y[None, :])
    return float(signs.sum() / signs.size)


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float | None:
    """(mean a - mean b) / pooled standard deviation; None when that is undefined (fewer than
    3 values together, or no spread at all)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n_a, n_b = len(x), len(y)
    if n_a == 0 or n_b == 0 or n_a + n_b <= 2 or no_spread(x, y):
        return None
    ss = (np.var(x, ddof=1) * (n_a - 1) if n_a > 1 else 0.0) + (np.var(y, ddof=1) * (n_b - 1) if n_b > 1 else 0.0)
    pooled = math.sqrt(ss / (n_a + n_b - 2))
    if pooled == 0:
        return None
    return _finite((np.mean(x) - np.mean(y)) / pooled)


def min_attainable_p(test: TestName, n_a: int, n_b: int | None = None) -> float | None:
    """The smallest two-sided p-value the exact test can give with these sample sizes, whatever
    the data: Mann–Whitney U 2/C(n_a+n_b, n_a), Wilcoxon signed-rank 2/2^n for n pairs (n_a).
    None for Welch's t-test (no floor; undefined below 2 values per group) or empty samples."""
    if test == "mannwhitney":
        if not n_a or not n_b:
            return None
        return min(1.0, 2 / math.comb(n_a + n_b, n_a))
    if test == "wilcoxon":
        return min(1.0, 2 / 2**n_a) if n_a else None
    return None


@dataclass(frozen=True)
class TestResult:
    test: TestName
    method: str  # how the p-value was computed
    n_a: int
    n_b: int
    statistic: float | None
    p_value: float | None
    cliffs_delta: float | None
    cohens_d: float | None
    mean_difference: float | None  # mean a - mean b (for paired samples: the mean difference)
    better: Literal["a", "b"] | None  # which looks better by the metric's direction, significant or not
    note: str | None = None  # why there is no p-value, when there is none


def _has_ties(*samples: np.ndarray) -> bool:
    joined = np.concatenate(samples)
    return len(np.unique(joined)) < len(joined)


def _u_statistic(x: np.ndarray, y: np.ndarray) -> float:
    """Mann-Whitney U of x: pairs where x wins, ties counting one half."""
    return float((x[:, None] > y[None, :]).sum() + 0.5 * (x[:, None] == y[None, :]).sum())


def _permuted_u(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """U of x and its two-sided p-value over every split of the pooled values (few: one sample
    holds a single value here)."""
    pooled = np.concatenate([x, y])
    observed, centre = _u_statistic(x, y), len(x) * len(y) / 2
    extreme = total = 0
    for chosen in itertools.combinations(range(len(pooled)), len(x)):
        mask = np.zeros(len(pooled), dtype=bool)
        mask[list(chosen)] = True
        total += 1
        extreme += abs(_u_statistic(pooled[mask], pooled[~mask]) - centre) >= abs(observed - centre) - 1e-12
    return observed, extreme / total


def _mannwhitney(x: np.ndarray, y: np.ndarray) -> tuple[float, float, str]:
    from scipy import stats  # on first use: it costs the API's start a second
    small = min(len(x), len(y)) <= 8
    if not _has_ties(x, y) and small:
        result, method = stats.mannwhitneyu(x, y, method="exact"), "exact"
    elif math.comb(len(x) + len(y), len(x)) <= EXACT_PERMUTATIONS:
        # With ties the exact table does not apply and the normal approximation is far off at
        # this size (it gives p = 0.047 for [1, 1, 1] vs [2, 2, 2]): permute, exactly.
        if min(len(x), len(y)) == 1:  # scipy's permutation method wants two values a sample
            return (*_permuted_u(x, y), "exact permutation (ties)")
        result = stats.mannwhitneyu(x, y, method=stats.PermutationMethod(n_resamples=EXACT_PERMUTATIONS))
        method = "exact permutation (ties)"
    else:
        result, method = stats.mannwhitneyu(x, y, method="asymptotic"), "normal approximation"
    return float(result.statistic), float(result.pvalue), method


def _wilcoxon(x: np.ndarray, y: np.ndarray, diffs: np.ndarray, nonzero: np.ndarray) -> tuple[float, float, str]:
    from scipy import stats  # on first use: it costs the API's start a second
    if len(nonzero) == len(diffs) and not _has_ties(np.abs(nonzero)) and len(diffs) <= 50:
        result, method = stats.wilcoxon(x, y, method="exact"), "exact"
    elif len(diffs) <= 13:  # 2^13 sign patterns at most: the permutation p-value is exact
        result = stats.wilcoxon(x, y, method=stats.PermutationMethod(n_resamples=EXACT_PERMUTATIONS))
        method = "exact permutation (ties or zero differences)"
    else:
        result, method = stats.wilcoxon(x, y, method="asymptotic"), "normal approximation"
    return float(result.statistic), float(result.pvalue), method


def compare(
    a: Sequence[float], b: Sequence[float], *, test: TestName = "mannwhitney", direction: Direction = "max"
) -> TestResult:
    """Two-sided test of group a against group b, with effect sizes and which one looks better.
    For "wilcoxon", a[i] and b[i] are a pair (the same seed)."""
    from scipy import stats  # on first use: it costs the API's start a second
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n_a, n_b = len(x), len(y)
    delta, d = cliffs_delta(x, y), cohens_d(x, y)
    difference = _finite(np.mean(x) - np.mean(y)) if n_a and n_b else None
    statistic = p_value = None
    note = None
    method = "-"
    if test == "wilcoxon":
        if n_a != n_b:
            raise ValueError("wilcoxon needs paired samples of equal length")
        diffs = x - y
        nonzero = diffs[diffs != 0]
        if n_a == 0:
            note = "no pairs"
        elif len(nonzero) == 0:
            statistic, p_value, method = 0.0, 1.0, "all differences are zero"
        else:
            statistic, p_value, method = _wilcoxon(x, y, diffs, nonzero)
        ranks = stats.rankdata(np.abs(nonzero)) if len(nonzero) else np.zeros(0)
        sign = float(np.sum(np.sign(nonzero) * ranks))  # signed-rank sum: > 0 when a is above b
        difference = _finite(np.mean(diffs)) if n_a else None
    elif test == "welch":
        if n_a < 2 or n_b < 2:
            note = "Welch's t-test needs at least 2 runs per group"
        elif no_spread(x, y):
            note = NO_SPREAD
        else:
            result = stats.ttest_ind(x, y, equal_var=False)
            statistic, p_value = _finite(result.statistic), _finite(result.pvalue)
            method = "t-distribution, Welch–Satterthwaite df"
        sign = difference or 0.0
    elif test == "mannwhitney":
        if n_a == 0 or n_b == 0:
            note = "an empty group"
        else:
            statistic, p_value, method = _mannwhitney(x, y)
        sign = delta or 0.0
    else:
        raise ValueError(f"unknown test {test!r}")
    better = None
    if sign:
        better = ("a" if sign > 0 else "b") if direction == "max" else ("b" if sign > 0 else "a")
    return TestResult(test, method, n_a, n_b, _finite(statistic), _finite(p_value), delta, d, difference, better, note)


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


# --- a table of groups -------------------------------------------------------------------------


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
