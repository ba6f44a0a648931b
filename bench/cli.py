"""What the benchmark scripts share on their command line: options, loading the FIM, writing results."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any

import torch

import fimcg
from fimcg.fim import UnverifiedWeightsWarning
from fimcg.io import atomic_write_text


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser whose ``--help`` shows the script's docstring as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_data_options(ap: argparse.ArgumentParser, *, prior_datasets: int, prior_help: str = "per noise level",
                     seeds: int = 5) -> None:
    """``--seeds``, ``--prior-datasets`` and ``--noise``: how much of the benchmark's data to use."""
    ap.add_argument("--seeds", type=int, default=seeds)
    ap.add_argument("--prior-datasets", type=int, default=prior_datasets, help=prior_help)
    ap.add_argument("--noise", type=float, default=0.02, help="observation noise std as a fraction of std(x)")


def add_fim_options(ap: argparse.ArgumentParser, *, json_default: str, threads: int = 1) -> None:
    """``--weights``, ``--threads`` and ``--json``: which FIM, on how many threads, and where the results go."""
    ap.add_argument("--weights", default=None, help="weights file (default: the shipped ones)")
    ap.add_argument("--sha256", default=None, help="expected SHA-256 of --weights (without it they load unverified)")
    ap.add_argument("--threads", type=int, default=threads)
    ap.add_argument("--json", default=json_default)


def set_up(args: argparse.Namespace) -> None:
    """Set the torch threads of ``--threads`` and silence warnings (the tables are the output), all
    but the one that says the weights are unverified."""
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    warnings.simplefilter("default", UnverifiedWeightsWarning)


def load_fim(args: argparse.Namespace):
    """:func:`set_up`, then the FIM of ``--weights`` (default: the shipped one)."""
    set_up(args)
    return fimcg.load_fim(args.weights, sha256=args.sha256)


def write_json(obj: Any, path: str | Path, *, indent: int = 2) -> None:
    """Write a result to ``path`` atomically (its folder made if missing) and say so."""
    atomic_write_text(json.dumps(obj, indent=indent), path)
    print(f"\nwrote {path}")
