"""Forget units: 8-row parts of a forget set as independent replicates, their runs, the
collateral MA on the other units, and the Table 1 grid over units and extra arms."""

import pytest
import torch

from unlearnkit import experiments
from unlearnkit.experiments import runs


def test_units_are_disjoint_slices_of_the_forget_sets(smoke_testbed):
    loaded = experiments.load("testbed:smoke")
    full = loaded.forget_set(0)
    parts = [runs.forget_ids(loaded, 0, 8, p) for p in range(4)]
    assert torch.equal(torch.cat(parts), full)  # the four units tile the set
    assert runs.forget_set_name(0, 8, 0) == "lm_extraction_32_0[:8]"
    assert runs.forget_set_name(0, 8, 2) == "lm_extraction_32_0[16:24]"
    assert runs.units([0, 3], [0, 1]) == [(0, 0), (0, 1), (3, 0), (3, 1)]
    with pytest.raises(ValueError, match="do not fit"):
        runs.forget_ids(loaded, 0, 8, 4)


def test_bad_parts_are_named_before_anything_runs():
    with pytest.raises(ValueError, match="forget part 4 is not valid with forget_rows=8"):
        experiments.RunSpec("testbed:smoke", 0, "ga", forget_rows=8, part=4)
    with pytest.raises(ValueError, match="forget part 1 is not valid with forget_rows=None"):
        experiments.RunSpec("testbed:smoke", 0, "ga", part=1)
    with pytest.raises(ValueError, match="forget part 2"):
        experiments.check_run_settings(forget_rows=16, forget_parts=[0, 2])


def test_table1_grid_pairs_every_method_over_the_same_units():
    specs = experiments.table1_specs(
        "testbed:smoke", [0, 1], lr_full=1e-4, lr_lora=1e-3, forget_parts=[0, 1], forget_rows=8
    )
    assert list(specs) == ["GA", "GD", "LoRA (GD)", "+ IHL", "+ FILA"]
    assert {tuple(s.unit for s in v) for v in specs.values()} == {((0, 0), (0, 1), (1, 0), (1, 1))}
    extra = experiments.table1_specs(
        "testbed:smoke", [0], lr_full=1e-4, lr_lora=1e-3, methods_=["PiSSA + IHL"], forget_rows=8
    )
    (pissa,) = extra["PiSSA + IHL"]
    assert (pissa.method, pissa.lora_init, pissa.lr) == ("ihl", "pissa", 1e-3)


@pytest.mark.slow  # about half a minute
def test_a_run_on_a_later_unit_unlearns_those_rows_and_records_the_others(smoke_testbed):
    loaded = experiments.load("testbed:smoke")
    spec = experiments.RunSpec(
        "testbed:smoke",
        0,
        "ga",
        lr=1e-3,
        max_epochs=2,
        forget_rows=8,
        part=1,
        heldout_rows=16,
        retain_rows=16,
        downstream=None,
    )
    rec = experiments.run(spec, progress=False)
    assert rec.forget_set == "lm_extraction_32_0[8:16]"
    # the smoke testbed memorises set 0 only: the other three units of it, never its own
    assert set(rec.collateral_ma) == {"0.0", "0.2", "0.3"}
    assert all(0.0 <= v <= 1.0 for v in rec.collateral_ma.values())
    assert experiments.memorised_units(loaded, 8) == [(0, 0), (0, 1), (0, 2), (0, 3)]
    before = experiments.units_ma("testbed:smoke", 8)
    assert set(before) == {"0.0", "0.1", "0.2", "0.3"}
    assert before["0.2"] == pytest.approx(experiments.forget_memorisation("testbed:smoke", 0, rows=8, part=2)["ma"])
    table = experiments.collateral_table({"GA": [rec]}, before)
    assert table.loc["GA", "runs"] == 1 and table["other sets: after"].isna().all()
    expected = 100 * sum(rec.collateral_ma.values()) / 3
    assert table.loc["GA", "same set: after"] == pytest.approx(expected)
