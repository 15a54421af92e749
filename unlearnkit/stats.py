"""The statistics behind every verdict: paired tests over units, intervals, Holm, equivalence.

A *unit* is what two methods share: a forget set (and a seed).  Every comparison pairs the
two methods' values on the units both ran, so forget-set difficulty cancels out.

* :func:`paired` — the effect (mean paired difference ``a - b``), a percentile-bootstrap 95 %
  interval, and a two-sided paired *t* test at :data:`ALPHA`; when every difference is
  the same the *t* statistic is undefined and the exact sign-flip test is used instead.
  Fewer than :data:`MIN_UNITS` pairs give no test at all (``p`` is ``nan``).
* :func:`holm` — Holm's step-down adjustment when several measures decide one claim.
* :func:`equivalence` — two one-sided paired *t* tests (TOST) against a stated margin: the
  only way a claim that something is *kept* can hold.
* :func:`censored_epochs` — epochs to the criterion with a failed run counted as its budget
  + 1 (right-censored), so failures stay in the comparison; :func:`failures` compares the
  failure counts of paired runs with an exact McNemar (sign) test on the discordant pairs.
* :func:`at_chance` — whether a score is within two binomial standard errors of chance.

This module knows numbers, not runs: :mod:`unlearnkit.experiments.claims` and
:mod:`unlearnkit.second_paper.claims` turn records into the values tested here.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy

ALPHA = 0.05
MIN_UNITS = 3  # fewer paired units than this: "inconclusive (n = …)", no test
BOOTSTRAP = 2000


@dataclass(frozen=True)
class Comparison:
    """A paired comparison ``a - b`` over ``n`` units."""

    n: int
    effect: float  # mean of the paired differences a - b
    low: float  # 95 % bootstrap interval of the effect
    high: float
    p: float  # two-sided; nan when n < MIN_UNITS
    test: str

    @property
    def tested(self) -> bool:
        return not math.isnan(self.p)

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.tested and self.p < alpha

    @property
    def direction(self) -> int:
        """+1 when ``a`` is significantly higher, -1 significantly lower, 0 otherwise."""
        return 0 if not self.significant() else (1 if self.effect > 0 else -1)

    def text(self, unit: str = "", scale: float = 1.0) -> str:
        if not self.tested:
            return f"n = {self.n}: too few pairs to test"
        return (
            f"n = {self.n}, effect {scale * self.effect:+.3g}{unit} "
            f"[{scale * self.low:+.3g}, {scale * self.high:+.3g}], p = {self.p:.3g} ({self.test})"
        )


def sign_flip_p(diffs) -> float:
    """Exact two-sided sign-flip permutation p-value of the mean (enumerates 2^n; n <= 16)."""
    d = np.asarray(diffs, dtype=float)
    if len(d) > 16:
        raise ValueError(f"the exact sign-flip test enumerates 2^n sign patterns; n = {len(d)} is too many")
    observed = abs(d.sum())
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
    return float(np.mean(np.abs(signs @ d) >= observed - 1e-12))


def bootstrap_interval(diffs, level: float = 0.95, iters: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``diffs`` (fixed seed: reproducible)."""
    d = np.asarray(diffs, dtype=float)
    if len(d) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(iters, len(d)))].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def paired_t_p(diffs) -> tuple[float, str]:
    """Two-sided p of the mean of ``diffs`` being 0: paired t test, or the exact sign-flip
    test when all differences are equal (the t statistic is then undefined)."""
    d = np.asarray(diffs, dtype=float)
    if np.allclose(d, d[0]):  # only the all-same-sign patterns reach |sum|: p = 2 / 2^n
        return (1.0 if d[0] == 0 else min(1.0, 2.0 ** (1 - len(d)))), "exact sign-flip"
    return float(_scipy.ttest_1samp(d, 0.0).pvalue), "paired t"


def paired(a: dict, b: dict) -> Comparison:
    """Compare ``a`` and ``b`` (``{unit: value}``) on the units both have; ``a - b``."""
    units = sorted(set(a) & set(b), key=str)
    d = np.array([float(a[u]) - float(b[u]) for u in units], dtype=float)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return Comparison(0, float("nan"), float("nan"), float("nan"), float("nan"), "none")
    low, high = bootstrap_interval(d)
    if len(d) < MIN_UNITS:
        return Comparison(len(d), float(d.mean()), low, high, float("nan"), "none")
    p, test = paired_t_p(d)
    return Comparison(len(d), float(d.mean()), low, high, p, test)


