"""The FIM: normalisation equivariances, context handling, gradients, bad input, shipped weights."""

from __future__ import annotations

import json
from dataclasses import asdict
import warnings
from pathlib import Path

import pytest
import torch

import fimcg
from fimcg.io.checkpoint import LegacyFormatError
from fimcg.fim.weights import upgrade_legacy
from fimcg.fim.model import FIM, ExtrapolationWarning
from fimcg.fim.weights import SHIPPED_WEIGHTS, SHIPPED_WEIGHTS_SHA256, UnverifiedWeightsWarning, load_fim, save_weights
from fimcg.fim.config import CandidateConfig, FIMConfig, NetworkConfig

torch.set_num_threads(1)


def _ou_paths(n_paths=4, n_steps=400, dt=0.01, seed=0):
    sde = fimcg.SDE(lambda x: -2.0 * x, lambda x: torch.full_like(x, 0.7))
    return fimcg.simulate(sde, torch.randn(n_paths, 1, generator=torch.Generator().manual_seed(seed)),
                          dt=dt, n_steps=n_steps, seed=seed)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = FIM(FIMConfig(NetworkConfig(d_model=32, n_heads=2, n_latents=8, n_encoder_blocks=1, n_decoder_blocks=1)))
    # non-zero output head so the equivariance tests exercise the network, not only the kernel base
    with torch.no_grad():
        m.head[-1].weight.normal_(0, 0.3)
        m.head[-1].bias.normal_(0, 0.3)
    return m.eval()


@pytest.fixture(scope="module")
def shipped():
    return load_fim()


def test_shapes_and_positive_diffusion(model):
    paths = _ou_paths()
    loc = torch.linspace(-0.5, 0.5, 7)[:, None]
    f, g = model.estimate(paths, 0.01, loc)
    assert f.shape == (7, 1) and g.shape == (7, 1)
    assert torch.isfinite(f).all() and (g > 0).all()


