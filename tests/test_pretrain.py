"""Pretraining: logs, atomic resumable checkpoints, export, config errors, DDP with two CPU processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from fimcg.fim import FIMConfig, load_fim
from fimcg.pretrain import PretrainConfig, main, pretrain

TINY_MODEL = asdict(FIMConfig(d_model=16, n_heads=2, n_latents=4, n_encoder_blocks=1, n_decoder_blocks=1))


def _tiny(steps: int, **kw) -> PretrainConfig:
    base = dict(model=TINY_MODEL, steps=steps, val_every=4, val_batches=2, log_every=2, tokens_per_batch=1500,
                warmup=2, checkpoint_every=1e9)
    base.update(kw)
    return PretrainConfig(**base)


def test_pretrain_writes_logs_checkpoints_and_resumes(tmp_path):
    out = tmp_path / "run"
    rec = pretrain(_tiny(4), out, device="cpu", progress=False)
    assert rec["step"] == 4 and "val_drift_rel" in rec and "ref_diffusion_rel" in rec
    for name in ("checkpoint.pt", "best.pt", "log.csv", "log.json", "config.json"):
        assert (out / name).is_file(), name
    first = torch.load(out / "checkpoint.pt", weights_only=False)
    assert first["step"] == 4
    # same command with more steps resumes from step 4 instead of starting over
    rec = pretrain(_tiny(8), out, device="cpu", progress=False)
    log = json.loads((out / "log.json").read_text())
    steps = [r["step"] for r in log["history"]]
    # step 0 is the validation of the initial model, then every log_every=2 steps up to 8
    assert steps == [0, 2, 4, 6, 8] and rec["step"] == 8
    resumed = torch.load(out / "checkpoint.pt", weights_only=False)
    changed = any(not torch.equal(first["model"][k], resumed["model"][k]) for k in first["model"])
    assert changed
    # no temporary files are left behind by the atomic writer
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_export_is_loadable_by_load_fim(tmp_path):
    out = tmp_path / "run"
    pretrain(_tiny(2, val_every=2), out, device="cpu", progress=False, export=tmp_path / "w.pt")
    model = load_fim(tmp_path / "w.pt")
    assert model.meta["step"] == 2 and model.meta["n_parameters"] == sum(p.numel() for p in model.parameters())


def test_cli_config_errors(tmp_path, capsys):
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"stepz": 3}))
    assert main(["--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "unknown keys" in capsys.readouterr().err
    bad.write_text("{not json")
    assert main(["--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "missing.json")]) == 2


def test_data_parallel_with_two_cpu_processes(tmp_path):
    """torchrun with 2 gloo processes: trains, keeps the replicas in sync (checked at the end), logs."""
    cfg = tmp_path / "c.json"
    d = asdict(_tiny(3, val_every=3))
    cfg.write_text(json.dumps(d))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "fimcg.pretrain", "--config", str(cfg), "--out", str(tmp_path / "ddp"), "--device", "cpu",
           "--no-progress"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    log = json.loads((tmp_path / "ddp" / "log.json").read_text())
    assert log["step"] == 3 and log["history"][-1]["world_size"] == 2
