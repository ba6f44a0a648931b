"""The command line (`fimcg`, `python -m fimcg`) and the main job's report."""

from __future__ import annotations

import html
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fimcg
from fimcg.app import main_job as report
from fimcg.app.cli import main


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "run" in out and "systems" in out


def test_run_help_shows_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for opt in ("--out", "--n-paths", "--seed", "--embedding", "--noise"):
        assert opt in out


def test_systems_lists_the_catalogue(capsys):
    assert main(["systems"]) == 0
    out = capsys.readouterr().out
    assert "double_well " in out and "g1=4.0, g2=1.25" in out and "mueller_brown" in out


@pytest.mark.parametrize("argv, message", [
    (["run", "--n-paths", "0"], "fimcg run: error: n_paths must be >= 1, got 0"),
    (["run", "--dt", "-0.1"], "fimcg run: error: dt must be finite and > 0, got -0.1"),
    (["run", "--system", "nope"], "fimcg run: error: unknown system 'nope'; valid names: double_well"),
    (["run", "--embedding", "helix"], "fimcg run: error: unknown embedding 'helix'"),
    (["run", "--system", "mueller_brown", "--embedding", "arc"],
     "fimcg run: error: embedding 'arc' draws (1,)-D states; the 2-D system 'mueller_brown' needs one of line"),
])
def test_bad_arguments_give_one_line_and_exit_code_2(argv, message, capsys, tmp_path):
    code = main(argv + ["--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(message)
    assert "Traceback" not in err and err.count("\n") == 1


def test_argparse_errors_exit_with_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--n-paths", "many"])
    assert info.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_out_must_be_a_folder(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["run", "--out", str(f), "--n-paths", "2", "--n-steps", "20", "--no-progress"]) == 2
    assert "is a file" in capsys.readouterr().err


def test_small_run_writes_a_report_that_opens(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["run", "--out", str(out), "--n-paths", "4", "--n-steps", "300", "--frame-every", "2",
                 "--no-progress"])
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    page = (out / "report.html").read_text()
    assert (out / "report.html").stat().st_mode & 0o777 == 0o644
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    n_divs = page.count('class="plotly-graph-div"')
    assert n_divs >= 8
    assert page.count("Plotly.newPlot") == n_divs
    # plotly.js is embedded exactly once (offline), and not fetched from a CDN
    assert page.count("plotly.js v") >= 1 and '<script src="http' not in page
    assert len(page) > 3_000_000
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["n_paths"] == 4
    assert results["data"]["n_observations_per_path"] == 301
    assert len(results["estimates"]) == 9
    for row in results["estimates"]:
        assert math.isfinite(row["drift rel. RMSE"]) and math.isfinite(row["diffusion rel. RMSE"])
    assert results["video"]["n_frames"] == 4 * 151
    assert results["video"]["centroid_latent_r2"] > 0.99
    assert set(results["timings_seconds"]) >= {"simulate", "render", "estimate", "total"}


def test_small_two_dimensional_run_writes_results_for_the_plane(tmp_path, capsys):
    from fimcg.app.main_job import STAGES, RunConfig, run_main
    stages = [(n, f) for n, f in STAGES if n != "coarse_grain"]
    results = run_main(RunConfig(system="double_well_2d", n_paths=20, n_steps=2000, frame_every=5, embedding="swirl"),
                       out=tmp_path / "r2", progress=False, stages=stages)
    assert results["data"]["dim"] == 2 and len(results["data"]["wells"]) == 2
    assert results["video"]["centroid_latent_r2"] > 0.99
    rows = {(r["data"].split(",")[0], r["estimator"]): r for r in results["estimates"]}
    assert len(rows) == 8 and all(math.isfinite(r["drift rel. RMSE"]) for r in rows.values())
    assert rows[("true (x", "least squares (deg 3 / 2)")]["drift rel. RMSE"] < 0.6
    page = (tmp_path / "r2" / "report.html").read_text()
    assert "the true drift field" in page and "drift fields on the true states" in page
    ring = run_main(RunConfig(system="rotating_ring", n_paths=4, n_steps=400, frame_every=4), out=tmp_path / "r3",
                    progress=False, stages=stages[:2])
    assert ring["data"]["wells"] == [] and "well_occupation" not in ring["data"]  # a limit cycle has no wells


def test_stages_can_be_extended(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "STAGES", list(report.STAGES))
    seen = []

    def extra(ctx):
        seen.append(sorted(ctx.data))
        ctx.results["extra"] = {"ok": True}
        ctx.report.text("extra stage ran")

    report.add_stage("extra", extra, after="simulate")
    assert [n for n, _ in report.STAGES][:2] == ["simulate", "extra"]
    with pytest.raises(ValueError, match="unknown stage 'nope'"):
        report.add_stage("x", extra, after="nope")
    stages = [s for s in report.STAGES if s[0] in ("simulate", "extra")]
    res = report.run_main(report.RunConfig(n_paths=2, n_steps=50), out=tmp_path, progress=False, stages=stages)
    assert res["extra"] == {"ok": True} and seen == [["paths", "sde"]]
    assert "extra stage ran" in (tmp_path / "report.html").read_text()


def test_python_dash_m_runs_the_cli():
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-m", "fimcg", "run", "--n-steps", "0"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "fimcg run: error: n_steps must be >= 10, got 0"


def test_console_script_points_to_main():
    script = Path(sys.executable).parent / "fimcg"
    if not script.exists():
        pytest.skip("fimcg is not installed as a console script in this environment")
    assert "from fimcg.app.cli import main" in script.read_text()


@pytest.mark.parametrize("system", ["ornstein_uhlenbeck", "double_well_constant"])
def test_report_states_the_truth_of_the_simulated_system_only(system, tmp_path):
    """The report once printed the reference double well's truth for every --system."""
    stages = [s for s in report.STAGES if s[0] in ("simulate", "render", "coarse_grain")]
    report.run_main(report.RunConfig(system=system, n_paths=4, n_steps=300, frame_every=2), out=tmp_path,
                    progress=False, stages=stages)
    page = (tmp_path / "report.html").read_text()
    truth = fimcg.systems.get_system(system)
    assert f"truth, the simulated {system}: {html.escape(truth.describe())}" in page
    assert "1.25 x^2" not in page  # nothing of the reference system's diffusion


def test_a_run_without_a_known_system_has_no_truth_section(tmp_path):
    def forget_the_truth(ctx):  # as for a user's own recording: frames and dt, no SDE
        del ctx.data["sde"]

    stages = [s for s in report.STAGES if s[0] in ("simulate", "render")] + [("forget", forget_the_truth)] \
        + [s for s in report.STAGES if s[0] == "coarse_grain"]
    res = report.run_main(report.RunConfig(n_paths=4, n_steps=300, frame_every=2), out=tmp_path, progress=False,
                          stages=stages)
    page = (tmp_path / "report.html").read_text()
    assert "Discovered equations" in page and "In the learned latent z" in page
    assert "truth" not in page.lower() and "latent_r2" not in res["coarse_grain"]
