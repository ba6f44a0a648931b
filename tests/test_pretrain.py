"""Pretraining: logs, atomic resumable checkpoints, export, config errors, DDP with two CPU processes."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from dataclasses import asdict

import pytest
import torch

from fimcg.io.checkpoint import load_checkpoint
from fimcg.fim.config import CandidateConfig, FIMConfig, NetworkConfig
from fimcg.fim.weights import load_fim
from fimcg.fim.training.loop import PretrainConfig, main, pretrain

TINY_MODEL = asdict(FIMConfig(NetworkConfig(d_model=16, n_heads=2, n_latents=4, n_encoder_blocks=1, n_decoder_blocks=1)))


def _tiny(steps: int, **kw) -> PretrainConfig:
    base = dict(model=TINY_MODEL, steps=steps, val_every=4, val_batches=2, log_every=2, tokens_per_batch=1500,
                warmup=2, checkpoint_every=1e9)
    base.update(kw)
    return PretrainConfig(**base)


def test_pretrain_writes_logs_checkpoints_and_resumes(tmp_path):
    out = tmp_path / "run"
    rec = pretrain(_tiny(4), out, device="cpu", progress=False)
    assert rec["step"] == 4 and "val_drift_rel" in rec and "ref_diffusion_rel" in rec
    for name in ("checkpoint.safetensors", "best.safetensors", "log.csv", "log.json", "config.json"):
        assert (out / name).is_file(), name
    first = load_checkpoint(out / "checkpoint.safetensors")
    assert first["step"] == 4
    # same command with more steps resumes from step 4 instead of starting over
    rec = pretrain(_tiny(8), out, device="cpu", progress=False)
    log = json.loads((out / "log.json").read_text())
    steps = [r["step"] for r in log["history"]]
    # step 0 is the validation of the initial model, then every log_every=2 steps up to 8
    assert steps == [0, 2, 4, 6, 8] and rec["step"] == 8
    resumed = load_checkpoint(out / "checkpoint.safetensors")
    changed = any(not torch.equal(first["model"][k], resumed["model"][k]) for k in first["model"])
    assert changed
    # no temporary files are left behind by the atomic writer
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_export_is_loadable_by_load_fim(tmp_path):
    out = tmp_path / "run"
    rec = pretrain(_tiny(2, val_every=2), out, device="cpu", progress=False, export=tmp_path / "w.safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # verified against the printed checksum: no warning
        model = load_fim(tmp_path / "w.safetensors", sha256=rec["export_sha256"])
    # the export is the best validation checkpoint (the initial model is a candidate too)
    best = load_checkpoint(out / "best.safetensors")
    assert model.meta["step"] == best["step"] and all(torch.equal(v, best["model"][k])
                                                      for k, v in model.state_dict().items())
    assert model.meta["n_parameters"] == sum(p.numel() for p in model.parameters())


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
           "-m", "fimcg.fim.training", "--config", str(cfg), "--out", str(tmp_path / "ddp"), "--device", "cpu",
           "--no-progress"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    log = json.loads((tmp_path / "ddp" / "log.json").read_text())
    assert log["step"] == 3 and log["history"][-1]["world_size"] == 2


def test_init_fine_tunes_from_given_weights(tmp_path):
    first = tmp_path / "first"
    pretrain(_tiny(2, val_every=2), first, device="cpu", progress=False, export=tmp_path / "w.safetensors")
    start = load_fim(tmp_path / "w.safetensors").state_dict()
    second = tmp_path / "second"
    # zero steps: the new run's checkpoint holds exactly the weights it was initialised from
    pretrain(_tiny(0), second, device="cpu", progress=False, init=tmp_path / "w.safetensors")
    ck = load_checkpoint(second / "checkpoint.safetensors")
    assert all(torch.equal(start[k], ck["model"][k]) for k in start)


def test_workers_stream_the_prior(tmp_path):
    rec = pretrain(_tiny(3, workers=1), tmp_path / "run", device="cpu", progress=False)
    assert rec["step"] == 3


def _batch(*drift_scales: float, n_paths: int = 4, T: int = 50):
    """A hand-made TrainingBatch, one dataset per scale c: drift -c x, diffusion 1, grid queries."""
    from fimcg.fim.training.prior import TrainingBatch

    g = torch.Generator().manual_seed(0)
    B = len(drift_scales)
    paths = torch.randn(B, n_paths, T, 1, generator=g)
    q = torch.linspace(-1, 1, 16)[None, :, None].expand(B, 16, 1)
    c = torch.tensor(drift_scales)[:, None, None]
    return TrainingBatch(paths, 0.01, q, -c * q, torch.ones_like(q), torch.zeros(B))


def _pred(drift: torch.Tensor, diffusion: torch.Tensor):
    from fimcg.fim.model import Prediction

    return Prediction(drift=drift, diffusion=diffusion, log_scale=torch.zeros(drift.shape[:2]))


def test_loss_is_small_for_the_truth_and_ignores_unidentifiable_drift():
    from fimcg.fim.training.loss import fim_loss, normalised_targets

    informative = _batch(50.0)
    f_t, g_t = normalised_targets(informative)
    exact, _ = fim_loss(_pred(f_t, g_t), informative)
    wrong, parts = fim_loss(_pred(torch.zeros_like(f_t), g_t), informative)
    assert float(exact) < 0.05 < float(wrong) and parts["loss_f"] == pytest.approx(math.log(2), rel=0.05)
    # next to an informative dataset, one whose drift is hidden by the noise (signal-to-noise
    # ratio ~ 0) carries almost no weight: a wild drift estimate there hardly changes the loss
    both = _batch(50.0, 1e-3)
    f_b, g_b = normalised_targets(both)
    good = f_b.clone()
    wild = f_b.clone()
    wild[1] += 100 * f_b[1].abs().max() + 1.0
    base = fim_loss(_pred(good, g_b), both)[1]["main"]
    off = fim_loss(_pred(wild, g_b), both)[1]["main"]
    assert off - base < 0.05
    # while the same error on the informative dataset costs a lot
    wild_inf = f_b.clone()
    wild_inf[0] = 0.0
    off_inf = fim_loss(_pred(wild_inf, g_b), both)[1]["main"]
    assert off_inf - base > 0.3


#: a network small enough for the warm-start tests
SMALL = NetworkConfig(d_model=16, n_heads=2, n_latents=4, n_encoder_blocks=1, n_decoder_blocks=1)


def _gated_model_and_context(config: FIMConfig):
    """A FIM of ``config`` whose gates depend on the context (random output weights, seed 0), a
    context of 4 random-walk paths x 300 steps and 7 query locations."""
    from fimcg.fim.model import FIM

    torch.manual_seed(0)
    model = FIM(config).eval()
    with torch.no_grad():
        model.head[-1].weight.normal_(0, 0.3)
    gen = torch.Generator().manual_seed(1)
    return model, (0.1 * torch.randn(4, 300, 1, generator=gen)).cumsum(1), torch.linspace(-0.5, 0.5, 7)


def test_warm_start_maps_features_and_options_by_name():
    """Weights trained without the lack-of-fit tests, the 0.25 bandwidth and the CV average load
    into the larger model: exactly the old model with the new options silenced, or with the cubic
    fit's gate handed to the cross-validated average."""
    from fimcg.fim.model import FIM
    from fimcg.fim.training.loop import warm_start

    old_cfg = FIMConfig(SMALL, CandidateConfig(bandwidths=(0.05, 0.15, 0.4), n_test_points=0, cv_penalty=None))
    new_cfg = FIMConfig(SMALL, CandidateConfig(bandwidths=(0.05, 0.15, 0.25, 0.4)))
    old, paths, x = _gated_model_and_context(old_cfg)
    silent = FIM(new_cfg).eval()
    assert warm_start(silent, old.state_dict(), old_cfg, new_option_logit=-60.0) == [
        "query_embed.0.weight", "head.3.weight", "head.3.bias"]
    with torch.no_grad():
        for a, b in zip(old.estimate(paths, 0.01, x), silent.estimate(paths, 0.01, x)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    handed = FIM(new_cfg).eval()
    warm_start(handed, old.state_dict(), old_cfg, new_option_logit=-60.0, hand_over={"cv average": "ls3"})
    g_old = old.explain(paths, 0.01, x)["drift_gates"]
    g_new = handed.explain(paths, 0.01, x)["drift_gates"]
    torch.testing.assert_close(g_new["cv average"], g_old["ls3"], rtol=0.01, atol=1e-4)
    assert float(g_new["ls3"].max()) < 0.01 * float(g_old["ls3"].min()) + 1e-6
    with pytest.raises(ValueError, match="already have"):
        warm_start(FIM(new_cfg), handed.state_dict(), new_cfg, hand_over={"cv average": "ls3"})


def test_warm_start_hands_diffusion_gates_over():
    """The splines' cross-validated g'² averages take over the gates of the quadratic g'² fits:
    the new model's diffusion gates put on them what the old ones put on ls2 and ls2 robust."""
    from fimcg.fim.model import FIM
    from fimcg.fim.training.loop import warm_start

    old_cfg = FIMConfig(SMALL, CandidateConfig(high_degrees=(), families=()))
    new_cfg = FIMConfig(SMALL, CandidateConfig(high_degrees=(), families=(), spline_segments=8))
    old, paths, x = _gated_model_and_context(old_cfg)
    handed = FIM(new_cfg).eval()
    warm_start(handed, old.state_dict(), old_cfg, new_option_logit=-60.0, hand_over_drop=60.0,
               hand_over={"cv g2": "ls2", "cv g2 robust": "ls2 robust"})
    g_old = old.explain(paths, 0.01, x)["diffusion_gates"]
    g_new = handed.explain(paths, 0.01, x)["diffusion_gates"]
    torch.testing.assert_close(g_new["cv g2"], g_old["ls2"], rtol=0.01, atol=1e-4)
    torch.testing.assert_close(g_new["cv g2 robust"], g_old["ls2 robust"], rtol=0.01, atol=1e-4)
    assert float(g_new["ls2"].max()) < 1e-6
    with pytest.raises(ValueError, match="no such diffusion option"):
        warm_start(FIM(new_cfg), old.state_dict(), old_cfg, hand_over={"cv g2": "m2 h9"})
    with pytest.raises(ValueError, match="must be a drift or diffusion option"):
        warm_start(FIM(new_cfg), old.state_dict(), old_cfg, hand_over={"nothing": "ls2"})


def test_warm_start_follows_names_not_positions():
    """Two configs with the same candidates in another order (families, bandwidths) have the same
    features and options at other positions: warm_start moves input columns and gate rows by
    name, so the warm-started model computes what the old one did."""
    from fimcg.fim.model import FIM
    from fimcg.fim.training.loop import warm_start

    small = NetworkConfig(d_model=16, n_heads=2, n_latents=4, n_encoder_blocks=1, n_decoder_blocks=1)
    old_cfg = FIMConfig(small, CandidateConfig(bandwidths=(0.1, 0.3), families=("tanh", "sine"), high_degrees=()))
    new_cfg = FIMConfig(small, CandidateConfig(bandwidths=(0.3, 0.1), families=("sine", "tanh"), high_degrees=()))
    assert old_cfg.drift_option_names() != new_cfg.drift_option_names()
    assert sorted(old_cfg.query_feature_names()) == sorted(new_cfg.query_feature_names())
    torch.manual_seed(0)
    old = FIM(old_cfg).eval()
    with torch.no_grad():
        old.gate_layer().weight.normal_(0, 0.3)
        old.gate_layer().bias.normal_(0, 0.3)
    new = FIM(new_cfg).eval()
    assert warm_start(new, old.state_dict(), old_cfg) == ["query_embed.0.weight", "head.3.weight", "head.3.bias"]
    gen = torch.Generator().manual_seed(1)
    paths = (0.1 * torch.randn(4, 300, 1, generator=gen)).cumsum(1)
    x = torch.linspace(-0.5, 0.5, 7)
    with torch.no_grad():
        for a, b in zip(old(paths, 0.01, x), new(paths, 0.01, x)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        g_old, g_new = old.explain(paths, 0.01, x)["drift_gates"], new.explain(paths, 0.01, x)["drift_gates"]
    for name in old_cfg.drift_option_names():
        torch.testing.assert_close(g_new[name], g_old[name], rtol=1e-4, atol=1e-6)


def test_fine_tuned_weights_remember_what_they_started_from(tmp_path):
    pretrain(_tiny(2, val_every=2), tmp_path / "first", device="cpu", progress=False, export=tmp_path / "w.safetensors")
    pretrain(_tiny(2, val_every=2), tmp_path / "second", device="cpu", progress=False, init=tmp_path / "w.safetensors",
             export=tmp_path / "w2.safetensors")
    meta = load_fim(tmp_path / "w2.safetensors").meta
    assert meta["init"]["path"] == str(tmp_path / "w.safetensors")
    assert meta["init"]["step"] == load_fim(tmp_path / "w.safetensors").meta["step"]
    assert meta["stopped_at_step"] == 2 and meta["best_checkpoint_at_s"] is not None


def test_the_initial_weights_depend_on_the_run_seed_only(tmp_path):
    """A notebook's earlier cells must not change what a pretraining run starts from."""
    states = []
    for i, global_seed in enumerate((1, 2)):
        torch.manual_seed(global_seed)
        torch.rand(7)  # whatever ran before
        pretrain(_tiny(0, seed=3), tmp_path / f"run{i}", device="cpu", progress=False)
        states.append(load_checkpoint(tmp_path / f"run{i}" / "checkpoint.safetensors")["model"])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    pretrain(_tiny(0, seed=4), tmp_path / "other", device="cpu", progress=False)
    other = load_checkpoint(tmp_path / "other" / "checkpoint.safetensors")["model"]
    assert not all(torch.equal(states[0][k], other[k]) for k in other)
