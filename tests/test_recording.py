"""Reading a user's recording (fimcg.io.recording) and streaming it through coarse_grain."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fimcg
from fimcg.coarse_graining.data import StreamedFrames, prepare_frames
from fimcg.io import FrameOptions, RecordingError, open_recording, transform_frames

iio = pytest.importorskip("imageio.v3")
tifffile = pytest.importorskip("tifffile")
h5py = pytest.importorskip("h5py")
zarr = pytest.importorskip("zarr")


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """(3, 40, 16, 20) uint8 frames of random pixels."""
    return np.random.default_rng(0).integers(0, 256, size=(3, 40, 16, 20), dtype=np.uint8)


@pytest.fixture(scope="module")
def files(frames, tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("recordings")
    out = {"mp4": d / "a.mp4", "gif": d / "a.gif", "tif": d / "a.tif", "npy": d / "a.npy", "h5": d / "a.h5",
           "zarr": d / "a.zarr", "folder": d / "pngs"}
    iio.imwrite(out["mp4"], frames[0], fps=25, codec="libx264", macro_block_size=1)
    iio.imwrite(out["gif"], frames[0], duration=40)
    tifffile.imwrite(out["tif"], frames[0])
    np.save(out["npy"], frames.astype(np.float32) / 255)
    with h5py.File(out["h5"], "w") as fh:
        fh["group/frames"] = frames
    z = zarr.open(str(out["zarr"]), mode="w", shape=frames.shape, dtype="u1")
    z[:] = frames
    out["folder"].mkdir()
    for i, f in enumerate(frames[0][:12]):
        iio.imwrite(out["folder"] / f"frame_{i:03d}.png", f)
    return out


@pytest.mark.parametrize("kind, n_paths, tol", [("gif", 1, 1e-6), ("tif", 1, 1e-6), ("npy", 3, 1e-6),
                                                ("h5", 3, 1e-6), ("zarr", 3, 1e-6), ("mp4", 1, 0.25)])
def test_every_kind_reads_back_the_frames_written(files, frames, kind, n_paths, tol):
    spec = f"{files[kind]}:/group/frames" if kind == "h5" else files[kind]
    rec = open_recording(spec)
    got = rec.to_numpy()
    assert got.shape == (n_paths, 40, 16, 20) and got.dtype == np.float32
    want = frames[:n_paths] / 255.0
    err = np.abs(got - want)
    assert err.max() <= tol if kind != "mp4" else err.mean() <= 0.1  # H.264 is lossy


def test_an_image_folder_is_one_path_in_name_order(files, frames):
    rec = open_recording(files["folder"])
    assert rec.lengths == [12]
    np.testing.assert_allclose(rec.to_numpy()[0], frames[0][:12] / 255.0, atol=1e-6)


def test_frame_rates_come_from_the_container(files):
    assert open_recording(files["mp4"]).fps == pytest.approx(25.0)
    assert open_recording(files["mp4"], stride=5).fps == pytest.approx(5.0)
    assert open_recording(files["npy"]).fps is None


def test_arrays_in_python_dask_and_torch(frames):
    dask_array = pytest.importorskip("dask.array")
    a = open_recording(dask_array.from_array(frames, chunks=(1, 10, 16, 20))).to_numpy()
    b = open_recording(torch.from_numpy(frames)).to_numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, frames / 255.0, atol=1e-6)


def test_processing_crop_downsample_stride_grey():
    rgb = np.zeros((6, 8, 10, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    out = transform_frames(rgb, FrameOptions(crop=(2, 8, 0, 6), downsample=2))
    assert out.shape == (6, 3, 3)
    np.testing.assert_allclose(out, 0.299, atol=1e-6)  # BT.601 luma of red
    kept = transform_frames(rgb, FrameOptions(grey=False))
    assert kept.shape == (6, 3, 8, 10) and kept[:, 0].min() == 1.0 and kept[:, 1:].max() == 0.0
    rec = open_recording(np.arange(50 * 4 * 4, dtype=np.float32).reshape(50, 4, 4), stride=7)
    assert rec.lengths == [8]
    np.testing.assert_array_equal(rec.to_numpy()[0, :, 0, 0], np.arange(0, 50, 7) * 16)
    np.testing.assert_array_equal(rec.take(0, [3, 1]), rec.to_numpy()[0][[3, 1]])


def test_layouts_name_the_axes():
    thwc = np.random.default_rng(1).random((20, 6, 7, 3)).astype(np.float32)
    rec = open_recording(thwc, layout="THWC", grey=False)
    assert rec.frame_shape == (3, 6, 7)
    np.testing.assert_allclose(rec.to_numpy()[0], np.moveaxis(thwc, -1, 1))
    with pytest.raises(RecordingError, match="layout"):
        open_recording(thwc, layout="PTHW!")


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.mp4", "no such file"),
    (lambda d: _write(d / "junk.mp4", b"this is not a video"), "cannot be read as a video"),
    (lambda d: _write(d / "empty.mp4", b""), "cannot be read as a video"),
    (lambda d: _truncated_npy(d), "truncated"),
    (lambda d: _npy(d / "empty.npy", np.zeros((0, 8, 8), np.float32)), "empty"),
    (lambda d: _npy(d / "objects.npy", np.array([{"a": 1}] * 3, dtype=object)), "Python objects"),
    (lambda d: _write(d / "notes.txt", b"hello"), "unknown kind of file"),
])
def test_bad_files_raise_errors_that_name_them(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(RecordingError, match=message) as info:
        open_recording(path)
    assert str(path) in str(info.value)


def test_a_missing_dataset_lists_the_ones_there(files):
    with pytest.raises(RecordingError, match=r"no dataset '/nope'.*'/group/frames'"):
        open_recording(f"{files['h5']}:/nope")
    with pytest.raises(RecordingError, match="name the dataset"):
        open_recording(files["h5"])


def test_mixed_frame_sizes_are_refused_naming_both_files(tmp_path):
    a, b = _npy(tmp_path / "a.npy", np.zeros((20, 8, 8), np.float32)), _npy(tmp_path / "b.npy",
                                                                            np.zeros((20, 9, 8), np.float32))
    with pytest.raises(RecordingError, match="different sizes") as info:
        open_recording(a, b)
    assert str(a) in str(info.value) and str(b) in str(info.value)


def test_streamed_coarse_graining_equals_in_memory(tmp_path):
    """The same frames, in memory or read from a .npy file a chunk at a time, give the same result."""
    sde = fimcg.systems.double_well()
    x = fimcg.simulate(sde, 0.5 * torch.randn(4, 1), dt=0.002, n_steps=1500, seed=1)[:, ::5]
    fr = fimcg.render_video(x, size=16, noise=0.02, seed=2)
    np.save(tmp_path / "f.npy", fr.numpy())
    kw = dict(steps=3, progress=False, init=fimcg.coarse_graining.InitConfig(points=300))
    a = fimcg.coarse_grain(fr, 0.01, **kw)
    b = fimcg.coarse_grain(open_recording(tmp_path / "f.npy"), 0.01, chunk_mb=0.05, **kw)  # 51 frames a chunk
    torch.testing.assert_close(a.latents, b.latents)
    assert a.config["fingerprint"] == b.config["fingerprint"]
    assert b.config["recording"]["segments"] == [[p, 0] for p in range(4)]


def test_files_of_different_lengths_are_cut_into_equal_paths():
    rec = open_recording(np.random.default_rng(0).random((95, 4, 4)).astype(np.float32),
                         np.random.default_rng(1).random((40, 4, 4)).astype(np.float32))
    data = prepare_frames(rec)
    assert isinstance(data, StreamedFrames)
    assert data.length == 40 and data.segments == [(0, 0), (0, 40), (1, 0)] and data.dropped == 15
    rows = data.rows([0, 41, 80 + 39])  # segment 0 frame 0, segment 1 frame 1, segment 2 frame 39
    np.testing.assert_allclose(rows[1].numpy(), rec.take(0, [41])[0].reshape(-1))
    np.testing.assert_allclose(rows[2].numpy(), rec.take(1, [39])[0].reshape(-1))


def test_streamed_frames_with_nan_or_no_motion_are_refused():
    bad = np.random.default_rng(0).random((2, 60, 4, 4)).astype(np.float32)
    bad[1, 33, 2, 2] = np.nan
    data = prepare_frames(open_recording(bad))
    with pytest.raises(ValueError, match=r"NaN or infinite pixels \(in frame 33 "):
        list(data.blocks(chunk_mb=0.001))
    with pytest.raises(ValueError, match=r"NaN or infinite pixels \(in frame 33 "):  # a random subset, frame 33 in it
        data.rows([60 + 5, 60 + 33, 60 + 40])
    still = prepare_frames(open_recording(np.ones((2, 60, 4, 4), np.float32)))
    with pytest.raises(ValueError, match="constant"):
        list(still.blocks(chunk_mb=0.001))
    with pytest.raises(ValueError, match="fewer than 10 frames"):
        prepare_frames(open_recording(np.ones((2, 5, 4, 4), np.float32)))


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _npy(path, arr):
    np.save(path, arr, allow_pickle=True)
    return path


def _truncated_npy(d):
    path = _npy(d / "cut.npy", np.zeros((50, 8, 8), np.float32))
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)
    return path


def test_dask_and_memory_mapped_arrays_are_streamed(tmp_path):
    dask_array = pytest.importorskip("dask.array")
    frames = np.random.default_rng(2).random((3, 50, 6, 6)).astype(np.float32)
    np.save(tmp_path / "f.npy", frames)
    for lazy in (dask_array.from_array(frames, chunks=(1, 25, 6, 6)), np.load(tmp_path / "f.npy", mmap_mode="r")):
        data = prepare_frames(lazy)
        assert isinstance(data, StreamedFrames) and (data.n_paths, data.length) == (3, 50)
        np.testing.assert_allclose(torch.cat(list(data.blocks(chunk_mb=0.01))).numpy(), frames.reshape(150, 36))
    assert not isinstance(prepare_frames(frames), StreamedFrames)  # in memory stays in memory


class _CountingArray:
    """An array-like that records how many frames each read covers."""

    def __init__(self, arr):
        self.arr, self.shape, self.dtype, self.reads = arr, arr.shape, arr.dtype, []

    def __getitem__(self, index):
        t = index[0]
        self.reads.append(len(range(*t.indices(self.shape[0]))) if isinstance(t, slice) else 1)
        return self.arr[index]


def test_random_access_reads_are_bounded_whatever_the_path_length(monkeypatch):
    frames = np.random.default_rng(0).random((3000, 8, 8)).astype(np.float32)
    src = _CountingArray(frames)
    rec = open_recording(src)
    monkeypatch.setattr(type(rec.sources[0]), "TAKE_BYTES", 100 * 8 * 8 * 4)  # 100 frames a read at most
    idx = np.sort(np.random.default_rng(1).choice(3000, size=800, replace=False))
    src.reads.clear()
    np.testing.assert_array_equal(rec.take(0, idx), frames[idx])
    assert max(src.reads) <= 100 and sum(src.reads) <= 4 * 800


def test_image_folders_of_mixed_sizes_name_the_odd_image(tmp_path):
    for i in range(4):
        iio.imwrite(tmp_path / f"f{i}.png", np.zeros((8, 8) if i != 2 else (8, 9), np.uint8))
    with pytest.raises(RecordingError, match=r"f2.png: an image of shape \(8, 9, 1\)"):
        open_recording(tmp_path).to_numpy()


def test_a_file_name_with_a_colon_is_a_file_not_a_dataset(tmp_path):
    path = _npy(tmp_path / "run 12:30.npy", np.random.default_rng(0).random((20, 4, 4)).astype(np.float32))
    assert open_recording(str(path)).lengths == [20]


def test_integer_frames_mean_the_same_in_memory_and_streamed(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 60, 6, 6), dtype=np.uint8)
    np.save(tmp_path / "u8.npy", frames)
    in_memory, streamed = prepare_frames(frames), prepare_frames(np.load(tmp_path / "u8.npy", mmap_mode="r"))
    assert not isinstance(in_memory, StreamedFrames) and isinstance(streamed, StreamedFrames)
    assert in_memory.fingerprint(0.1) == streamed.fingerprint(0.1)
    np.testing.assert_allclose(in_memory.rows([7, 100]).numpy(), frames.reshape(120, 36)[[7, 100]] / 255, atol=1e-7)


def test_hdf5_files_are_closed_and_groups_refused(files):
    with pytest.raises(RecordingError, match="a group, not a dataset"):
        open_recording(f"{files['h5']}:/group")
    with open_recording(f"{files['h5']}:/group/frames") as rec:
        handle = rec.sources[0].handle
        assert handle
    assert not handle  # h5py: a closed file is falsy
