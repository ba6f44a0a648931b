"""Packaging: pyproject.toml and environment.yml agree; the scripts the README names exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> tuple[str, str]:
    r = Requirement(req)
    return re.sub(r"[-_.]+", "-", r.name).lower(), str(SpecifierSet(str(r.specifier)))


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_environment_yml_pip_list_is_pyproject_dependencies_plus_lab_extra():
    project = _pyproject()["project"]
    pins = dict(_norm(r) for r in _constraints())  # the environment pins what the constraints pin
    expected = {(n, pins.get(n, s)) for n, s in map(_norm, project["dependencies"] + project["optional-dependencies"]["lab"])}
    deps = _environment()["dependencies"]
    pip_lists = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml needs exactly one pip: section"
    pip_reqs = [r for r in pip_lists[0] if not r.startswith("-")]
    got = {_norm(r) for r in pip_reqs}
    assert got == expected, f"only in environment.yml: {got - expected}; only in pyproject: {expected - got}"
    assert "-e ." in pip_lists[0], "environment.yml must install fimcg itself (-e .)"


def _constraints() -> list[str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def test_the_library_accepts_a_torch_range_and_the_scripts_pin_it():
    torch_req = next(Requirement(r) for r in _pyproject()["project"]["dependencies"] if r.startswith("torch"))
    assert torch_req.specifier.contains("2.13.0") and torch_req.specifier.contains("2.6.0")
    assert not torch_req.specifier.contains("3.0.0") and len(torch_req.specifier) == 2  # a range, not a pin
    assert "torch==2.13.0" in _constraints()
    for script in ("scripts/run-main.sh", "scripts/test.sh"):
        installs = [ln for ln in (ROOT / script).read_text().splitlines()
                    if "pip install" in ln and "-e" in ln and not ln.lstrip().startswith("#")]
        assert installs and all("-c constraints.txt" in ln for ln in installs), script
    pip = [d["pip"] for d in _environment()["dependencies"] if isinstance(d, dict)][0]
    assert "torch==2.13.0" in pip
    # conda/Binder: the CPU wheel index, or pip fetches the multi-GB CUDA build
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in pip


def test_python_versions_agree():
    conda = [d for d in _environment()["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert conda == ["python=3.11"]
    assert SpecifierSet(_pyproject()["project"]["requires-python"]).contains("3.11")


def test_readme_commands_and_ci_script_exist():
    readme = (ROOT / "README.md").read_text()
    for cmd in ("bash scripts/run-main.sh", "bash scripts/test.sh"):
        assert cmd in readme
        assert (ROOT / cmd.split()[1]).is_file()
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in ci and "scripts/test.sh" in ci
    assert _pyproject()["project"]["scripts"]["fimcg"] == "fimcg.app.cli:main"
