"""The command line: a smoke unlearning run with downstream evaluation, and evaluate."""

import json

import pytest

from unlearnkit import cli


@pytest.mark.slow  # left to `make test`: about a minute
def test_unlearn_writes_its_record_with_downstream_scores(smoke_testbed, tmp_path, capsys):
    out = tmp_path / "run.json"
    code = cli.main(
        [
            "unlearn",
            "--profile",
            "smoke",
            "--method",
            "ga",
            "--lr",
            "1e-3",
            "--max-epochs",
            "2",
            "--downstream",
            "smoke",
            "--out",
            str(out),
        ]
    )
    rec = json.loads(out.read_text())
    assert code == (0 if rec["status"] == "forgotten" else 1)
    assert rec["epochs_run"] <= 2 and "history" in rec
    assert set(rec["downstream"]["reasoning"]) == {
        "lambada",
        "hellaswag",
        "winogrande",
        "copa",
        "arc_easy",
        "arc_challenge",
        "piqa",
        "mathqa",
        "pubmedqa",
    }
    assert rec["downstream"]["pile_ppl"] > 1
    assert json.loads(capsys.readouterr().out)["status"] == rec["status"]


def test_evaluate_a_task_subset_and_reject_unknown_tasks(smoke_testbed, tmp_path):
    out = tmp_path / "eval.json"
    assert (
        cli.main(
            [
                "evaluate",
                "--model",
                "testbed:smoke",
                "--preset",
                "smoke",
                "--tasks",
                "copa,wizard_of_wikipedia",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    assert list(res["reasoning"]) == ["copa"] and list(res["dialogue"]) == ["wizard_of_wikipedia"]
    with pytest.raises(ValueError, match="unknown downstream task"):
        cli.main(["evaluate", "--model", "testbed:smoke", "--preset", "smoke", "--tasks", "copa,trivia"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--draw", "10"], "draw"),
        (["--method", "bogus"], "method='bogus' is not valid; choose one of"),
        (["--targets", "q,zz"], "targets entry"),
        (["--size", "7"], "--size 7"),
        (["--max-epochs", "0"], "max_epochs"),
        (["--downstream", "huge"], "downstream"),
    ],
)
def test_bad_arguments_fail_before_any_model_is_loaded(monkeypatch, argv, message):
    from unlearnkit import models

    def no_load(*a, **k):
        raise AssertionError("a model was loaded before the arguments were checked")

    monkeypatch.setattr(models, "load", no_load)
    with pytest.raises(SystemExit, match=message):
        cli.main(["unlearn", "--model", "testbed:default", *argv])
