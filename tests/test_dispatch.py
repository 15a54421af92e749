"""Grid dispatch: local processes and submitit's debug executor give the records an inline run gives."""

import pytest

from unlearnkit.experiments import RunSpec, dispatch, runs
from unlearnkit.store import results


def _specs():
    common = dict(model_name="testbed:smoke", lr=1e-3, max_epochs=1, heldout_rows=16, retain_rows=32, downstream=None)
    return [RunSpec(draw=0, method="ga", **common), RunSpec(draw=0, method="ihl", lora_init="random", rank=2, **common)]


def _same(a, b):
    """Same runs: exact bookkeeping; MA equal up to thread-count rounding in one optimiser step."""
    keys = ("status", "epochs_run", "trainable_share")
    return [{k: getattr(r, k) for k in keys} for r in a] == [{k: getattr(r, k) for k in keys} for r in b] and all(
        abs(x.final_ma - y.final_ma) < 1e-2 for x, y in zip(a, b)
    )


@pytest.mark.slow  # left to `make test`: about a minute
def test_processes_and_submitit_match_inline(smoke_testbed, tmp_path):
    inline = dispatch.run_specs(_specs(), "inline", progress=False)
    for r in inline:  # forget the records, so that every backend really runs
        results.record_path("unlearn", r.spec, runs.CODE).unlink()
    procs = dispatch.run_specs(_specs(), "processes", workers=2, threads=1)
    assert _same(inline, procs)
    for r in procs:
        assert results.record_path("unlearn", r.spec, runs.CODE).is_file()  # written into the shared cache
        results.record_path("unlearn", r.spec, runs.CODE).unlink()
    debug = dispatch.run_specs(_specs(), "submitit", cluster="debug", folder=tmp_path / "jobs")
    assert _same(inline, debug)


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match="unknown backend 'mpi'"):
        dispatch.run_specs([], "mpi")
