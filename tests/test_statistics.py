"""The statistics of study tables, against scipy's reference values and against small cases
worked by hand: descriptions and confidence intervals, the three tests, effect sizes, Holm's
correction, the smallest p-value a test can reach, and the table's warnings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from backend.services.statistics import cliffs_delta, cohens_d, compare, describe, min_attainable_p
from backend.services.statistics_table import Sample, holm, table

RNG = np.random.default_rng(20240510)
A = [0.912, 0.934, 0.921, 0.945, 0.929]
B = [0.951, 0.948, 0.962, 0.957, 0.944]


# Describing a group


def test_describe_matches_numpy_and_the_t_interval_matches_scipy():
    d = describe(A, ci="t")
    assert d.n == 5
    assert d.mean == pytest.approx(np.mean(A))
    assert d.median == pytest.approx(np.median(A))
    assert d.std == pytest.approx(np.std(A, ddof=1))
    assert (d.min, d.max) == (min(A), max(A))
    low, high = stats.t.interval(0.95, df=4, loc=np.mean(A), scale=stats.sem(A))
    assert (d.ci_low, d.ci_high) == pytest.approx((low, high))
    # by hand: [1, 2, 3] has mean 2, sd 1, and t(0.975, 2 df) = 4.3027
    three = describe([1.0, 2.0, 3.0], ci="t")
    assert (three.mean, three.std) == (2.0, 1.0)
    assert three.ci_low == pytest.approx(2 - 4.302653 / math.sqrt(3), abs=1e-6)
    assert describe(A, ci="t", confidence=0.99).ci_low < d.ci_low


def test_bootstrap_interval_is_scipys_percentile_bootstrap_and_deterministic():
    values = list(RNG.normal(0.9, 0.02, size=12))
    first, again = describe(values, ci="bootstrap", seed=7), describe(values, ci="bootstrap", seed=7)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    reference = stats.bootstrap(
        (np.asarray(values),), np.mean, n_resamples=9999, method="percentile", rng=np.random.default_rng(7)
    ).confidence_interval
    assert (first.ci_low, first.ci_high) == pytest.approx((reference.low, reference.high))
    other = describe(values, ci="bootstrap", seed=8)
    assert (other.ci_low, other.ci_high) != (first.ci_low, first.ci_high)
    assert first.ci_low < first.mean < first.ci_high


def test_describe_small_and_flat_groups():
    empty = describe([])
    assert empty.n == 0 and empty.mean is None and empty.ci_low is None
    one = describe([0.5])
    assert (one.n, one.mean, one.median, one.min, one.max) == (1, 0.5, 0.5, 0.5, 0.5)
    assert one.std is None and one.ci_low is None and one.ci_high is None
    for ci in ("t", "bootstrap"):
        flat = describe([0.9, 0.9, 0.9], ci=ci)
        assert (flat.std, flat.ci_low, flat.ci_high) == (0.0, 0.9, 0.9)
        # 0.1 * 3 is not 0.3 in floats: a mean off by an ulp must not make a spread out of nothing
        tenth = describe([0.1, 0.1, 0.1], ci=ci)
        assert tenth.std == 0.0 and tenth.ci_low == tenth.ci_high == tenth.mean


# Effect sizes


def test_cliffs_delta_by_hand():
    assert cliffs_delta([1, 2, 3], [4, 5, 6]) == -1.0
    assert cliffs_delta([4, 5, 6], [1, 2, 3]) == 1.0
    assert cliffs_delta([1, 2, 3], [1, 2, 3]) == 0.0
    # 3 > 1, 2 and < 4; 4 > 1, 2 and = 4; 5 > 1, 2, 4: 7 above, 1 below, of 9 pairs
    assert cliffs_delta([3, 4, 5], [1, 2, 4]) == pytest.approx(6 / 9)
    assert cliffs_delta([], [1.0]) is None


def test_cohens_d_uses_the_pooled_standard_deviation():
    assert cohens_d([1, 2, 3], [4, 5, 6]) == pytest.approx(-3.0)  # sd 1 in both groups
    # by hand: sds 1 and 2, pooled sqrt((2 * 1 + 2 * 4) / 4) = sqrt(2.5)
    assert cohens_d([1, 2, 3], [2, 4, 6]) == pytest.approx(-2 / math.sqrt(2.5))
    assert cohens_d([1, 1], [1, 1]) is None  # no spread: undefined
    assert cohens_d([1], [2]) is None


# Tests, against scipy


def test_mann_whitney_is_scipys_exact_test():
    result = compare(A, B, test="mannwhitney")
    reference = stats.mannwhitneyu(A, B, method="exact")
    assert result.statistic == reference.statistic
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.method == "exact"
    assert (result.n_a, result.n_b) == (5, 5)
    assert result.better == "b"  # B is higher, and higher is better by default
    separated = compare([1, 2, 3], [4, 5, 6])
    assert separated.p_value == pytest.approx(0.1)  # 2 / C(6, 3)
    assert separated.cliffs_delta == -1.0 and separated.cohens_d == pytest.approx(-3.0)


def test_mann_whitney_with_ties_permutes_exactly():
    # The normal approximation says p = 0.047 here, which 3 vs 3 runs can never show.
    assert stats.mannwhitneyu([1, 1, 1], [2, 2, 2]).pvalue < 0.05
    result = compare([1, 1, 1], [2, 2, 2])
    assert result.p_value == pytest.approx(0.1)
    assert result.method.startswith("exact permutation")
    tied = compare([1, 2, 2], [2, 5, 6])
    assert tied.p_value == pytest.approx(
        stats.mannwhitneyu([1, 2, 2], [2, 5, 6], method=stats.PermutationMethod()).pvalue
    )


def test_mann_whitney_large_samples_use_the_normal_approximation():
    a, b = RNG.normal(0, 1, 40), RNG.normal(0.5, 1, 40)
    result = compare(a, b)
    assert result.p_value == pytest.approx(stats.mannwhitneyu(a, b, method="asymptotic").pvalue)
    assert result.method == "normal approximation"


def test_welch_is_scipys_unequal_variance_t_test():
    result = compare(A, B, test="welch", direction="max")
    reference = stats.ttest_ind(A, B, equal_var=False)
    assert result.statistic == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.mean_difference == pytest.approx(np.mean(A) - np.mean(B))
    lone = compare([0.9], [0.8, 0.85], test="welch")
    assert lone.p_value is None and "at least 2" in lone.note
    spread_in_one = compare([0.9, 0.9, 0.9], [0.8, 0.82, 0.85], test="welch")
    reference = stats.ttest_ind([0.9, 0.9, 0.9], [0.8, 0.82, 0.85], equal_var=False)
    assert spread_in_one.p_value == pytest.approx(reference.pvalue)


CONSTANTS = [c / 100 for c in range(1, 100)] + [0.0, 1.0, 1e-9, 123.456, 1e6, -0.5]


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_groups_without_spread_are_no_evidence_for_welch_or_cohens_d(n):
    # [0.8]*3 vs [0.9]*3 used to give p = 6e-31 and d = -1e15: the variances were rounding error
    for c in CONSTANTS:
        for d in (0.5, 0.9, c):
            result = compare([c] * n, [d] * n, test="welch")
            assert result.p_value is None and result.statistic is None, (c, d, n)
            assert result.cohens_d is None, (c, d, n)
            assert "no spread in either group" in result.note
            assert cohens_d([c] * n, [d] * n) is None


def test_a_table_of_constant_groups_finds_nothing_significant_and_says_why():
    samples = [Sample("a", [0.8, 0.8, 0.8]), Sample("b", [0.9, 0.9, 0.9])]
    welch = table(samples, direction="max", test="welch")
    (row,) = welch.comparisons
    assert row.result.p_value is None and row.p_holm is None and not row.significant and row.winner is None
    assert any("no spread in either group" in w for w in welch.warnings)
    # Mann–Whitney ranks, ties and all: the honest exact answer for 3 vs 3 runs
    (ranked,) = table(samples, direction="max", test="mannwhitney").comparisons
    assert ranked.result.p_value == pytest.approx(0.1) and not ranked.significant
    assert ranked.result.cohens_d is None


def test_wilcoxon_is_scipys_signed_rank_test_on_pairs():
    a = [0.90, 0.93, 0.91, 0.95, 0.92, 0.94]
    b = [0.88, 0.90, 0.92, 0.91, 0.87, 0.89]
    result = compare(a, b, test="wilcoxon")
    reference = stats.wilcoxon(a, b)
    assert result.statistic == reference.statistic
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.better == "a"
    # five pairs all in one direction: 2 / 2^5, the smallest p that five pairs allow
    assert compare([2, 3, 4, 5, 6], [1, 1, 1, 1, 1.5], test="wilcoxon").p_value == pytest.approx(0.0625)
    flat = compare([1, 2, 3], [1, 2, 3], test="wilcoxon")
    assert flat.p_value == 1.0 and flat.better is None
    with pytest.raises(ValueError):
        compare([1, 2], [1, 2, 3], test="wilcoxon")


def test_better_follows_the_metric_direction():
    losses_a, losses_b = [0.20, 0.22, 0.21], [0.30, 0.31, 0.33]
    for test in ("mannwhitney", "welch", "wilcoxon"):
        assert compare(losses_a, losses_b, test=test, direction="min").better == "a"
        assert compare(losses_a, losses_b, test=test, direction="max").better == "b"


# Multiplicity and floors


def test_holm_by_hand():
    # sorted: 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> raised to 0.06 (monotone)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.01, 0.02, 0.03, 0.04]) == pytest.approx([0.04, 0.06, 0.06, 0.06])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.02, None, 0.04]) == pytest.approx([0.04, None, 0.04])  # None is not a test
    assert holm([]) == []


def test_smallest_attainable_p():
    assert min_attainable_p("mannwhitney", 3, 3) == pytest.approx(0.1)
    assert min_attainable_p("mannwhitney", 4, 4) == pytest.approx(2 / 70)
    assert min_attainable_p("mannwhitney", 2, 5) == pytest.approx(2 / 21)
    assert min_attainable_p("mannwhitney", 1, 1) == 1.0
    assert min_attainable_p("mannwhitney", 0, 3) is None
    assert min_attainable_p("wilcoxon", 5) == pytest.approx(0.0625)
    assert min_attainable_p("wilcoxon", 3) == pytest.approx(0.25)
    assert min_attainable_p("welch", 3, 3) is None
    # the floors are what scipy gives for completely separated samples
    for n_a, n_b in ((3, 3), (4, 4), (2, 5)):
        a, b = list(range(n_a)), list(range(10, 10 + n_b))
        assert stats.mannwhitneyu(a, b, method="exact").pvalue == pytest.approx(
            min_attainable_p("mannwhitney", n_a, n_b)
        )


# The table


def test_table_ranks_compares_and_corrects():
    samples = [
        Sample("base", [0.90, 0.91, 0.92, 0.905, 0.915], [0, 1, 2, 3, 4]),
        Sample("bn", [0.95, 0.96, 0.97, 0.955, 0.965], [0, 1, 2, 3, 4]),
        Sample("sgd", [0.93, 0.935, 0.94, 0.932, 0.938], [0, 1, 2, 3, 4]),
    ]
    result = table(samples, direction="max", ci="t")
    assert result.ranking == ["bn", "sgd", "base"]
    assert [row.rank for row in result.groups] == [3, 1, 2]
    assert [(c.a, c.b) for c in result.comparisons] == [("bn", "sgd"), ("bn", "base"), ("sgd", "base")]
    raw = [stats.mannwhitneyu(*pair, method="exact").pvalue for pair in (
        (samples[1].values, samples[2].values), (samples[1].values, samples[0].values),
        (samples[2].values, samples[0].values))]  # fmt: skip
    assert [c.result.p_value for c in result.comparisons] == pytest.approx(raw)
    assert [c.p_holm for c in result.comparisons] == pytest.approx(holm(raw))
    # 5 vs 5 separated: p = 2/252 = 0.0079, x3 after Holm = 0.024 < 0.05: every pair is significant
    assert all(c.significant for c in result.comparisons)
    assert [c.winner for c in result.comparisons] == ["bn", "bn", "sgd"]
    assert result.warnings == []


def test_table_warns_when_the_sample_is_too_small_to_ever_be_significant():
    samples = [Sample("a", [1.0, 2.0, 3.0], [0, 1, 2]), Sample("b", [4.0, 5.0, 6.0], [0, 1, 2])]
    result = table(samples, direction="max", ci="t")
    (comparison,) = result.comparisons
    assert comparison.result.p_value == pytest.approx(0.1)
    assert comparison.better == "b" and comparison.winner is None and not comparison.significant
    assert comparison.min_attainable_p == pytest.approx(0.1)
    assert result.warnings == [
        "Mann–Whitney U with 3 vs 3 runs cannot reach p < 0.05 (smallest possible two-sided p = 0.100)"
    ]


def test_table_warns_when_holm_puts_significance_out_of_reach():
    samples = [
        Sample(name, [base + i for i in range(4)], [0, 1, 2, 3]) for name, base in (("a", 0), ("b", 10), ("c", 20))
    ]
    result = table(samples, direction="max", ci="t")
    # 4 vs 4 can reach 2/70 = 0.029, but not after multiplying by 3 comparisons
    assert result.warnings == [
        "with Holm's correction over 3 comparisons, no comparison can reach adjusted p < 0.05 "
        "(smallest possible adjusted p = 0.086)"
    ]
    assert not any(c.significant for c in result.comparisons)


def test_table_pairs_by_seed_for_wilcoxon():
    samples = [
        Sample("a", [0.91, 0.92, 0.93, 0.94], [0, 1, 2, 3]),
        Sample("b", [0.90, 0.95, 0.96], [0, 1, 4]),
    ]
    result = table(samples, direction="max", test="wilcoxon", ci="t")
    (comparison,) = result.comparisons
    assert comparison.pairs == 2
    reference = stats.wilcoxon([0.90, 0.95], [0.91, 0.92])  # b (ranked first) vs a, on seeds 0 and 1
    assert comparison.result.p_value == pytest.approx(reference.pvalue)
    assert (
        "Wilcoxon signed-rank pairs runs by seed: 'b' vs 'a' has 2 pairs; seeds 2, 3, 4 have a run in one "
        "group only and are left out"
    ) in result.warnings
    assert (
        "Wilcoxon signed-rank with 2 pairs that differ cannot reach p < 0.05 (smallest possible two-sided p = 0.500)"
    ) in result.warnings


def test_table_notes_groups_without_values_and_welch_on_single_runs():
    samples = [Sample("a", [0.9], [0]), Sample("b", [0.8, 0.85], [0, 1]), Sample("c", [], [])]
    result = table(samples, direction="max", test="welch", ci="t")
    assert result.ranking == ["a", "b"]
    assert result.groups[2].rank is None
    (comparison,) = result.comparisons
    assert comparison.result.p_value is None and comparison.p_holm is None and not comparison.significant
    assert result.warnings == [
        "group 'c' has no values; it is not compared",
        "Welch's t-test needs at least 2 runs per group: group 'a' has 1; its comparisons have no p-value",
    ]


def test_table_warns_that_small_bootstrap_intervals_are_too_narrow():
    samples = [Sample("a", [1.0, 2.0, 3.0], [0, 1, 2]), Sample("b", [4.0, 5.0, 6.0], [0, 1, 2])]
    result = table(samples, direction="max", ci="bootstrap")
    assert any(w.startswith("bootstrap percentile intervals from 3 runs are too narrow") for w in result.warnings)


def test_table_compares_the_best_with_the_others_on_request():
    samples = [Sample(str(i), [i, i + 0.5, i + 0.25], [0, 1, 2]) for i in range(5)]
    result = table(samples, direction="min", pairs="best", ci="t")
    assert result.ranking == ["0", "1", "2", "3", "4"]
    assert [(c.a, c.b) for c in result.comparisons] == [("0", "1"), ("0", "2"), ("0", "3"), ("0", "4")]


def test_single_runs_with_tied_values_compare_without_an_error():
    """Found while grouping single runs on the Compare page: scipy's permutation method refuses a
    sample of one value, and the statistics answered 500. Every split of the pooled values is
    enumerated instead: [1] vs [1, 2, 3, 3] puts U = 0.5 where 4 of the 5 splits are as extreme."""
    same = compare([0.5], [0.5])
    assert (same.p_value, same.statistic, same.method) == (1.0, 0.5, "exact permutation (ties)")
    result = compare([1.0], [1.0, 2.0, 3.0, 3.0])
    assert result.statistic == 0.5 and result.p_value == pytest.approx(0.8)
