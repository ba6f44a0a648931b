"""Shipped weights: saving, loading and verifying FIM weight files.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any
import torch
from ..io.checkpoint import load_checkpoint, sha256_of
from .model import FIM
from .config import FIMConfig, NetworkConfig


SHIPPED_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "fim_1d.safetensors"


#: the shipped weights for two-dimensional states (the companion of the 1-D model, see :attr:`FIM.companions`)
SHIPPED_WEIGHTS_2D = SHIPPED_WEIGHTS.with_name("fim_2d.safetensors")


#: SHA-256 of the shipped weights, held in the code (not beside the file): a swapped file is refused
SHIPPED_WEIGHTS_SHA256 = "239a40d10f2ff2f929b2d25e22eef99d0c07e5d488bcc8fd73ff63fa921af4be"


SHIPPED_WEIGHTS_2D_SHA256 = "ce2a3ca38eae4fefc2122124b4e651de359e5d303c347298eca7de826906f9e0"


def _shipped_hash(path: Path) -> str | None:
    """The SHA-256 held in the code for a shipped weights file (None: not a shipped file)."""
    shipped = {SHIPPED_WEIGHTS.resolve(): SHIPPED_WEIGHTS_SHA256, SHIPPED_WEIGHTS_2D.resolve(): SHIPPED_WEIGHTS_2D_SHA256}
    return shipped.get(path.resolve())


class UnverifiedWeightsWarning(UserWarning):
    """Weights that are not the ones shipped with fimcg were loaded without a known checksum."""


def save_weights(model: FIM, path: str | Path, *, meta: dict | None = None) -> str:
    """Write ``model``'s weights and config to ``path`` (safetensors + JSON, see
    :mod:`fimcg.io.checkpoint`) and return the file's SHA-256 (to publish beside it, for
    ``load_fim(path, sha256=...)``)."""
    from ..io.checkpoint import save_checkpoint

    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    save_checkpoint({"format": "fimcg-fim-1", "config": asdict(model.config), "state_dict": state,
                     "meta": meta or {}}, path)
    return sha256_of(path)


def load_fim(path: str | Path | None = None, *, device: str | torch.device = "cpu",
             sha256: str | None = None, companions: bool = True) -> FIM:
    """Load a pretrained FIM, frozen (eval mode, ``requires_grad=False``).

    Loading never runs code (see :mod:`fimcg.io.checkpoint`). The shipped weights are checked against
    :data:`SHIPPED_WEIGHTS_SHA256` and :data:`SHIPPED_WEIGHTS_2D_SHA256`, which are part of the code,
    so a swapped or damaged file is refused. Other weights are checked against ``sha256`` when it is
    given; without it they load with an :class:`UnverifiedWeightsWarning`.

    ``load_fim()`` returns the shipped 1-D model with the shipped 2-D model as its companion
    (:attr:`FIM.companions`): one object that estimates 1-D and 2-D contexts alike.

    Args:
        path: a weights file written by :func:`save_weights`; default the weights shipped with fimcg.
        device: where to put the model.
        sha256: the expected hex SHA-256 of ``path`` (from a source you trust).
        companions: with the shipped 1-D weights, attach the shipped weights of the other dimensions.

    Raises:
        FileNotFoundError: the weights are missing.
        RuntimeError: the checksum does not match, or the file is not a fimcg FIM weights file (a file
            of the former pickle format is refused with a message that says how to convert it).
    """
    model = _load_one(path, device=device, sha256=sha256)
    if companions and (path is None or Path(path).resolve() == SHIPPED_WEIGHTS.resolve()):
        other = _load_one(SHIPPED_WEIGHTS_2D, device=device, sha256=None)
        model.companions = {d: other for d in other.config.trained_dims if d not in model.config.trained_dims}
    return model


def _load_one(path: str | Path | None, *, device: str | torch.device, sha256: str | None) -> FIM:
    """One weights file, checked (see :func:`load_fim`)."""
    path = Path(path) if path is not None else SHIPPED_WEIGHTS
    shipped = _shipped_hash(path)
    if not path.is_file():
        raise FileNotFoundError(f"FIM weights not found at {path}; reinstall fimcg or pretrain with "
                                "`fimcg pretrain` (see fimcg/weights/MODEL_CARD.md)")
    expected = shipped if shipped is not None else sha256
    if expected is not None:
        actual = sha256_of(path)
        if actual != expected.strip().lower():
            what = "the weights shipped with fimcg" if shipped else "the expected checksum"
            raise RuntimeError(f"FIM weights {path} are corrupt or were replaced: SHA-256 {actual[:16]}... does not "
                               f"match {what} ({expected[:16]}...)" + ("; reinstall fimcg" if shipped else ""))
    blob = load_checkpoint(path)
    if not isinstance(blob, dict) or blob.get("format") != "fimcg-fim-1" or not isinstance(blob.get("config"), dict) \
            or not isinstance(blob.get("state_dict"), dict):
        raise RuntimeError(f"{path} is not a fimcg FIM weights file (it needs a format, a config and a state_dict)")
    if expected is None:
        warnings.warn(f"{path} is not the FIM shipped with fimcg and no sha256 was given: loaded unverified "
                      "(pass load_fim(path, sha256=...) with the checksum printed when the weights were saved)",
                      UnverifiedWeightsWarning, stacklevel=3)
    model = FIM(FIMConfig.from_dict(blob["config"]))
    model.load_state_dict(blob["state_dict"])
    model.meta = blob.get("meta", {})
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def legacy_query_feature_names(cfg: dict) -> list[str]:
    """The query features of a FIM saved with a flat config (before the candidate library), in the
    order its query embedding read them (the formula of those versions; ``cfg`` completed)."""
    dims, hs = range(cfg.get("max_dim", 3)), [f"h{h:g}" for h in cfg["bandwidths"]]
    names = [f"q{i}" for i in dims]
    for h in hs:
        names += [f"{h}:log_mass"] + [f"{h}:{part}{i}" for part in ("nw", "ll", "m2", "robust", "log_se")
                                      for i in dims]
    names += [f"{fit}{i}" for fit in ("ls1", "ls3", "g2_ls", "g2_ls_robust", "ls1_log_se", "ls3_log_se")
              for i in dims]
    names += [f"{h}:misfit{i}" for h in hs for i in dims]
    names += [f"lag1_{i}" for i in dims] + [f"f_stat{i}" for i in dims] + ["log_n"] + [f"mask{i}" for i in dims]
    fits = ["ls1", "ls3"] + [f"ls{p}" for p in cfg["high_degrees"]] + [f"{f} fit" for f in cfg["families"]]
    if cfg["n_test_points"] > 0:
        names += [f"{h}:lack_of_fit{i}" for h in hs for i in dims] + [f"linear_lack_of_fit{i}" for i in dims]
    if cfg["cv_penalty"] is not None:
        names += [f"{o}:cv_delta{i}" for o in fits + [f"ll h{h:g}" for h in cfg["bandwidths"]] for i in dims]
    names += [f"{fit}_{i}" for fit in fits[2:] for i in dims]
    return names


def upgrade_legacy(tree: Any) -> Any:
    """Bring a tree read from a legacy (pickled) FIM weights file or pretraining checkpoint to the
    current layout, for :func:`fimcg.io.checkpoint.convert_legacy` (``fimcg convert`` passes it).

    FIM configurations were saved flat (every field at the top level) and without the fields added
    later; they become ``{"network": ..., "candidates": ...}`` with the added fields set to the values
    that reproduce the saved model: no lack-of-fit tests (``n_test_points`` 0), no cross-validated
    average (``cv_penalty`` None), no higher degrees or families, and no extra penalty for family
    members on the cubic. The query embedding read its features in another order then: the input
    columns of its first layer (and their optimiser moments in a pretraining checkpoint) are
    permuted by feature name into today's order (:func:`legacy_query_feature_names`), so the
    converted model computes what the saved one did. The provenance chain in ``meta`` (each stage's
    pretraining config) is upgraded too. Other trees are returned unchanged.
    """
    def complete(cfg: dict) -> dict:
        cfg = dict(cfg)
        cfg.setdefault("n_test_points", 0)
        cfg.setdefault("cv_penalty", None)
        cfg.setdefault("high_degrees", ())
        cfg.setdefault("families", ())
        if cfg["families"]:
            cfg.setdefault("family_cubic_penalty", 0.0)
        return cfg

    def current(cfg: dict) -> dict:
        if set(cfg) <= {"network", "candidates"}:
            return cfg
        cfg = complete(cfg)
        net = {f.name for f in fields(NetworkConfig)}
        return {"network": {k: v for k, v in cfg.items() if k in net},
                "candidates": {k: v for k, v in cfg.items() if k not in net}}

    def reorder(flat: dict, state: dict, optimizer: dict | None = None) -> None:
        """Permute the query embedding's input columns from the legacy order to today's, in place."""
        new_cfg = FIMConfig.from_dict(current(flat))
        old, new = legacy_query_feature_names(complete(flat)), new_cfg.query_feature_names()
        if sorted(old) != sorted(new):
            raise ValueError("cannot convert: the saved model's query features do not match today's")
        perm = torch.tensor([old.index(n) for n in new])
        key = "query_embed.0.weight"
        state[key] = state[key][:, perm]
        if optimizer is not None:  # Adam's moments of that parameter, found by its position
            names = [n for n, _ in FIM(new_cfg).named_parameters()]
            moments = optimizer.get("state", {}).get(names.index(key), {})
            for m in ("exp_avg", "exp_avg_sq"):
                if m in moments:
                    moments[m] = moments[m][:, perm]

    def walk(meta: Any) -> None:  # weights' provenance: each stage's pretraining config, nested
        while isinstance(meta, dict):
            pc = meta.get("pretrain_config")
            if isinstance(pc, dict) and isinstance(pc.get("model"), dict):
                pc["model"] = current(pc["model"])
            meta = meta.get("init")

    if isinstance(tree, dict):
        cfg = tree.get("config")
        if tree.get("format") == "fimcg-fim-1" and isinstance(cfg, dict):
            if not set(cfg) <= {"network", "candidates"}:
                reorder(cfg, tree["state_dict"])
            tree["config"] = current(cfg)
            walk(tree.get("meta"))
        elif isinstance(cfg, dict) and isinstance(cfg.get("model"), dict):  # a pretraining checkpoint
            if not set(cfg["model"]) <= {"network", "candidates"} and isinstance(tree.get("model"), dict):
                reorder(cfg["model"], tree["model"], tree.get("optimizer"))
            cfg["model"] = current(cfg["model"])
            walk(tree.get("init_meta"))
    return tree
