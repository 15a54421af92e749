"""The statistics layer against direct computations: sign-flip enumeration, Holm, TOST, McNemar."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from unlearnkit import stats


def test_sign_flip_p_equals_a_direct_enumeration():
    d = np.array([1.0, 2.0, -0.5, 3.0])
    sums = [abs(sum(s * x for s, x in zip(signs, d))) for signs in itertools.product([1, -1], repeat=4)]
    assert stats.sign_flip_p(d) == pytest.approx(np.mean([s >= abs(d.sum()) - 1e-12 for s in sums]))
    assert stats.sign_flip_p([1.0] * 5) == pytest.approx(2 / 32)  # the smallest p five pairs can give


def test_paired_pairs_on_shared_units_and_signs_the_effect():
    a = {"f0": 10.0, "f1": 12.0, "f2": 14.0, "f3": 13.0, "extra": 100.0}
    b = {"f0": 12.0, "f1": 13.0, "f2": 17.0, "f3": 15.0}
    c = stats.paired(a, b)
    d = np.array([-2.0, -1.0, -3.0, -2.0])
    assert c.n == 4 and c.effect == pytest.approx(d.mean())
    assert c.p == pytest.approx(scipy_stats.ttest_1samp(d, 0).pvalue) and c.test == "paired t"
    assert c.low <= c.effect <= c.high and c.direction == -1


def test_too_few_units_are_not_tested():
    c = stats.paired({"a": 1.0, "b": 2.0}, {"a": 5.0, "b": 9.0})
    assert c.n == 2 and math.isnan(c.p) and not c.significant()
    assert stats.verdict(c.direction, c.tested, c.n) == "inconclusive (n = 2)"


def test_equal_differences_use_the_exact_sign_flip_test():
    c = stats.paired({u: 3.0 for u in "abcde"}, {u: 2.0 for u in "abcde"})
    assert c.test == "exact sign-flip" and c.p == pytest.approx(2 / 32) and not c.significant()
    same = stats.paired({u: 2.0 for u in "abc"}, {u: 2.0 for u in "abc"})
    assert same.p == 1.0


def test_holm_matches_its_definition():
    p = [0.01, 0.04, 0.03, float("nan")]
    adj = stats.holm(p)
    assert adj[0] == pytest.approx(0.03) and adj[2] == pytest.approx(0.06) and adj[1] == pytest.approx(0.06)
    assert math.isnan(adj[3])


def test_equivalence_needs_the_interval_inside_the_margin():
    rng = np.random.default_rng(0)
    small = rng.normal(0.0, 0.01, size=50)
    assert stats.equivalence(small, margin=0.05).equivalent()
    assert not stats.equivalence(small + 0.1, margin=0.05).equivalent()
    noisy = rng.normal(0.0, 0.5, size=5)  # no evidence either way: not equivalent
    assert not stats.equivalence(noisy, margin=0.05).equivalent()


def test_equivalence_p_is_the_larger_one_sided_t_p():
    d = np.array([0.01, -0.02, 0.015, 0.0, 0.005, -0.01])
    m = 0.05
    lo = scipy_stats.ttest_1samp(d, -m, alternative="greater").pvalue
    hi = scipy_stats.ttest_1samp(d, m, alternative="less").pvalue
    assert stats.equivalence(d, m).p == pytest.approx(max(lo, hi))


def test_failures_compare_discordant_pairs_exactly():
    a = {i: i < 6 for i in range(8)}  # fails on 6
    b = {i: i == 7 for i in range(8)}  # fails on 1
    f = stats.failures(a, b)
    assert (f.a_failed, f.b_failed, f.a_only, f.b_only) == (6, 1, 6, 1)
    assert f.p == pytest.approx(scipy_stats.binomtest(6, 7, 0.5).pvalue)


def test_censored_epochs():
    assert stats.censored_epochs(7, True, 20) == 7
    assert stats.censored_epochs(None, False, 20) == 21


def test_at_chance():
    assert stats.at_chance(0.52, 0.5, 100)  # 2 SE = 10 points
    assert not stats.at_chance(0.70, 0.5, 100)
    assert stats.at_chance(0.001, 0.0, 25)
    assert not stats.at_chance(0.12, 0.0, 100)
