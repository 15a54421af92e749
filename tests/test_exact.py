"""The exact-unlearning reference: a testbed retrained without a forget set, an injected model
injected without a forget unit."""

import pytest

from unlearnkit import experiments, models
from unlearnkit.experiments import exact
from unlearnkit.models import keys, testbed
from unlearnkit.store.records import RunRecord


def test_testbed_names_parse_and_bad_ones_are_refused():
    assert testbed.parse_name("default") == ("default", ())
    assert testbed.parse_name("default:without-0") == ("default", (0,))
    assert testbed.parse_name("default:without-3:without-1") == ("default", (3, 1))
    with pytest.raises(ValueError, match="without-<k>"):
        testbed.parse_name("default:minus-0")
    with pytest.raises(ValueError, match="memorises forget sets"):
        testbed.cache_path("smoke", without=(3,))  # the smoke testbed memorises set 0 only


def test_leaving_sets_out_changes_the_cache_key():
    full, without = testbed.cache_path("default"), testbed.cache_path("default", without=(0,))
    assert full != without
    # the recipe hash covers the recipe and the builder's code (unlearnkit.store.codehash), nothing else
    assert testbed.RECIPES["default"].hash() == testbed.RECIPES["default"].hash() != testbed.RECIPES["smoke"].hash()
    assert testbed._recipe("default", (0,)).trained_draws == (1, 2, 3, 4)


def test_reference_name_only_for_testbeds_and_injected_models():
    assert exact.reference_name("testbed:smoke", 0) == "testbed:smoke:without-0"
    assert exact.reference_name("smollm2-135m+tdec:full", 2, 1) == "smollm2-135m+tdec:full:without-2.1"
    # a fold: one injection without every unit of a part is the reference of each of them
    fold = [(0, 1), (3, 1), (2, 1)]
    name = exact.reference_name("smollm2-135m+tdec:full", 2, 1, fold)
    assert name == "smollm2-135m+tdec:full:without-0.1:without-2.1:without-3.1"
    assert exact.reference_name("smollm2-135m+tdec:full", 0, 1, fold) == name
    with pytest.raises(ValueError, match=r"only\s+the embedded testbed or a model with injected memorisation"):
        exact.reference_name("EleutherAI/gpt-neo-125m", 0)
    with pytest.raises(ValueError, match="already an exact-unlearning reference"):
        exact.reference_name("testbed:smoke:without-0", 0)
    with pytest.raises(ValueError, match="not injected by recipe 'default'"):
        exact.reference_name("smollm2-135m+tdec", 0, 1)  # the default recipe injects part 0 only


def test_the_key_of_a_testbed_reference_needs_no_pretraining(smoke_testbed, monkeypatch):
    """A survey or a read-back of an audit needs the reference's key, not its weights (a cpu-full
    reference costs as much as the testbed, 514 s)."""
    assert keys.key_of("testbed:smoke") == models.load("testbed:smoke").key

    def refuse(*args, **kwargs):
        raise AssertionError("key_of pretrained a testbed")

    monkeypatch.setattr(testbed, "build", refuse)
    key = keys.key_of("testbed:smoke:without-0")
    assert key.startswith("testbed:smoke:without-0@") and key.endswith("|float32|cpu")
    assert key.split("@")[1] != keys.key_of("testbed:smoke").split("@")[1]  # another recipe
    with pytest.raises(AssertionError, match="pretrained a testbed"):
        keys.key_of("testbed:smoke:without-0", device="meta")  # not the CPU fp32 default: loaded


@pytest.mark.slow  # left to `make test`: about a minute
def test_retrained_testbed_never_saw_the_set_and_memorises_it_less(smoke_testbed):
    ref = exact.reference("testbed:smoke", 0, heldout_rows=32, downstream="smoke", forget_rows=8)
    retrained = testbed.build("smoke", progress=False, without=(0,))
    assert keys.key_of("testbed:smoke:without-0") == models.load("testbed:smoke:without-0").key  # as built
    assert retrained.info["forget_sequences"] == 0  # the smoke testbed memorises set 0 alone
    assert retrained.forget_set(0).shape == smoke_testbed.forget_set(0).shape  # kept as evaluation data
    assert (retrained.forget_set(0) == smoke_testbed.forget_set(0)).all()
    # Never seen: the set's MA on the retrained model is below its MA on the original.
    assert ref["ma"] < ref["ma_original"]
    assert 0.0 <= ref["el"] <= 1.0 and ref["pile_ppl"] > 1.0
    before = {"reasoning": 0.5, "dialogue": 0.1, "pile_ppl": 20.0}
    row = experiments.table1({}, before, reference=ref).loc["Rebuilt without lm_extraction_32_0[:8] (exact)"]
    assert row["MA (%)"] == f"{100 * ref['ma']:.1f}" and row["Pile PPL"] == f"{ref['pile_ppl']:.1f}"
    facts = exact.facts(ref)
    assert facts["exact_ma"] == f"{100 * ref['ma']:.1f}" and "without-0" in facts["exact_status"]
    assert set(exact.facts(None, 0)) == set(facts)  # the chapter glues the same keys when not run


def _record(forget_set: str, ma: float) -> RunRecord:
    draw = int(forget_set.split("[")[0].rsplit("_", 1)[1])
    return RunRecord(
        status="forgotten",
        epochs=3,
        epochs_run=3,
        final_ma=ma,
        final_el=0.0,
        config={},
        history=[],
        tags={"forget_set": forget_set},
        pile_ppl=10.0,
        spec={"draw": draw, "part": 0},
    )


def test_comparison_table_shows_the_runs_on_the_reference_set_only():
    ref = {
        "draw": 0,
        "ma": 0.1,
        "el": 0.0,
        "ma_original": 0.9,
        "el_original": 0.5,
        "pile_ppl": 50.0,
        "thresholds": {"ma": 0.2, "el": 0.05},
        "thresholds_retrained": {"ma": 0.21, "el": 0.04},
    }
    groups = {"GA": [_record("lm_extraction_32_0[:8]", 0.15), _record("lm_extraction_32_1[:8]", 0.12)]}
    table = exact.comparison_table(ref, groups)
    assert list(table.index[-1:]) == ["unlearned: GA"] and len(table) == 5
    assert table.loc["unlearned: GA", "MA (%)"] == pytest.approx(15.0)
    assert table.loc["rebuilt without the unit (exact unlearning)", "MA (%)"] == pytest.approx(10.0)
