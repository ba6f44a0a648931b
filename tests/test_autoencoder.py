"""Frame autoencoder pieces: PCA projection, anchoring normalisation, networks, Isomap initialisation."""

import numpy as np
import pytest
import torch

from fimcg.coarse_graining.autoencoder import Decoder, Encoder, FramePCA, LatentNorm, isomap_coordinates

torch.set_num_threads(1)


def _blob_frames(pos, size=16, width=1.5):
    grid = torch.arange(size, dtype=torch.float32)
    gx = torch.exp(-(grid[None, :] - pos[:, None]) ** 2 / (2 * width ** 2))
    gy = torch.exp(-(grid[None, :] - size / 2) ** 2 / (2 * width ** 2))
    return gy[:, :, None] * gx[:, None, :]  # (N, size, size)


def test_pca_is_orthonormal_and_reconstructs_its_span():
    gen = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(60, 3, generator=gen))[0]
    data = (torch.randn(500, 3, generator=gen) * torch.tensor([3.0, 2.0, 1.0])) @ basis.T + 0.5
    pca = FramePCA((6, 10), 3).fit(data)
    comps = pca.components
    torch.testing.assert_close(comps.T @ comps, torch.eye(3), atol=1e-5, rtol=0)
    assert float(pca.explained.sum()) == pytest.approx(1.0, abs=1e-5)
    frames = data.reshape(500, 6, 10)
    back = pca.reconstruct(pca(frames))
    torch.testing.assert_close(back, frames, atol=1e-4, rtol=0)
    # features are scaled so the first has unit standard deviation
    assert float(pca(frames)[:, 0].std()) == pytest.approx(1.0, rel=1e-3)


def test_pca_rejects_other_frame_shape():
    pca = FramePCA((8, 8), 2).fit(torch.randn(50, 64))
    with pytest.raises(ValueError, match=r"fitted on frames of shape \(8, 8\)"):
        pca(torch.zeros(3, 9, 8))


def test_latent_norm_anchors_offset_and_scale():
    norm = LatentNorm(2)
    h = torch.randn(1000, 2) * torch.tensor([5.0, 0.1]) + torch.tensor([3.0, -7.0])
    z = norm(h)
    torch.testing.assert_close(z.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(0), torch.ones(2), atol=1e-4, rtol=0)
    norm.eval()  # eval mode reuses the stored statistics
    torch.testing.assert_close(norm(h[:10]), z[:10], atol=1e-5, rtol=0)


@pytest.mark.parametrize("shape", [(12, 20), (3, 16, 16)])
def test_networks_shapes_for_any_frame_shape(shape):
    frames = torch.rand(40, *shape)
    pca = FramePCA(shape, 5).fit(frames.reshape(40, -1))
    enc, dec = Encoder(pca, 2), Decoder(pca, 2)
    z = enc(frames)
    assert z.shape == (40, 2)
    assert dec(z).shape == (40, *shape)


def test_isomap_recovers_arc_length_of_a_moving_blob():
    gen = torch.Generator().manual_seed(1)
    pos = torch.rand(800, generator=gen) * 10 + 3  # blob centre along a line, pixels
    frames = _blob_frames(pos)
    pca = FramePCA((16, 16), 12).fit(frames.reshape(800, -1))
    idx, coords = isomap_coordinates(pca(frames), 1, max_points=400)
    assert idx.shape == (400,) and coords.shape == (400, 1)
    r = np.corrcoef(coords[:, 0].numpy(), pos[idx].numpy())[0, 1]
    assert abs(r) > 0.999  # linear in the position: arc length of a translating blob
    torch.testing.assert_close(coords.std(0), torch.ones(1), atol=1e-2, rtol=0)


def test_spline_decoder_fits_a_smooth_curve_exactly():
    from fimcg.coarse_graining.autoencoder import SplineDecoder

    gen = torch.Generator().manual_seed(2)
    pos = torch.rand(600, generator=gen) * 10 + 3
    frames = _blob_frames(pos)
    pca = FramePCA((16, 16), 12).fit(frames.reshape(600, -1))
    z = ((pos - pos.mean()) / pos.std())[:, None]
    dec = SplineDecoder(pca)
    rel = dec.fit(z, pca(frames))
    assert rel < 1e-4  # the blob's PCA coefficients are smooth functions of its position
    recon = dec(z[:5])
    assert recon.shape == (5, 16, 16)
    torch.testing.assert_close(recon, pca.reconstruct(pca(frames[:5])), atol=5e-3, rtol=0)
    # differentiable in z, and the Jacobian matches finite differences
    zz = z[:3].clone().requires_grad_(True)
    dec.coefficients(zz)[:, 0].sum().backward()
    fd = (dec.coefficients(z[:3] + 1e-3) - dec.coefficients(z[:3] - 1e-3))[:, 0] / 2e-3
    torch.testing.assert_close(zz.grad[:, 0], fd, atol=1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="latent_dim=1"):
        SplineDecoder(pca, 2)
