"""The real-model tables: published-vs-ours lines up the right tasks; capability and injection tables."""

import math

import pytest

from unlearnkit.evaluation import published
from unlearnkit.experiments import real_model


def _downstream(acc: dict, norm: dict, docs: int = 100) -> dict:
    return {
        "reasoning": acc,
        "reasoning_norm": norm,
        "reasoning_mean": sum(acc.values()) / len(acc),
        "dialogue_mean": 0.05,
        "pile_ppl": 20.0,
        "docs": {t: docs for t in acc},
    }


def test_published_comparison_averages_arc_and_measures_the_gap_in_standard_errors():
    acc = {"hellaswag": 0.40, "arc_easy": 0.50, "arc_challenge": 0.30, "piqa": 0.60, "winogrande": 0.5, "copa": 0.6}
    norm = {"hellaswag": 0.409, "arc_easy": 0.45, "arc_challenge": 0.2946, "piqa": 0.663, "winogrande": 0.5}
    table = published.comparison(_downstream(acc, norm))
    assert list(table.index) == ["hellaswag", "arc (average)", "piqa", "winogrande"]  # copa is not on the card
    arc = table.loc["arc (average)"]
    assert arc["ours acc"] == pytest.approx(40.0) and arc["ours acc_norm"] == pytest.approx(37.23)
    assert arc["docs"] == 200
    se = 100 * math.sqrt(0.3723 * (1 - 0.3723) / 200)
    assert arc["acc_norm − published (SE)"] == pytest.approx((37.23 - 37.3) / se, rel=1e-6)
    assert table.loc["hellaswag", "acc_norm − published (SE)"] == pytest.approx(0.0, abs=1e-9)
    # Winogrande is only in the base model's table: compared with that
    assert math.isnan(table.loc["winogrande", "published (SmolLM2-135M-Instruct)"])
    assert table.loc["winogrande", "published (base model)"] == 51.3


def test_published_comparison_refuses_records_without_normalised_accuracy_and_unknown_models():
    rec = _downstream({"piqa": 0.6}, {"piqa": 0.6})
    del rec["reasoning_norm"]
    with pytest.raises(KeyError, match="reasoning_norm"):
        published.comparison(rec)
    with pytest.raises(KeyError, match="smollm2-135m"):
        published.comparison(_downstream({"piqa": 0.6}, {"piqa": 0.6}), "gpt-neo-125m")


def test_capability_and_injection_tables():
    before = {"downstream": _downstream({"piqa": 0.6, "copa": 0.7}, {})}
    after = {"downstream": _downstream({"piqa": 0.58, "copa": 0.66}, {})}
    table = real_model.capability_table({"as loaded": before, "injected": after})
    assert table.loc["reasoning (mean)", "as loaded"] == pytest.approx(65.0)
    assert table.loc["piqa", "injected"] == pytest.approx(58.0)
    report = {
        "recipe": {"target_ma": 0.774, "target_el": 0.309},
        "steps": 40,
        "seconds": 600.0,
        "met": False,
        "forget_sequences": 16,
        "memorisation": {"0": {"ma": 0.8, "el": 0.35}, "1": {"ma": 0.8, "el": 0.2}},
    }
    inj = real_model.injection_table(report)
    assert inj["met"].tolist() == [True, False]
    facts = real_model.injection_facts(report, before, after)
    assert facts["inject_reasoning_drop"] == pytest.approx(3.0) and not facts["inject_within_2"]


def test_capability_table_marks_tasks_at_chance_on_the_named_stage_and_the_change_leaves_them_out():
    # 100 documents: two standard errors at chance 50 % are 10 points, at 25 % 8.7 points
    injected = {"downstream": _downstream({"piqa": 0.80, "winogrande": 0.52, "arc_easy": 0.60}, {})}
    loaded = {"downstream": _downstream({"piqa": 0.80, "winogrande": 0.70, "arc_easy": 0.62}, {})}
    after = {"downstream": _downstream({"piqa": 0.70, "winogrande": 0.10, "arc_easy": 0.50}, {})}
    after["downstream"]["pile_ppl"] = 30.0
    stages = {"as loaded": loaded, "injected": injected, "after GA (set 0)": after}
    table = real_model.capability_table(stages, chance="injected")
    assert table["at chance (injected)"].dropna().to_dict() == {"arc_easy": False, "piqa": False, "winogrande": True}
    assert table.loc["winogrande", "chance"] == 50.0
    with pytest.raises(KeyError, match="not a stage"):
        real_model.capability_table(stages, chance="before")
    change = real_model.capability_change(stages, "injected")
    assert list(change.index) == ["as loaded", "after GA (set 0)"]
    ga = change.loc["after GA (set 0)"]
    assert ga["tasks above chance"] == 2  # winogrande's collapse to 10 % is not counted: it carried no signal
    assert ga["reasoning Δ (points)"] == pytest.approx(-10.0)
    assert ga["Pile PPL ratio"] == pytest.approx(1.5)


def test_stages_after_names_each_evaluated_run_by_method_and_forget_set():
    from types import SimpleNamespace

    ds = _downstream({"piqa": 0.7}, {})
    groups = {
        "GA": [
            SimpleNamespace(downstream=ds, tags={"forget_set": "lm_extraction_32_0[:8]"}),
            SimpleNamespace(downstream=None, tags={"forget_set": "lm_extraction_32_1[:8]"}),
        ],
        "GD": [SimpleNamespace(downstream=ds, tags={"forget_set": "lm_extraction_32_0[:8]"})],
    }
    stages = real_model.stages_after(groups)
    assert list(stages) == ["after GA (lm_extraction_32_0[:8])", "after GD (lm_extraction_32_0[:8])"]
    assert stages["after GD (lm_extraction_32_0[:8])"]["downstream"] is ds


def test_provenance_lists_each_offline_model_with_licence_quantisation_and_hashes():
    from unlearnkit.book import provenance
    from unlearnkit.models.offline import OFFLINE_MODELS

    table = provenance.offline_models()
    assert set(table) == set(OFFLINE_MODELS)
    row = table["smollm2-135m"]
    assert "Apache-2.0" in row["licence"] and "Q4_1" in row["quantisation"]
    assert row["GGUF sha256"] == OFFLINE_MODELS["smollm2-135m"].gguf_sha256
    assert "model card" in row["published scores"] and row["tokens per TDEC row"] == "80"