def test_equivariant_to_offset_and_scale(model):
    """Shifting and scaling the data (c > 0) maps the estimates exactly: f -> c f, g -> c g."""
    paths = _ou_paths()
    loc = torch.linspace(-0.6, 0.6, 9)[:, None]
    f, g = model.estimate(paths, 0.01, loc)
    c, b = 3.7, -5.0
    f2, g2 = model.estimate(c * paths + b, 0.01, c * loc + b)
    torch.testing.assert_close(f2, c * f, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(g2, c * g, rtol=1e-3, atol=1e-4)


def test_equivariant_to_time_unit(model):
    """Measuring time in units k times smaller multiplies dt by k: f -> f/k, g -> g/sqrt(k)."""
    paths = _ou_paths()
    loc = torch.linspace(-0.6, 0.6, 9)[:, None]
    f, g = model.estimate(paths, 0.01, loc)
    k = 25.0
    f2, g2 = model.estimate(paths, 0.01 * k, loc)
    torch.testing.assert_close(f2, f / k, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(g2, g / k ** 0.5, rtol=1e-3, atol=1e-5)


def test_list_of_equal_paths_matches_tensor(model):
    paths = _ou_paths(n_paths=2)
    loc = torch.linspace(-0.5, 0.5, 5)[:, None]
    f, g = model.estimate(paths, 0.01, loc)
    f2, g2 = model.estimate([paths[0], paths[1]], 0.01, loc)
    torch.testing.assert_close(f, f2, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(g, g2, rtol=1e-4, atol=1e-5)


def test_paths_of_different_lengths(model):
    paths = _ou_paths(n_paths=3, n_steps=500)
    f, g = model.estimate([paths[0, :100], paths[1], paths[2, :37, 0]], 0.01, torch.zeros(1, 1))
    assert torch.isfinite(f).all() and torch.isfinite(g).all()


def test_flat_inputs_for_one_dimension(model):
    paths = _ou_paths(n_paths=2)
    loc = torch.linspace(-0.5, 0.5, 5)
    f, g = model.estimate(paths[..., 0].numpy(), 0.01, loc.numpy())
    f2, g2 = model.estimate(paths, 0.01, loc[:, None])
    torch.testing.assert_close(f, f2)
    torch.testing.assert_close(g, g2)


def test_differentiable_with_respect_to_paths(model):
    paths = _ou_paths().requires_grad_(True)
    f, g = model.estimate(paths, 0.01, torch.linspace(-0.5, 0.5, 5)[:, None])
    (f.square().sum() + g.sum()).backward()
    assert paths.grad is not None and torch.isfinite(paths.grad).all() and paths.grad.abs().sum() > 0


def test_encode_once_evaluate_many(model):
    paths = _ou_paths()
    ctx = model.encode(paths, 0.01)
    loc = torch.linspace(-0.5, 0.5, 6)[:, None]
    f1, g1 = model.evaluate(ctx, loc)
    f2, g2 = model.estimate(paths, 0.01, loc)
    torch.testing.assert_close(f1, f2)
    torch.testing.assert_close(g1, g2)


@pytest.mark.parametrize("bad, match", [
    (lambda p: p.index_put((torch.tensor([0]), torch.tensor([3])), torch.tensor([float("nan")])), "NaN"),
    (lambda p: p[:, :1], "at least 2 observations"),
    (lambda p: p[0, 0], "at least 2 observations"),
    (lambda p: torch.zeros(2, 50, 1), "constant"),
    (lambda p: p[None], "shape"),
])
def test_bad_paths(model, bad, match):
    with pytest.raises(ValueError, match=match):
        model.estimate(bad(_ou_paths()), 0.01, torch.zeros(1, 1))


@pytest.mark.parametrize("dt", [0.0, -0.1, float("nan")])
def test_bad_dt(model, dt):
    with pytest.raises(ValueError, match="dt"):
        model.estimate(_ou_paths(), dt, torch.zeros(1, 1))


def test_equal_irregular_steps_match_a_regular_step(model):
    paths = _ou_paths()
    loc = torch.linspace(-0.5, 0.5, 5)
    f, g = model.estimate(paths, 0.01, loc)
    for steps in (torch.full((400,), 0.01), torch.full((4, 400), 0.01)):
        fi, gi = model.estimate(paths, steps, loc)
        torch.testing.assert_close(fi, f, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(gi, g, rtol=1e-4, atol=1e-5)
    # a list of paths takes a list of step arrays
    fl, _ = model.estimate(list(paths), [torch.full((400,), 0.01)] * 4, loc)
    torch.testing.assert_close(fl, f, rtol=1e-4, atol=1e-5)


def test_irregular_steps_are_used(model):
    """Doubling the steps of half the paths changes the estimate; doubling all of them halves f."""
    paths = _ou_paths()
    loc = torch.linspace(-0.5, 0.5, 5)
    mixed = torch.full((4, 400), 0.01)
    mixed[:2] = 0.02
    f_reg, _ = model.estimate(paths, 0.01, loc)
    f_mix, _ = model.estimate(paths, mixed, loc)
    assert not torch.allclose(f_mix, f_reg, rtol=1e-3)
    f_dbl, g_dbl = model.estimate(paths, torch.full((4, 400), 0.02), loc)
    torch.testing.assert_close(f_dbl, 0.5 * f_reg, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("steps, match", [
    (torch.full((399,), 0.01), "shape"),
    (torch.full((3, 400), 0.01), "shape"),
    (torch.cat([torch.full((399,), 0.01), torch.tensor([0.0])]), "> 0"),
    (torch.cat([torch.full((399,), 0.01), torch.tensor([float("nan")])]), "finite"),
])
def test_bad_irregular_steps(model, steps, match):
    with pytest.raises(ValueError, match=match):
        model.estimate(_ou_paths(), steps, torch.zeros(1, 1))
    with pytest.raises(ValueError, match="list of 1 step arrays but there are 2 paths"):
        model.estimate(list(_ou_paths()[:2]), [torch.full((400,), 0.01)], torch.zeros(1, 1))


def test_mismatched_dimensions(model):
    with pytest.raises(ValueError, match="d=2 but the paths have d=1"):
        model.estimate(_ou_paths(), 0.01, torch.zeros(3, 2))


def test_untrained_dimension_is_refused(model):
    with pytest.raises(ValueError, match="trained for d in"):
        model.estimate(torch.randn(2, 50, 2).cumsum(1), 0.01, torch.zeros(1, 2))


def test_extrapolation_warns(model):
    paths = _ou_paths()
    with pytest.warns(ExtrapolationWarning, match="1 of 2 locations lie outside"):
        model.estimate(paths, 0.01, torch.tensor([[0.0], [50.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.estimate(paths, 0.01, torch.tensor([[0.0]]))


def test_weights_round_trip_and_checksum(model, tmp_path):
    path = tmp_path / "w.safetensors"
    digest = save_weights(model, path, meta={"note": "test"})
    assert digest == fimcg.io.checkpoint.sha256_of(path) and not list(tmp_path.glob("*.sha256"))
    loaded = load_fim(path, sha256=digest)
    assert not any(p.requires_grad for p in loaded.parameters()) and not loaded.training
    assert loaded.meta == {"note": "test"}
    paths, loc = _ou_paths(), torch.zeros(3, 1)
    torch.testing.assert_close(loaded.estimate(paths, 0.01, loc)[0], model.estimate(paths, 0.01, loc)[0])
    # without a checksum a user's weights load, with a warning that says they are unverified
    with pytest.warns(UnverifiedWeightsWarning, match="loaded unverified"):
        load_fim(path)
    # one flipped byte -> checksum error naming the file
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(RuntimeError, match="corrupt or were replaced"):
        load_fim(path, sha256=digest)


def test_shipped_weights_are_checked_against_the_hash_in_the_code(model, tmp_path, monkeypatch):
    """A swapped shipped file is refused, even if a matching .sha256 travels with it."""
    assert fimcg.io.checkpoint.sha256_of(SHIPPED_WEIGHTS) == SHIPPED_WEIGHTS_SHA256
    fake = tmp_path / "fim_1d.safetensors"
    digest = save_weights(model, fake)  # a valid weights file, but not the shipped one
    fake.with_suffix(".sha256").write_text(f"{digest}  fim_1d.safetensors\n")
    monkeypatch.setattr(fimcg.fim.weights, "SHIPPED_WEIGHTS", fake)
    with pytest.raises(RuntimeError, match="does not match the weights shipped with fimcg"):
        load_fim()
    with pytest.raises(RuntimeError, match="does not match the weights shipped"):
        load_fim(fake)  # the shipped path given explicitly is verified too


def test_missing_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match="FIM weights not found"):
        load_fim(tmp_path / "nope.safetensors")


def test_legacy_weights_are_refused_and_convert_to_the_model_they_were(tmp_path):
    """A pickle of the former format is never unpickled by load_fim; the explicit conversion
    completes configs saved before fields existed (no lack-of-fit tests, no cubic-member penalty)."""
    legacy = FIM(FIMConfig(NetworkConfig(d_model=32, n_heads=2, n_latents=8, n_encoder_blocks=1, n_decoder_blocks=1),
                           CandidateConfig(n_test_points=0, families=("tanh",), family_cubic_penalty=0.0)))
    cfg = {**asdict(legacy.config.network), **asdict(legacy.config.candidates)}  # the flat layout of the time
    del cfg["n_test_points"], cfg["family_cubic_penalty"]  # as saved before those fields existed
    old = tmp_path / "legacy.pt"
    torch.save({"format": "fimcg-fim-1", "config": cfg, "state_dict": legacy.state_dict(), "meta": {}}, old)
    with pytest.raises(LegacyFormatError, match="fimcg convert"):
        load_fim(old, sha256=fimcg.io.checkpoint.sha256_of(old))
    with pytest.warns(UserWarning, match="unpickles"):
        new = fimcg.io.checkpoint.convert_legacy(old, tmp_path / "new.safetensors", upgrade=upgrade_legacy)
    loaded = load_fim(new, sha256=fimcg.io.checkpoint.sha256_of(new))
    assert loaded.config == legacy.config
    paths, x = _ou_paths(), torch.linspace(-0.5, 0.5, 4)[:, None]
    with torch.no_grad():
        assert torch.equal(loaded.estimate(paths, 0.01, x, warn=False)[0], legacy.estimate(paths, 0.01, x, warn=False)[0])


def test_a_real_legacy_file_converts_to_the_model_it_was(tmp_path):
    """A weights file written by the old code (commit 32ad65b, a pickle with a flat config and the old
    order of query features) converts to a model with the same outputs as the old code computed."""
    data = Path(__file__).parent / "data"
    with pytest.warns(UserWarning, match="unpickles"):
        new = fimcg.io.checkpoint.convert_legacy(data / "legacy_tiny_fim.pt", tmp_path / "tiny.safetensors",
                                                 upgrade=upgrade_legacy)
    model = load_fim(new, sha256=fimcg.io.checkpoint.sha256_of(new))
    paths = fimcg.simulate(fimcg.systems.double_well(), torch.linspace(-1, 1, 5)[:, None], dt=0.01, n_steps=300,
                           seed=0)
    with torch.no_grad():
        f, g = model.estimate(paths, 0.01, torch.linspace(-1.2, 1.2, 9)[:, None], warn=False)
    saved = json.loads((data / "legacy_tiny_fim_outputs.json").read_text())
    torch.testing.assert_close(f[:, 0], torch.tensor(saved["drift"]), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g[:, 0], torch.tensor(saved["diffusion"]), rtol=1e-5, atol=1e-5)


def test_outputs_equal_the_saved_reference(shipped):
    """Outputs on a fixed suite of contexts (1 to 100 paths, regular and irregular steps, noise)
    equal those saved from the implementation before the file-format change, to float rounding."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "data"))
    try:
        import fim_reference_contexts as suite
    finally:
        sys.path.pop(0)
    saved = json.loads((Path(__file__).parent / "data" / "fim_reference_outputs.json").read_text())
    now = suite.outputs(shipped)
    assert [c["name"] for c in now] == [c["name"] for c in saved]
    for a, b in zip(saved, now):
        for key in ("drift", "diffusion"):
            ref, new = torch.tensor(a[key]), torch.tensor(b[key])
            torch.testing.assert_close(new, ref, rtol=1e-5, atol=1e-6 * float(ref.abs().max()), msg=a["name"])


# --- kernel and polynomial features -------------------------------------------------------------


def _linear_context(n: int, *, a: float = 0.7, b: float = -1.5, seed: int = 0, irregular: bool = False):
    """A normalised 1-D context whose increments follow the straight line a + b x exactly (with
    ``irregular``, steps drawn uniformly from 0.005 to 0.015)."""
    from fimcg.fim.normalise import Normalised

    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(1, n, 1, generator=g) * 2 - 1)
    dt = 0.005 + 0.01 * torch.rand(1, n, 1, generator=g) if irregular else torch.full((1, n, 1), 0.01)
    dx = (a + b * x) * dt + 0.1 * torch.randn(1, n, 1, generator=g) * dt.sqrt()
    pad = lambda t: torch.nn.functional.pad(t, (0, 2))  # noqa: E731
    return Normalised(x=pad(x), dx=pad(dx), dt=dt, mean=torch.zeros(1, 3), std=torch.ones(1, 3),
                      time_factor=torch.ones(1), dim_mask=torch.tensor([[1.0, 0, 0]]), lag1=torch.zeros(1, 3),
                      lagprod=torch.zeros(1, n, 3))


def test_binned_kernel_sums_match_exact_ones():
    from fimcg.fim.candidates import kernel_features

    ctx = _linear_context(4000)
    q = torch.nn.functional.pad(torch.linspace(-0.9, 0.9, 50)[None, :, None], (0, 2))
    exact = kernel_features(ctx, q, (0.05, 0.15, 0.4), 5.0, binned=False)
    binned = kernel_features(ctx, q, (0.05, 0.15, 0.4), 5.0, binned=True)
    scale = exact.drift.abs().max()
    assert float((binned.drift - exact.drift).abs().max()) < 0.01 * scale
    assert torch.allclose(binned.g2, exact.g2, rtol=0.01)
    # binning is for one-dimensional states only
    ctx.dim_mask = torch.tensor([[1.0, 1.0, 0]])
    with pytest.raises(ValueError, match="one-dimensional"):
        kernel_features(ctx, q, (0.05,), 5.0, binned=True)


@pytest.mark.parametrize("irregular", [False, True])
def test_padding_dimensions_get_what_their_zero_data_give(irregular):
    """The local and polynomial estimates skip the zero-padding dimensions and fill in what those
    dimensions' all-zero data give: the same as computing them as active dimensions of zeros
    (in double precision: in single precision the local slopes amplify rounding to ~1e-4)."""
    from fimcg.fim.candidates import kernel_features, polynomial_fits
    from fimcg.fim.normalise import normalise

    gen = torch.Generator().manual_seed(3)
    paths = torch.randn(1, 2, 300, 1, generator=gen, dtype=torch.float64).cumsum(dim=2) * 0.1
    dt = 0.01 * (0.5 + torch.rand(1, 2, 299, generator=gen, dtype=torch.float64)) if irregular else 0.01
    padded = normalise(paths, dt)  # one active dimension, two padding ones
    zeros = normalise(torch.nn.functional.pad(paths, (0, 2)), dt)  # three active ones, two of them all zero
    assert padded.dim_mask.tolist() == [[1.0, 0.0, 0.0]] and zeros.dim_mask.tolist() == [[1.0, 1.0, 1.0]]
    q = torch.nn.functional.pad(torch.linspace(-1.5, 1.5, 20, dtype=torch.float64)[None, :, None], (0, 2))
    for a, b in zip(polynomial_fits(padded, q, with_cv=True), polynomial_fits(zeros, q, with_cv=True)):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    loc_a = kernel_features(padded, q, (0.1, 0.3), 5.0, binned=False)
    loc_b = kernel_features(zeros, q, (0.1, 0.3), 5.0, binned=False)
    for field in ("features", "drift", "drift_log_se", "g2"):
        torch.testing.assert_close(getattr(loc_a, field), getattr(loc_b, field), rtol=1e-9, atol=1e-12)


def test_local_linear_drift_has_no_edge_bias():
    from fimcg.fim.candidates import kernel_features

    ctx = _linear_context(20000)
    q = torch.nn.functional.pad(torch.tensor([[-0.98, 0.0, 0.98]])[..., None], (0, 2))
    est = kernel_features(ctx, q, (0.4,), 5.0)
    truth = 0.7 - 1.5 * q[0, :, 0]
    nw, ll = est.drift[0, :, 0, 0], est.drift[0, :, 1, 0]
    # at the edges the local average (Nadaraya-Watson) is pulled inwards; the local line much less
    # (what is left is the small ridge that tames slopes fitted to few points)
    err_ll, err_nw = (ll - truth).abs(), (nw - truth).abs()
    assert float(err_ll.max()) < 0.1
    assert bool((err_ll[[0, 2]] < 0.25 * err_nw[[0, 2]]).all())


def test_polynomial_standard_errors_shrink_like_one_over_root_n():
    from fimcg.fim.candidates import polynomial_fits

    q = torch.nn.functional.pad(torch.linspace(-0.5, 0.5, 5)[None, :, None], (0, 2))
    se_small = polynomial_fits(_linear_context(1000, seed=1), q)[1][0, :, :, 0]
    se_large = polynomial_fits(_linear_context(16000, seed=2), q)[1][0, :, :, 0]
    assert torch.allclose(se_small - se_large, torch.full_like(se_small, 0.5 * torch.log(torch.tensor(16.0))),
                          atol=0.1)


def test_feature_and_option_names_match_the_network():
    for cfg in (FIMConfig(), FIMConfig(candidates=CandidateConfig(n_test_points=0)),
                FIMConfig(NetworkConfig(max_dim=2), CandidateConfig(bandwidths=(0.1,)))):
        names = cfg.query_feature_names()
        assert len(names) == len(set(names)) == cfg.query_features
        assert len(cfg.drift_option_names()) == cfg.n_drift_options
        assert len(cfg.diffusion_option_names()) == cfg.n_diffusion_options
    assert FIMConfig(candidates=CandidateConfig(n_test_points=0)).query_features < FIMConfig().query_features


def test_test_points_are_data_quantiles():
    from fimcg.fim.normalise import test_points

    ctx = _linear_context(2001)
    pts = test_points(ctx, 5)[0, :, 0]
    levels = torch.tensor([0.05, 0.275, 0.5, 0.725, 0.95])
    assert torch.allclose(pts, torch.quantile(ctx.x[0, :, 0], levels), atol=1e-3)
    assert bool((pts[1:] > pts[:-1]).all())


@pytest.mark.parametrize("linear", [True, False])
def test_lack_of_fit_tests_see_what_the_cubic_fit_misses(linear):
    """The global tests are small for a drift the fits capture and large for one they cannot."""
    dt, n = 0.01, 40000
    f = (lambda x: -x) if linear else (lambda x: -x - 1.5 * torch.sin(4 * x))
    sde = fimcg.SDE(f, lambda x: torch.full_like(x, 0.7))
    paths = fimcg.simulate(sde, torch.zeros(20, 1), dt=dt, n_steps=n // 20, seed=3)
    stats = FIM(FIMConfig()).eval().explain(paths, dt, torch.zeros(3, 1))["statistics"]
    lof = max(float(v) for k, v in stats.items() if k.startswith("lack_of_fit"))
    lin = float(stats["linear_lack_of_fit"])
    if linear:  # nothing to see: mean squared z near or below 1 for both tests
        assert lof < 1.5 and lin < 2.0
    else:
        assert lof > 4.0


def test_explain_names_the_gates_and_they_sum_to_one(model):
    paths, loc = _ou_paths(), torch.linspace(-0.5, 0.5, 6)
    out = model.explain(paths, 0.01, loc)
    assert list(out["drift_gates"]) == model.config.drift_option_names()
    assert list(out["diffusion_gates"]) == model.config.diffusion_option_names()
    for gates in (out["drift_gates"], out["diffusion_gates"]):
        total = sum(gates.values())
        assert total.shape == (6,) and torch.allclose(total, torch.ones(6), atol=1e-5)
    assert set(out["statistics"]) >= {"f_stat", "linear_lack_of_fit"}
    # the options the drift gates mix, in original units: the estimate is their gated sum
    options = out["drift_options"]
    assert list(options) == model.config.drift_option_names()
    assert all(v.shape == (6, 1) for v in options.values()) and not bool(options["zero"].any())
    with torch.no_grad():
        drift = model.estimate(paths, 0.01, loc)[0]
    mixed = sum(out["drift_gates"][n][:, None] * options[n] for n in options)
    torch.testing.assert_close(mixed, drift, rtol=1e-4, atol=1e-4 * float(drift.abs().max()))
    # e.g. the linear fit is the straight line least squares finds, f = -2 x here
    line = fimcg.estimators.least_squares(paths, 0.01, loc[:, None], drift_basis=1, diff2_basis=0)[0]
    torch.testing.assert_close(options["ls1"], line, rtol=0.02, atol=0.02)


@pytest.mark.parametrize("irregular", [False, True])
def test_polynomial_cross_validation_is_exact_leave_one_out(irregular):
    from fimcg.fim.candidates import polynomial_fits
    from fimcg.fim.normalise import time_weights

    ctx = _linear_context(60, seed=4, irregular=irregular)
    q = torch.nn.functional.pad(torch.zeros(1, 1, 1), (0, 2))
    cv = polynomial_fits(ctx, q, with_cv=True, prior_std=1e6)[3][0, 0]  # (2,): linear, cubic
    x = ctx.x[0, :, 0].double()
    y = (ctx.dx[0, :, 0] / ctx.dt[0, :, 0]).double()
    # irregular steps: weighted least squares and a weighted mean, weights ∝ Δt
    w = torch.ones_like(x) if not irregular else time_weights(ctx)[0, :, 0].double()
    assert (time_weights(ctx) is None) != irregular
    for j, degree in enumerate((1, 3)):
        A = torch.stack([x ** k for k in range(degree + 1)], dim=1)
        errs = []
        for n in range(len(x)):
            keep = torch.arange(len(x)) != n
            sw = w[keep, None].sqrt()
            coef = torch.linalg.lstsq(sw * A[keep], sw * y[keep, None]).solution[:, 0]
            errs.append(float(w[n] * (y[n] - A[n] @ coef) ** 2))
        assert float(cv[j]) == pytest.approx(sum(errs) / len(errs), rel=2e-3)


@pytest.mark.parametrize("irregular", [False, True])
def test_kernel_cross_validation_leaves_out_the_transition_and_its_neighbours(irregular):
    from fimcg.fim.candidates import kernel_cross_validation
    from fimcg.fim.normalise import time_weights

    ctx = _linear_context(300, seed=5, irregular=irregular)
    h, s = 0.3, 5.0
    cv = float(kernel_cross_validation(ctx, (h,), s)[0, 0])
    x = ctx.x[0, :, 0].double()
    y = (ctx.dx[0, :, 0] / ctx.dt[0, :, 0]).double()
    omega = torch.ones_like(x) if not irregular else time_weights(ctx)[0, :, 0].double()
    mean_y = float((omega * y).mean())  # the weighted mean the shrinkage pulls towards
    errs = []
    for n in range(len(x)):  # brute force: the local line at x_n from the other transitions
        w = omega * torch.exp(-0.5 * ((x - x[n]) / h) ** 2)
        w[[n - 1, n, (n + 1) % len(x)]] = 0
        m = lambda v, g: (float((w * v).sum()) + s * g) / (float(w.sum()) + s)  # noqa: E731
        m1, ex, exx = m(y, mean_y), m(x, float(x[n])), m(x * x, float(x[n]) ** 2)
        exy = m(x * y, float(x[n]) * mean_y)
        ll = m1 + (exy - ex * m1) / (max(exx - ex * ex, 0) + 0.05 * h * h) * (float(x[n]) - ex)
        errs.append(float(omega[n]) * (float(y[n]) - ll) ** 2)
    # the sums at the data come from a binning grid: agreement to a fraction of a percent
    assert cv == pytest.approx(sum(errs) / len(errs), rel=5e-3)


@pytest.mark.parametrize("wiggly", [False, True])
def test_cross_validated_drift_picks_the_simplest_adequate_estimate(wiggly):
    from fimcg.fim.candidates import cross_validated_drift, kernel_cross_validation, kernel_features, polynomial_fits
    from fimcg.fim.normalise import normalise

    f = (lambda x: -x - 1.5 * torch.sin(4 * x)) if wiggly else (lambda x: -x)
    sde = fimcg.SDE(f, lambda x: torch.full_like(x, 0.7))
    paths = fimcg.simulate(sde, torch.zeros(20, 1), dt=0.01, n_steps=1000, seed=3)
    norm = normalise(paths[None], 0.01)
    bws = (0.05, 0.15, 0.4)
    q = torch.nn.functional.pad(torch.linspace(-1, 1, 5)[None, :, None], (0, 2))
    fits, _, _, cv_poly = polynomial_fits(norm, q, with_cv=True)
    ll = kernel_features(norm, q, bws, 5.0).drift[:, :, 3:]
    cv_k = kernel_cross_validation(norm, bws, 5.0)
    drift, delta = cross_validated_drift(fits[:, :, :2], ll, cv_poly, cv_k, norm.x.shape[1], 6.0)
    best = int(delta[0, 0].argmin())  # candidates: linear, cubic, kernel at each bandwidth
    if wiggly:
        assert best >= 2 and float(delta[0, 0, :2].min()) > 10
    else:
        assert best in (0, 1) and float(delta[0, 0, 0]) < 4
    assert drift.shape == (1, 5, 3)
    # without kernel candidates only the least-squares fits remain
    d_ls, delta_ls = cross_validated_drift(fits[:, :, :2], ll, cv_poly, None, norm.x.shape[1], 6.0)
    assert bool((delta_ls[0, 0, 2:] >= 1e4).all())
    lo = torch.minimum(fits[0, :, 0, 0], fits[0, :, 1, 0]) - 1e-5
    hi = torch.maximum(fits[0, :, 0, 0], fits[0, :, 1, 0]) + 1e-5
    assert bool(((d_ls[0, :, 0] >= lo) & (d_ls[0, :, 0] <= hi)).all())


def _context_of(f, *, n_paths=20, n_steps=1000, dt=0.01, sigma=0.5, seed=3):
    from fimcg.fim.normalise import normalise

    sde = fimcg.SDE(f, lambda x: torch.full_like(x, sigma))
    x0 = torch.randn(n_paths, 1, generator=torch.Generator().manual_seed(seed))
    paths = fimcg.simulate(sde, x0, dt=dt, n_steps=n_steps, seed=seed)
    return paths, normalise(paths[None], dt)


def _rel(est, true):
    return float(((est - true) ** 2).mean().sqrt() / (true ** 2).mean().sqrt())


def _occupied_queries(norm, f, n: int = 50):
    """n normalised queries (1, n, 3) over the 2nd-98th percentile of a context, and the true drift
    f there in normalised units (n,)."""
    qn = torch.linspace(float(norm.x[0, :, 0].quantile(0.02)), float(norm.x[0, :, 0].quantile(0.98)), n)
    truth = f(qn * norm.std[0, 0] + norm.mean[0, 0]) / (norm.time_factor[0] * norm.std[0, 0])
    return torch.nn.functional.pad(qn[None, :, None], (0, 2)), truth


def test_high_degree_fits_recover_a_quintic_and_continue_as_a_cubic_beyond_the_data():
    from fimcg.fim.candidates import high_degree_fits, polynomial_fits

    f = lambda x: 1.5 * x - 2 * x ** 3 - 0.5 * x ** 5  # noqa: E731
    paths, norm = _context_of(f, sigma=1.0, n_steps=2000)
    lo, hi = float(norm.x[0, :, 0].min()), float(norm.x[0, :, 0].max())
    qn = torch.linspace(lo, hi, 40)
    q = torch.nn.functional.pad(qn[None, :, None], (0, 2))
    truth = f(qn * norm.std[0, 0] + norm.mean[0, 0]) / (norm.time_factor[0] * norm.std[0, 0])  # f' (normalised)
    fits, cv = high_degree_fits(norm, q, (5, 7))
    cubic = polynomial_fits(norm, q, with_cv=True)
    assert fits.shape == (1, 40, 2, 3) and cv.shape == (1, 3, 2)
    assert _rel(fits[0, :, 0, 0], truth) < 0.5 * _rel(cubic[0][0, :, 1, 0], truth)
    assert float(cv[0, 0, 0]) < float(cubic[3][0, 0, 1])  # the quintic predicts better than the cubic
    assert bool((fits[..., 1:] == 0).all())  # padding dimensions stay empty
    # beyond the data the fits follow the cubic of their basis: finite, no degree-7 swing
    far = torch.nn.functional.pad(torch.tensor([[[hi + 3.0]]]), (0, 2))
    ext = high_degree_fits(norm, far, (5, 7))[0][0, 0, :, 0]
    edge = high_degree_fits(norm, torch.nn.functional.pad(torch.tensor([[[hi]]]), (0, 2)), (5, 7))[0][0, 0, :, 0]
    assert torch.isfinite(ext).all() and float((ext - ext.mean()).abs().max()) < float((edge - ext).abs().max())
    with pytest.raises(ValueError, match="degrees >= 4"):
        high_degree_fits(norm, q, (3,))


@pytest.mark.parametrize("family, f", [
    ("tanh", lambda x: 1.5 * torch.tanh(2.0 * x) - x),
    ("sine", lambda x: -0.5 * x - torch.sin(3.0 * x)),
    ("rational", lambda x: -0.5 * x + 3.0 * x / (1 + 4.0 * x ** 2)),
])
def test_family_fits_find_the_non_polynomial_term(family, f):
    from fimcg.fim.candidates import FAMILIES, family_fits, polynomial_fits

    _, norm = _context_of(f, sigma=0.7, n_steps=2000)
    q, truth = _occupied_queries(norm, f)
    fits, cv = family_fits(norm, q, FAMILIES)
    j = FAMILIES.index(family)
    cubic_fits, _, _, cv_cubic = polynomial_fits(norm, q, with_cv=True)
    assert _rel(fits[0, :, j, 0], truth) < 0.6 * _rel(cubic_fits[0, :, 1, 0], truth)
    assert float(cv[0, 0, j]) < float(cv_cubic[0, 0, 1])


def test_family_members_on_the_cubic_pay_their_penalty():
    """The family fit is the Akaike-weighted average of its members (line or cubic plus the family's
    term), the cubic members paying ``cubic_penalty``: checked against direct least-squares fits of
    each member, with a negligible ridge and exact sums."""
    from fimcg.fim.candidates import family_fits

    f = lambda x: 1.5 * torch.tanh(2.0 * x) - x  # noqa: E731
    _, norm = _context_of(f, sigma=0.7, n_steps=300)
    q, _ = _occupied_queries(norm, f, n=20)
    x, y = norm.x[0, :, 0].double(), (norm.dx / norm.dt)[0, :, 0].double()
    n = len(x)
    k = 2.5
    centres = [float(x.kthvalue(round(q_ * n)).values) for q_ in (0.05, 0.95)]  # the grid's ends

    def design(z, degree, c):  # a polynomial of that degree plus the member's tanh column
        return torch.stack([z ** p for p in range(degree + 1)] + [torch.tanh(k * (z - c))], -1)

    members = []  # (fit at the queries, estimated prediction error, on the cubic?)
    for degree in (1, 3):
        for c in centres:
            coef = torch.linalg.lstsq(design(x, degree, c), y[:, None]).solution[:, 0]
            rss = float(((y - design(x, degree, c) @ coef) ** 2).sum())
            members.append((design(q[0, :, 0].double(), degree, c) @ coef, rss / (n * (1 - (degree + 2) / n) ** 2),
                            degree == 3))
    err = torch.tensor([m[1] for m in members])
    fits = torch.stack([m[0] for m in members])
    for penalty in (0.0, 3.0, 1e6):
        score = n * (err - err.min()) / err.min() + penalty * torch.tensor([float(m[2]) for m in members])
        expected = (torch.softmax(-0.5 * score, 0)[:, None] * fits).sum(0)
        got, _ = family_fits(norm, q, ("tanh",), steepness=(k,), centres=2, prior_std=1e6, cubic_penalty=penalty)
        assert torch.allclose(got[0, :, 0, 0].double(), expected, rtol=1e-3, atol=1e-3 * float(expected.abs().max()))
    with pytest.raises(ValueError, match="cubic_penalty must be finite and >= 0"):
        family_fits(norm, q, ("tanh",), cubic_penalty=-1.0)
    with pytest.raises(ValueError, match="family_cubic_penalty must be finite and >= 0"):
        CandidateConfig(family_cubic_penalty=float("nan"))


def test_global_fits_on_a_binning_grid_match_the_exact_sums():
    from fimcg.fim.candidates import FAMILIES, FIT_BIN_WIDTH, context_binning, family_fits, high_degree_fits

    _, norm = _context_of(lambda x: x - x ** 3, sigma=0.8, n_steps=3000)
    q = torch.nn.functional.pad(torch.linspace(-1.5, 1.5, 30)[None, :, None], (0, 2))
    one_dim, width, n_bins = context_binning(norm, FIT_BIN_WIDTH)
    assert one_dim and width == pytest.approx(FIT_BIN_WIDTH)
    for fn, arg in ((family_fits, FAMILIES), (high_degree_fits, (5, 7))):
        exact, cv_exact = fn(norm, q, arg)
        binned, cv_binned = fn(norm, q, arg, binning=(width, n_bins))
        assert torch.allclose(binned, exact, rtol=0.02, atol=0.02 * float(exact.abs().max()))
        assert torch.allclose(cv_binned, cv_exact, rtol=1e-3)


def test_regression_sums_give_the_residuals_of_a_direct_fit():
    from fimcg.fim.candidates import RegressionSums

    _, norm = _context_of(lambda x: -x, n_paths=3, n_steps=200)
    sums = RegressionSums.of(norm, None, 1e6)  # a negligible ridge: ordinary least squares
    basis = sums.legendre(sums.z, 3)  # (1, N, 1, 4)
    (coef, err), = sums.solve(basis)
    y = (norm.dx / norm.dt)[0, :, 0].double()
    A = basis[0, :, 0].double()
    direct = torch.linalg.lstsq(A, y[:, None]).solution[:, 0]
    rss = float(((y - A @ direct) ** 2).sum())
    n, k = len(y), 4
    assert torch.allclose(coef[0, 0, 0].double(), direct, rtol=1e-3, atol=1e-3)
    assert float(err[0, 0, 0]) == pytest.approx(rss / (n * (1 - k / n) ** 2), rel=1e-3)


def test_unknown_function_family_is_named():
    from fimcg.fim.candidates import family_fits

    _, norm = _context_of(lambda x: -x, n_paths=2, n_steps=100)
    with pytest.raises(ValueError, match="unknown function family 'cosh'"):
        family_fits(norm, torch.zeros(1, 3, 3), ("cosh",))
    with pytest.raises(ValueError, match=r"unknown function families \['cosh'\]"):
        CandidateConfig(families=("tanh", "cosh"))
    with pytest.raises(ValueError, match="high_degrees must be >= 4"):
        CandidateConfig(high_degrees=(3, 5))
    with pytest.raises(ValueError, match=r"family_frequencies must be a non-empty list of finite numbers > 0"):
        CandidateConfig(family_frequencies=(1.0, -2.0))
    with pytest.raises(ValueError, match="family_centres must be >= 1"):
        CandidateConfig(family_centres=0)
    with pytest.raises(ValueError, match="fit_bin_width must be finite and > 0"):
        CandidateConfig(fit_bin_width=0.0)


def test_family_grid_is_part_of_the_config():
    """The family fits' grid comes from the config (saved with the weights): a sine grid holding the
    drift's frequency beats one without it, and a config round-trips through its dict."""
    from dataclasses import asdict

    from fimcg.fim.candidates import family_fits

    f = lambda x: -0.5 * x - torch.sin(3.0 * x)  # noqa: E731
    _, norm = _context_of(f, sigma=0.7, n_steps=2000)
    q, truth = _occupied_queries(norm, f)
    omega = 3.0 * float(norm.std[0, 0])  # sin(3 x) in standardised units
    errors = {}
    for name, frequencies in (("right", (omega,)), ("wrong", (0.3 * omega,))):
        cfg = FIMConfig(candidates=CandidateConfig(family_frequencies=frequencies))
        assert FIMConfig.from_dict(asdict(cfg)) == cfg
        fits, _ = family_fits(norm, q, ("sine",), **cfg.candidates.family_grid())
        errors[name] = _rel(fits[0, :, 0, 0], truth)
    assert errors["right"] < 0.5 * errors["wrong"], errors


# --- the shipped model -------------------------------------------------------------------------


def test_shipped_weights_are_small_and_verified(shipped):
    assert SHIPPED_WEIGHTS.stat().st_size < 5 * 2 ** 20
    assert not any(p.requires_grad for p in shipped.parameters())
    steps, meta = 0, shipped.meta
    while meta:  # the training steps of every stage (the last one added none)
        steps, meta = steps + meta["step"], meta.get("init")
    assert steps > 0
    assert (SHIPPED_WEIGHTS.parent / "MODEL_CARD.md").is_file()


def test_shipped_model_recovers_reference_double_well(shipped):
    sde = fimcg.systems.double_well()
    paths = fimcg.simulate(sde, torch.zeros(20, 1), dt=0.002, n_steps=2500, seed=3)
    x = fimcg.analysis.metrics.occupied_grid(paths, n=60)
    f, g = shipped.estimate(paths, 0.002, x)
    f_km, _ = fimcg.binned_km(paths, 0.002, x)
    # regression guards at the level the model card reports (drift ~0.33, g ~0.02 on this data)
    assert _rel(f, sde.drift(x)) < min(0.4, _rel(f_km, sde.drift(x)))
    assert _rel(g, sde.diffusion(x)) < 0.05


def test_shipped_model_is_robust_to_offset_scale_and_small_noise(shipped):
    sde = fimcg.systems.ornstein_uhlenbeck()
    paths = fimcg.simulate(sde, torch.zeros(20, 1), dt=0.01, n_steps=500, seed=4)
    x = fimcg.analysis.metrics.occupied_grid(paths, n=40)
    f, g = shipped.estimate(paths, 0.01, x)
    c, b = 0.05, 12.0  # an encoder's arbitrary units
    noisy = c * paths + b + 0.01 * c * paths.std() * torch.randn(paths.shape, generator=torch.Generator().manual_seed(0))
    f2, g2 = shipped.estimate(noisy, 0.01, c * x + b)
    assert _rel(f2 / c, f) < 0.1 and _rel(g2 / c, g) < 0.1


def test_shipped_model_handles_paths_sampled_at_different_steps(shipped):
    """Ten paths observed every 0.001 and ten every 0.005, given with their per-path steps."""
    sde = fimcg.systems.double_well()
    x0 = torch.randn(20, 1, generator=torch.Generator().manual_seed(0))
    fine = fimcg.simulate(sde, x0, dt=0.001, n_steps=5000, seed=1)
    paths = torch.cat([fine[:10, :1000], fine[10:, ::5][:, :1000]])
    steps = torch.cat([torch.full((10, 999), 0.001), torch.full((10, 999), 0.005)])
    x = fimcg.analysis.metrics.occupied_grid(paths, n=50)
    f, g = shipped.estimate(paths, steps, x, warn=False)
    rel = lambda a, b: float(((a - b) ** 2).mean().sqrt() / (b ** 2).mean().sqrt())  # noqa: E731
    assert rel(f, sde.drift(x)) < 0.3
    assert rel(g, sde.diffusion(x)) < 0.08


def test_inferred_sde_simulates(shipped):
    sde = fimcg.systems.double_well()
    paths = fimcg.simulate(sde, torch.zeros(10, 1), dt=0.002, n_steps=2000, seed=5)
    inferred = shipped.sde(paths, 0.002)
    sim = fimcg.simulate(inferred, torch.zeros(200, 1), dt=0.002, n_steps=2000, seed=6)
    assert torch.isfinite(sim).all()
    # the long-run spread of the inferred dynamics matches the data's (std(x) ~ 0.96)
    assert abs(float(sim[:, 1000:].std()) - float(paths[:, 500:].std())) < 0.15


def test_committed_configs_build_the_shipped_architectures(shipped):
    """scripts/pretrain-fim.sh reproduces the shipped weights: each stage's committed config builds
    the model that the next stage started from, and stage 4's the shipped model."""
    from fimcg.fim.training.loop import PretrainConfig

    weights = SHIPPED_WEIGHTS.parent
    meta = shipped.meta
    for name in ("finetune_stage4_config.json", "finetune_stage3_config.json", "finetune_config.json",
                 "pretrain_config.json"):
        committed = FIMConfig.from_dict(PretrainConfig.from_json(weights / name).model)
        built = FIMConfig.from_dict(meta["pretrain_config"]["model"])
        assert committed == built, name
        assert committed.query_feature_names() == built.query_feature_names()
        meta = meta.get("init", {})
    assert FIMConfig.from_dict(PretrainConfig.from_json(weights / "finetune_stage4_config.json").model) == shipped.config


def test_names_and_counts_derive_from_the_candidate_list():
    """Every name and count the network uses is the candidates' names, concatenated in list order."""
    for cfg in (FIMConfig(), FIMConfig(NetworkConfig(max_dim=2), CandidateConfig(bandwidths=(0.1, 0.3)))):
        cands = cfg.candidate_list()
        m = FIM(cfg)
        assert [c.name for c in m.candidates] == [c.name for c in cands]
        assert m.drift_option_names == cfg.drift_option_names() == [n for c in cands for n in c.drift_options]
        assert m.diffusion_option_names == [n for c in cands for n in c.diffusion_options]
        assert cfg.query_feature_names() == [n for c in cands for n in c.query_feature_names + c.global_feature_names]
        assert m.feature_layer().in_features == cfg.query_features
        assert m.gate_layer().out_features == cfg.n_drift_options + cfg.n_diffusion_options


def test_removing_candidates_shrinks_the_model():
    """A config without the cross-validated average, the high-degree and the family fits builds a
    model whose lists, features and head lose exactly those candidates' names."""
    full = FIMConfig()
    small = FIMConfig(candidates=CandidateConfig(cv_penalty=None, high_degrees=(), families=()))
    names = lambda cfg: [c.name for c in cfg.candidate_list()]  # noqa: E731
    removed = {"cross-validated average", "high-degree fits", "family fits"}
    assert names(small) == [n for n in names(full) if n not in removed]
    gone = [c for c in full.candidate_list() if c.name in removed]
    assert set(full.drift_option_names()) - set(small.drift_option_names()) == {n for c in gone for n in c.drift_options}
    assert set(full.query_feature_names()) - set(small.query_feature_names()) == {
        n for c in gone for n in c.query_feature_names + c.global_feature_names}
    assert small.drift_option_names() == ["nw h0.05", "nw h0.15", "nw h0.25", "nw h0.4", "ll h0.05", "ll h0.15",
                                          "ll h0.25", "ll h0.4", "ls1", "ls3", "zero"]
    m = FIM(small).eval()
    assert m.gate_layer().out_features == len(small.drift_option_names()) + len(small.diffusion_option_names())
    # the untrained model prefers the cubic fit when there is no cross-validated average
    assert float(m.gate_layer().bias.detach()[m.drift_option_names.index("ls3")]) == 3.0
    full_model = FIM(full)
    assert float(full_model.gate_layer().bias.detach()[full_model.drift_option_names.index("cv average")]) == 3.0
    out = m.explain(_ou_paths(), 0.01, torch.linspace(-0.5, 0.5, 5))
    assert list(out["drift_gates"]) == small.drift_option_names()
    assert not any(k.startswith("cv_delta") for k in out["statistics"])


def test_the_cross_validated_average_reads_what_earlier_candidates_offer():
    """Its options are every earlier candidate's cv options: the global fits, then the kernel drifts."""
    from fimcg.fim.library import CrossValidatedAverage

    cfg = FIMConfig(candidates=CandidateConfig(high_degrees=(5,), families=("sine",)))
    cv = next(c for c in cfg.candidate_list() if isinstance(c, CrossValidatedAverage))
    assert list(cv.option_names) == ["ls1", "ls3", "ls5", "sine fit", "ll h0.05", "ll h0.15", "ll h0.25", "ll h0.4"]
    assert [n for n in cfg.query_feature_names() if n.endswith(":cv_delta0")] == [f"{o}:cv_delta0" for o in cv.option_names]
    with pytest.raises(ValueError, match="needs the 'ls3' fit"):
        CrossValidatedAverage([], 6.0, 0.5, 1)


def test_calling_the_model_is_the_estimator_call_shape(model):
    paths, loc = _ou_paths(), torch.linspace(-0.5, 0.5, 6)[:, None]
    with torch.no_grad():
        drift, diffusion = model(paths, 0.01, loc)
        expected = model.estimate(paths, 0.01, loc)
    assert drift.shape == diffusion.shape == (6, 1)
    assert torch.equal(drift, expected[0]) and torch.equal(diffusion, expected[1])


def test_config_round_trips_and_refuses_the_flat_layout():
    cfg = FIMConfig(NetworkConfig(d_model=32, n_heads=2), CandidateConfig(bandwidths=(0.1,), families=("tanh",)))
    assert FIMConfig.from_dict(asdict(cfg)) == cfg
    flat = {**asdict(cfg.network), **asdict(cfg.candidates)}  # as saved before the split
    with pytest.raises(ValueError, match="fimcg convert"):
        FIMConfig.from_dict(flat)
    model = FIM(cfg)
    blob = upgrade_legacy({"format": "fimcg-fim-1", "config": flat, "state_dict": model.state_dict()})
    assert FIMConfig.from_dict(blob["config"]) == cfg
    assert FIMConfig.from_dict({"candidates": {"bandwidths": [0.1]}}).candidates.bandwidths == (0.1,)
    with pytest.raises(ValueError, match="unknown CandidateConfig field"):
        FIMConfig.from_dict({"candidates": {"d_model": 3}})
    with pytest.raises(ValueError, match="keys 'network' and 'candidates'"):
        FIMConfig.from_dict({"d_model": 3, "nonsense": 1})


def test_spline_candidate_fits_a_line_and_a_constant_diffusion():
    """The spline candidate on a context whose rates follow 0.7 - 1.5 x with constant g' = 0.1:
    the drift spline is that line, both cross-validated g'² averages are near 0.01 and put most of
    their weight on the low degrees (the constant or the line), the spline's GCV error enters the
    drift average."""
    from fimcg.fim.candidates import G2_DEGREES, spline_fits

    ctx = _linear_context(20000)
    q = torch.nn.functional.pad(torch.linspace(-0.9, 0.9, 25)[None, :, None], (0, 2))
    est = spline_fits(ctx, q, n_segments=20)
    torch.testing.assert_close(est.drift[0, :, 0, 0], 0.7 - 1.5 * q[0, :, 0], atol=0.08, rtol=0)
    for j in (0, 2):  # raw spline, raw cross-validated average
        torch.testing.assert_close(est.g2[0, :, j, 0], torch.full((25,), 0.01), atol=0.0015, rtol=0)
    low = [i for i, d in enumerate(G2_DEGREES) if d <= 1]
    assert float(est.g2_weights[0, 0, low].sum()) > 0.5
    assert 0 < float(est.cv[0, 0, 0]) < float("inf") and torch.isinf(est.cv[0, 1:]).all()  # padding: unavailable


def test_spline_candidate_is_unavailable_for_two_dimensional_states():
    from fimcg.fim.candidates import spline_fits
    from fimcg.fim.normalise import normalise

    paths = torch.randn(1, 4, 200, 2).cumsum(2) * 0.1
    norm = normalise(paths, 0.01)
    est = spline_fits(norm, torch.zeros(1, 5, 3), n_segments=8)
    assert torch.isinf(est.cv).all() and (est.drift == 0).all() and (est.g2 == 0).all()


def test_fim_with_splines_builds_and_estimates():
    """A FIM whose config has splines offers their options, reports their statistics, and its
    spline_penalty can be changed without new weights."""
    cfg = FIMConfig(NetworkConfig(d_model=16, n_heads=2, n_latents=4, n_encoder_blocks=1, n_decoder_blocks=1),
                    CandidateConfig(high_degrees=(), families=(), spline_segments=12))
    model = FIM(cfg).eval()
    assert {"spline g2", "cv g2", "cv g2 robust"} <= set(model.diffusion_option_names)
    assert "spline" in model.drift_option_names
    paths = fimcg.simulate(fimcg.systems.double_well(), torch.linspace(-1, 1, 8)[:, None], dt=0.01, n_steps=300,
                           seed=0)
    x = torch.linspace(-1, 1, 9)[:, None]
    with torch.no_grad():
        why = model.explain(paths, 0.01, x)
    assert "spline_df" in why["statistics"] and "cv_delta spline" in why["statistics"]
    assert 2.0 < float(why["statistics"]["spline_df"]) < 15.0  # GCV: between a line and all 15 coefficients
    other = model.with_candidate_settings(spline_penalty=100.0)
    with torch.no_grad():
        assert float(other.explain(paths, 0.01, x)["statistics"]["cv_delta spline"]) >= 100.0 - 1e-3
    with pytest.raises(ValueError, match="spline_segments"):
        CandidateConfig(spline_segments=0)
