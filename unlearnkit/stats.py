"""The statistics behind every verdict: exact paired tests over units, intervals, minimum
effects, power, Holm, equivalence.

A *unit* is what two methods share: a forget unit (and a seed).  Every comparison pairs the
two methods' values on the units both ran, so unit difficulty cancels out.  The tests are
chosen for small n and for data that are neither Gaussian nor fully observed:

* :func:`paired` — the effect (mean paired difference ``a - b``) with a 95 % *t* interval,
  and the **exact sign-flip permutation test** of the mean (every sign pattern enumerated up
  to :data:`EXACT_MAX` pairs, :data:`PERMUTATIONS` seeded random patterns beyond).  Given a
  ``minimum`` effect it also tests whether the effect lies *beyond* it (the differences
  shifted by the minimum), and it states its power: the smallest p its n can reach and the
  effect it would detect with 80 % power.  Fewer than :data:`MIN_UNITS` pairs give no test.
* :func:`censored_paired` — epochs to the criterion, where a failed run is "more than the
  budget", never a number: each pair's difference is an interval, and the exact **paired
  sign test** counts the pairs whose order is known (both failed: no information); its
  interval is the sign test inverted (the median difference; it may be unbounded).
* :func:`worst_rank_paired` — the same sign test where a missing value ranks below every
  value (capability at a forgetting level a run never reached).
* :func:`decide` — the verdict from a comparison: "holds" only when the test is significant
  in the claimed direction and, where a minimum effect is stated, the effect is significantly
  beyond it; :func:`holm` adjusts the p-values of the claims a chapter decides together.
* :func:`equivalence` — two one-sided paired *t* tests (TOST) against a stated margin.
* :func:`failures` — failure counts of paired runs, exact McNemar on the discordant pairs.
* :func:`above_chance` — a score carries signal only when it is significantly *above*
  chance (one-sided); below chance is not signal.

This module knows numbers, not runs: :mod:`unlearnkit.experiments.claims` and
:mod:`unlearnkit.second_paper.claims` turn records into the values tested here.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy

ALPHA = 0.05
MIN_UNITS = 3  # fewer paired units than this: "inconclusive (n = …)", no test
BOOTSTRAP = 2000
EXACT_MAX = 16  # the sign-flip test enumerates all 2^n sign patterns up to this many pairs
PERMUTATIONS = 20000  # seeded random sign patterns beyond it
POWER = 0.8


@dataclass(frozen=True)
class Comparison:
    """A paired comparison ``a - b`` over ``n`` units."""

    n: int
    effect: float  # the paired differences' mean (paired) or median, failures as budget + 1 (censored_paired)
    low: float  # 95 % interval of the effect: the t interval (paired) or the inverted sign test (censored_paired)
    high: float
    p: float  # two-sided; nan when n < MIN_UNITS
    test: str
    minimum: float = 0.0  # the smallest effect that counts (0: any effect)
    p_minimum: float = float("nan")  # one-sided p that the effect lies beyond ±minimum, in its direction
    smallest_p: float = float("nan")  # the smallest p this test can give at this n
    mde: float = float("nan")  # effect detectable with POWER at ALPHA (normal approximation)
    sign: int = 0  # a sign test's counted direction (+1 more pairs above 0, -1 below, 0 a tie or not a sign test)

    @property
    def tested(self) -> bool:
        return not math.isnan(self.p)

    def beyond_minimum(self, alpha: float = ALPHA) -> bool:
        """Significant, and (when a minimum is stated) significantly beyond it."""
        if not self.significant(alpha):
            return False
        return self.minimum == 0 or (not math.isnan(self.p_minimum) and self.p_minimum < alpha)

    def power_text(self, scale: float = 1.0) -> str:
        """n, the smallest attainable p and the minimum detectable effect at 80 % power."""
        parts = [f"n = {self.n}"]
        if not math.isnan(self.smallest_p):
            parts.append(
                f"smallest attainable p {self.smallest_p:.2g}"
                + (" > α: cannot decide" if self.smallest_p >= ALPHA else "")
            )
        if not math.isnan(self.mde):
            parts.append(f"detectable effect at 80 % power ≈ {scale * self.mde:.3g}")
        return ", ".join(parts)

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.tested and self.p < alpha

    @property
    def direction(self) -> int:
        """+1 when ``a`` is significantly higher, -1 significantly lower, 0 otherwise: for a sign
        test, the side more pairs are known to lie on (:attr:`sign`), not the point estimate's,
        which censoring can put on the other side (pairs where both failed enter it as 0)."""
        if not self.significant():
            return 0
        if self.sign:
            return self.sign
        return 1 if self.effect > 0 else -1

    def text(self, unit: str = "", scale: float = 1.0) -> str:
        if not self.tested:
            return f"n = {self.n}: too few pairs to test"
        beyond = (
            ""
            if self.minimum == 0 or math.isnan(self.p_minimum)
            else (f", beyond the minimum {scale * self.minimum:.3g}{unit}: p = {self.p_minimum:.3g}")
        )
        return (
            f"n = {self.n}, effect {scale * self.effect:+.3g}{unit} "
            f"[{scale * self.low:+.3g}, {scale * self.high:+.3g}], p = {self.p:.3g} ({self.test}){beyond}"
        )


@functools.lru_cache(maxsize=64)
def _sign_patterns(n: int, seed: int = 0) -> np.ndarray:
    """Every sign pattern of ``n`` pairs (up to :data:`EXACT_MAX`), else :data:`PERMUTATIONS`
    seeded ones; cached and read-only (the same n is tested many times)."""
    if n <= EXACT_MAX:
        out = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        out = np.random.default_rng(seed).choice((1.0, -1.0), size=(PERMUTATIONS, n))
    out.setflags(write=False)
    return out


def sign_flip_p(diffs, alternative: str = "two-sided") -> float:
    """Sign-flip permutation p-value of the mean of ``diffs`` being 0: exact (all 2^n sign
    patterns) up to :data:`EXACT_MAX` values, else from :data:`PERMUTATIONS` seeded patterns
    (then ``(1 + hits) / (1 + patterns)``).  ``alternative``: ``"two-sided"``, ``"greater"``
    (mean > 0) or ``"less"``."""
    d = np.asarray(diffs, dtype=float)
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}")
    if len(d) == 0:
        return float("nan")
    sums, observed = _sign_patterns(len(d)) @ d, d.sum()
    tol = 1e-12 * max(1.0, float(np.abs(d).sum()))
    if alternative == "two-sided":
        hits = np.abs(sums) >= abs(observed) - tol
    elif alternative == "greater":
        hits = sums >= observed - tol
    else:
        hits = sums <= observed + tol
    if len(d) <= EXACT_MAX:
        return float(np.mean(hits))
    return float((1 + hits.sum()) / (1 + len(hits)))


def smallest_sign_flip_p(n: int) -> float:
    """The smallest two-sided p the exact sign-flip (or sign) test can give with n pairs: 2 / 2^n."""
    return min(1.0, 2.0 ** (1 - n)) if n else float("nan")


def t_interval(diffs, level: float = 0.95) -> tuple[float, float]:
    """The *t* interval of the mean of ``diffs`` (nan below two values)."""
    d = np.asarray(diffs, dtype=float)
    if len(d) < 2:
        return float("nan"), float("nan")
    half = _scipy.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return float(d.mean() - half), float(d.mean() + half)


def detectable_effect(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The mean paired difference a two-sided test at ``alpha`` finds with ``power`` (normal
    approximation, ``sd`` the differences' standard deviation); inf where the exact test
    cannot reach ``alpha`` at this n."""
    if n < 2 or smallest_sign_flip_p(n) >= alpha:
        return float("inf")
    return float((_scipy.norm.ppf(1 - alpha / 2) + _scipy.norm.ppf(power)) * sd / math.sqrt(n))


