"""unlearnkit.second_paper.read_back: a profile's second-paper experiments read from records, never computed."""

import types

import pytest
import yaml

from unlearnkit.book.grid import chapter_params
from unlearnkit.second_paper import harmful, read_back
from unlearnkit.store import results


def test_an_experiment_that_is_not_recorded_is_left_out_and_never_computed():
    computed = []

    def experiment(cfg, progress=True):
        return {
            "runs": results.cached(
                "read_back_test", {"cfg": cfg}, lambda: computed.append(cfg) or {}, code="unlearnkit.store.results"
            )
        }

    fake = types.SimpleNamespace(experiment=experiment)
    assert read_back._experiment(fake, "never recorded") is None
    assert computed == []
    # outside the read-back the same experiment is computed: the None above came from read_only
    assert experiment("never recorded")["runs"] is not None and computed == ["never recorded"]
    assert read_back._experiment(fake, "never recorded") is not None  # now cached: read back


@pytest.mark.smollm2
def test_the_real_profiles_committed_smollm2_records_are_read_back(monkeypatch):
    """The default book's read-back finds every committed experiment of the real profile: its
    configurations rebuilt from profiles/real.yaml key the records under results/real."""
    monkeypatch.setenv(results.RESULTS_ENV, str(results.REPOSITORY / "results"))  # conftest points it elsewhere
    rec = read_back.recorded("real", chapter_params("real", "second_paper"))
    profile = yaml.safe_load((results.REPOSITORY / "profiles" / "real.yaml").read_text())["second_paper"]
    assert rec.model_name == profile["model_name"] == "smollm2-135m"
    assert rec.harmful is not None and rec.copyright is not None, rec.label()
    assert set(rec.harmful["runs"]) == set(harmful.METHODS)
    assert rec.margins == profile["margins"]  # the recorded profile's margins, not the building profile's
    assert len(rec.harmful["before"]["eval_answers"]) == len(rec.harmful["eval_questions"]) > 0
    assert rec.label().startswith("real profile, smollm2-135m: harmful and copyright experiment records, committed at ")
