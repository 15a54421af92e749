"""Verdicts on the main paper's claims (REFERENCE.md, C1–C7) from run records.

Each verdict is ``"holds"``, ``"does not hold"`` or ``"inconclusive"`` with the evidence as
text.  Rule for comparing two methods on a quantity over forget sets: the difference of
means counts only when it exceeds its standard error (``sqrt(s_a²/n_a + s_b²/n_b)``);
otherwise the comparison is inconclusive.  Capability is reasoning accuracy, dialogue F1
(higher is better) and Pile perplexity (lower is better); one method keeps capability
better than another when it is clearly better on some measure and clearly worse on none.
This module judges; it runs nothing.
"""

from __future__ import annotations

import math

import numpy as np


def _values(records: list[dict], key: str) -> list[float]:
    return [float(r[key]) for r in records if r["status"] == "forgotten" and r.get(key) is not None]


def compare(a: list[float], b: list[float]) -> int:
    """-1 if ``a`` is clearly lower than ``b``, +1 if clearly higher, 0 if not distinguishable."""
    if not a or not b:
        return 0
    se = math.sqrt((np.var(a, ddof=1) if len(a) > 1 else 0.0) / len(a) + (np.var(b, ddof=1) if len(b) > 1 else 0.0) / len(b))
    diff = float(np.mean(a) - np.mean(b))
    if abs(diff) <= se or diff == 0:
        return 0
    return -1 if diff < 0 else 1


def _fmt(values: list[float], scale: float = 1.0) -> str:
    return f"{scale * np.mean(values):.1f}" if values else "n/a"


def _failed(records: list[dict]) -> int:
    return sum(r["status"] != "forgotten" for r in records)


# capability measures: record key, label, +1 when higher is better, scale for display
CAPABILITY = (("reasoning", "Reasoning %", +1, 100.0), ("dialogue", "Dialogue F1 %", +1, 100.0),
              ("pile_ppl", "Pile PPL", -1, 1.0))


def capability(a: list[dict], b: list[dict]) -> tuple[int, str]:
    """+1 if runs ``a`` keep capability clearly better than runs ``b`` on some measure and
    clearly worse on none, -1 for the reverse, 0 otherwise; and the evidence as text."""
    signs, parts = [], []
    for key, label, better, scale in CAPABILITY:
        va, vb = _values(a, key), _values(b, key)
        if va and vb:
            signs.append(better * compare(va, vb))
            parts.append(f"{label} {_fmt(va, scale)} vs {_fmt(vb, scale)}")
    if any(s > 0 for s in signs) and not any(s < 0 for s in signs):
        return 1, "; ".join(parts)
    if any(s < 0 for s in signs) and not any(s > 0 for s in signs):
        return -1, "; ".join(parts)
    return 0, "; ".join(parts)


def verdicts(groups: dict[str, list[dict]], before: dict) -> list[dict]:
    """Verdicts for C1–C7 from records grouped by Table 1 method name.

    ``before`` is the record of the model before unlearning (its ``pile_ppl``).
    Capability compares reasoning accuracy, dialogue F1 and Pile perplexity
    (:func:`capability`).
    """
    before_ppl = before["pile_ppl"]
    ep = {k: _values(v, "epochs") for k, v in groups.items()}
    ppl = {k: _values(v, "pile_ppl") for k, v in groups.items()}
    out = []

    def add(claim, text, verdict, evidence):
        out.append({"claim": claim, "statement": text, "verdict": verdict, "evidence": evidence})

    # C1: GA degrades the model (and more than GD does)
    ga_rise = np.mean(ppl["GA"]) / before_ppl if ppl["GA"] else float("nan")
    c = compare(ppl["GA"], ppl["GD"])
    v = "holds" if ga_rise > 1.1 and c > 0 else "does not hold" if ga_rise <= 1.1 or c < 0 else "inconclusive"
    add("C1", "GA degrades the model", v, f"Pile PPL {before_ppl:.1f} → GA {_fmt(ppl['GA'])} (×{ga_rise:.2f}), GD {_fmt(ppl['GD'])}")
    # C2: GD unlearns in fewer epochs and keeps capability better than GA
    ce = compare(ep["GD"], ep["GA"])
    cc, evidence = capability(groups["GD"], groups["GA"])
    v = "holds" if ce < 0 and cc > 0 else "does not hold" if ce > 0 or cc < 0 else "inconclusive"
    add("C2", "GD needs fewer epochs and keeps capability better than GA", v,
        f"epochs GD {_fmt(ep['GD'])} vs GA {_fmt(ep['GA'])}; GD vs GA: {evidence}")
    # C3: plain LoRA with GD fails within budget or costs capability
    failed = _failed(groups["LoRA (GD)"])
    cc, evidence = capability(groups["LoRA (GD)"], groups["GD"])
    v = "holds" if failed > 0 or cc < 0 else "does not hold" if cc > 0 else "inconclusive"
    add("C3", "LoRA (GD) fails within budget or costs capability", v,
        f"{failed}/{len(groups['LoRA (GD)'])} runs failed; LoRA(GD) vs GD: {evidence}")
    # C4: IHL keeps capability closer to the original than GA-based GD (both with LoRA)
    cc, evidence = capability(groups["+ IHL"], groups["LoRA (GD)"])
    v = {1: "holds", -1: "does not hold", 0: "inconclusive"}[cc]
    add("C4", "IHL keeps capability closer to the original model", v, f"LoRA+IHL vs LoRA(GD): {evidence}")
    # C5: FILA reaches the criterion in fewer epochs than plain LoRA (same objective)
    ce = compare(ep["+ FILA"], ep["+ IHL"])
    v = {-1: "holds", 1: "does not hold", 0: "inconclusive"}[ce]
    add("C5", "FILA reaches the criterion in fewer epochs than plain LoRA", v,
        f"epochs FILA+IHL {_fmt(ep['+ FILA'])} vs LoRA+IHL {_fmt(ep['+ IHL'])}; "
        f"failed {_failed(groups['+ FILA'])} vs {_failed(groups['+ IHL'])}")
    # C6: IHL + FILA gives the best capability among the LoRA methods at success
    others = {k: capability(groups["+ FILA"], groups[k]) for k in ("LoRA (GD)", "+ IHL")}
    signs = [c for c, _ in others.values()]
    v = "holds" if all(c > 0 for c in signs) else "does not hold" if any(c < 0 for c in signs) else "inconclusive"
    add("C6", "IHL + FILA has the best capability among LoRA methods", v,
        " | ".join(f"FILA+IHL vs {k}: {e}" for k, (_, e) in others.items()))
    add("C7", "LoRA on Q and V alone is not enough; adding the FFN makes unlearning succeed", "judged elsewhere",
        "Table 1 uses Q, V and the FFN only; see the chapter 'Ablation: which modules get the adapter'")
    return out
