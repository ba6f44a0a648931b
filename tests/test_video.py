"""The video embedder: geometry, rendering, noise, inversion through blob centroids, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from fimcg import render_video
from fimcg.video import EMBEDDINGS, frame_centroids, latent_to_pixel, pixel_to_latent


def test_frames_shape_dtype_and_range():
    paths = torch.linspace(-1.5, 1.5, 2 * 9).reshape(2, 9, 1)
    frames = render_video(paths, size=24, noise=0.05, seed=0)
    assert frames.shape == (2, 9, 24, 24)
    assert frames.dtype == torch.float32
    assert float(frames.min()) >= 0.0 and float(frames.max()) <= 1.0
    assert render_video(paths.double()).dtype == torch.float32


def test_flat_paths_are_one_dimensional_latents():
    assert render_video(torch.zeros(3, 5)).shape == (3, 5, 32, 32)
    assert render_video(torch.zeros(5)).shape == (1, 5, 32, 32)


def test_line_geometry_maps_the_range_to_the_image_linearly():
    x = torch.linspace(-2, 2, 5)[:, None]
    c = latent_to_pixel(x, size=32)
    margin = 0.1 * 31
    assert c[:, 0].tolist() == pytest.approx([margin, 9.3, 15.5, 21.7, 31 - margin], abs=1e-5)
    assert (c[:, 1] == 15.5).all()
    # a custom range moves the same geometry
    c2 = latent_to_pixel(torch.tensor([[0.0], [1.0]]), size=32, x_range=(0.0, 1.0))
    assert c2[:, 0].tolist() == pytest.approx([margin, 31 - margin])


def test_arc_geometry_lies_on_a_circle_and_is_nonlinear():
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)[:, None]
    c = latent_to_pixel(x, size=32, embedding="arc")
    r = torch.sqrt((c[:, 0] - 15.5) ** 2 + (c[:, 1] - 15.5) ** 2)
    assert torch.allclose(r, torch.full_like(r, 15.5 - 3.1))
    # not an affine function of x: second differences of the column are far from zero
    assert float(c[:, 0].diff().diff().abs().max()) > 0.1
    # the top of the arc is the middle of the range (rows count from the top)
    assert int(torch.argmin(c[:, 1])) == 20


def test_warped_geometry_is_monotone_and_nonlinear():
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)[:, None]
    col = latent_to_pixel(x, embedding="warped")[:, 0]
    steps = col.diff()
    assert (steps > 0).all()
    assert float(steps[20] / steps[0]) > 5  # fast in the middle, slow at the ends


def test_two_dimensional_latents_move_in_the_plane():
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    c = latent_to_pixel(x, size=32)
    assert torch.allclose(c, torch.tensor([[15.5, 15.5], [27.9, 15.5], [15.5, 3.1]]), atol=1e-5)
    frames = render_video(x[None], size=32)
    assert frames.shape == (1, 3, 32, 32)
    # the brightest pixel of the third frame is near the top centre
    idx = int(frames[0, 2].argmax())
    assert (idx // 32, idx % 32) in {(3, 15), (3, 16)}


@pytest.mark.parametrize("embedding", sorted(e for e, dims in EMBEDDINGS.items() if 1 in dims))
def test_pixel_to_latent_inverts_the_geometry(embedding):
    x = torch.linspace(-1.9, 1.9, 39, dtype=torch.float64)[:, None]
    back = pixel_to_latent(latent_to_pixel(x, embedding=embedding), embedding=embedding)
    assert torch.allclose(back, x, atol=1e-9)


def test_pixel_to_latent_in_two_dimensions():
    x = 0.8 * torch.randn(20, 2, dtype=torch.float64)
    for emb in sorted(e for e, dims in EMBEDDINGS.items() if 2 in dims):
        back = pixel_to_latent(latent_to_pixel(x, embedding=emb), embedding=emb, d=2)
        assert torch.allclose(back, x, atol=1e-6)


def test_swirl_bends_straight_latent_lines_and_keeps_the_centre():
    x = torch.stack([torch.linspace(-1.8, 1.8, 9), torch.zeros(9)], -1).double()
    line, swirl = latent_to_pixel(x, embedding="line"), latent_to_pixel(x, embedding="swirl")
    assert torch.allclose(swirl[4], line[4])  # the centre stays
    rows = swirl[:, 1]
    assert float(rows.max() - rows.min()) > 3  # the horizontal latent line is a curve in the image
    torch.testing.assert_close((swirl - 15.5).norm(dim=-1), (line - 15.5).norm(dim=-1) / 2 ** 0.5)  # radii kept (/ sqrt 2)
    corners = torch.tensor([[-2.0, -2.0], [2.0, 2.0], [-2.0, 2.0]])
    px = latent_to_pixel(corners, embedding="swirl")
    assert bool(((px >= 0) & (px <= 31)).all())  # the range's corners stay in the image


def test_blob_is_centred_on_the_geometry_with_the_requested_width():
    x = torch.tensor([[[0.37], [-1.2]]])
    frames = render_video(x, size=40, blob_width=2.0)
    cen = frame_centroids(frames, threshold=0.0)
    assert torch.allclose(cen[0], latent_to_pixel(x[0], size=40), atol=1e-3)
    # second moment of the brightness around the centre = blob_width^2 along each axis
    f = frames[0, 0].double()
    cols = torch.arange(40, dtype=torch.float64)
    var_col = float((f.sum(0) * (cols - cen[0, 0, 0]) ** 2).sum() / f.sum())
    assert var_col == pytest.approx(4.0, rel=1e-3)
    assert float(frames.max()) <= 1.0


def test_intensity_scales_the_blob():
    x = torch.zeros(1, 1, 1)
    full = render_video(x, intensity=1.0)
    half = render_video(x, intensity=0.5)
    assert torch.allclose(half, 0.5 * full)


@pytest.mark.parametrize("embedding", sorted(e for e, dims in EMBEDDINGS.items() if 1 in dims))
def test_centroids_recover_the_latent_from_noisy_frames(embedding):
    gen = torch.Generator().manual_seed(0)
    paths = (1.7 * (2 * torch.rand(4, 50, 1, generator=gen) - 1))
    frames = render_video(paths, noise=0.02, seed=1, embedding=embedding)
    rec = pixel_to_latent(frame_centroids(frames), embedding=embedding)
    err = (rec - paths).abs()
    assert float(err.mean()) < 0.01
    assert float(err.max()) < 0.06


def test_noise_is_seeded_and_has_the_requested_std():
    x = torch.zeros(2, 30, 1)
    a = render_video(x, noise=0.1, seed=3)
    b = render_video(x, noise=0.1, seed=3)
    c = render_video(x, noise=0.1, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    clean = render_video(x)
    mid = (clean > 0.35) & (clean < 0.65)  # pixels far from the clipping bounds
    diff = (a - clean)[mid]
    assert diff.numel() > 200
    assert float(diff.std()) == pytest.approx(0.1, rel=0.15)
    assert abs(float(diff.mean())) < 0.02


def test_chunking_does_not_change_the_frames():
    paths = torch.randn(3, 11, 1)
    assert torch.equal(render_video(paths, chunk_frames=5), render_video(paths))


def test_paths_outside_the_range_leave_the_image():
    frames = render_video(torch.tensor([[[10.0]]]))
    assert float(frames.max()) < 1e-6
    assert torch.isnan(frame_centroids(frames)).all()


# ---------------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------------

def test_nan_paths():
    with pytest.raises(ValueError, match=r"paths contains 1 NaN/inf value\(s\); first at index \(0, 2, 0\)"):
        render_video(torch.tensor([[[0.0], [0.1], [math.nan]]]))


def test_wrong_rank():
    with pytest.raises(ValueError, match=r"paths must have shape \(n_paths, T, d\); got 4 dimensions"):
        render_video(torch.zeros(2, 3, 4, 5))


@pytest.mark.parametrize("kwargs, err, match", [
    ({"size": 3}, ValueError, "size must be >= 4, got 3"),
    ({"size": 16.5}, TypeError, "size must be an integer"),
    ({"blob_width": 0.0}, ValueError, "blob_width must be finite and > 0, got 0.0"),
    ({"noise": -0.1}, ValueError, r"noise must be finite and >= 0, got -0.1"),
    ({"noise": math.nan}, ValueError, "noise must be finite and >= 0, got nan"),
    ({"embedding": "helix"}, ValueError, "unknown embedding 'helix'; valid: line, warped, arc, spiral"),
    ({"x_range": (1.0, -1.0)}, ValueError, "x_range must be finite with lo < hi"),
    ({"x_range": (0.0, 1.0, 2.0)}, ValueError, r"x_range must be \(lo, hi\) or one \(lo, hi\) per latent"),
    ({"intensity": 1.5}, ValueError, r"intensity must be in \(0, 1\], got 1.5"),
])
def test_bad_options(kwargs, err, match):
    with pytest.raises(err, match=match):
        render_video(torch.zeros(1, 3, 1), **kwargs)


def test_embedding_dimension_mismatch():
    with pytest.raises(ValueError, match=r"embedding 'arc' supports latent dimension\(s\) \(1,\), got d=2"):
        render_video(torch.zeros(1, 3, 2), embedding="arc")
    with pytest.raises(ValueError, match=r"embedding 'line' supports latent dimension\(s\) \(1, 2\), got d=3"):
        render_video(torch.zeros(1, 3, 3))


def test_frame_centroids_bad_input():
    with pytest.raises(ValueError, match=r"frames must have shape \(\.\.\., H, W\)"):
        frame_centroids(torch.zeros(5))
    with pytest.raises(ValueError, match="frames contains 1 NaN/inf"):
        frame_centroids(torch.tensor([[0.0, math.nan], [0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"coords must have shape \(\.\.\., 2\)"):
        pixel_to_latent(torch.zeros(4, 3))


def test_camera_range_keeps_every_state_in_view():
    from fimcg.video import camera_range
    x = torch.tensor([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [0.5, 1.5]]])
    assert camera_range(x) == [(-0.2, 2.2), (0.8, 3.2)]
    assert camera_range(x, margin=0.0) == [(0.0, 2.0), (1.0, 3.0)]
    with pytest.raises(ValueError, match="do not move"):
        camera_range(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="NaN"):
        camera_range(torch.tensor([[float("nan"), 0.0], [1.0, 1.0]]))
