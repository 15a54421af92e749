"""The library functions the chapters call instead of inline cells: each against a hand-made
input whose answer is known, or against an independent computation."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_gpt_neo

from unlearnkit import fila, gradients, losses
from unlearnkit.book.glue import glue_all
from unlearnkit.evaluation import memorisation
from unlearnkit.experiments import ablation, curves, fila_study, per_task_table


def test_glue_all_refuses_numbers_that_were_not_formatted():
    with pytest.raises(TypeError, match="'ratio'"):
        glue_all({"ratio": 0.5})


@pytest.mark.parametrize("objective", ["ga", "ihl"])
def test_closed_form_logit_gradients_match_autograd(objective):
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(2, 7, 11, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 11, (2, 7), generator=g)
    labels[1, 4] = losses.IGNORE  # a masked position drops out of both
    auto = gradients.per_token_logit_gradients(logits, labels, objective)
    closed = gradients.closed_form_logit_gradients(logits, labels, objective)
    assert auto.shape == closed.shape == (2 * 6 - 1, 11)
    assert torch.allclose(auto, closed, atol=1e-12)


def test_zipf_logits_label_the_most_likely_token():
    logits, labels = gradients.zipf_logits(50, tokens=16)
    assert logits.shape == (1, 17, 50) and labels.shape == (1, 17)
    assert torch.equal(logits[0, :-1].argmax(-1), labels[0, 1:])


def test_ihl_gradient_is_more_concentrated_than_ga_at_large_vocabularies():
    rows = pd.DataFrame(gradients.support_by_vocabulary([64, 4096], tokens=32))
    big = rows[rows.vocabulary == 4096].set_index("objective")["effective support"]
    assert big["IHL"] < big["GA"]
    assert set(rows.objective) == {"GA", "IHL"} and len(rows) == 4


def test_memorisation_report_table_and_facts():
    report = {
        "forget_sets": [
            {"forget_set": "a", "ma": 0.9, "el": 0.5, "ma_per_sequence": [0.8, 1.0], "el_per_sequence": [0.4, 0.6]},
            {"forget_set": "b", "ma": 0.7, "el": 0.3, "ma_per_sequence": [0.7], "el_per_sequence": [0.3]},
        ],
        "thresholds": {"ma": 0.4, "el": 0.1, "n": 10, "source": "rows"},
        "perplexity": {"pile": 123.45, "wikitext": 67.0},
    }
    table = memorisation.report_table(report)
    assert list(table.index) == ["a", "b", "held-out: rows"]
    assert table.loc["a", "min MA (%)"] == pytest.approx(80.0) and table.loc["b", "EL10 (%)"] == pytest.approx(30.0)
    facts = memorisation.report_facts(report)
    assert facts["mean_ma"] == "80.0" and facts["mean_el"] == "40.0"
    assert facts["threshold_el"] == "10.0" and facts["ppl_pile"] == "123.5"


def test_top_row_share_separates_uniform_from_concentrated_importance():
    ones = {"w": torch.ones(20, 5)}
    assert fila_study.top_row_share(ones, ones, 0.1) == pytest.approx(0.1)
    peaked = torch.ones(20, 5)
    peaked[3] = 1e6
    assert fila_study.top_row_share({"w": peaked}, ones, 0.1) > 0.99


@pytest.mark.parametrize("prefix", ["transformer.h.{}.attn.attention.q_proj", "model.layers.{}.self_attn.q_proj"])
def test_edge_layer_keys_finds_the_first_and_last_block_in_gpt_neo_and_llama_names(prefix):
    fisher = {prefix.format(i): torch.ones(2, 2) for i in range(12)}
    assert fila_study.edge_layer_keys(fisher, 12) == [prefix.format(0), prefix.format(11)]
    assert fila_study.short_name(prefix.format(3)) in ("h.3.q_proj", "layers.3.q_proj")
    with pytest.raises(ValueError, match="num_layers=30"):
        fila_study.edge_layer_keys({"lm_head": torch.ones(1)}, 30)


def _fishers(model):
    names = fila.targeted_linears(model, ["q_proj", "v_proj"])
    ids = torch.randint(0, 37, (4, 12), generator=torch.Generator().manual_seed(1))
    forget = fila.fisher_information(model, ids[:2], list(names))
    retain = fila.fisher_information(model, ids[2:], list(names))
    return list(names), forget, retain, ids


def test_em_never_loses_to_the_row_wise_closed_form_it_starts_from():
    model = tiny_gpt_neo()
    names, forget, retain, _ = _fishers(model)
    table = fila_study.closed_form_vs_em(model, forget, retain, names, rank=2, iters=20)
    assert len(table) == len(names)
    assert (table["EM / row-wise"] <= 1 + 1e-9).all()
    assert (table["row-wise closed form"] > 0).all()


def test_fila_initialisation_leaves_the_output_unchanged():
    model = tiny_gpt_neo()
    names, forget, retain, ids = _fishers(model)
    assert fila_study.initialisation_output_change(model, forget, retain, names, 2, ids[:2]) < 1e-9


def test_first_epoch_below_per_group():
    data = pd.DataFrame({"init": ["a"] * 3 + ["b"] * 3, "epoch": [1, 2, 3] * 2, "MA": [0.9, 0.5, 0.2, 0.9, 0.8, 0.7]})
    assert curves.first_epoch_below(data, "init", 0.6) == {"a": 2, "b": None}


def _sweep_frame():
    return pd.DataFrame(
        {
            "method": ["GD", "GD", "LoRA (GD)", "LoRA (GD)"],
            "grid": ["full", "full", "rank 16", "rank 16"],
            "forget set": ["s0", "s1", "s0", "s1"],
            "forgotten": [True, False, True, True],
            "epochs": [3, 21, 4, 6],
            "epochs run": [3, 20, 4, 6],
            "Reasoning %": [30.0, 31.0, 32.0, 34.0],
            "Dialogue F1 %": [1.0] * 4,
            "Pile PPL": [500.0, 510.0, 520.0, 530.0],
            "train FLOPs": [30.0, 200.0, 2.0, 3.0],
            "setup FLOPs": [0.0, 0.0, 0.0, 0.0],
            "params %": [100.0, 100.0, 2.0, 2.0],
            "wall s": [1800.0] * 4,
        }
    )


def test_sweep_summary_and_facts():
    df = _sweep_frame()
    summary = ablation.summary(df, ["method", "grid"])
    assert summary.loc[("GD", "full"), "succeeded"] == 1 and summary.loc[("LoRA (GD)", "rank 16"), "epochs"] == 5
    facts = ablation.grid_facts(df)
    assert facts == {"n_runs": "4", "n_failed": "1", "grid_hours": "2.0"}


def test_compute_facts_compare_per_epoch_cost():
    df = _sweep_frame()
    df["full fine-tuning"] = df["params %"] > 50
    facts = ablation.compute_facts(df, rank=16)
    # per epoch: GD 10 and 10, LoRA 0.5 and 0.5 -> ratio 0.05
    assert facts["epoch_ratio"] == "0.05" and facts["epoch_ratio_inv"] == "20.0"
    assert facts["flops_full"] == "3.00e+01" and facts["flops_adapter"] == "2.50e+00"


def test_per_task_table_puts_published_scores_beside_dialogue():
    before = {
        "downstream": {
            "reasoning": {"piqa": 0.6},
            "dialogue": {"wow": 0.1, "other": 0.2},
            "docs": {"piqa": 100, "wow": 50},
        }
    }
    table = per_task_table(before, {"wow": 0.08}, "paper")
    assert table.loc["piqa", "ours"] == pytest.approx(60.0) and table.loc["wow", "paper"] == pytest.approx(8.0)
    assert np.isnan(table.loc["other", "paper"]) and np.isnan(table.loc["piqa", "paper"])


def test_lora_share_counts_what_peft_trains():
    from peft import LoraConfig, get_peft_model

    from unlearnkit.training import targets

    model = tiny_gpt_neo()
    base = sum(p.numel() for p in model.parameters())
    names = targets.target_modules(model, ("q", "v", "ffn"))
    peft_model = get_peft_model(model, LoraConfig(r=3, lora_alpha=6, target_modules=names))
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    assert targets.lora_share(tiny_gpt_neo(), 3) == pytest.approx(trainable / base)
    assert 0.0160 < targets.lora_share(targets.gpt_neo_125m_on_meta(), 16) < 0.0170  # the paper's 1.6 %


def test_rate_table_counts_failures_as_budget_plus_one():
    from unlearnkit.experiments import rate_table
    from unlearnkit.store.records import RunRecord

    def rec(status, epochs, ppl):
        return RunRecord(
            status=status, epochs=epochs, epochs_run=epochs or 20, config={"max_epochs": 20}, history=[], pile_ppl=ppl
        )

    table = rate_table(
        {
            (5e-5, 2e-4): {"GD": [rec("forgotten", 10, 500.0), rec("max_epochs", None, 900.0)]},
            (1e-4, 1e-3): {"GD": [rec("forgotten", 4, 700.0)]},
        }
    )
    slow = table.loc[("5e-05 / 0.0002", "GD")]
    assert slow["runs"] == 2 and slow["forgotten"] == 1 and slow["LoRA / full"] == pytest.approx(4.0)
    assert slow["epochs (failure = budget + 1)"] == pytest.approx(15.5)  # (10 + 21) / 2
    assert slow["Pile PPL (forgotten runs)"] == pytest.approx(500.0)
    assert table.loc[("0.0001 / 0.001", "GD"), "epochs (failure = budget + 1)"] == 4


def test_rate_table_without_runs_says_so():
    from unlearnkit.experiments import rate_table

    with pytest.raises(ValueError, match="no runs to tabulate"):
        rate_table({(5e-5, 2e-4): {}})


def test_provenance_text_says_which_runs_were_read_from_committed_records():
    from unlearnkit.experiments import provenance_text

    read = [{"spec": {"u": k}, "made": {"commit": "abc1234", "date": f"2026-12-0{k} 10:00 UTC"}} for k in (4, 5)]
    text = provenance_text(read + [{"spec": {"u": 9}}])
    assert text.startswith("2 of these 3 runs were read from records committed under `results/`")
    assert "commit abc1234, 2026-12-04 to 2026-12-05" in text and "1 was computed in this build" in text
    assert provenance_text([{"spec": {"u": 1}}]) == "Every run was computed in this build."
