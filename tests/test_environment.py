"""The three descriptions of the environment agree: pyproject's ranges admit every pin of the
lock file, environment.yml installs the lock, and the lock leaves torch to requirements-torch.txt."""

import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_the_lock_pins_every_declared_dependency_inside_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = (
        project["dependencies"] + project["optional-dependencies"]["book"] + project["optional-dependencies"]["test"]
    )
    pins = _pins()
    for spec in map(Requirement, declared):
        name = spec.name.lower().replace("_", "-")
        if name == "torch":  # installed first, from requirements-torch.txt
            assert "torch" not in pins
            torch_pin = Requirement((ROOT / "requirements-torch.txt").read_text().strip().splitlines()[-1])
            assert spec.specifier.contains(str(torch_pin.specifier).removeprefix("=="))
            continue
        assert name in pins, f"{name} is declared but not in requirements.lock (run `make lock`)"
        assert spec.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} is outside {spec}"


def test_the_lock_holds_no_cuda_build():
    assert not [n for n in _pins() if n.startswith(("nvidia-", "cuda-"))]


def test_environment_yml_installs_the_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip[:2] == ["-r requirements-torch.txt", "-r requirements.lock"]
