"""Statistics for small-sample experiments: describe a group of runs' values and compare two
groups (Mann–Whitney U, Welch's t-test, Wilcoxon signed-rank, with Cliff's delta and Cohen's d).
Pure functions over arrays of finite floats: no database, no HTTP. `statistics_table` builds a
study's table of many groups from these.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

TestName = Literal["mannwhitney", "welch", "wilcoxon"]
CiMethod = Literal["bootstrap", "t"]
Direction = Literal["min", "max"]

BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0
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
