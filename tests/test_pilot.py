"""The capability pilot (:mod:`unlearnkit.experiments.pilot`): capability at the criterion per
setting, against hand-computed values, and the rule that picks the regime
(:data:`unlearnkit.experiments.claim_rules.PILOT_BAR`) on settings built to clear it or not."""

import math

import pytest

from unlearnkit.experiments import grids, pilot


def _run(status, ppls, reasoning, seconds=10.0):
    return {
        "status": status,
        "epochs": len(ppls),
        "reasoning": reasoning,
        "seconds": seconds,
        "tags": {"forget_set": "s0"},
        "config": {"thresholds": {"ma": 0.5}},
        "history": [{"epoch": e + 1, "ma": 0.9 - 0.1 * e, "probe": {"log_pile_ppl": p}} for e, p in enumerate(ppls)],
    }


BEFORE = {"pile_ppl": 50.0, "reasoning": 0.40, "probe": {"log_pile_ppl": 3.0}}


def test_capability_at_the_criterion_is_read_against_the_probe_before():
    groups = {
        ("LoRA (GD)", 1e-3): [_run("forgotten", [3.1, 3.0 + math.log(1.2)], 0.39)],
        ("LoRA (GD)", 4e-3): [_run("forgotten", [3.5, 3.0 + math.log(2.0)], 0.35), _run("max_epochs", [3.2] * 4, 0.2)],
    }
    t = pilot.table(groups, BEFORE).set_index("rate")
    assert t.loc[1e-3, "Pile PPL ratio at the criterion"] == pytest.approx(1.2)
    assert t.loc[1e-3, "reasoning drop (points)"] == pytest.approx(1.0)
    assert t.loc[4e-3, "forgot"] == 1 and t.loc[4e-3, "units"] == 2
    # x2.0 at the criterion, but one unit never forgot: the setting does not clear the bar
    assert t.loc[4e-3, "Pile PPL ratio at the criterion"] == pytest.approx(2.0)
    assert not t.loc[4e-3, "clears the bar"] and not t.loc[1e-3, "clears the bar"]
    assert "probe before unlearning" in pilot.table(groups, BEFORE).attrs["start"]


def test_the_rule_picks_the_qualifying_setting_with_the_largest_ratio():
    groups = {
        ("LoRA (GD)", 1e-3): [_run("forgotten", [3.0 + math.log(1.1)], 0.40)],
        ("LoRA (GD)", 2e-3): [_run("forgotten", [3.0 + math.log(1.6)], 0.40)],
        ("LoRA (GD)", 4e-3): [_run("forgotten", [3.0 + math.log(1.3)], 0.36)],  # clears by reasoning
        ("LoRA + IHL", 8e-3): [_run("forgotten", [3.0 + math.log(3.0)], 0.40)],  # not the baseline
    }
    choice = pilot.choose(pilot.table(groups, BEFORE))
    assert choice["rate"] == pytest.approx(2e-3) and choice["clears"]
    assert choice["text"].startswith("the regime: LoRA (GD) at 0.002")


def test_with_no_setting_clearing_the_bar_the_strongest_is_named_and_said_so():
    groups = {
        ("LoRA (GD)", 1e-3): [_run("forgotten", [3.0 + math.log(1.1)], 0.40)],
        ("LoRA (GD)", 2e-3): [_run("forgotten", [3.0 + math.log(1.2)], 0.39)],
        ("LoRA (GD)", 4e-3): [_run("max_epochs", [3.0 + math.log(5.0)], 0.1)],  # never forgot
    }
    choice = pilot.choose(pilot.table(groups, BEFORE))
    assert choice["rate"] == pytest.approx(2e-3) and not choice["clears"]
    assert choice["text"].startswith("no setting clears the bar")
    nothing = pilot.choose(pilot.table({("LoRA (GD)", 1e-3): [_run("max_epochs", [3.1], 0.4)]}, BEFORE))
    assert nothing["rate"] is None and nothing["text"].startswith("at no rate tried")


