#!/usr/bin/env python
"""Execute every notebook top to bottom and print how long each took.

    python scripts/run-notebooks.py             # normal mode (the settings a reader gets)
    python scripts/run-notebooks.py --fast      # FIMCG_FAST=1, as CI runs them
    python scripts/run-notebooks.py 01 05       # only notebooks whose names start with these

Notebooks are the jupytext sources notebooks/[0-9]*.py; each runs in a fresh kernel started in
notebooks/, and the executed copy is written to build/nbrun/<name>.ipynb. Exits 1 if any notebook
fails (the others still run), printing the failing cell's error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run_one(src: Path, out_dir: Path, timeout: int) -> tuple[float, str | None]:
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = jupytext.read(src)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(src.parent)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
    except Exception as exc:  # kernel died, timeout, ...
        error = f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / (src.stem + ".ipynb.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, out_dir / (src.stem + ".ipynb"))
    return elapsed, error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="run only notebooks whose file names start with these")
    parser.add_argument("--fast", action="store_true", help="set FIMCG_FAST=1 (small data, short training)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell (default 1800)")
    parser.add_argument("--out", default=str(ROOT / "build" / "nbrun"), help="folder for executed copies")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be > 0, got {args.timeout}")

    os.environ["FIMCG_FAST"] = "1" if args.fast else "0"
    os.environ.setdefault("PLOTLY_RENDERER", "notebook_connected")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sources = sorted((ROOT / "notebooks").glob("[0-9]*.py"))
    if args.prefixes:
        sources = [s for s in sources if any(s.name.startswith(p) for p in args.prefixes)]
    if not sources:
        print(f"run-notebooks: no notebooks matched {args.prefixes or 'notebooks/[0-9]*.py'}", file=sys.stderr)
        return 1

    mode = "fast" if args.fast else "normal"
    print(f"run-notebooks: {len(sources)} notebook(s), {mode} mode", flush=True)
    results = []
    for src in sources:
        elapsed, error = _run_one(src, Path(args.out), args.timeout)
        status = "ok" if error is None else "FAILED"
        print(f"  {src.name:<42} {elapsed:8.1f} s  {status}", flush=True)
        if error:
            print(f"      {error}", flush=True)
        results.append((src.name, elapsed, error))
    total = sum(r[1] for r in results)
    failed = [r[0] for r in results if r[2] is not None]
    print(f"  {'total':<42} {total:8.1f} s  ({mode} mode, {len(failed)} failed)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
