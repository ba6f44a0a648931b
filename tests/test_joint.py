"""The joint baseline: autoencoder trained together with its own SDE head."""

import numpy as np
import pytest
import torch

import fimcg
from fimcg.analysis.alignment import fit_alignment
from fimcg.coarse_graining.joint import JointResult, MLPHead, PolynomialHead, joint_coarse_grain
from fimcg.coarse_graining.options import InitConfig
from fimcg.sde.systems import double_well
from fimcg.video import render_video

torch.set_num_threads(1)

FAST = dict(progress=False)
RANDOM = InitConfig(method="random", steps=200, points=400)
ISOMAP = InitConfig(steps=200, points=400)


@pytest.fixture(scope="module")
def data():
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(8, 1, generator=gen) * 3 - 1.5
    x = fimcg.simulate(double_well(), x0, dt=0.002, n_steps=99 * 5, seed=1)[:, ::5]
    return x, render_video(x, size=16)


def test_polynomial_head_shapes_and_positive_diffusion():
    head = PolynomialHead(2)
    f, g = head(torch.randn(10, 2))
    assert f.shape == (10, 2) and g.shape == (10, 2) and bool((g > 0).all())
    f, g = MLPHead(1)(torch.randn(5, 1))
    assert f.shape == (5, 1) and bool((g > 0).all())


def test_joint_training_learns_the_head(data, tmp_path):
    x, frames = data
    ratios = {}

    def variance_ratio(step, snap):  # predicted g^2 dt over the observed variance of latent increments
        z = snap.latents
        g = snap.diffusion(z[:, :-1].reshape(-1, 1))
        ratios[step] = float((g ** 2).mean() * 0.01 / (z[:, 1:] - z[:, :-1]).var())
    res = joint_coarse_grain(frames, 0.01, init=ISOMAP, steps=300, lr=2e-2, callback=variance_ratio,
                             eval_every=150, **FAST)
    assert isinstance(res, JointResult)
    assert len(res.history) == 300 and sorted(ratios) == [0, 150, 300]
    # the likelihood term improves as the head learns the dynamics ...
    assert res.history[-1]["sim"] < res.history[0]["sim"] - 0.1
    assert fit_alignment(res.latents, x).r2 > 0.99
    # ... and the head's diffusion moves from its unit start towards the size of the increments
    assert ratios[0] < 0.35 and ratios[300] > 0.5
    paths = fimcg.simulate(res.sde(), res.latents[:3, 0], dt=0.01, n_steps=20, seed=0)
    assert bool(torch.isfinite(paths).all())
    # save / load round trip keeps the head
    back = JointResult.load(res.save(tmp_path / "joint.safetensors"))
    loc = torch.linspace(-1, 1, 5)[:, None]
    torch.testing.assert_close(back.drift(loc), res.drift(loc))
    torch.testing.assert_close(back.encode(frames[:1]), res.encode(frames[:1]))


def test_random_init_and_mlp_head_run(data):
    _, frames = data
    res = joint_coarse_grain(frames, 0.01, head="mlp", init=RANDOM, steps=5, **FAST)
    assert res.config["init"]["method"] == "random"
    assert len(res.history) == 5 and np.isfinite(res.history[-1]["loss"])


def test_bad_input(data):
    _, frames = data
    with pytest.raises(ValueError, match="head must be 'polynomial' or 'mlp'"):
        joint_coarse_grain(frames, 0.01, head="gp", **FAST)
    with pytest.raises(ValueError, match="InitConfig.method must be one of isomap, slow, random, got 'pca'"):
        joint_coarse_grain(frames, 0.01, init=InitConfig(method="pca"), **FAST)
    with pytest.raises(TypeError, match="init must be of type InitConfig, got str"):
        joint_coarse_grain(frames, 0.01, init="random", **FAST)
    with pytest.raises(ValueError, match="latent_dim must be 1, 2 or 3"):
        joint_coarse_grain(frames, 0.01, latent_dim=4, **FAST)
    with pytest.raises(ValueError, match="dt must be finite and > 0"):
        joint_coarse_grain(frames, 0.0, **FAST)
    with pytest.raises(ValueError, match="NaN/inf"):
        joint_coarse_grain(frames * float("nan"), 0.01, **FAST)