def one_sample(values: dict, reference: float) -> Comparison:
    """Compare ``values`` (``{unit: value}``) with a fixed ``reference`` (e.g. the model before)."""
    return paired(values, {u: reference for u in values})


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (nan stays nan and is not counted)."""
    idx = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    order = sorted(idx, key=lambda i: pvalues[i])
    m = len(order)
    out = [float("nan")] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


@dataclass(frozen=True)
class Equivalence:
    """TOST: is the mean paired difference within ``±margin``?"""

    n: int
    effect: float
    low: float
    high: float
    margin: float
    p: float  # the larger of the two one-sided p-values; nan when not testable

    def equivalent(self, alpha: float = ALPHA) -> bool:
        return not math.isnan(self.p) and self.p < alpha

    def text(self, unit: str = "", scale: float = 1.0) -> str:
        if math.isnan(self.p):
            return f"n = {self.n}: too few pairs to test equivalence"
        return (
            f"n = {self.n}, effect {scale * self.effect:+.3g}{unit} [{scale * self.low:+.3g}, "
            f"{scale * self.high:+.3g}], equivalence margin ±{scale * self.margin:.3g}{unit}, TOST p = {self.p:.3g}"
        )


def equivalence(diffs, margin: float) -> Equivalence:
    """Two one-sided paired t tests of ``-margin < mean(diffs) < margin``."""
    d = np.asarray(diffs, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    low, high = bootstrap_interval(d)
    if n < MIN_UNITS:
        return Equivalence(n, float(d.mean()) if n else float("nan"), low, high, margin, float("nan"))
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0:
        p = 0.0 if abs(mean) < margin else 1.0
    else:
        se = sd / math.sqrt(n)
        p_low = 1 - _scipy.t.cdf((mean + margin) / se, n - 1)  # H0: mean <= -margin
        p_high = _scipy.t.cdf((mean - margin) / se, n - 1)  # H0: mean >= +margin
        p = float(max(p_low, p_high))
    return Equivalence(n, mean, low, high, margin, p)


def censored_epochs(epochs: int | None, succeeded: bool, budget: int) -> int:
    """Epochs to the criterion; a failed run counts as ``budget + 1`` (right-censored)."""
    return int(epochs) if succeeded else int(budget) + 1


@dataclass(frozen=True)
class FailureComparison:
    """Failure counts of paired runs: ``a_only`` pairs where only ``a`` failed, ``b_only`` the reverse."""

    n: int
    a_failed: int
    b_failed: int
    a_only: int
    b_only: int
    p: float  # exact two-sided McNemar (binomial on the discordant pairs)

    def text(self) -> str:
        return (
            f"failed {self.a_failed}/{self.n} vs {self.b_failed}/{self.n} "
            f"(discordant {self.a_only}:{self.b_only}, McNemar p = {self.p:.3g})"
        )


def failures(a: dict, b: dict) -> FailureComparison:
    """Compare failure indicators (``{unit: True if the run failed}``) on shared units."""
    units = sorted(set(a) & set(b), key=str)
    a_only = sum(bool(a[u]) and not bool(b[u]) for u in units)
    b_only = sum(bool(b[u]) and not bool(a[u]) for u in units)
    k = a_only + b_only
    p = 1.0 if k == 0 else float(_scipy.binomtest(a_only, k, 0.5).pvalue)
    return FailureComparison(
        len(units), sum(bool(a[u]) for u in units), sum(bool(b[u]) for u in units), a_only, b_only, p
    )


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n else float("inf")


def at_chance(score: float, chance: float, n: int) -> bool:
    """A score within two binomial standard errors of chance carries no signal."""
    return abs(score - chance) <= 2 * binomial_se(chance if chance > 0 else score, n)


def verdict(direction: int, tested: bool, n: int, supports: int = 1) -> str:
    """``holds`` when the test is significant in the claimed direction (``supports``), ``does
    not hold`` when significant the other way, ``inconclusive (n = …)`` otherwise."""
    if not tested:
        return f"inconclusive (n = {n})"
    if direction == supports:
        return "holds"
    if direction == -supports:
        return "does not hold"
    return f"inconclusive (n = {n})"
