"""Recorded results: saved with provenance, read back, labelled stale when their code changed;
Figure 3 and the forgetting-rate rule drawn from records."""

import json

import pytest

from unlearnkit.experiments import claims, figures, recorded
from unlearnkit.store import codehash
from unlearnkit.store.records import RunRecord


def _record(unit: int, status: str = "forgotten", ppl: float = 20.0, modules=None) -> RunRecord:
    modules = modules or codehash.module_digests("unlearnkit.losses")
    return RunRecord(
        status=status,
        epochs=3 if status == "forgotten" else None,
        epochs_run=3 if status == "forgotten" else 20,
        config={"max_epochs": 20},
        history=[],
        final_ma=0.2,
        final_el=0.01,
        tags={"forget_set": f"lm_extraction_32_{unit}[:8]"},
        pile_ppl=ppl,
        reasoning=0.4,
        dialogue=0.1,
        seconds=60.0,
        code={"digest": "x", "modules": modules},
    )


def test_recorded_results_round_trip_with_provenance(tmp_path):
    groups = {"table1": {"GA": [_record(0), _record(1)]}, "rate 5e-05/0.001": {"LoRA (GD)": [_record(0, "max_epochs")]}}
    path = recorded.save(
        "real/t1", groups=groups, extra={"before": {"pile_ppl": 10.0}}, command="make x", root=tmp_path
    )
    assert path == tmp_path / "real" / "t1.json"
    data = json.loads(path.read_text())
    assert data["provenance"]["records"] == 3 and data["provenance"]["compute_seconds"] == 180.0
    assert data["provenance"]["command"] == "make x" and data["provenance"]["commit"]
    back = recorded.load("real/t1", root=tmp_path)
    assert [r.forget_set for r in back.section("table1")["GA"]] == ["lm_extraction_32_0[:8]", "lm_extraction_32_1[:8]"]
    assert back.extra["before"]["pile_ppl"] == 10.0
    # the file stores labels sorted ("+ FILA" before "GA"); they come back in Table 1's order
    recorded.save(
        "order", groups={"t": {k: [_record(0)] for k in ("PiSSA + IHL", "+ FILA", "GD", "GA")}}, root=tmp_path
    )
    assert list(recorded.load("order", root=tmp_path).section("t")) == ["GA", "GD", "+ FILA", "PiSSA + IHL"]
    assert back.stale() == {} and "Current:" in back.label()
    assert recorded.load("real/none", root=tmp_path) is None


def test_a_run_shown_in_two_sections_is_counted_once_in_the_provenance(tmp_path):
    a, b = _record(0), _record(1)
    a.spec, b.spec = {"method": "ga", "forget_draw": 0}, {"method": "ga", "forget_draw": 1}
    groups = {"table1": {"GA": [a, b]}, "forgetting rate": {"GA": [a, b], "LoRA (GD)": [_record(2)]}}
    data = json.loads(recorded.save("r", groups=groups, root=tmp_path).read_text())
    assert data["provenance"]["records"] == 3 and data["provenance"]["entries"] == 5
    assert data["provenance"]["compute_seconds"] == 180.0


def test_a_record_whose_code_changed_is_labelled_stale_naming_the_module(tmp_path):
    old = codehash.module_digests("unlearnkit.losses") | {"unlearnkit.losses": "000000000000"}
    recorded.save("r", groups={"table1": {"GA": [_record(0, modules=old), _record(1)]}}, root=tmp_path)
    back = recorded.load("r", root=tmp_path)
    assert back.stale() == {"unlearnkit.losses": ["lm_extraction_32_0[:8]"]}
    label = back.label()
    assert "STALE" in label and "unlearnkit.losses" in label and "Current" not in label


def test_the_forgetting_rate_is_the_lowest_rate_where_half_the_units_forget():
    by_rate = {
        (5e-5, 2e-4): {"LoRA (GD)": [_record(0, "max_epochs"), _record(1, "max_epochs")]},
        (5e-5, 1e-3): {"LoRA (GD)": [_record(0), _record(1)]},
        (5e-5, 5e-4): {"LoRA (GD)": [_record(0), _record(1, "max_epochs")]},
    }
    assert claims.forgetting_rate(by_rate) == 5e-4
    assert claims.forgetting_rate({k: v for k, v in by_rate.items() if k[1] == 2e-4}) is None


