"""Ablation grids and their verdicts, on synthetic run records (no training)."""

import pytest

from unlearnkit import ablation


def _rec(status="forgotten", epochs=10, reasoning=0.33, ppl=600.0, draw=0, share=0.01, flops=1e12):
    return {"status": status, "epochs": epochs if status == "forgotten" else None, "epochs_run": epochs,
            "reasoning": reasoning, "dialogue": 0.0, "pile_ppl": ppl, "tags": {"forget_set": f"lm_extraction_32_{draw}"},
            "train_flops": flops, "setup_flops": 0.0, "trainable_share": share, "wall_seconds": 60.0,
            "config": {"max_epochs": 20}}


def test_grids_name_every_run_once():
    grid = ablation.rank_grid("testbed:smoke", [0, 1], [4, 16], lr=1e-3)
    assert len(grid) == 4 * 2 and all(len(v) == 2 for v in grid.values())
    assert {s.rank for v in grid.values() for s in v} == {4, 16}
    assert grid[("FILA + IHL", 4)][1].lora_init == "fila" and grid[("FILA + IHL", 4)][1].method == "ihl"
    mods = ablation.module_grid("testbed:smoke", [0], ["QV", "all"], ["LoRA (GD)"], rank=8)
    assert mods[("LoRA (GD)", "all")][0].targets == ("q", "k", "v", "o", "ffn")
    with pytest.raises(ValueError, match="unknown module set"):
        ablation.module_grid("testbed:smoke", [0], ["QVX"], ["LoRA (GD)"])


def test_c7_follows_success_rates():
    fail = _rec("max_epochs", epochs=20)
    holds = {("LoRA (GD)", "QV"): [fail, _rec()], ("LoRA (GD)", "QV+FFN"): [_rec(), _rec()]}
    assert ablation.module_verdict(holds)["verdict"] == "holds"
    same = {("LoRA (GD)", "QV"): [_rec(), _rec()], ("LoRA (GD)", "QV+FFN"): [_rec(), _rec()]}
    assert ablation.module_verdict(same)["verdict"] == "does not hold"
    partial = {("LoRA (GD)", "QV"): [fail, fail], ("LoRA (GD)", "QV+FFN"): [_rec(), fail]}
    assert ablation.module_verdict(partial)["verdict"] == "inconclusive"
    assert ablation.module_verdict({("LoRA (GD)", "FFN"): [_rec()]})["verdict"] == "not tested"


def test_c5_counts_paired_epochs_with_failures_as_budget_plus_one():
    fast, slow, fail = _rec(epochs=8), _rec(epochs=12), _rec("max_epochs", epochs=20)
    groups = {("LoRA (GD)", 4): [slow, fail], ("FILA + GD", 4): [fast, slow],
              ("LoRA + IHL", 4): [fail], ("FILA + IHL", 4): [fast]}
    c5 = {v["claim"]: v for v in ablation.rank_verdicts(groups, [_rec()])}["C5"]
    assert c5["verdict"] == "holds" and "in 3 paired runs, more in 0" in c5["evidence"]
    groups[("FILA + GD", 4)] = [fail, fail]
    groups[("FILA + IHL", 4)] = [fail]
    assert {v["claim"]: v for v in ablation.rank_verdicts(groups, [_rec()])}["C5"]["verdict"] == "does not hold"


def test_frame_keeps_failed_runs():
    df = ablation.frame({("LoRA (GD)", 4): [_rec(), _rec("max_epochs", epochs=20)]}, ("method", "rank"))
    assert len(df) == 2 and df["forgotten"].tolist() == [True, False]
    assert df["Reasoning %"].tolist() == pytest.approx([33.0, 33.0])
