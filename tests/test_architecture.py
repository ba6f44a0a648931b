"""The package map of book/architecture.md, enforced: which package may import which, no private
name imported across modules, a small top level."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import fimcg

PKG = Path(fimcg.__file__).resolve().parent
LEAVES = {"sde", "estimators", "io"}
ALLOWED = {  # package -> the fimcg packages it may import (besides itself and _validation)
    **{leaf: set() for leaf in LEAVES},
    "video": {"sde"},  # scenes simulate the processes that move their objects
    "fim": {"sde", "estimators", "io"},
    "coarse_graining": {"sde", "estimators", "fim", "io", "video", "analysis"},
    "analysis": {"sde", "estimators"},
    "app": {"sde", "video", "estimators", "io", "fim", "coarse_graining", "analysis"},
    "widgets": {"sde", "video", "estimators", "io", "fim", "coarse_graining", "analysis", "app"},
}


def _modules() -> list[tuple[str, Path]]:
    """(dotted module name, path) of every module in fimcg."""
    out = []
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), path))
    return out


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(absolute module, imported names, line) of every ``from ... import`` in a module, lazy ones too."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                target = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
    return [f for f in found if f[0] == "fimcg" or f[0].startswith("fimcg.")]


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_package_map_covers_every_package():
    packages = {_package(m) for m, _ in _modules()} - {"", "_validation", "__main__"}
    assert packages == set(ALLOWED), f"update ALLOWED and book/architecture.md: {packages ^ set(ALLOWED)}"


@pytest.mark.parametrize("module,path", _modules(), ids=[m for m, _ in _modules()])
def test_packages_import_only_what_the_map_allows(module, path):
    own = _package(module)
    if own in ("", "__main__"):
        return  # the top level re-exports; __main__ starts the CLI
    for target, names, line in _imports(module, path):
        other = _package(target)
        if other in (own, "_validation"):
            continue
        if other == "":  # `from fimcg import x`: x is a package (or __version__)
            others = {n for n in names if n != "__version__"}
        else:
            others = {other}
        bad = others - ALLOWED.get(own, set())
        assert not bad, f"{module}:{line} imports {target} {names}: {own} may not import {sorted(bad)}"


def test_no_private_name_is_imported_across_modules():
    offences = [f"{m}:{line} imports {n} from {t}" for m, p in _modules() for t, names, line in _imports(m, p)
                for n in names if n.startswith("_") and not n.startswith("__")]
    assert not offences, "\n".join(offences)


def test_the_top_level_is_small():
    public = [n for n in fimcg.__all__ if not n.startswith("_")]
    assert len(public) <= 25, public
    assert all(hasattr(fimcg, n) for n in fimcg.__all__)
