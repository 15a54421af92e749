"""Ablation grids and their verdicts, on synthetic run records (no training)."""

import math

import pytest

from unlearnkit.experiments import ablation


def _rec(status="forgotten", epochs=10, reasoning=0.33, ppl=600.0, draw=0, share=0.01, flops=1e12):
    return {
        "status": status,
        "epochs": epochs if status == "forgotten" else None,
        "epochs_run": epochs,
        "reasoning": reasoning,
        "dialogue": 0.0,
        "pile_ppl": ppl,
        "tags": {"forget_set": f"lm_extraction_32_{draw}"},
        "train_flops": flops,
        "setup_flops": 0.0,
        "trainable_share": share,
        "wall_seconds": 60.0,
        "config": {"max_epochs": 20},
    }


def test_grids_name_every_run_once():
    grid = ablation.rank_grid("testbed:smoke", [0, 1], [4, 16], lr=1e-3)
    assert len(grid) == 4 * 2 and all(len(v) == 2 for v in grid.values())
    assert {s.rank for v in grid.values() for s in v} == {4, 16}
    assert grid[("FILA + IHL", 4)][1].lora_init == "fila" and grid[("FILA + IHL", 4)][1].method == "ihl"
    mods = ablation.module_grid("testbed:smoke", [0], ["QV", "all"], ["LoRA (GD)"], rank=8)
    assert mods[("LoRA (GD)", "all")][0].targets == ("q", "k", "v", "o", "ffn")
    with pytest.raises(ValueError, match="unknown module set"):
        ablation.module_grid("testbed:smoke", [0], ["QVX"], ["LoRA (GD)"])


def test_c7_pairs_qv_with_qv_ffn_and_counts_failures():
    fail = lambda d: _rec("max_epochs", epochs=20, draw=d)  # noqa: E731
    holds = {
        ("LoRA (GD)", "QV"): [fail(d) for d in range(8)] + [_rec(epochs=15, draw=d) for d in (8, 9)],
        ("LoRA (GD)", "QV+FFN"): [_rec(epochs=8 + d % 5, draw=d) for d in range(10)],
    }
    row = ablation.module_verdict(holds)
    assert row["verdict"] == "holds" and row["n"] == 10 and "failed 8/10 vs 0/10" in row["evidence"]
    five = {k: v[:5] for k, v in holds.items()}  # five pairs: the exact test cannot decide
    assert ablation.module_verdict(five)["verdict"] == "inconclusive (n = 5: the exact test cannot reach p < 0.05)"
    same = {
        ("LoRA (GD)", "QV"): [_rec(epochs=10 + (d % 2), draw=d) for d in range(5)],
        ("LoRA (GD)", "QV+FFN"): [_rec(epochs=10 + ((d + 1) % 2), draw=d) for d in range(5)],
    }
    assert ablation.module_verdict(same)["verdict"].startswith("inconclusive")
    two = {("LoRA (GD)", "QV"): [fail(0), fail(1)], ("LoRA (GD)", "QV+FFN"): [_rec(draw=0), _rec(draw=1)]}
    assert ablation.module_verdict(two)["verdict"] == "inconclusive (n = 2)"  # too few pairs, never "holds"
    assert ablation.module_verdict({("LoRA (GD)", "FFN"): [_rec()]})["verdict"] == "not tested"


def test_c5_pairs_fila_with_random_init_at_the_same_rank():
    before = {"pile_ppl": 600.0, "reasoning": 0.33, "dialogue": 0.0}
    groups = {}
    for rank in (4, 16):
        groups[("LoRA (GD)", rank)] = [_rec(epochs=12 + d, draw=d) for d in range(3)]
        groups[("FILA + GD", rank)] = [_rec(epochs=8 + d + (d == 1), draw=d) for d in range(3)]
        groups[("LoRA + IHL", rank)] = [_rec("max_epochs", epochs=20, draw=d) for d in range(3)]
        groups[("FILA + IHL", rank)] = [_rec(epochs=9 + d, draw=d) for d in range(3)]
    rows = {v["claim"]: v for v in ablation.rank_verdicts(groups, [_rec(draw=d) for d in range(3)], before)}
    assert rows["C5"]["verdict"] == "holds" and rows["C5"]["n"] == 12 and rows["C5"]["effect"] < 0
    for rank in (4, 16):  # FILA now the slower one
        groups[("FILA + GD", rank)], groups[("LoRA (GD)", rank)] = (
            groups[("LoRA (GD)", rank)],
            groups[("FILA + GD", rank)],
        )
        groups[("FILA + IHL", rank)] = [_rec("max_epochs", epochs=20, draw=d) for d in range(3)]
        groups[("LoRA + IHL", rank)] = [_rec(epochs=9 + d, draw=d) for d in range(3)]
    rows = {v["claim"]: v for v in ablation.rank_verdicts(groups, [_rec(draw=d) for d in range(3)], before)}
    assert rows["C5"]["verdict"] == "does not hold"


def test_frame_keeps_failed_runs():
    df = ablation.frame({("LoRA (GD)", 4): [_rec(), _rec("max_epochs", epochs=20)]}, ("method", "rank"))
    assert len(df) == 2 and df["forgotten"].tolist() == [True, False]
    assert df["Reasoning %"].tolist() == pytest.approx([33.0, 33.0])


def _traced(draw, log_ppl_step, epochs=6, status="forgotten"):
    """A run whose MA falls 0.9 → 0.3 over ``epochs`` (threshold 0.35) while its log Pile PPL
    rises by ``log_ppl_step`` per epoch: the per-epoch probe matched forgetting reads."""
    history = [
        {"epoch": k, "ma": 0.9 - 0.6 * k / epochs, "probe": {"log_pile_ppl": 6.0 + log_ppl_step * k}}
        for k in range(1, epochs + 1)
    ]
    return _rec(status, epochs=epochs, draw=draw, ppl=math.exp(history[-1]["probe"]["log_pile_ppl"])) | {
        "history": history,
        "final_ma": history[-1]["ma"],
        "config": {"max_epochs": 20, "thresholds": {"ma": 0.35, "el": 0.05}},
    }


def test_rank_sweep_decides_c6_at_matched_forgetting_and_c3_by_the_win_ratio():
    before = {"pile_ppl": 403.0, "reasoning": 0.33, "dialogue": 0.0, "probe": {"log_pile_ppl": 6.0}}
    draws, ranks = range(6), (4, 16)

    def groups(fila_step, other_step):
        out = {}
        for rank in ranks:
            for m in ablation.LORA_METHODS:
                step = fila_step if m == "FILA + IHL" else other_step
                out[(m, rank)] = [_traced(d, step + 0.001 * d) for d in draws]
        return out

    gd = [_traced(d, 0.01) for d in draws]
    rows = {v["claim"]: v for v in ablation.rank_verdicts(groups(0.02, 0.2), gd, before)}
    assert rows["C6"]["verdict"] == "holds" and rows["C6"]["n"] == 12, rows["C6"]
    assert "matched forgetting" in rows["C6"]["effect unit"] and "earlier rule" in rows["C6"]["evidence"]
    # C3: every LoRA (GD) run forgot, as did GD, and GD kept Pile PPL lower on every unit: holds
    assert rows["C3"]["verdict"] == "holds" and rows["C3"]["effect"] == 1.0, rows["C3"]
    assert "win ratio" in rows["C3"]["effect unit"]
    rows = {v["claim"]: v for v in ablation.rank_verdicts(groups(0.2, 0.02), gd, before)}
    assert rows["C6"]["verdict"] == "does not hold"
