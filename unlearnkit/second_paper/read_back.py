"""A profile's second-paper experiments read back from the repository's records, computing nothing.

The default book's chapter runs the harmful and copyright experiments on the testbed; the
profile that runs them on SmolLM2 (``real``: hours on this machine's CPU) records every
experiment (``results/real/records/harmful*``, ``copyright*``).  :func:`recorded` rebuilds that
profile's configurations from its ``second_paper`` section, exactly as the book would execute the
chapter there, and reads the experiments inside :func:`unlearnkit.store.results.read_only`: a
record that is neither cached nor committed leaves its experiment out (``None``), it is never
computed.  The model is loaded (its key is part of every record's key); the classifiers are
refitted (seconds; they are not records).

This module reads; the verdicts are :mod:`.claims`' and use the recorded profile's own margins
(:attr:`Recorded.margins`), not the building profile's.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store import origin, results
from . import copyright, harmful


@dataclass
class Recorded:
    """``profile``'s harmful and copyright experiments (each None when not recorded), the margins
    that profile decides with, and where the records stand."""

    profile: str
    model_name: str
    harmful: dict | None
    copyright: dict | None
    margins: dict
    committed: str

    def label(self) -> str:
        found = [kind for kind, exp in (("harmful", self.harmful), ("copyright", self.copyright)) if exp is not None]
        what = " and ".join(found) + " experiment records" if found else "no second-paper records"
        return f"{self.profile} profile, {self.model_name}: {what}, committed at {self.committed}"


def _experiment(module, cfg) -> dict | None:
    with results.read_only():
        try:
            return module.experiment(cfg, progress=False)
        except results.NotRecorded:
            return None


def recorded(profile_name: str, params: dict) -> Recorded:
    """``profile_name``'s second-paper experiments from the repository's records (see the module);
    ``params``: the second-paper chapter's parameters as that profile executes it
    (:func:`unlearnkit.book.grid.chapter_params`, a layer above this one)."""
    model_name = params["model_name"]
    hcfg = harmful.HarmfulConfig(model_name=model_name, **(params.get("harmful_config") or {}))
    ccfg = copyright.CopyrightConfig(model_name=model_name, **(params.get("copyright_config") or {}))
    committed = origin.last_commit(results.repository_results() / profile_name / "records") or "not committed"
    return Recorded(
        profile_name,
        model_name,
        _experiment(harmful, hcfg),
        _experiment(copyright, ccfg),
        dict(params.get("margins") or {}),
        committed,
    )