def test_c5b_is_decided_when_the_pissa_arm_ran():
    groups = {name: [_record(u) for u in range(3)] for name in ("GA", "GD", "LoRA (GD)", "+ IHL", "+ FILA")}
    before = {"pile_ppl": 18.0, "reasoning": 0.4, "dialogue": 0.1}
    assert "C5b" not in [r["claim"] for r in claims.verdicts(groups, before)]
    groups["PiSSA + IHL"] = [_record(u) for u in range(3)]
    rows = {r["claim"]: r for r in claims.verdicts(groups, before)}
    assert rows["C5b"]["n"] == 3 and rows["C5b"]["verdict"].startswith("inconclusive")


def test_figure3_draws_a_point_per_unit_and_a_cross_per_failure():
    groups = {"GA": [_record(0), _record(1, "max_epochs", ppl=50.0)], "GD": [_record(0)]}
    fig = figures.figure3(groups, {"pile_ppl": 18.0, "reasoning": 0.4, "dialogue": 0.1})
    axes = fig.axes
    assert len(axes) == 3
    ppl = axes[2]
    from matplotlib.collections import PathCollection

    points = [c for c in ppl.collections if isinstance(c, PathCollection)]
    assert [len(c.get_offsets()) for c in points] == [1, 1, 1]  # GA's forgotten dot, GA's cross, GD's dot
    assert points[1].get_offsets()[0][1] == pytest.approx(50.0)  # the failed run, at the value it ended with
    assert ppl.get_yscale() == "log"
    assert [t.get_text() for t in ppl.get_xticklabels()] == ["GA", "GD"]


def test_tradeoff_draws_every_runs_path_forgotten_or_not():
    from unlearnkit.store.records import Epoch

    def run(status, mas):
        r = _record(0, status)
        r.history = [Epoch(i + 1, 0.0, ma=m, probe={"log_pile_ppl": 3.0 + i}) for i, m in enumerate(mas)]
        return r

    groups = {"GA": [run("forgotten", [0.8, 0.5, 0.2])], "LoRA (GD)": [run("max_epochs", [0.8, 0.79])]}
    fig = figures.tradeoff(groups, probe_before=2.9, threshold_ma=0.3)
    ga, lora = fig.axes[0], fig.axes[1]
    assert [ln.get_xydata().tolist() for ln in ga.get_lines() if len(ln.get_xydata()) == 3] == [
        [[0.8, 3.0], [0.5, 4.0], [0.2, 5.0]]
    ]
    assert any(len(ln.get_xydata()) == 2 for ln in lora.get_lines())  # the failed run has its path too
    assert figures.tradeoff({"GA": [_record(0)]}) is None  # no probes recorded: nothing to draw


@pytest.mark.slow  # recomputes a recorded run: about 15 s; left to `make test`
def test_a_spot_check_record_made_alone_is_recomputed_and_reproduced(tmp_path, smoke_testbed):
    """``record_spot_check`` writes one run under its Table 1 label; recomputing it from its spec
    (here from this machine's cache, as a second build on the same machine would) reproduces it."""
    from unlearnkit.experiments import RunSpec

    spec = RunSpec(
        "testbed:smoke",
        0,
        "ga",
        lr=1e-3,
        max_epochs=2,
        heldout_rows=8,
        retain_rows=16,
        downstream="smoke",
        forget_rows=2,
    )
    path = recorded.record_spot_check("real/spot", spec, command="test", root=tmp_path)
    back = recorded.load("real/spot", root=tmp_path)
    assert path.name == "spot.json" and list(back.section("spot check")) == ["GA"]
    check = recorded.spot_check(back.section("spot check")["GA"][0])
    assert check.attrs["verdict"] == "reproduced"
