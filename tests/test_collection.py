"""Many recordings, one encoder: open_collection, coarse_grain on a collection, pooling, infer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fimcg
from fimcg.coarse_graining import CoarseGrainResult, InitConfig
from fimcg.io import RecordingError, open_collection, open_recording
from fimcg.video import make_collection


@pytest.fixture(scope="module")
def collection():
    return make_collection(5, n_paths=3, n_frames=300, size=16, seed=3)


@pytest.fixture(scope="module")
def trained(collection):
    rec = open_collection(*collection.frames[:4], names=collection.names[:4])
    return fimcg.coarse_grain(rec, 0.01, steps=4, progress=False, init=InitConfig(points=400))


def test_make_collection_draws_parameters_in_their_ranges(collection):
    assert len(collection.scenes) == 5 and collection.frames[0].shape == (3, 300, 16, 16)
    for p in collection.params:
        assert 0.6 <= p["barrier"] <= 1.6 and 1.6 <= p["noise"] <= 2.2 and p["tilt"] == 0.0
    again = make_collection(5, n_paths=3, n_frames=300, size=16, seed=3)
    assert again.params == collection.params and torch.equal(again.frames[2], collection.frames[2])
    with pytest.raises(ValueError, match="low <= high"):
        make_collection(2, barrier=(1.0, 0.5))


def test_open_collection_groups_the_paths_of_each_recording():
    a, b = np.random.default_rng(0).random((3, 40, 6, 6)), np.random.default_rng(1).random((2, 40, 6, 6))
    rec = open_collection(a.astype(np.float32), b.astype(np.float32), names=["A", "B"])
    assert rec.groups == [[0, 1, 2], [3, 4]] and rec.group_names == ["A", "B"]
    assert rec.names[3].startswith("B: ")
    with pytest.raises(RecordingError, match="distinct names"):
        open_collection(a, b, names=["A", "A"])
    with pytest.raises(RecordingError, match="two or more recordings"):
        open_collection(a)
    with pytest.raises(RecordingError, match="processed alike"):
        open_collection(open_recording(a, layout="PTHW", crop=(0, 4, 0, 4)), open_recording(b, layout="PTHW"))


def test_a_collection_trains_one_encoder_and_gives_each_recording_its_sde(trained, collection):
    assert trained.recordings == collection.names[:4]
    assert trained.latents.shape == (12, 300, 1)
    x = torch.cat(collection.signals[:4])
    assert fimcg.analysis.alignment.latent_r2(trained.latents.reshape(-1), x.reshape(-1)) > 0.95
    grid = torch.linspace(-1, 1, 7)[:, None]
    own = [trained.coefficients(grid, recording=k)[0] for k in range(4)]
    assert not torch.allclose(own[0], own[1])  # each recording its own context
    torch.testing.assert_close(trained.coefficients(grid, recording="recording 2")[0], own[2])
    with pytest.raises(ValueError, match="no recording 'nope'"):
        trained.coefficients(grid, recording="nope")


def test_pooled_estimates_lie_between_own_and_their_family_fit(trained):
    pooled = trained.pooled()
    assert pooled.drift.shape == (4, 100, 1) and pooled.grid.shape == (100, 1)
    w = pooled.drift_weight
    assert 0 <= w <= 1 and 0 <= pooled.diffusion2_weight <= 1
    r = pooled.drift_family.rank
    assert 0 <= r <= 3 and len(pooled.drift_family.scores) == 4  # 4 recordings: ranks 0..K-1 cross-validated
    assert pooled.drift_coefficients.shape == (4, r)
    centre = pooled.drift_centre
    torch.testing.assert_close(centre[..., 0], pooled.drift_family.values(pooled.drift_coefficients.double()).float())
    # the pooled drift is its family fit plus the share w of the difference to its own estimate
    torch.testing.assert_close(pooled.drift, centre + w * (pooled.raw_drift - centre), rtol=1e-5, atol=1e-5)
    assert trained.pooled() is pooled  # computed once
    mean_only = trained.pooled(rank=0)  # the ablation: towards the collection's mean
    assert mean_only.drift_family.rank == 0 and mean_only.drift_coefficients.shape == (4, 0)
    assert torch.allclose(mean_only.drift_centre, mean_only.drift_centre[:1].expand(4, -1, -1))  # one centre for all
    with pytest.raises(ValueError, match="rank must be between 0 and 3"):
        trained.pooled(rank=4)


def test_infer_a_new_recording_without_training(trained, collection):
    new = trained.infer(collection.frames[4])
    assert new.latents.shape == (3, 300, 1)
    f, g = new.coefficients(torch.tensor([[0.0], [0.5]]))
    assert f.shape == (2, 1) and bool((g > 0).all())
    f_raw, _ = new.coefficients(torch.tensor([[0.0], [0.5]]), pooled=False)
    assert not torch.allclose(f, f_raw)
    family = trained.pooled().drift_family
    assert new.drift_coefficients.shape == (family.rank,) and new.drift_centre.shape == new.drift.shape
    one = trained.infer(collection.frames[4][:1])  # one path: one FIM pass, its coordinates from that path
    assert bool(torch.isfinite(one.drift).all()) and one.drift_coefficients.shape == (trained.pooled().drift_family.rank,)
    with pytest.raises(ValueError, match="at least 10 frames"):
        trained.infer(collection.frames[4][0])  # no path axis


def test_collection_survives_save_and_load(trained, tmp_path):
    trained.save(tmp_path / "r.safetensors")
    back = CoarseGrainResult.load(tmp_path / "r.safetensors")
    assert back.recordings == trained.recordings
    grid = torch.tensor([[0.2]])
    torch.testing.assert_close(back.coefficients(grid, recording=1)[0], trained.coefficients(grid, recording=1)[0])


def test_infer_on_a_single_recording_result_pools_nothing(collection):
    res = fimcg.coarse_grain(collection.frames[0], 0.01, steps=2, progress=False, init=InitConfig(points=300))
    assert res.recordings is None
    new = res.infer(collection.frames[1])
    torch.testing.assert_close(new.drift, new.raw_drift)
    with pytest.raises(ValueError, match="needs a collection"):
        res.pooled()


def test_the_joint_baseline_learns_one_head_per_recording(collection):
    from fimcg.coarse_graining.joint import HeadPerRecording

    rec = open_collection(*collection.frames[:3], names=collection.names[:3])
    res = fimcg.joint_coarse_grain(rec, 0.01, steps=30, progress=False, init=InitConfig(method="isomap", points=300))
    assert isinstance(res.head, HeadPerRecording) and len(res.head.heads) == 3
    grid = torch.tensor([[0.0], [0.5]])
    assert not torch.allclose(res.coefficients(grid, recording=0)[0], res.coefficients(grid, recording=2)[0])
    with pytest.raises(ValueError, match="pass recording="):
        res.coefficients(grid)
    new = res.infer(collection.frames[4], steps=50)  # a new head fitted to the new latent paths
    assert new.drift.shape == (100, 1) and bool(torch.isfinite(new.drift).all())


def test_joint_per_recording_heads_survive_save_and_load(collection, tmp_path):
    from fimcg.coarse_graining.joint import JointResult

    rec = open_collection(*collection.frames[:2], names=["a", "b"])
    res = fimcg.joint_coarse_grain(rec, 0.01, steps=5, progress=False, init=InitConfig(method="isomap", points=300))
    res.save(tmp_path / "j.safetensors")
    back = JointResult.load(tmp_path / "j.safetensors")
    grid = torch.tensor([[0.3]])
    torch.testing.assert_close(back.coefficients(grid, recording="b")[0], res.coefficients(grid, recording="b")[0])


def test_infer_reads_a_new_recording_from_files(trained, collection, tmp_path):
    np.save(tmp_path / "new.npy", collection.frames[4].numpy())
    from_file = trained.infer(open_recording(tmp_path / "new.npy", layout="PTHW"))
    in_memory = trained.infer(collection.frames[4])
    torch.testing.assert_close(from_file.latents, in_memory.latents)
    torch.testing.assert_close(from_file.drift, in_memory.drift)
    with pytest.raises(ValueError, match="fitted on frames of shape"):
        trained.infer(open_recording(tmp_path / "new.npy", layout="PTHW", crop=(0, 8, 0, 8)))
    assert trained.config["recording"]["processing"] == {"grey": True, "crop": None, "downsample": 1, "stride": 1}