# A pilot of one rate on one whole set, the settings the grid tests below vary
PILOT_PARAMS = dict(
    forget_draws=[0],
    forget_parts=[0],
    forget_rows=None,
    pilot_methods=["LoRA (GD)"],
    pilot_rates=[1e-3],
    max_epochs=2,
    rank=4,
    seed=0,
)


def test_the_pilot_refuses_rows_its_injected_model_was_never_taught():
    from unlearnkit.experiments import grids
    from unlearnkit.models import keys

    p = PILOT_PARAMS | {"model_name": "smollm2-135m+tdec:one-set"}
    assert keys.injected_rows("smollm2-135m+tdec:one-set", 0) == 8
    assert keys.injected_rows("smollm2-135m+tdec:one-set", 1) == 0
    assert keys.injected_rows("smollm2-135m+tdec:full", 3) == 32
    assert keys.injected_rows("testbed:smoke", 0) is None
    with pytest.raises(ValueError, match="first 8 rows of forget set 0.*rows 0-31"):
        grids.capability(p)
    with pytest.raises(ValueError, match="forget set 1"):
        grids.capability(p | {"forget_rows": 8, "forget_draws": [0, 1]})
    assert len(grids.capability(p | {"forget_rows": 8})["pilot"][("LoRA (GD)", 1e-3)]) == 1
    specs = grids.capability(p | {"model_name": "smollm2-135m+tdec:full", "forget_draws": [0, 1]})
    assert [s.draw for s in specs["pilot"][("LoRA (GD)", 1e-3)]] == [0, 1]


def test_the_confirmatory_grid_is_stated_by_the_profile_and_alternates_its_sources():
    """Empty until ``confirm_rate`` is stated; then every method on every whole set of both
    sources at that rate and seed 0, a second seed on the first units (sources alternating),
    one baseline per model; a source that names sets its injection did not teach is refused."""
    full, extra = "smollm2-135m+tdec:full", "smollm2-135m+tdec:extra"
    p = PILOT_PARAMS | dict(
        model_name=full,
        heldout_rows=16,
        retain_rows=32,
        downstream="brief",
        thresholds="heldout",
        confirm_rate=None,
        confirm_methods=["LoRA (GD)", "+ IHL"],
        confirm_sources=[[full, [0, 1, 2]], [extra, [5, 6]]],
        confirm_seeds=[1],
        confirm_seed_units=3,
    )
    assert set(grids.capability(p)) == {"pilot"}
    assert grids.confirm_units(p["confirm_sources"]) == [(full, 0), (extra, 5), (full, 1), (extra, 6), (full, 2)]
    sections = grids.capability(p | {"confirm_rate": 8e-3})
    assert set(sections) == {"pilot", "confirmatory", "seed 1"}
    confirm = sections["confirmatory"]
    assert set(confirm) == {"LoRA (GD)", "+ IHL"}
    for specs in confirm.values():
        assert [(s.model_name, s.draw) for s in specs] == grids.confirm_units(p["confirm_sources"])
        assert {(s.lr, s.seed, s.forget_rows) for s in specs} == {(8e-3, 0, None)}
    for specs in sections["seed 1"].values():
        assert [(s.model_name, s.draw, s.seed) for s in specs] == [(full, 0, 1), (extra, 5, 1), (full, 1, 1)]
    order = [(s.model_name, s.draw, s.seed) for s in grids.specs("capability", p | {"confirm_rate": 8e-3})]
    assert order[0] == (full, 0, 0) and order[-1] == (full, 1, 1)  # every seed-0 unit before a second seed
    assert order.index((extra, 5, 0)) < order.index((full, 0, 1))
    befores = grids.baselines("capability", p | {"confirm_rate": 8e-3})
    assert [b["model_name"] for b in befores] == [full, extra]
    with pytest.raises(ValueError, match="forget set 5"):
        grids.capability(p | {"confirm_rate": 8e-3, "confirm_sources": [[full, [0, 5]]]})
