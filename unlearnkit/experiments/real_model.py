"""The real pretrained model: capability before and after memorisation is injected.

The testbed scores at chance on every reasoning task, so capability claims need a model with
abilities to lose.  Offline that is SmolLM2-135M-Instruct (:mod:`unlearnkit.models.offline`);
it never memorised TDEC, so ``"<base>+tdec"`` injects the forget sets first
(:mod:`unlearnkit.models.injection`).  This module lines up what such a model can do at each
stage (as loaded, injected, unlearned), checks the first stage against the model card
(:mod:`unlearnkit.evaluation.published`) and reports the injection.  It trains nothing itself.

Command line (prints the tables; every number is cached, so a second call is instant)::

    python -m unlearnkit.experiments.real_model --model smollm2-135m --recipe default
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from ..evaluation import published
from .claims import CHANCE, reasoning_at_chance
from .runs import capability, load


def capability_table(stages: dict[str, dict], chance: str | None = None) -> pd.DataFrame:
    """One column per stage (``{"as loaded": capability record, "injected": …, "after GA": …}``),
    one row per reasoning task (accuracy %), then the reasoning mean, the dialogue mean (F1 %)
    and Pile perplexity.  ``chance`` (a stage): add the chance level of each task and whether
    that stage does not score it significantly above chance (one-sided)."""
    columns = {}
    for stage, rec in stages.items():
        ds = rec["downstream"]
        col = {t: 100 * v for t, v in ds["reasoning"].items()}
        col["reasoning (mean)"] = 100 * ds["reasoning_mean"]
        col["dialogue F1 (mean)"] = 100 * ds["dialogue_mean"]
        col["Pile PPL"] = ds.get("pile_ppl")
        columns[stage] = col
    table = pd.DataFrame(columns)
    if chance is not None:
        if chance not in stages:
            raise KeyError(f"chance={chance!r} is not a stage; stages: {list(stages)}")
        judged = stages[chance]["downstream"]
        table.insert(0, "chance", pd.Series({t: 100 * CHANCE.get(t, 0.0) for t in judged["reasoning"]}))
        table.insert(1, f"at chance ({chance})", pd.Series(reasoning_at_chance(judged)))
    return table


def stages_after(groups: dict[str, list]) -> dict[str, dict]:
    """``{"after GA (set 0)": {"downstream": …}, …}`` for every evaluated run of ``groups``
    (``{method: [RunRecord, …]}``), in order, named by method and forget set."""
    out = {}
    for method, records in groups.items():
        for rec in records:
            if rec.downstream:
                out[f"after {method} ({rec.tags.get('forget_set', '?')})"] = {"downstream": rec.downstream}
    return out


def capability_change(stages: dict[str, dict], baseline: str) -> pd.DataFrame:
    """Each stage against ``baseline`` (a key of ``stages``): the change in mean accuracy over
    the reasoning tasks the baseline scores above chance (points), in dialogue F1 (points) and
    the Pile perplexity ratio.  Tasks at chance carry no signal and are left out (the
    ``tasks above chance`` column counts the rest)."""
    base = stages[baseline]["downstream"]
    kept = [t for t, at_chance in reasoning_at_chance(base).items() if not at_chance]
    rows = []
    for stage, rec in stages.items():
        if stage == baseline:
            continue
        ds = rec["downstream"]
        rows.append(
            {
                "stage": stage,
                "tasks above chance": len(kept),
                "reasoning Δ (points)": 100
                * sum(ds["reasoning"][t] - base["reasoning"][t] for t in kept)
                / max(len(kept), 1),
                "dialogue F1 Δ (points)": 100 * (ds["dialogue_mean"] - base["dialogue_mean"]),
                "Pile PPL ratio": (ds.get("pile_ppl") or float("nan")) / (base.get("pile_ppl") or float("nan")),
            }
        )
    return pd.DataFrame(rows).set_index("stage")


def injection_table(report: dict) -> pd.DataFrame:
    """Per forget set: MA and EL_n after injection against the recipe's targets (%)."""
    recipe = report["recipe"]
    rows = [
        {
            "forget set": int(d),
            "MA": 100 * m["ma"],
            "EL_n": 100 * m["el"],
            "MA target": 100 * recipe["target_ma"],
            "EL target": 100 * recipe["target_el"],
            "met": m["ma"] >= recipe["target_ma"] and m["el"] >= recipe["target_el"],
        }
        for d, m in report["memorisation"].items()
    ]
    return pd.DataFrame(rows).set_index("forget set")


def unit_table(report: dict) -> pd.DataFrame:
    """Per forget unit (``"set.part"``, 8 rows): MA and EL_n after injection (%), and whether the
    unit was injected (a unit left out is an exact-unlearning reference's "never seen")."""
    rows = [
        {"unit": u, "MA": 100 * m["ma"], "EL_n": 100 * m["el"], "injected": m.get("injected", True)}
        for u, m in (report.get("units") or {}).items()
    ]
    if not rows:
        return pd.DataFrame(columns=["MA", "EL_n", "injected"])
    return pd.DataFrame(rows).set_index("unit")


def injection_facts(report: dict, before: dict, after: dict) -> dict:
    """The injection's cost and its effect on capability, for the book's prose."""
    drop = 100 * (before["downstream"]["reasoning_mean"] - after["downstream"]["reasoning_mean"])
    return {
        "inject_steps": report["steps"],
        "inject_seconds": report["seconds"],
        "inject_met": report["met"],
        "inject_sequences": report["forget_sequences"],
        "inject_reasoning_drop": drop,
        "inject_within_2": abs(drop) <= 2.0,
    }


def main(argv: list[str] | None = None) -> None:
    from ..models.injection import RECIPES

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m", help="an offline model name (default: smollm2-135m)")
    ap.add_argument("--recipe", default="default", choices=sorted(RECIPES), help="injection recipe")
    ap.add_argument("--preset", default="cpu", help="downstream sizes preset (documents per task)")
    args = ap.parse_args(argv)
    pd.set_option("display.width", 200)
    stages, times = {}, {}
    for stage, name in (("as loaded", args.model), ("injected", f"{args.model}+tdec:{args.recipe}")):
        start = time.perf_counter()
        loaded = load(name)
        times[f"load {stage}"] = time.perf_counter() - start
        start = time.perf_counter()
        stages[stage] = capability(name, args.preset)
        times[f"capability {stage}"] = time.perf_counter() - start
        if stage == "as loaded" and args.model in published.PUBLISHED:
            print(published.comparison(stages[stage]["downstream"], args.model).round(2).to_string(), flush=True)
    print(capability_table(stages).round(2).to_string())
    print(injection_table(loaded.injection).round(2).to_string())
    print(injection_facts(loaded.injection, stages["as loaded"], stages["injected"]))
    print({k: round(v, 1) for k, v in times.items()})


if __name__ == "__main__":
    main()
