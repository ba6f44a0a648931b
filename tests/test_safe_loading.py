"""No loader runs code; killed runs resume from their last checkpoint.

The crafted files are real exploits of the former format: a pickle whose ``__reduce__`` calls
``os.system`` to create a marker file. Every loader of fimcg, given such a file under every
extension, must refuse it with a clear error and leave no marker behind. The kill tests start real
subprocesses and end them with SIGKILL in the middle of training.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

import fimcg
from fimcg.io.checkpoint import LegacyFormatError, UnsafeFileError, load_checkpoint, save_checkpoint, sha256_of
from fimcg.coarse_graining.result import CoarseGrainResult
from fimcg.coarse_graining.decoupled import coarse_grain
from fimcg.coarse_graining.options import InitConfig, LikelihoodConfig
from fimcg.estimators.classic import local_linear
from fimcg.fim.config import FIMConfig, NetworkConfig
from fimcg.fim.weights import load_fim
from fimcg.coarse_graining.joint import JointResult
from fimcg.fim.training.loop import PretrainConfig, export_weights, pretrain

REPO = Path(__file__).resolve().parents[1]
EXTENSIONS = (".pt", ".pth", ".safetensors", ".bin", "")
TINY_MODEL = asdict(FIMConfig(NetworkConfig(d_model=16, n_heads=2, n_latents=4, n_encoder_blocks=1, n_decoder_blocks=1)))


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _crafted(folder: Path, name: str, *, raw: bool = False) -> tuple[Path, Path]:
    """A file that runs ``touch MARKER`` when unpickled; returns (file, marker)."""
    marker = folder / f"{name}.ran"
    path = folder / name
    payload = {"format": "fimcg-fim-1", "config": {}, "state_dict": _Exploit(marker)}
    if raw:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path)
    return path, marker


def test_the_crafted_file_really_runs_code_when_unpickled(tmp_path):
    """Guards the other tests: the payload is live (an unrestricted unpickle creates the marker)."""
    path, marker = _crafted(tmp_path, "evil.pt")
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.fixture(scope="module")
def frames():
    x = fimcg.simulate(fimcg.systems.double_well(), torch.linspace(-1, 1, 4)[:, None], dt=0.01, n_steps=40, seed=0)
    return fimcg.render_video(x, size=12)


LOADERS = {
    "load_checkpoint": lambda p, tmp: load_checkpoint(p),
    "load_fim": lambda p, tmp: load_fim(p),
    "load_fim with a matching sha256": lambda p, tmp: load_fim(p, sha256=sha256_of(p)),
    "CoarseGrainResult.load": lambda p, tmp: CoarseGrainResult.load(p),
    "JointResult.load": lambda p, tmp: JointResult.load(p),
    "pretrain --init": lambda p, tmp: pretrain(PretrainConfig(model=TINY_MODEL, steps=0), tmp / "run", init=p,
                                               progress=False),
    "export_weights": lambda p, tmp: export_weights(p, tmp / "w.safetensors"),
}


@pytest.mark.parametrize("raw", [False, True], ids=["torch.save", "raw pickle"])
@pytest.mark.parametrize("ext", EXTENSIONS)
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_no_loader_runs_code_from_a_crafted_file(loader, ext, raw, tmp_path):
    path, marker = _crafted(tmp_path, f"evil{ext}", raw=raw)
    with pytest.raises(LegacyFormatError, match="fimcg convert"):
        LOADERS[loader](path, tmp_path)
    assert not marker.exists()
    assert not (tmp_path / "w.safetensors").exists()  # nothing written


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_resuming_from_a_crafted_checkpoint_runs_no_code(ext, frames, tmp_path):
    path, marker = _crafted(tmp_path, f"ck{ext}")
    with pytest.raises(LegacyFormatError):
        coarse_grain(frames, 0.01, steps=2, estimator=local_linear, checkpoint=path, progress=False,
                     init=InitConfig(steps=10, points=100))
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model": _Exploit(marker)}, run / "checkpoint.safetensors")
    with pytest.raises(LegacyFormatError):
        pretrain(PretrainConfig(model=TINY_MODEL, steps=1), run, progress=False)
    assert not marker.exists()


def test_convert_refuses_code_without_trust(tmp_path):
    """`fimcg convert` reads with torch's restricted unpickler: the exploit is refused, not run."""
    path, marker = _crafted(tmp_path, "evil.pt")
    res = subprocess.run([sys.executable, "-m", "fimcg", "convert", str(path), str(tmp_path / "new.safetensors")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 2 and "restricted reader refused" in res.stderr and "--trust" in res.stderr
    assert not marker.exists() and not (tmp_path / "new.safetensors").exists()
    # a plain old file converts, and the command names what it did
    torch.save({"step": 3, "w": torch.ones(2)}, tmp_path / "ok.pt")
    res = subprocess.run([sys.executable, "-m", "fimcg", "convert", str(tmp_path / "ok.pt"),
                          str(tmp_path / "ok.safetensors")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "unpickling" in res.stderr and "SHA-256" in res.stdout
    assert load_checkpoint(tmp_path / "ok.safetensors")["step"] == 3


def test_a_legacy_file_given_to_a_command_is_one_clear_line(tmp_path):
    old = tmp_path / "old.pt"
    torch.save({"x": 1}, old)
    res = subprocess.run([sys.executable, "-m", "fimcg", "pretrain", "--steps", "0", "--init", str(old),
                          "--out", str(tmp_path / "run"), "--no-progress"], capture_output=True, text=True, timeout=180)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "pickle-based format" in res.stderr and "fimcg convert" in res.stderr


# --- killed runs resume ---------------------------------------------------------------------------


def _wait_for(predicate, proc: subprocess.Popen, timeout: float) -> None:
    t0 = time.time()
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early (exit {proc.returncode}): {proc.stderr.read()[-2000:]}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError("the run made no progress in time")
        time.sleep(0.05)


@pytest.mark.slow
def test_pretraining_killed_with_sigkill_resumes_losing_at_most_one_interval(tmp_path):
    interval = 1.0  # seconds between checkpoints
    cfg = dict(model=TINY_MODEL, steps=100_000, val_every=10 ** 9, val_batches=1, log_every=1,
               tokens_per_batch=800, warmup=2, checkpoint_every=interval)
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "fimcg.fim.training", "--config", str(tmp_path / "cfg.json"), "--out", str(out),
           "--no-progress", "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    csv_path = out / "log.csv"

    def logged() -> list[str]:
        return csv_path.read_text().splitlines()[1:] if csv_path.exists() else []

    def far_enough() -> bool:  # a few checkpoint intervals of training
        rows = logged()
        return len(rows) > 2 and float(rows[-2].split(",")[1]) > 3.5 * interval

    _wait_for(far_enough, proc, timeout=120)
    time.sleep(0.37 * interval)  # somewhere between two checkpoints
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    last = [r for r in logged() if r.count(",") >= 2][-1].split(",")  # a killed append may leave half a row
    last_step, last_elapsed = int(last[0]), float(last[1])
    ck = load_checkpoint(out / "checkpoint.safetensors")  # intact although the process was killed
    assert 0 < ck["step"] <= last_step
    step_time = last_elapsed / last_step
    # lost work: what was done after the last checkpoint, at most one interval (+ a step and rounding)
    assert last_elapsed - ck["elapsed"] <= interval + 2 * step_time + 0.15, (last_elapsed, ck["elapsed"])
    # the same command resumes from that checkpoint and finishes
    cfg["steps"] = ck["step"] + 3
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    log = json.loads((out / "log.json").read_text())
    steps = [r["step"] for r in log["history"]]
    assert log["step"] == ck["step"] + 3 and steps[-4:] == list(range(ck["step"], ck["step"] + 4))
    assert steps.count(0) == 1  # resumed, not restarted


_CG_CHILD = """
import sys, torch
from fimcg.io.checkpoint import load_checkpoint
from fimcg.coarse_graining import InitConfig, LikelihoodConfig, coarse_grain
from fimcg.estimators import local_linear
torch.set_num_threads(1)
frames = load_checkpoint(sys.argv[1])["frames"]
def say(step, _):
    print(f"step {step}", flush=True)
coarse_grain(frames, 0.01, steps=100_000, estimator=local_linear, checkpoint=sys.argv[2], checkpoint_every=5,
             progress=False, init=InitConfig(steps=50, points=200), likelihood=LikelihoodConfig(n_queries=32),
             callback=say, eval_every=1, seed=3)
"""


@pytest.mark.slow
def test_coarse_graining_killed_with_sigkill_resumes_losing_at_most_one_interval(frames, tmp_path):
    save_checkpoint({"frames": frames}, tmp_path / "frames.safetensors")
    ckpt = tmp_path / "cg.safetensors"
    proc = subprocess.Popen([sys.executable, "-c", _CG_CHILD, str(tmp_path / "frames.safetensors"), str(ckpt)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    printed = 0
    t0 = time.time()
    while printed < 23:  # the steps the child reports as done
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the run ended early: {proc.stderr.read()[-2000:]}")
        if line.startswith("step "):
            printed = int(line.split()[1])
        assert time.time() - t0 < 180
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    for line in proc.stdout.read().splitlines():  # steps reported between our last read and the kill
        if line.startswith("step "):
            printed = max(printed, int(line.split()[1]))
    ck = load_checkpoint(ckpt)  # intact
    assert ck["step"] % 5 == 0 and printed - 5 < ck["step"] <= printed  # at most one interval (5 steps) lost
    # resuming continues from the checkpoint: the first steps' history is the killed run's
    res = coarse_grain(frames, 0.01, steps=ck["step"] + 2, estimator=local_linear, checkpoint=ckpt, progress=False,
                       init=InitConfig(steps=50, points=200), likelihood=LikelihoodConfig(n_queries=32), seed=3)
    assert [h["step"] for h in res.history] == list(range(1, ck["step"] + 3))
    assert res.history[:ck["step"]] == ck["history"]


def test_a_run_folder_of_the_former_format_is_not_silently_restarted(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"step": 5}, run / "checkpoint.pt")
    with pytest.raises(LegacyFormatError, match="fimcg convert .*checkpoint.pt"):
        pretrain(PretrainConfig(model=TINY_MODEL, steps=1), run, progress=False)
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt"]  # nothing written


def test_crafted_metadata_never_escapes_as_another_error(tmp_path):
    from safetensors.torch import save
    from fimcg.io.checkpoint import FILE_FORMAT
    path = tmp_path / "x.safetensors"
    for tree in ('{"__dict__": [[[1], 2]]}', "[" * 100000 + "]" * 100000):
        path.write_bytes(save({"t": torch.ones(1)}, metadata={"format": FILE_FORMAT, "tree": tree}))
        with pytest.raises(UnsafeFileError):
            load_checkpoint(path)
    save_checkpoint({"format": "fimcg-fim-1"}, path)  # a fimcg file, but no config or weights
    with pytest.raises(RuntimeError, match="not a fimcg FIM weights file"):
        load_fim(path, sha256=sha256_of(path))
