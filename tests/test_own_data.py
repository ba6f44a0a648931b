"""`fimcg coarse-grain` and `fimcg estimate` on files the tests write themselves."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import fimcg
from fimcg.analysis.alignment import latent_r2
from fimcg.app.cli import main

iio = pytest.importorskip("imageio.v3")
tifffile = pytest.importorskip("tifffile")
h5py = pytest.importorskip("h5py")
zarr = pytest.importorskip("zarr")

DT = 0.01


@pytest.fixture(scope="module")
def particle():
    """4 paths of the reference double well, 400 frames at dt = 0.01: hidden x (4, 400, 1), frames uint8."""
    sde = fimcg.systems.double_well()
    x0 = torch.tensor([[-1.0], [1.0], [-0.5], [0.5]])
    x = fimcg.simulate(sde, x0, dt=0.002, n_steps=5 * 399, seed=3)[:, ::5]
    frames = fimcg.render_video(x, size=24, noise=0.02, seed=4)
    return x, (frames.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def write_recording(kind: str, frames: np.ndarray, d) -> list[str]:
    if kind == "mp4":
        files = []
        for i, f in enumerate(frames):
            iio.imwrite(d / f"p{i}.mp4", f, fps=round(1 / DT), codec="libx264", macro_block_size=1)
            files.append(str(d / f"p{i}.mp4"))
        return files
    if kind == "tif":
        for i, f in enumerate(frames):
            tifffile.imwrite(d / f"p{i}.tif", f)
        return [str(d / f"p{i}.tif") for i in range(len(frames))]
    if kind == "h5":
        with h5py.File(d / "rec.h5", "w") as fh:
            fh["frames"] = frames
        return [f"{d / 'rec.h5'}:/frames"]
    z = zarr.open(str(d / "rec.zarr"), mode="w", shape=frames.shape, dtype="u1", chunks=(1, 100, 24, 24))
    z[:] = frames
    return [str(d / "rec.zarr")]


@pytest.mark.parametrize("kind", ["mp4", "tif", "h5", "zarr"])
def test_coarse_grain_command_finds_the_hidden_state(kind, particle, tmp_path):
    x, frames = particle
    files = write_recording(kind, frames, tmp_path)
    out = tmp_path / "out"
    dt_args = [] if kind == "mp4" else ["--dt", str(DT)]  # mp4 files state their frame rate
    assert main(["coarse-grain", *files, *dt_args, "--out", str(out), "--steps", "3", "--no-progress"]) == 0
    for name in ("report.html", "results.json", "latents.npy", "result.safetensors"):
        assert (out / name).is_file()
    z = np.load(out / "latents.npy")
    assert z.shape == (4, 400, 1)
    assert latent_r2(torch.from_numpy(z), x) >= 0.98
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["dt"] == pytest.approx(DT)
    assert results["data"]["files"] == (files if kind in ("mp4", "tif") else [f"{files[0]}[{i}]" for i in range(4)])
    assert "f(z) =" in results["equation"]
    assert "Before you trust the result" in (out / "report.html").read_text()
    loaded = fimcg.CoarseGrainResult.load(out / "result.safetensors")
    torch.testing.assert_close(loaded.latents, torch.from_numpy(z))
    if kind == "mp4":  # a recording of one system: its own estimate, read from the same files without training
        assert main(["infer", str(out / "result.safetensors"), *files[:2], "--out", str(tmp_path / "inf")]) == 0
        r = json.loads((tmp_path / "inf" / "results.json").read_text())
        assert r["collection"] is None and r["family_coordinates"] is None
        assert r["data"]["dt"] == pytest.approx(DT) and r["sde"]["drift"] == r["sde"]["drift_own"]
        np.testing.assert_allclose(np.load(tmp_path / "inf" / "latents.npy"), z[:2], atol=1e-5)


def test_coarse_grain_command_resumes_and_strides(particle, tmp_path):
    x, frames = particle
    np.save(tmp_path / "f.npy", frames.astype(np.float32) / 255)
    out = tmp_path / "out"
    argv = ["coarse-grain", str(tmp_path / "f.npy"), "--dt", str(DT), "--stride", "2", "--out", str(out), "--steps",
            "2", "--no-progress"]
    assert main(argv) == 0
    first = np.load(out / "latents.npy")
    assert first.shape == (4, 200, 1)
    assert json.loads((out / "results.json").read_text())["data"]["dt"] == pytest.approx(2 * DT)
    stamp = (out / "checkpoint.safetensors").stat().st_mtime_ns
    assert main(argv) == 0  # the finished checkpoint is reused, not retrained
    np.testing.assert_array_equal(np.load(out / "latents.npy"), first)
    assert (out / "checkpoint.safetensors").stat().st_mtime_ns == stamp
    assert main(argv[:-3] + ["--steps", "4", "--no-progress"]) == 0  # more steps continue the checkpoint
    assert json.loads((out / "results.json").read_text())["coarse_grain"]["steps"] == 4
    assert main(argv + ["--seed", "1"]) == 2  # other options: the checkpoint does not fit, and says so
    assert main(argv + ["--seed", "1", "--restart"]) == 0


def _cut_mp4(d, frames):
    path = d / "cut.mp4"
    iio.imwrite(path, frames[0], fps=100, codec="libx264", macro_block_size=1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return [str(path)]


@pytest.mark.parametrize("make, extra, message", [
    (lambda d, f: [str(_bytes(d / "junk.mp4", b"not a video at all"))], [], "cannot be read as a video"),
    (lambda d, f: [str(_bytes(d / "empty.mp4", b""))], [], "cannot be read as a video"),
    (_cut_mp4, [], "cut.mp4: cannot be read as a video: not a video, or truncated"),
    (lambda d, f: [str(_npy(d / "a.npy", f[:1, :50])), str(_npy(d / "b.npy", f[:1, :50, :20]))], ["--dt", "0.01"],
     "different sizes"),
    (lambda d, f: [f"{_h5(d / 'r.h5', f)}:/missing"], ["--dt", "0.01"], "no dataset '/missing'"),
    (lambda d, f: [str(_npy(d / "a.npy", f))], ["--dt", "0"], "dt must be finite and > 0"),
    (lambda d, f: [str(_npy(d / "a.npy", f))], [], "give dt"),
])
def test_bad_recordings_fail_with_one_line_naming_the_problem_and_write_nothing(make, extra, message, particle,
                                                                                 tmp_path, capsys):
    _, frames = particle
    files = make(tmp_path, frames)
    out = tmp_path / "out"
    code = main(["coarse-grain", *files, *extra, "--out", str(out), "--steps", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("fimcg coarse-grain: error:") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_estimate_command_on_csv_with_ids_and_irregular_times(tmp_path):
    sde = fimcg.systems.double_well()
    x = fimcg.simulate(sde, 0.5 * torch.randn(30, 1), dt=0.001, n_steps=8000, seed=5)[..., 0].numpy()
    rng = np.random.default_rng(0)
    lines = ["track;time;position"]
    for p in range(30):
        t = np.sort(rng.choice(np.arange(1, 8001), size=600, replace=False))  # irregular: 1 to ~60 steps apart
        lines += [f"{p};{k * 0.001:.3f};{x[p, k]:.6f}" for k in t]
    (tmp_path / "tracks.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert main(["estimate", str(tmp_path / "tracks.csv"), "--out", str(out), "--no-progress"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["paths"] == 30 and results["data"]["steps"]["regular"] is False
    assert set(results["estimates"]) == {"FIM", "binned KM", "local linear", "least squares (deg 3 / 2)"}
    grid = torch.linspace(results["grid"]["lo"], results["grid"]["hi"], results["grid"]["n"])[:, None]
    f_fim = torch.tensor(results["estimates"]["FIM"]["drift"])[:, None]
    assert fimcg.relative_rmse(f_fim, sde.f(grid)) < 0.5
    table = (out / "estimates.csv").read_text().splitlines()
    assert len(table) == 101 and table[0].startswith("position,FIM drift,FIM diffusion")
    assert results["validation"]["skipped"]  # paths of different lengths at irregular steps
    assert (out / "report.html").is_file()


def test_estimate_command_on_npy_with_dt_validates_the_equation(tmp_path):
    sde = fimcg.systems.double_well()
    x = fimcg.simulate(sde, 0.5 * torch.randn(20, 1), dt=0.002, n_steps=5000, seed=6)[:, ::5]
    np.save(tmp_path / "x.npy", x.numpy())
    out = tmp_path / "out"
    assert main(["estimate", str(tmp_path / "x.npy"), "--dt", str(DT), "--out", str(out), "--no-progress"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["dt"] == pytest.approx(DT)
    assert "f(x) =" in results["equation"] and "ks_stationary" in results["validation"]


@pytest.mark.parametrize("content, extra, message", [
    ("t,x\n0,1.0\n0.01,abc\n", [], "line 3, column 'x': 'abc' is not a number"),
    ("t,x\n0,1.0\n0.01,2.0\n", ["--dt", "0.01"], "has a time column and dt=0.01 was given too"),
    ("x\n1.0\n2.0\n", [], "give the time between observations"),
    ("t,x\n0,1.0\n0,2.0\n", [], "times must increase"),
    ("x\n1.0\n2.0\n", ["--dt", "-1"], "dt must be a finite number > 0"),
])
def test_bad_trajectories_fail_with_one_line_and_write_nothing(content, extra, message, tmp_path, capsys):
    (tmp_path / "traj.csv").write_text(content)
    out = tmp_path / "out"
    code = main(["estimate", str(tmp_path / "traj.csv"), *extra, "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    if "dt must" not in message:  # a bad --dt is the command line's fault, not the file's
        assert str(tmp_path / "traj.csv") in err
    assert not out.exists()


def _bytes(path, data):
    path.write_bytes(data)
    return path


def _npy(path, arr):
    np.save(path, arr)
    return path


def _h5(path, arr):
    with h5py.File(path, "w") as fh:
        fh["frames"] = arr
    return path


def test_a_failure_after_training_leaves_no_outputs_and_keeps_old_ones(particle, tmp_path, monkeypatch):
    x, frames = particle
    np.save(tmp_path / "f.npy", frames)
    out = tmp_path / "out"
    argv = ["coarse-grain", str(tmp_path / "f.npy"), "--dt", str(DT), "--out", str(out), "--steps", "1",
            "--no-progress"]
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "checkpoint.safetensors"}

    def broken(self, path):
        raise OSError("disk full")
    monkeypatch.setattr(fimcg.CoarseGrainResult, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        main(argv + ["--steps", "2"])  # trains one more step, then fails while writing
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "checkpoint.safetensors"}
    assert after == before  # the old complete run is untouched, nothing half-written beside it
    assert not [p for p in out.iterdir() if p.name.startswith(".fimcg-partial")]


def test_coarse_grain_command_on_a_collection_grouped_by_folder(tmp_path):
    from fimcg.video import make_collection

    col = make_collection(4, n_paths=2, n_frames=300, size=16, seed=5)
    files = []
    for name, frames in zip(("calm", "middle", "wild"), col.frames[:3]):
        (tmp_path / name).mkdir()
        for i, path in enumerate(frames):
            np.save(tmp_path / name / f"p{i}.npy", path.numpy())
            files.append(str(tmp_path / name / f"p{i}.npy"))
    out = tmp_path / "out"
    assert main(["coarse-grain", *files, "--dt", str(DT), "--group-by-folder", "--steps", "2", "--out", str(out),
                 "--no-progress"]) == 0
    results = json.loads((out / "results.json").read_text())
    results_names = [str(tmp_path / n) for n in ("calm", "middle", "wild")]
    assert [r["name"] for r in results["recordings"]] == results_names
    assert all(r["paths"] == 2 and "f(z) =" in r["equation"] and 0 <= r["own_weight"] <= 1
               for r in results["recordings"])
    assert "Recordings" in (out / "report.html").read_text()
    # a new recording's SDE from the saved result, no training
    new = []
    for i, path in enumerate(col.frames[3]):
        np.save(tmp_path / f"new{i}.npy", path.numpy())
        new.append(str(tmp_path / f"new{i}.npy"))
    inferred = tmp_path / "inferred"
    assert main(["infer", str(out / "result.safetensors"), *new, "--dt", str(DT), "--out", str(inferred)]) == 0
    r = json.loads((inferred / "results.json").read_text())
    rank = r["collection"]["family_rank"]
    assert r["data"]["paths"] == 2 and len(r["family_coordinates"]) == rank and r["collection"]["recordings"] == \
        results_names
    assert np.isfinite(r["sde"]["drift"]).all() and (np.array(r["sde"]["diffusion"]) > 0).all()
    table = np.loadtxt(inferred / "sde.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 1], r["sde"]["drift"], rtol=1e-6, atol=1e-6)
    assert np.load(inferred / "latents.npy").shape == (2, 300, 1)
    assert main(["infer", str(tmp_path / "missing.safetensors"), *new, "--dt", str(DT), "--out",
                 str(tmp_path / "x")]) == 2
    np.save(tmp_path / "small.npy", col.frames[3][0, :, :8, :8].numpy())  # frames of another size
    assert main(["infer", str(out / "result.safetensors"), str(tmp_path / "small.npy"), "--dt", str(DT), "--out",
                 str(tmp_path / "y")]) == 2
    assert main(["coarse-grain", files[0], files[1], "--dt", str(DT), "--group-by-folder", "--out",
                 str(tmp_path / "one"), "--no-progress"]) == 2  # one folder is not a collection
