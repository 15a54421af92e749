"""The unlearned model of a run, saved once and keyed like its record, for the attacks.

A run's record (:func:`unlearnkit.experiments.runs.run`) keeps numbers, not weights.  The
robustness audit (:mod:`unlearnkit.evaluation.attacks`) needs the model itself, and must never
retrain it per attack: :func:`model` re-runs the spec's training once with the same code, seed
and data for the epochs the run took (the trainer is deterministic on one machine; the
per-epoch EL checks and probe, which only evaluate, are left out), checks that it reproduces
the record (epochs, final MA and final EL must match, or it refuses, naming the difference), and
saves the merged weights as safetensors under ``cache_root()/unlearned/<the record's hash>``;
later calls load them in seconds.  :func:`model_at` gives the same training after a fixed number
of epochs instead, whether or not the run met the criterion by then (attacks at a budget).

It does not evaluate or attack; it gives the model.
"""

from __future__ import annotations

import dataclasses
import math

from .. import metrics, trainer
from ..store import codehash, results
from ..store.cache import atomic_directory, cache_root, write_json_atomic
from . import runs


class NotReproducedError(RuntimeError):
    """The re-run of a spec did not reproduce its cached record."""


def path(spec: runs.RunSpec):
    """Where the unlearned model of ``spec`` is saved: keyed by the run's record key (its
    config and the digest of the code that computes it)."""
    loaded = runs.load(spec.model_name)
    return cache_root() / "unlearned" / results.record_path("unlearn", runs.cache_config(spec, loaded), runs.CODE).stem


def model(spec: runs.RunSpec, progress: bool = False, check_el: bool = True):
    """The unlearned (merged) model of ``spec``: loaded when saved, else re-run once, checked
    against the run's record (computed first if missing; ``check_el``: the final EL too, which
    costs a generation pass over the unit) and saved."""
    loaded = runs.load(spec.model_name)
    where = path(spec)
    record = runs.run(spec, progress=progress)  # the record the model must reproduce (cached)
    saved = _saved(where, loaded)
    if saved is not None:
        return saved
    # The same training for the epochs the run took; the criterion is then checked once, on the final model.
    again, forget = _retrain(spec, loaded, record, record.epochs_run, progress)
    final_el = (
        record.final_el
        if record.final_el is None or not check_el
        else metrics.extraction_likelihood(again.model, forget, n=record.config["thresholds"]["n"]).mean().item()
    )
    differ = [
        name
        for name, a, b in (
            ("epochs run", record.epochs_run, again.record.epochs_run),
            ("final MA", record.final_ma, again.record.final_ma),
            ("final EL", record.final_el, final_el),
        )
        if not (a == b or (isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=1e-6)))
    ]
    if differ:
        raise NotReproducedError(
            f"re-running {spec} did not reproduce its record ({', '.join(differ)} differ): the cached record "
            f"was made on another machine or by nondeterministic kernels; delete it to recompute both"
        )
    return _save(where, again.model, {"spec": runs.cache_config(spec, loaded), "status": record.status})


def _retrain(spec: runs.RunSpec, loaded, record, epochs: int, progress: bool):
    """``(run, forget ids)``: ``spec``'s training for exactly ``epochs`` epochs, without the run's
    per-epoch EL checks and probe (evaluation only: they draw no random numbers, so the weights
    are the same) and with thresholds that never stop it."""
    never = metrics.Thresholds(ma=0.0, el=0.0, n=record.config["thresholds"]["n"], source="re-run: never stops")
    forget = runs.forget_ids(loaded, spec.draw, spec.forget_rows, spec.part)
    again = trainer.unlearn(
        loaded.model,
        forget,
        loaded.retain(spec.retain_rows, spec.retain_source),
        dataclasses.replace(spec.unlearn_config(), max_epochs=epochs),
        thresholds=never,
        progress=progress,
    )
    return again, forget


def status_at(record, epochs: int) -> str:
    """What a run had done after ``epochs`` epochs: "forgotten" if it met the criterion by then."""
    return "forgotten" if record.succeeded and record.epochs_run <= epochs else "not forgotten by then"


def _save(where, m, about: dict):
    from safetensors.torch import save_model

    with atomic_directory(where) as tmp:
        save_model(m, str(tmp / "model.safetensors"))
        write_json_atomic(tmp / "about.json", about | {"code": codehash.code_digest(runs.CODE)})
    return m.eval().requires_grad_(False)


def _saved(where, loaded):
    import copy

    from safetensors.torch import load_model

    if not (where / "model.safetensors").is_file():
        return None
    m = copy.deepcopy(loaded.model)
    load_model(m, str(where / "model.safetensors"), device=str(next(m.parameters()).device))
    return m.eval().requires_grad_(False)


def model_at(spec: runs.RunSpec, epochs: int, progress: bool = False):
    """The model of ``spec``'s training after exactly ``epochs`` epochs, whether or not it met
    the criterion by then (a run that met it earlier trains on; one that never met it is cut or
    continued to ``epochs``): Zhang et al.'s regime, where a method is attacked after a fixed
    budget at small rates.  Saved beside :func:`model`'s (``<key>-at-<epochs>``).  The training is
    the run's own: the MA after the last epoch both ran must equal the run's record, or it
    refuses (:class:`NotReproducedError`)."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    loaded = runs.load(spec.model_name)
    where = path(spec).with_name(f"{path(spec).name}-at-{epochs}")
    record = runs.run(spec, progress=progress)
    saved = _saved(where, loaded)
    if saved is not None:
        return saved
    again, _ = _retrain(spec, loaded, record, epochs, progress)
    k = min(epochs, record.epochs_run)
    ran, recorded = again.record.history[k - 1].ma, record.history[k - 1].ma
    if not math.isclose(ran, recorded, rel_tol=1e-6):
        raise NotReproducedError(
            f"re-running {spec} for {epochs} epochs did not reproduce its record: MA after epoch {k} is {ran} "
            f"here and {recorded} in the record (made on another machine or by nondeterministic kernels)"
        )
    about = {
        "spec": runs.cache_config(spec, loaded),
        "epochs": epochs,
        "status": status_at(record, epochs),
        "final_ma": again.record.final_ma,
    }
    return _save(where, again.model, about)
