"""Claim verdicts from synthetic run records: the standard-error rule and capability."""

from unlearnkit import claims
from unlearnkit.experiments import TABLE1_METHODS


def _runs(epochs, ppl, reasoning=0.3, dialogue=0.05, failed=0):
    ok = [{"status": "forgotten", "epochs": e, "pile_ppl": p, "reasoning": reasoning + 0.001 * i,
           "dialogue": dialogue} for i, (e, p) in enumerate(zip(epochs, ppl))]
    return ok + [{"status": "not forgotten", "epochs": None, "pile_ppl": 1e4, "reasoning": 0.0,
                  "dialogue": 0.0}] * failed


def test_compare_needs_a_difference_beyond_the_standard_error():
    assert claims.compare([1, 2, 3], [10, 11, 12]) == -1
    assert claims.compare([10, 11, 12], [1, 2, 3]) == 1
    assert claims.compare([1, 5, 9], [2, 6, 10]) == 0  # difference 1, standard error ~3.3
    assert claims.compare([], [1.0]) == 0


def test_capability_is_better_only_without_a_clear_loss_elsewhere():
    good = _runs([5, 6, 7], [100, 101, 102], reasoning=0.40)
    bad = _runs([5, 6, 7], [200, 201, 202], reasoning=0.30)
    assert claims.capability(good, bad)[0] == 1
    assert claims.capability(bad, good)[0] == -1
    mixed = _runs([5, 6, 7], [100, 101, 102], reasoning=0.20)  # better PPL, worse reasoning
    assert claims.capability(mixed, bad)[0] == 0
    assert "Reasoning %" in claims.capability(good, bad)[1]


def test_verdicts_follow_the_records():
    groups = {
        "GA": _runs([15, 16, 17], [900, 950, 1000], reasoning=0.25),
        "GD": _runs([5, 6, 7], [300, 310, 320], reasoning=0.30),
        "LoRA (GD)": _runs([9, 10], [500, 510], reasoning=0.28, failed=1),
        "+ IHL": _runs([9, 10, 11], [350, 360, 370], reasoning=0.29),
        "+ FILA": _runs([4, 5, 6], [330, 335, 340], reasoning=0.30),
    }
    assert set(groups) == set(TABLE1_METHODS)
    v = {row["claim"]: row["verdict"] for row in claims.verdicts(groups, {"pile_ppl": 250.0})}
    assert v == {"C1": "holds", "C2": "holds", "C3": "holds", "C4": "holds", "C5": "holds", "C6": "holds",
                 "C7": "judged elsewhere"}
    groups["+ FILA"] = _runs([12, 13, 14], [600, 610, 620], reasoning=0.2)
    v = {row["claim"]: row["verdict"] for row in claims.verdicts(groups, {"pile_ppl": 250.0})}
    assert v["C5"] == "does not hold" and v["C6"] == "does not hold"