def bootstrap_interval(diffs, level: float = 0.95, iters: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``diffs`` (fixed seed: reproducible)."""
    d = np.asarray(diffs, dtype=float)
    if len(d) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(iters, len(d)))].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def paired(a: dict, b: dict, minimum: float = 0.0) -> Comparison:
    """Compare ``a`` and ``b`` (``{unit: value}``) on the units both have; ``a - b``.

    The exact sign-flip test (two-sided) decides the direction; with ``minimum`` > 0 the
    differences shifted by ``minimum`` towards zero are tested one-sided too, so a verdict can
    ask for an effect *beyond* the minimum.  The interval is the 95 % *t* interval."""
    units = sorted(set(a) & set(b), key=str)
    d = np.array([float(a[u]) - float(b[u]) for u in units], dtype=float)
    d = d[np.isfinite(d)]
    return _compare(d, minimum)


def _compare(d: np.ndarray, minimum: float) -> Comparison:
    n = len(d)
    if n == 0:
        return Comparison(0, float("nan"), float("nan"), float("nan"), float("nan"), "none", minimum)
    low, high = t_interval(d)
    sd = float(d.std(ddof=1)) if n > 1 else float("nan")
    power = dict(
        minimum=minimum, smallest_p=smallest_sign_flip_p(n), mde=detectable_effect(sd, n) if n > 1 else float("inf")
    )
    if n < MIN_UNITS:
        return Comparison(n, float(d.mean()), low, high, float("nan"), "none", **power)
    test = "exact sign-flip" if n <= EXACT_MAX else f"sign-flip, {PERMUTATIONS:,} random patterns"
    p = sign_flip_p(d)
    p_min = float("nan")
    if minimum > 0:
        up = d.mean() >= 0
        p_min = sign_flip_p(d - minimum if up else d + minimum, "greater" if up else "less")
    return Comparison(n, float(d.mean()), low, high, p, test, p_minimum=p_min, **power)


@dataclass(frozen=True)
class WinRatio:
    """A hierarchical paired comparison: per unit ``a`` wins, loses or ties.

    ``p`` is the exact two-sided sign test of wins against losses (ties carry no
    information); the interval is Clopper–Pearson's for the share of decided pairs ``a`` wins."""

    n: int
    wins: int
    losses: int
    ties: int
    p: float
    low: float  # 95 % interval of wins / (wins + losses)
    high: float

    @property
    def ratio(self) -> float:
        return self.wins / self.losses if self.losses else (math.inf if self.wins else float("nan"))

    @property
    def tested(self) -> bool:
        return not math.isnan(self.p)

    @property
    def direction(self) -> int:
        if not (self.tested and self.p < ALPHA):
            return 0
        return 1 if self.wins > self.losses else -1

    @property
    def smallest_p(self) -> float:
        return smallest_sign_flip_p(self.wins + self.losses)

    def text(self) -> str:
        if not self.tested:
            return f"n = {self.n}: too few pairs to test"
        return (
            f"n = {self.n}: {self.wins} wins, {self.losses} losses, {self.ties} ties (win ratio {self.ratio:.3g}; "
            f"share won [{self.low:.2f}, {self.high:.2f}]), exact sign test p = {self.p:.3g}"
        )


def win_ratio(outcomes: dict) -> WinRatio:
    """``outcomes``: ``{unit: +1 | -1 | 0}`` (``a`` wins, loses, ties on that unit)."""
    values = list(outcomes.values())
    wins, losses = sum(v > 0 for v in values), sum(v < 0 for v in values)
    n, k = len(values), wins + losses
    if n < MIN_UNITS:
        return WinRatio(n, wins, losses, n - k, float("nan"), float("nan"), float("nan"))
    if k == 0:
        return WinRatio(n, 0, 0, n, 1.0, 0.0, 1.0)
    test = _scipy.binomtest(wins, k, 0.5)
    ci = test.proportion_ci(0.95, method="exact")
    return WinRatio(n, wins, losses, n - k, float(test.pvalue), float(ci.low), float(ci.high))


def paired_t_p(diffs) -> float:
    """The rule the book used before the exact tests (kept to show its result beside them):
    two-sided paired *t* p of the mean of ``diffs``, exact sign-flip when all are equal."""
    d = np.asarray(diffs, dtype=float)
    if len(d) < MIN_UNITS:
        return float("nan")
    if np.allclose(d, d[0]):
        return 1.0 if d[0] == 0 else smallest_sign_flip_p(len(d))
    return float(_scipy.ttest_1samp(d, 0.0).pvalue)


def one_sample(values: dict, reference: float, minimum: float = 0.0) -> Comparison:
    """Compare ``values`` (``{unit: value}``) with a fixed ``reference`` (e.g. the model before)."""
    return paired(values, {u: reference for u in values}, minimum)


def censored_paired(a: dict, b: dict, budget: int, minimum: float = 0.0) -> Comparison:
    """Epochs to the criterion, paired: ``a`` and ``b`` map units to epochs, or ``None`` for a
    run that failed within ``budget`` (its epochs are "more than the budget", never a number).

    Each pair's difference ``a - b`` is an interval: both observed, a point; only ``a``
    failed, ``[budget + 1 - b, inf)``; only ``b`` failed, ``(-inf, a - budget - 1]``; both
    failed, unknown.  The exact paired **sign test** counts the pairs whose difference is
    known to lie above or below zero (two-sided; ``minimum``: above ``+minimum`` or below
    ``-minimum``, one-sided, in the direction of the majority).  The reported effect is the
    median difference with failures entered as ``budget + 1`` (a bound, labelled so); the
    interval is the sign test inverted (95 %; it is unbounded where the data cannot bound it).
    """
    return interval_sign_test(
        *_pair_intervals(
            a,
            b,
            only_a_missing=lambda y: (budget + 1 - y, math.inf, budget + 1 - y),
            only_b_missing=lambda x: (-math.inf, x - budget - 1, x - budget - 1),
        ),
        minimum,
        "exact sign test, censoring-aware",
    )


def worst_rank_paired(a: dict, b: dict, minimum: float = 0.0) -> Comparison:
    """Paired values where higher is better and ``None`` ranks below every value (the rule of
    a run that never reached the level it is read at: it is worse than any run that did).

    ``a`` and ``b`` map units to values or ``None``.  Each pair's difference ``a - b`` is a
    point when both are known, ``+inf`` when only ``b`` is ``None`` (``a`` ranks above),
    ``-inf`` when only ``a`` is, and unknown when both are (no sign).  The exact paired sign
    test and its inverted interval are those of :func:`censored_paired`
    (:func:`interval_sign_test`); the effect is the median difference, infinite where more
    than half the pairs are ranked by the rule alone.
    """
    return interval_sign_test(
        *_pair_intervals(
            a,
            b,
            only_a_missing=lambda y: (-math.inf, -math.inf, -math.inf),
            only_b_missing=lambda x: (math.inf, math.inf, math.inf),
        ),
        minimum,
        "exact sign test, unreached = worst rank",
    )


def _pair_intervals(a: dict, b: dict, only_a_missing, only_b_missing) -> tuple[list, list, list]:
    """``(lo, hi, point)`` of each paired difference ``a - b`` over the units both have: a point
    when both values are known, the rule's interval when one is ``None``, unknown when both are."""
    lo, hi, point = [], [], []
    for u in sorted(set(a) & set(b), key=str):
        x, y = a[u], b[u]
        if x is not None and y is not None:
            d = float(x) - float(y)
            low, high, mid = d, d, d
        elif x is None and y is not None:
            low, high, mid = only_a_missing(float(y))
        elif x is not None:
            low, high, mid = only_b_missing(float(x))
        else:
            low, high, mid = -math.inf, math.inf, 0.0
        lo.append(low), hi.append(high), point.append(mid)
    return lo, hi, point


def interval_sign_test(lo, hi, point, minimum: float = 0.0, test: str = "exact sign test") -> Comparison:
    """The exact paired sign test on differences known only as intervals ``[lo, hi]`` (a point
    when ``lo == hi``; ``(-inf, inf)``: unknown), with ``point`` the differences entered for
    the median.  A pair counts above ``delta`` when ``lo > delta``, below when ``hi < delta``;
    the test is two-sided at 0, and one-sided beyond ``+minimum`` (or ``-minimum``) in the
    direction of the majority.  The interval is the sign test inverted (95 %; unbounded where
    the data cannot bound it); the direction comes from the counted signs (:attr:`Comparison.sign`)."""
    lo, hi, point = np.asarray(lo, float), np.asarray(hi, float), np.asarray(point, float)
    n = len(point)

    def signs(delta: float) -> tuple[int, int]:
        return int((lo > delta).sum()), int((hi < delta).sum())

    def p_at(delta: float, alternative: str = "two-sided") -> float:
        above, below = signs(delta)
        return sign_test_p(above, above + below, alternative)

    effect = float(np.median(point)) if n else float("nan")
    finite_points = point[np.isfinite(point)]
    power = dict(
        minimum=minimum,
        smallest_p=smallest_sign_flip_p(n),
        mde=detectable_effect(float(finite_points.std(ddof=1)), n) if len(finite_points) > 1 else float("inf"),
    )
    if n < MIN_UNITS:
        return Comparison(n, effect, float("nan"), float("nan"), float("nan"), "none", **power)
    finite = np.unique(np.concatenate([lo[np.isfinite(lo)], hi[np.isfinite(hi)]]))
    grid = np.unique(np.concatenate([finite, (finite[:-1] + finite[1:]) / 2, finite - 0.5, finite + 0.5]))
    kept = [g for g in grid if p_at(g) >= ALPHA]
    if kept:
        # the closure of the accepted set: the counts change only at the data's finite bounds, so a
        # kept midpoint stands for the open stretch up to the neighbouring bound (with ties at a
        # bound, e.g. integer epochs, the stretch can lie between two bounds and miss both)
        below, above = finite[finite <= min(kept)], finite[finite >= max(kept)]
        low = -math.inf if p_at(grid[0]) >= ALPHA else float(below.max() if len(below) else min(kept))
        high = math.inf if p_at(grid[-1]) >= ALPHA else float(above.min() if len(above) else max(kept))
    else:  # no delta keeps the sign test above alpha (or every known pair lies at +-inf)
        low = high = effect
    p = p_at(0.0)
    above, below = signs(0.0)
    p_min = float("nan")
    if minimum > 0:  # one-sided, in the majority's direction: known beyond +minimum (or -minimum)
        up = above >= below
        a_, b_ = signs(minimum if up else -minimum)
        p_min = sign_test_p(a_ if up else b_, a_ + b_, "greater")
    sign = (above > below) - (below > above)
    return Comparison(n, effect, low, high, p, test, p_minimum=p_min, sign=sign, **power)


@functools.lru_cache(maxsize=4096)
def sign_test_p(above: int, k: int, alternative: str = "two-sided") -> float:
    """The exact sign test's p for ``above`` of ``k`` known signs (scipy's binomial test at 1/2;
    1 when no sign is known), cached: an inverted interval asks for the same counts many times."""
    return 1.0 if k == 0 else float(_scipy.binomtest(above, k, 0.5, alternative=alternative).pvalue)


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


def above_chance(score: float, chance: float, n: int, alpha: float = ALPHA) -> bool:
    """Whether ``score`` (a proportion over ``n`` documents) is significantly *above* ``chance``:
    one-sided, at ``alpha``, with the binomial standard error under chance (of the score
    itself where chance is 0: exact-word generation, F1).  Below chance is not signal."""
    se = binomial_se(chance if chance > 0 else score, n)
    if se == 0:
        return score > chance
    return (score - chance) / se > _scipy.norm.ppf(1 - alpha)


def at_chance(score: float, chance: float, n: int) -> bool:
    """Carries no signal: not significantly above chance (:func:`above_chance`)."""
    return not above_chance(score, chance, n)


def decide(c: Comparison, supports: int = 1, p: float | None = None) -> str:
    """The verdict on a claim from its deciding comparison ``c`` (``p``: its Holm-adjusted p,
    when several claims are decided together).

    "holds": significant at :data:`ALPHA` in the claimed direction (``supports``) and, where
    ``c.minimum`` is stated, significantly beyond it; "does not hold": significant the other
    way, or the whole interval short of the minimum; otherwise "inconclusive", naming n and
    why (too few pairs, a test that cannot reach α at this n, or an effect not beyond the minimum).
    """
    if p is not None and not math.isnan(p):
        c = dataclasses.replace(c, p=p, p_minimum=max(p, c.p_minimum) if c.minimum else c.p_minimum)
    if not c.tested:
        return f"inconclusive (n = {c.n})"
    if c.direction == -supports:
        return "does not hold"
    if c.direction == supports and c.beyond_minimum():
        return "holds"
    # The interval's bound in the claimed direction short of the minimum: the effect is, at the
    # 95 % level, smaller than the smallest that counts, significant or not.
    far = c.high if supports > 0 else c.low
    if c.minimum and np.isfinite(far) and supports * far < c.minimum:
        return "does not hold (effect below the minimum)"
    if c.direction == supports:
        return f"inconclusive (n = {c.n}: not beyond the minimum effect)"
    if c.smallest_p >= ALPHA:
        return f"inconclusive (n = {c.n}: the exact test cannot reach p < {ALPHA:g})"
    return f"inconclusive (n = {c.n})"


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
