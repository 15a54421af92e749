"""Verdicts on the main paper's claims (REFERENCE.md, C1–C7) from run records.

Each verdict is ``"holds"``, ``"does not hold"`` or ``"inconclusive"`` with the evidence as
text.  Rule for comparing two methods on a quantity over forget sets: the difference of
means counts only when it exceeds its standard error (``sqrt(s_a²/n_a + s_b²/n_b)``);
otherwise the comparison is inconclusive.  Capability is measured by Pile perplexity here
(lower is better) until the downstream evaluation is available.  This module judges; it
runs nothing.
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


def _fmt(values: list[float]) -> str:
    return f"{np.mean(values):.1f}" if values else "n/a"


def _failed(records: list[dict]) -> int:
    return sum(r["status"] != "forgotten" for r in records)


def verdicts(groups: dict[str, list[dict]], before_ppl: float) -> list[dict]:
    """Verdicts for C1–C7 from records grouped by Table 1 method name."""
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
    ce, cp = compare(ep["GD"], ep["GA"]), compare(ppl["GD"], ppl["GA"])
    v = "holds" if ce < 0 and cp < 0 else "does not hold" if ce > 0 or cp > 0 else "inconclusive"
    add("C2", "GD needs fewer epochs and keeps capability better than GA", v,
        f"epochs GD {_fmt(ep['GD'])} vs GA {_fmt(ep['GA'])}; PPL GD {_fmt(ppl['GD'])} vs GA {_fmt(ppl['GA'])}")
    # C3: plain LoRA with GD fails within budget or costs capability
    failed = _failed(groups["LoRA (GD)"])
    cp = compare(ppl["LoRA (GD)"], ppl["GD"])
    v = "holds" if failed > 0 or cp > 0 else "does not hold" if cp < 0 else "inconclusive"
    add("C3", "LoRA (GD) fails within budget or costs capability", v,
        f"{failed}/{len(groups['LoRA (GD)'])} runs failed; PPL LoRA(GD) {_fmt(ppl['LoRA (GD)'])} vs GD {_fmt(ppl['GD'])}")
    # C4: IHL keeps capability closer to the original than GA-based GD (both with LoRA)
    cp = compare(ppl["+ IHL"], ppl["LoRA (GD)"])
    v = {-1: "holds", 1: "does not hold", 0: "inconclusive"}[cp]
    add("C4", "IHL keeps capability closer to the original model", v,
        f"PPL LoRA+IHL {_fmt(ppl['+ IHL'])} vs LoRA(GD) {_fmt(ppl['LoRA (GD)'])} (before {before_ppl:.1f})")
    # C5: FILA reaches the criterion in fewer epochs than plain LoRA (same objective)
    ce = compare(ep["+ FILA"], ep["+ IHL"])
    v = {-1: "holds", 1: "does not hold", 0: "inconclusive"}[ce]
    add("C5", "FILA reaches the criterion in fewer epochs than plain LoRA", v,
        f"epochs FILA+IHL {_fmt(ep['+ FILA'])} vs LoRA+IHL {_fmt(ep['+ IHL'])}; "
        f"failed {_failed(groups['+ FILA'])} vs {_failed(groups['+ IHL'])}")
    # C6: IHL + FILA gives the best capability among the LoRA methods at success
    others = [compare(ppl["+ FILA"], ppl[k]) for k in ("LoRA (GD)", "+ IHL")]
    v = "holds" if all(c < 0 for c in others) else "does not hold" if any(c > 0 for c in others) else "inconclusive"
    add("C6", "IHL + FILA has the best capability among LoRA methods", v,
        f"PPL FILA+IHL {_fmt(ppl['+ FILA'])}, LoRA+IHL {_fmt(ppl['+ IHL'])}, LoRA(GD) {_fmt(ppl['LoRA (GD)'])}")
    add("C7", "LoRA on Q and V alone is not enough; adding the FFN makes unlearning succeed", "not tested here",
        "the target-module ablation is a later chapter")
    return out
