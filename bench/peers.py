"""Published estimators used as peers in ``bench/fim_accuracy.py --peers`` (benchmark-only extras).

    pip install pysindy==2.1.0 StochasticForceInference==2.0.4

Both are given what they need to be fair on SDE data, with the same call shape as
``fimcg.estimators``: ``(paths (n_paths, T, 1), dt, locations (G, 1)) -> (drift (G, 1), diffusion (G, 1))``.

- **pysindy as a Kramers-Moyal regression**: forward differences (x_{t+1} - x_t)/dt as ``x_dot``
  (pysindy's default centred differences average two increments and are wrong for SDE data), a
  degree-3 polynomial library with STLSQ for the drift, then a second fit of the squared residual
  increments (Δx - f̂ Δt)²/Δt on a degree-2 library for g².
- **StochasticForceInference** (SFI) with ``preset="KM"`` (Itô moments, plain Gram matrix) and a
  degree-3 monomial force basis; its diffusion D(x) (g² = 2D) fitted on a degree-2 basis with
  ``infer_diffusion_linear``. The paths are the independent particles of one data set.

- **Gaussian-process regression** (scikit-learn), the nonparametric baseline of the FIM-SDE paper
  in its sparse form: the rates Δx/Δt are averaged in 40 bins over the data (the bin means are the
  inducing observations, each with its own noise variance var/n), and a GP with a constant × RBF
  kernel, hyperparameters by maximum marginal likelihood, is fitted to them; the squared residuals
  (Δx - f̂Δt)²/Δt the same way for g².

Each function raises ``ImportError`` naming the package when it is not installed.
"""

from __future__ import annotations

import numpy as np
import torch


def _paths_np(paths) -> list[np.ndarray]:
    p = paths.detach().cpu().double().numpy() if isinstance(paths, torch.Tensor) else np.asarray(paths, float)
    if p.ndim != 3 or p.shape[-1] != 1:
        raise ValueError(f"peers take one-dimensional paths of shape (n_paths, T, 1); got {p.shape}")
    return [p[i] for i in range(p.shape[0])]


def _as_torch(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64).reshape(-1, 1), dtype=like.dtype)


def pysindy_km(paths, dt: float, locations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drift and diffusion by pysindy used as a Kramers-Moyal regression (see the module docstring)."""
    try:
        import pysindy as ps
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("pysindy is not installed: pip install pysindy==2.1.0") from exc
    xs = [p[:-1] for p in _paths_np(paths)]
    dxs = [np.diff(p, axis=0) for p in _paths_np(paths)]
    drift = ps.SINDy(feature_library=ps.PolynomialLibrary(degree=3), optimizer=ps.STLSQ())
    drift.fit(xs, t=dt, x_dot=[d / dt for d in dxs])
    resid2 = [(d - drift.predict(x) * dt) ** 2 / dt for x, d in zip(xs, dxs)]
    second = ps.SINDy(feature_library=ps.PolynomialLibrary(degree=2), optimizer=ps.STLSQ(threshold=0.0))
    second.fit(xs, t=dt, x_dot=resid2)
    loc = locations.detach().cpu().double().numpy().reshape(-1, 1)
    f = drift.predict(loc)
    g = np.sqrt(np.clip(second.predict(loc), 0.0, None))
    return _as_torch(f, locations), _as_torch(g, locations)


def sfi_km(paths, dt: float, locations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drift and diffusion by StochasticForceInference, preset "KM" (see the module docstring)."""
    try:
        from SFI import OverdampedLangevinInference, TrajectoryCollection
        from SFI.bases import monomials_up_to
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("StochasticForceInference is not installed: pip install StochasticForceInference==2.0.4") \
            from exc
    # independent paths of one length are non-interacting particles of one dataset: X (T, n_paths, 1)
    coll = TrajectoryCollection.from_arrays(X=np.stack(_paths_np(paths), axis=1), dt=dt)
    inf = OverdampedLangevinInference(coll)
    inf.compute_diffusion_constant()
    inf.infer_force_linear(monomials_up_to(order=3, dim=1, rank="vector"), preset="KM")
    inf.infer_diffusion_linear(monomials_up_to(order=2, dim=1, rank="matrix"))
    loc = locations.detach().cpu().double().numpy().reshape(-1, 1)
    f = np.asarray(inf.force_inferred(loc)).reshape(-1)
    D = np.asarray(inf.diffusion_inferred(loc)).reshape(len(loc), -1)[:, 0]
    return _as_torch(f, locations), _as_torch(np.sqrt(np.clip(2 * D, 0.0, None)), locations)


def _binned_gp(x: np.ndarray, y: np.ndarray, loc: np.ndarray, n_bins: int = 40) -> np.ndarray:
    """A GP regression of y on x through the means of ``n_bins`` bins (heteroscedastic noise var/n)."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel

    edges = np.linspace(x.min(), x.max(), n_bins + 1)
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    keep = count >= 5
    mean = np.bincount(idx, weights=y, minlength=n_bins)[keep] / count[keep]
    var = np.bincount(idx, weights=y * y, minlength=n_bins)[keep] / count[keep] - mean ** 2
    centres = np.array([x[idx == b].mean() for b in np.flatnonzero(keep)])
    offset, scale = mean.mean(), mean.std() + 1e-12
    span = float(x.max() - x.min())
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(span / 4, (span / 100, span * 10))
    gp = GaussianProcessRegressor(kernel=kernel, alpha=np.maximum(var / count[keep], 1e-12) / scale ** 2,
                                  n_restarts_optimizer=2, random_state=0)
    gp.fit(centres[:, None], (mean - offset) / scale)
    return gp.predict(loc[:, None]) * scale + offset


def gp_regression(paths, dt: float, locations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drift and diffusion by binned Gaussian-process regression (see the module docstring)."""
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("scikit-learn is not installed: pip install scikit-learn") from exc
    p = np.concatenate([q[:, 0][None] for q in _paths_np(paths)], axis=0)  # (n_paths, T)
    x, dx = p[:, :-1].ravel(), np.diff(p, axis=1).ravel()
    loc = locations.detach().cpu().double().numpy().reshape(-1)
    f = _binned_gp(x, dx / dt, loc)
    f_x = _binned_gp(x, dx / dt, x) if x.size <= 50_000 else np.interp(x, np.sort(loc), f[np.argsort(loc)])
    g2 = _binned_gp(x, (dx - f_x * dt) ** 2 / dt, loc)
    return _as_torch(f, locations), _as_torch(np.sqrt(np.clip(g2, 0.0, None)), locations)
