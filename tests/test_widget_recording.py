"""Chapter 09's widget: a recording's processed frames and principal directions, and the explorer driven headlessly."""

from __future__ import annotations

import numpy as np
import pytest

from fimcg import widgets


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One .npy path: a blob moving along a row (x = 4..27) and a bright 5x5 'counter' top left."""
    rng = np.random.default_rng(0)
    t = np.arange(300)
    x = 16 + 10 * np.sin(t / 15) + rng.normal(0, 0.5, t.size)
    yy, xx = np.mgrid[:32, :32]
    frames = 0.7 * np.exp(-((xx[None] - x[:, None, None]) ** 2 + (yy[None] - 20) ** 2) / (2 * 1.5 ** 2))
    frames[:, :5, :5] = (t % 10)[:, None, None] / 9
    path = tmp_path_factory.mktemp("rec") / "clip.npy"
    np.save(path, frames.astype(np.float32))
    return [path]


def test_preview_finds_the_counter_and_a_crop_removes_it(files):
    whole = widgets.recording_preview(files, n_frames=4)
    assert whole.frames.shape == (4, 32, 32) and whole.directions.shape == (3, 32, 32)
    assert whole.directions.max() == pytest.approx(1.0) and 0 < whole.explained.sum() <= 1 + 1e-6
    first = whole.directions[0] ** 2
    assert first[:5, :5].sum() / first.sum() > 0.5  # the counter varies most
    cropped = widgets.recording_preview(files, crop=(6, 32, 0, 32), downsample=2, stride=3, n_frames=4)
    assert cropped.frames.shape == (4, 13, 16) and cropped.settings["stride"] == 3
    row = cropped.directions[0].sum(axis=1)
    assert row.argmax() in (6, 7)  # the blob's row 20 -> (20 - 6) / 2 = 7
    fig = widgets.recording_figure(cropped, dt=0.01)
    assert len(fig.data) == 7 and fig.data[4].name == "direction 1"


def test_preview_rejects_settings_that_leave_nothing(files):
    with pytest.raises(ValueError, match="leaves no pixels"):
        widgets.recording_preview(files, crop=(10, 10, 0, 32))
    with pytest.raises(ValueError, match="fewer than n_frames"):
        widgets.recording_preview(files, stride=150, n_frames=4)


def test_recording_explorer_headless(files):
    box = widgets.recording_explorer(files, dt=0.01, n_preview=200)
    assert set(box.controls) == {"rows", "columns", "downsample", "stride"}
    before = np.array(box.figure.data[4].z)
    box.controls["rows"].value = (6, 32)
    after = np.array(box.figure.data[4].z)
    assert after.shape == (26, 32) and before.shape == (32, 32)
    assert "crop (6, 32, 0, 32)" in box.figure.layout.title.text
    box.controls["rows"].value = (12, 12)  # nothing left: the status says so, the figure stays
    assert "invalid setting" in box.status.value
    assert np.array(box.figure.data[4].z).shape == (26, 32)
    static = widgets.recording_slider_figure([widgets.recording_preview(files)] * 2, ["a", "b"])
    assert len(static.layout.sliders[0].steps) == 2
