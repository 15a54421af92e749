"""The main paper's claims as this book states them, and the rules fixed before the data.

:data:`CLAIMS` (C1–C7, C5b) is the one wording of each claim; :data:`MINIMUM_EFFECTS` the
smallest effect that counts for one (a profile may state others: :func:`minimum_effects`);
:data:`CHANCE` the chance accuracy of each reasoning task; the epoch budget and the share of
units at which LoRA is said to forget at a rate.  Constants and their validation only: the
endpoints are :mod:`.endpoints`, the verdicts :mod:`.claims`, the rows :mod:`.claim_tables`.
"""

from __future__ import annotations

import math

# Chance accuracy of each reasoning task (LAMBADA is exact-word generation: 0); dialogue F1's floor is 0.
CHANCE = {
    "lambada": 0.0,
    "hellaswag": 0.25,
    "winogrande": 0.5,
    "copa": 0.5,
    "arc_easy": 0.25,
    "arc_challenge": 0.25,
    "piqa": 0.5,
    "mathqa": 0.2,
    "pubmedqa": 1 / 3,
}


DIALOGUE_CHANCE = 0.0


DEFAULT_BUDGET = 20


# The smallest effect that counts for a claim, stated before the data and taken from the paper's
# magnitudes (Table 1: FILA saves epochs, GA multiplies Pile PPL by x32, IHL keeps reasoning
# within a point or two): "holds" needs the effect significantly beyond it.  A profile may
# state others (its ``minimum_effects``); the chapter prints the ones it used.
MINIMUM_EFFECTS = {
    "epochs": 1.0,  # epochs to the criterion
    "log_ppl": math.log(1.25),  # Pile PPL ratio x1.25
    "reasoning": 0.01,  # one accuracy point
    "dialogue": 0.01,  # one F1 point
}


# Cha et al.'s claims as this book states and tests them (arXiv 2408.06621, Sec. 3-4, Table 1, Fig. 4).
CLAIMS = {
    "C1": "GA degrades the model (Pile PPL rises)",
    "C2": "GD needs fewer epochs and keeps capability better than GA",
    "C3": "LoRA (GD) fails within the budget or costs capability (vs full GD)",
    "C4": "IHL keeps capability closer to the original (LoRA + IHL vs LoRA (GD))",
    "C5": "FILA reaches the criterion in fewer epochs than plain LoRA",
    "C5b": "FILA reaches it in fewer epochs than PiSSA (Fisher weighting, not any principal start)",
    "C6": "IHL + FILA has the best capability among the LoRA methods",
    "C7": "LoRA on Q and V alone is not enough; adding the FFN makes unlearning succeed",
}


def minimum_effects(overrides: dict | None = None) -> dict[str, float]:
    """:data:`MINIMUM_EFFECTS` with a profile's ``overrides`` (``ppl_ratio`` sets ``log_ppl``);
    an already resolved dict passes through unchanged."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(MINIMUM_EFFECTS) - {"ppl_ratio"}
    if unknown:
        raise ValueError(
            f"unknown minimum effect(s) {sorted(unknown)}; choose from {sorted(MINIMUM_EFFECTS)} or ppl_ratio"
        )
    if "ppl_ratio" in overrides:
        overrides["log_ppl"] = math.log(float(overrides.pop("ppl_ratio")))
    return MINIMUM_EFFECTS | {k: float(v) for k, v in overrides.items()}


PISSA = "PiSSA + IHL"  # the PiSSA arm of Table 1 (not a row of the paper's table)


FORGETTING_SHARE = 0.5  # stated before the sweep: LoRA "forgets" at a rate where at least half its units do


# Capability at matched forgetting (the primary endpoint of C4 and C6 since 2026-12-06): the
# forgetting levels a run's per-epoch probe is read at, stated before the confirmatory grids.
# A fraction is the share of the way from the unit's MA before unlearning to the MA threshold
# of the criterion; "criterion" is the epoch the run met the EL10/MA criterion itself.
# The deciding level is the deepest one both arms reach on at least REACHED_SHARE of the units.
MATCHED_LEVELS = (1 / 3, 2 / 3, "criterion")
REACHED_SHARE = 0.5


# The capability pilot (issue 46, stated 2026-12-05 before any pilot run): the confirmatory
# grid for C4 and C6 needs a regime in which the baseline, LoRA (GD), costs capability by the
# time it forgets, or preservation cannot show.  A pilot setting qualifies when LoRA (GD) meets
# the criterion on every pilot unit and, at the criterion, the probe's Pile PPL has risen at least
# x1.5 over the model before unlearning or mean reasoning accuracy has fallen at least 3 points.
# The regime chosen is the qualifying setting with the largest PPL ratio at the criterion; with
# none qualifying, the setting that forgets on every unit with the largest ratio ("the strongest
# found"), and the book says that no setting reached the bar.
PILOT_BAR = {"ppl_ratio": 1.5, "reasoning_points": 3.0}
PILOT_BASELINE = "LoRA (GD)"


# The confirmatory grid's tie band for epochs (issue 46, stated 2026-12-07, before any run of a
# second training seed): the minimum effect of C5 and C5b is the larger of MINIMUM_EFFECTS["epochs"]
# and the median absolute difference in epochs to the criterion between two training seeds on the
# same unit and arm (pairs where both seeds forgot), once at least SEED_BAND_PAIRS such pairs are
# measured; with fewer, MINIMUM_EFFECTS["epochs"] stands.
SEED_BAND_PAIRS = 5
