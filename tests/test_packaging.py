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
    expected = {_norm(r) for r in project["dependencies"]} | {_norm(r) for r in project["optional-dependencies"]["lab"]}
    deps = _environment()["dependencies"]
    pip_lists = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml needs exactly one pip: section"
    pip_reqs = [r for r in pip_lists[0] if not r.startswith("-")]
    got = {_norm(r) for r in pip_reqs}
    assert got == expected, f"only in environment.yml: {got - expected}; only in pyproject: {expected - got}"
    assert "-e ." in pip_lists[0], "environment.yml must install fimcg itself (-e .)"


def test_torch_is_pinned_in_both():
    assert "torch==2.13.0" in _pyproject()["project"]["dependencies"]
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
