"""Pretraining the FIM on the synthetic prior: the whole training loop in one file.

Run it as ``fimcg pretrain --config CONFIG.json --out runs/fim [--export fimcg/weights/fim_1d.safetensors]``
(or ``python -m fimcg.fim.training ...``; with ``torchrun --nproc_per_node N -m fimcg.fim.training ...``
for data-parallel training on several GPUs, nodes or CPU processes).

The loop, per step: draw a batch of synthetic datasets (:class:`fimcg.fim.training.prior.SyntheticPrior`), run
the model, compute :func:`fim_loss`, AdamW update with gradient clipping and a warm-up + cosine
learning-rate schedule. Every ``val_every`` steps it evaluates held-out prior samples and the
reference double well, every ``checkpoint_every`` seconds it writes ``checkpoint.safetensors`` atomically
(model, optimiser, step, log), and the best validation model is kept in ``best.safetensors``. A
killed run loses at most one checkpoint interval: starting the same command again resumes.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
import torch
import torch.distributed as dist
from tqdm.auto import tqdm
from ...io.checkpoint import LegacyFormatError, UnsafeFileError, atomic_write_json, load_checkpoint, save_checkpoint
from ..model import FIM
from ..config import FIMConfig
from ..weights import save_weights
from .prior import PriorConfig, SyntheticPrior, TrainingBatch
from .loss import evaluate_on_prior, evaluate_reference, fim_loss


@dataclass
class PretrainConfig:
    """Everything that defines a pretraining run (saved with every checkpoint)."""

    model: dict = field(default_factory=lambda: asdict(FIMConfig()))
    prior: dict = field(default_factory=lambda: asdict(PriorConfig()))
    steps: int = 20000
    lr: float = 1e-3
    min_lr: float = 5e-5
    warmup: int = 300
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    tokens_per_batch: int = 18000
    seed: int = 0
    val_every: int = 500
    val_batches: int = 24
    val_seed: int = 987654321
    checkpoint_every: float = 120.0  # seconds
    log_every: int = 25
    threads: int = 1
    workers: int = 0  # processes simulating the prior in parallel (0: in the training process)
    max_minutes: float | None = None
    # with --init: new drift options that take over the gate of an old one (see warm_start)
    init_hand_over: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "PretrainConfig":
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"config file not found: {path}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"config file {path} is not valid JSON: {exc}") from None
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown keys in config {path}: {sorted(unknown)}; valid keys: "
                             f"{sorted(cls.__dataclass_fields__)}")
        return cls(**data)


class _PriorStream(torch.utils.data.IterableDataset):
    """The synthetic prior as a dataset for DataLoader workers: each worker its own seed, one thread."""

    def __init__(self, config: PriorConfig, seed: int, tokens_per_batch: int) -> None:
        super().__init__()
        self.config, self.seed, self.tokens_per_batch = config, seed, tokens_per_batch

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        torch.set_num_threads(1)
        return iter(SyntheticPrior(self.config, seed=self.seed + 104_729 * (worker + 1),
                                   tokens_per_batch=self.tokens_per_batch))


class _BatchPass(torch.nn.Module):
    """The FIM's batched normalised-units pass as a module's forward (what DistributedDataParallel wraps)."""

    def __init__(self, fim: FIM) -> None:
        super().__init__()
        self.fim = fim

    def forward(self, paths: torch.Tensor, dt: torch.Tensor | float, queries: torch.Tensor):
        return self.fim.predict_normalised(paths, dt, queries)


def _lr_at(step: int, cfg: PretrainConfig, elapsed_s: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to ``min_lr`` over the steps or, when ``max_minutes`` is
    set and runs out first, over the time budget."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    if cfg.max_minutes:
        frac = max(frac, min(1.0, elapsed_s / (60 * cfg.max_minutes)))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * frac))


def warm_start(model: FIM, state: dict, old_config: FIMConfig, *, new_option_logit: float = -3.0,
               hand_over: dict[str, str] | None = None, hand_over_drop: float = 6.0) -> list[str]:
    """Load weights trained with ``old_config`` into ``model``, which may have more features or options.

    The query features and the output gates of both configs are matched by name
    (:meth:`FIMConfig.query_feature_names`, :meth:`FIMConfig.drift_option_names`, ...): the input
    columns of :meth:`FIM.feature_layer` and the output rows of :meth:`FIM.gate_layer` are
    rearranged from the old names' order to the new ones' (so a reordered feature list changes
    nothing either). Input
    weights of new query features start at zero, so they change nothing until fine-tuning teaches
    the model to use them; a new output option starts with zero weights and bias
    ``new_option_logit`` (a small share of the mixture that fine-tuning can grow; a very negative
    value makes the warm-started model compute exactly what the old one did). ``hand_over`` maps a
    new drift or diffusion option to an old one of the same kind whose gate it takes over: it gets the old option's weights and
    bias, and the old option's bias drops by ``hand_over_drop`` (used to give the cross-validated
    average the place of the cubic fit it contains). Any other shape mismatch raises ``ValueError``.

    Returns:
        The names of the parameters that were remapped.
    """
    own, new_cfg = model.state_dict(), model.config
    fitted, remapped = dict(state), []
    old_drift, new_drift = old_config.drift_option_names(), new_cfg.drift_option_names()
    old_diff, new_diff = old_config.diffusion_option_names(), new_cfg.diffusion_option_names()

    hand_rows = {}
    for new, old in (hand_over or {}).items():
        for kind, olds, news in (("drift", old_drift, new_drift), ("diffusion", old_diff, new_diff)):
            if new in news:
                if new in olds:
                    raise ValueError(f"cannot hand the gate of {old!r} over to {new!r}: the weights already have "
                                     f"the {kind} option {new!r}")
                if old not in olds:
                    raise ValueError(f"cannot hand over the gate of {old!r}: the weights have no such {kind} option")
                prefix = "f" if kind == "drift" else "g"
                hand_rows[f"{prefix}:{new}"] = f"{prefix}:{old}"
                break
        else:
            raise ValueError(f"cannot hand the gate of {old!r} over to {new!r}: {new!r} must be a drift or diffusion "
                             f"option of the model that the weights do not have yet")

    def index_map(old_names: list[str], new_names: list[str]) -> tuple[list[int], list[int]]:
        pos = {n: i for i, n in enumerate(old_names)}
        return [i for i, n in enumerate(new_names) if n in pos], [pos[n] for n in new_names if n in pos]

    param_name = {id(p): n for n, p in model.named_parameters()}
    # the query embedding's input columns, one per query feature (matched by name, in any order)
    key = param_name[id(model.feature_layer().weight)]
    old_features, new_features = old_config.query_feature_names(), new_cfg.query_feature_names()
    if old_features != new_features:
        if state[key].shape != (own[key].shape[0], len(old_features)):
            raise ValueError(f"cannot warm-start {key}: weights {tuple(state[key].shape)}, model {tuple(own[key].shape)}")
        dst, src = index_map(old_features, new_features)
        w = torch.zeros_like(own[key])
        w[:, dst] = state[key][:, src]
        fitted[key] = w
        remapped.append(key)
    # the gates' output rows, one per drift option, then one per diffusion option (matched by name)
    old_rows = [f"f:{n}" for n in old_drift] + [f"g:{n}" for n in old_config.diffusion_option_names()]
    new_rows = [f"f:{n}" for n in new_drift] + [f"g:{n}" for n in new_cfg.diffusion_option_names()]
    gate = model.gate_layer()
    for key in (param_name[id(gate.weight)], param_name[id(gate.bias)]):
        if old_rows == new_rows and not hand_over:
            continue
        if state[key].shape[0] != len(old_rows) or state[key].shape[1:] != own[key].shape[1:]:
            raise ValueError(f"cannot warm-start {key}: weights {tuple(state[key].shape)}, model {tuple(own[key].shape)}")
        dst, src = index_map(old_rows, new_rows)
        is_bias = state[key].ndim == 1
        w = torch.full_like(own[key], new_option_logit) if is_bias else torch.zeros_like(own[key])
        w[dst] = state[key][src]
        for new, old in hand_rows.items():
            i_new, i_old = new_rows.index(new), new_rows.index(old)
            w[i_new] = w[i_old]
            if is_bias:
                w[i_old] -= hand_over_drop
        fitted[key] = w
        remapped.append(key)
    model.load_state_dict(fitted)
    return remapped


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def pretrain(cfg: PretrainConfig, out_dir: str | os.PathLike, *, device: str = "auto", fresh: bool = False,
             export: str | os.PathLike | None = None, progress: bool = True,
             init: str | os.PathLike | None = None) -> dict:
    """Pretrain (or resume pretraining) a FIM; return the final log record.

    Args:
        cfg: the run's configuration.
        out_dir: folder for ``checkpoint.safetensors``, ``best.safetensors``, ``log.csv``, ``log.json``, ``config.json``.
        device: "cpu", "cuda", "cuda:N" or "auto" (CUDA when available).
        fresh: ignore an existing checkpoint in ``out_dir`` and start from scratch.
        export: when given, write the best model's weights there at the end (its SHA-256 is printed and
            returned as ``export_sha256``: pass it to ``load_fim(path, sha256=...)``).
        progress: show a tqdm progress bar (rank 0 only).
        init: start a new run from these model weights (a shipped weights file or a pretraining
            checkpoint) instead of the initial gates: fine-tuning. Ignored when ``out_dir`` holds a
            checkpoint to resume. The model config must match the weights, except for query features
            added since (see :func:`warm_start`).

    Under ``torchrun`` (WORLD_SIZE > 1) the model is wrapped in DistributedDataParallel (NCCL on
    CUDA, gloo on CPU); every rank draws different synthetic data; rank 0 validates and writes files.
    """
    world, rank, local_rank = _dist_info()
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and world > 1:
        device = f"cuda:{local_rank}"
    dev = torch.device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    torch.set_num_threads(max(1, int(cfg.threads)))
    out = Path(out_dir)
    legacy = [p for p in (out / "checkpoint.pt", out / "best.pt") if p.exists()]
    if legacy and not (out / "checkpoint.safetensors").exists() and not fresh:
        raise LegacyFormatError(f"{out} holds a run in fimcg's former pickle format ({legacy[0].name}); convert it with "
                                f"`fimcg convert {legacy[0]} {legacy[0].with_suffix('.safetensors')}` to resume it, "
                                "or pass --fresh to start over")
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(asdict(cfg), out / "config.json")

    with torch.random.fork_rng(devices=[]):  # the initial weights depend on the run's seed only
        torch.manual_seed(cfg.seed)
        model = FIM(FIMConfig.from_dict(cfg.model)).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, best, history, elapsed = 0, math.inf, [], 0.0
    init_meta = None  # what a fine-tuning run started from (goes into the exported weights' metadata)
    ckpt_path = out / "checkpoint.safetensors"
    if ckpt_path.exists() and not fresh:
        ck = load_checkpoint(ckpt_path, map_location=dev)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, best, history, elapsed = ck["step"], ck["best"], ck["history"], ck.get("elapsed", 0.0)
        init_meta = ck.get("init_meta")
    elif init is not None:
        blob = load_checkpoint(init, map_location=dev)
        if "state_dict" in blob:  # a weights file
            old_cfg, state = FIMConfig.from_dict(blob["config"]), blob["state_dict"]
            init_meta = dict(blob.get("meta") or {})
        else:  # a pretraining checkpoint
            old_cfg, state = FIMConfig.from_dict(blob["config"]["model"]), blob["model"]
            init_meta = {"step": blob["step"], "pretrain_config": blob["config"]}
        init_meta["path"] = str(init)
        warm_start(model, state, old_cfg, hand_over=cfg.init_hand_over)
    batch_pass = _BatchPass(model)
    ddp = torch.nn.parallel.DistributedDataParallel(batch_pass) if world > 1 else batch_pass
    prior_cfg = PriorConfig.from_dict(cfg.prior)
    # the data stream is a function of (seed, rank, step): resuming continues with fresh samples
    stream_seed = cfg.seed * 1_000_003 + rank * 7919 + step
    if cfg.workers > 0:
        stream = iter(torch.utils.data.DataLoader(_PriorStream(prior_cfg, stream_seed, cfg.tokens_per_batch),
                                                  batch_size=None, num_workers=cfg.workers, prefetch_factor=4))
    else:
        stream = iter(SyntheticPrior(prior_cfg, seed=stream_seed, tokens_per_batch=cfg.tokens_per_batch))
    val_batches: list[TrainingBatch] = []
    if rank == 0:
        vp = SyntheticPrior(prior_cfg, seed=cfg.val_seed, tokens_per_batch=cfg.tokens_per_batch)
        while len(val_batches) < cfg.val_batches:
            val_batches.extend(vp.episode())
        val_batches = val_batches[:cfg.val_batches]

    def save(tag_best: bool = False) -> None:
        if rank != 0:
            return
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step, "best": best,
                 "history": history, "elapsed": elapsed, "config": asdict(cfg), "init_meta": init_meta}
        save_checkpoint(state, ckpt_path)
        if tag_best:
            save_checkpoint({"model": model.state_dict(), "step": step, "config": asdict(cfg),
                             "record": history[-1] if history else {}, "init_meta": init_meta}, out / "best.safetensors")
        atomic_write_json({"step": step, "best": best, "elapsed_s": elapsed, "history": history}, out / "log.json")

    def validate(record: dict) -> float:
        """Add the validation metrics to ``record``, print it, return the selection score."""
        record.update(evaluate_on_prior(model, val_batches))
        record.update(evaluate_reference(model))
        tqdm.write(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()}))
        return record["val_drift_rel"] + record["val_diffusion_rel"]

    stop = {"flag": False}

    def _on_signal(signum, frame):  # finish the step, checkpoint, exit cleanly
        stop["flag"] = True

    old_handlers = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)} \
        if rank == 0 and threading_main() else {}
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress or rank != 0, desc="pretrain FIM",
               dynamic_ncols=True)
    t_start, t_ckpt = time.time() - elapsed, time.time()
    run_f = run_g = 0.0
    skipped = bad_in_row = 0
    csv_path = out / "log.csv"
    if rank == 0 and step == 0:  # the initial model is a candidate too (its gates start at classic fits)
        record = {"step": 0, "elapsed_s": 0.0, "world_size": world, "skipped": 0}
        best = validate(record)
        history.append(record)
        save(tag_best=True)
    try:
        while step < cfg.steps:
            batch = next(stream).to(dev)
            lr = _lr_at(step, cfg, time.time() - t_start)
            for group in opt.param_groups:
                group["lr"] = lr
            ddp.train()
            pred = ddp(batch.paths, batch.dt, batch.queries)  # FIM.predict_normalised (see _BatchPass)
            loss, parts = fim_loss(pred, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            if not (torch.isfinite(loss) and torch.isfinite(grad_norm)):
                # a rare extreme synthetic sample: skip it (all ranks see the same all-reduced gradient)
                skipped += 1
                bad_in_row += 1
                if bad_in_row >= 50:
                    raise FloatingPointError(f"50 consecutive non-finite losses at step {step}: training "
                                             f"diverged; the last good checkpoint is {ckpt_path}")
                continue
            bad_in_row = 0
            opt.step()
            step += 1
            elapsed = time.time() - t_start
            run_f = 0.98 * run_f + 0.02 * parts["loss_f"] if step > 1 else parts["loss_f"]
            run_g = 0.98 * run_g + 0.02 * parts["loss_g"] if step > 1 else parts["loss_g"]
            bar.update(1)
            bar.set_postfix(loss_f=f"{run_f:.3f}", loss_g=f"{run_g:.3f}", lr=f"{lr:.1e}")
            is_best = False
            if rank == 0 and (step % cfg.log_every == 0 or step % cfg.val_every == 0 or step == cfg.steps):
                record = {"step": step, "elapsed_s": round(elapsed, 1), "lr": lr, "loss_f": run_f, "loss_g": run_g,
                          "world_size": world, "skipped": skipped,
                          "tokens": int(batch.paths.shape[0] * batch.paths.shape[1] * (batch.paths.shape[2] - 1))}
                if step % cfg.val_every == 0 or step == cfg.steps:
                    score = validate(record)
                    if score < best:
                        best, is_best = score, True
                history.append(record)
                _append_csv(csv_path, record)
            out_of_time = cfg.max_minutes is not None and elapsed > 60 * cfg.max_minutes
            if is_best or time.time() - t_ckpt > cfg.checkpoint_every or stop["flag"] or out_of_time:
                save(tag_best=is_best)
                t_ckpt = time.time()
            if stop["flag"] or out_of_time:
                break
        save()
    finally:
        bar.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
    final = history[-1] if history else {"step": step}
    if export is not None and rank == 0:
        digest = export_weights(out / "best.safetensors" if (out / "best.safetensors").exists() else ckpt_path,
                                export, extra={"wall_time_s": round(elapsed, 1), "stopped_at_step": step})
        final = {**final, "export_sha256": digest}
        tqdm.write(f"exported {export} (SHA-256 {digest})")
    if world > 1:
        _check_replicas_in_sync(model)
        dist.barrier()
    return final


def _check_replicas_in_sync(model: torch.nn.Module) -> None:
    """Raise if the data-parallel replicas ended with different parameters (a broken all-reduce)."""
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    lo, hi = flat.clone(), flat.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    if not torch.equal(lo, hi):
        raise RuntimeError(f"data-parallel replicas diverged: max parameter difference {float((hi - lo).max()):.3g}")


def threading_main() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def _append_csv(path: Path, record: dict) -> None:
    keys = ["step", "elapsed_s", "lr", "loss_f", "loss_g", "tokens", "val_drift_rel", "val_diffusion_rel",
            "ref_drift_rel", "ref_diffusion_rel"]
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(record)


def export_weights(checkpoint: str | os.PathLike, dest: str | os.PathLike, *, extra: dict | None = None) -> str:
    """Write the model of a pretraining checkpoint as a shippable weights file; return its SHA-256."""
    ck = load_checkpoint(checkpoint)
    cfg = ck["config"]
    model = FIM(FIMConfig.from_dict(cfg["model"]))
    model.load_state_dict(ck["model"])
    record = ck.get("record") or (ck["history"][-1] if ck.get("history") else {})
    meta = {"step": ck["step"], "pretrain_config": cfg, "record": record,
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "best_checkpoint_at_s": record.get("elapsed_s")}
    if ck.get("init_meta"):
        meta["init"] = ck["init_meta"]
    meta.update(extra or {})
    return save_weights(model, dest, meta=meta)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="fimcg pretrain", description="Pretrain the FIM on the synthetic prior.")
    p.add_argument("--config", help="JSON file with PretrainConfig fields (default: built-in defaults)")
    p.add_argument("--out", default="runs/fim", help="output folder (checkpoints, logs); resumes if it has one")
    p.add_argument("--steps", type=int, help="override the number of steps")
    p.add_argument("--max-minutes", type=float, help="stop (checkpointed) after this much training time")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--workers", type=int, help="processes that simulate the prior in parallel")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
    p.add_argument("--init", help="fine-tune: start a new run from these weights (weights file or checkpoint)")
    p.add_argument("--export", help="write the best model to this weights file at the end (prints its SHA-256)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run_from_args(args: argparse.Namespace) -> dict:
    cfg = PretrainConfig.from_json(args.config) if args.config else PretrainConfig()
    if args.steps is not None:
        cfg.steps = args.steps
    if args.max_minutes is not None:
        cfg.max_minutes = args.max_minutes
    if args.threads is not None:
        cfg.threads = args.threads
    if args.workers is not None:
        cfg.workers = args.workers
    return pretrain(cfg, args.out, device=args.device, fresh=args.fresh, export=args.export,
                    progress=not args.no_progress, init=args.init)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run_from_args(args)
    except (ValueError, FileNotFoundError, UnsafeFileError) as exc:
        print(f"fimcg pretrain: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
