"""Observed trajectories from files: CSV tables and ``.npy`` arrays, with path ids and times.

For ``fimcg estimate`` and anyone with a time series rather than a video (particle tracking, a
molecular-dynamics collective variable, a measured signal).

* **CSV** (comma, semicolon or tab separated; a header row naming the columns, or none): the state
  columns, plus optionally a *path id* column (``path``, ``path_id``, ``id``, ``particle``,
  ``track``, ``trajectory``; or ``path_column=``) whose rows are grouped into paths in order of
  first appearance, and a *time* column (``t``, ``time``; or ``time_column=``) whose differences
  become the time steps (irregular steps are kept; times must increase within a path). Every cell
  must be a number (the message names file, line and column of the first that is not).
* **npy**: (T,) one path, (n_paths, T) one coordinate, or (n_paths, T, d); numeric only (object
  arrays are refused, since loading them would unpickle).

Paths may differ in length. The time step comes from the files' time columns or from ``dt``
(one of the two, not both).
"""

from __future__ import annotations

import csv
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["Trajectories", "read_trajectories", "TrajectoryError", "PATH_COLUMNS", "TIME_COLUMNS"]

PATH_COLUMNS = ("path", "path_id", "id", "particle", "track", "trajectory")
TIME_COLUMNS = ("t", "time")


class TrajectoryError(ValueError):
    """A trajectory file that cannot be read; the message names the file and the problem."""


@dataclass
class Trajectories:
    """Observed paths of a d-dimensional process.

    Attributes:
        paths: one array (T_i, d) per path (float64).
        steps: one array (T_i - 1,) of time steps per path (regular or not).
        names: for each path, ``"file"`` or ``"file:id"``.
        columns: names of the d state columns.
    """

    paths: list[np.ndarray]
    steps: list[np.ndarray]
    names: list[str]
    columns: list[str]

    @property
    def dim(self) -> int:
        return self.paths[0].shape[1]

    @property
    def n_observations(self) -> int:
        return int(sum(p.shape[0] for p in self.paths))

    @property
    def n_transitions(self) -> int:
        return int(sum(p.shape[0] - 1 for p in self.paths))

    def regular_step(self, *, rtol: float = 1e-6) -> float | None:
        """The common time step, when every step equals it (within ``rtol``); else None."""
        allsteps = np.concatenate(self.steps)
        mid = float(np.median(allsteps))
        return mid if np.all(np.abs(allsteps - mid) <= rtol * mid) else None

    def equal_length(self) -> np.ndarray | None:
        """The paths as one array (n_paths, T, d) when they have equal lengths; else None."""
        if len({p.shape[0] for p in self.paths}) != 1:
            return None
        return np.stack(self.paths)

    def transitions(self) -> tuple[np.ndarray, np.ndarray]:
        """Every observed transition as a path of two points, (N, 2, d), and its step (N, 1): the form
        every increment-based estimator reads, whatever the paths' lengths and steps."""
        pairs = np.concatenate([np.stack([p[:-1], p[1:]], axis=1) for p in self.paths])
        return pairs, np.concatenate(self.steps)[:, None]


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TrajectoryError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise TrajectoryError(f"{where}: {text!r} is not a finite number")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _find(header: list[str], wanted: str | None, defaults: Sequence[str], what: str, file: Path) -> int | None:
    lower = [h.strip().lower() for h in header]
    if wanted is not None:
        if wanted.strip().lower() not in lower:
            raise TrajectoryError(f"{file}: no {what} column {wanted!r}; the columns are {header}")
        return lower.index(wanted.strip().lower())
    for name in defaults:
        if name in lower:
            return lower.index(name)
    return None


def _read_csv(file: Path, *, path_column: str | None, time_column: str | None
              ) -> tuple[list[np.ndarray], list[np.ndarray] | None, list[str], list[str]]:
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrajectoryError(f"{file}: cannot be read as a text table ({exc})") from exc
    numbered = [(k + 1, ln) for k, ln in enumerate(text.splitlines()) if ln.strip() and not ln.lstrip().startswith("#")]
    if not numbered:
        raise TrajectoryError(f"{file}: the file holds no rows")
    try:
        dialect = csv.Sniffer().sniff(numbered[0][1], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader([ln for _, ln in numbered], dialect))
    line_of = [k for k, _ in numbered]  # the file's own line numbers (blank and # lines skipped)
    has_header = not all(_is_number(c) for c in rows[0])
    header = [c.strip() for c in rows[0]] if has_header else [f"x{i + 1}" for i in range(len(rows[0]))]
    body = rows[1:] if has_header else rows
    body_lines = line_of[1:] if has_header else line_of
    if not body:
        raise TrajectoryError(f"{file}: the table has a header but no rows")
    pid = _find(header, path_column, PATH_COLUMNS, "path id", file) if has_header else None
    tid = _find(header, time_column, TIME_COLUMNS, "time", file) if has_header else None
    if not has_header and (path_column or time_column):
        raise TrajectoryError(f"{file}: has no header row, so columns cannot be found by name")
    state = [i for i in range(len(header)) if i not in (pid, tid)]
    if not state:
        raise TrajectoryError(f"{file}: no state column (the columns are {header})")
    groups: dict[str, list[list[float]]] = {}
    times: dict[str, list[float]] = {}
    for row, line in zip(body, body_lines):
        if len(row) != len(header):
            raise TrajectoryError(f"{file}, line {line}: {len(row)} cells, but the header has {len(header)} columns")
        key = row[pid].strip() if pid is not None else ""
        groups.setdefault(key, []).append([_number(row[i].strip(), f"{file}, line {line}, column {header[i]!r}")
                                           for i in state])
        if tid is not None:
            times.setdefault(key, []).append(_number(row[tid].strip(), f"{file}, line {line}, column {header[tid]!r}"))
    paths, steps, names = [], [] if tid is not None else None, []
    for key, values in groups.items():
        name = f"{file}:{key}" if pid is not None else str(file)
        paths.append(np.asarray(values, dtype=np.float64))
        names.append(name)
        if steps is not None:
            d = np.diff(np.asarray(times[key], dtype=np.float64))
            if d.size and not np.all(d > 0):
                at = int(np.nonzero(d <= 0)[0][0])
                raise TrajectoryError(f"{name}: times must increase along a path; observation {at + 1} is at "
                                      f"t = {times[key][at + 1]!r} after t = {times[key][at]!r}")
            steps.append(d)
    if pid is not None and all(len(v) == 1 for v in groups.values()):
        raise TrajectoryError(f"{file}: column {header[pid]!r} was read as a path id, and every id occurs once (paths "
                              "of one observation); if it is a state or time column, name the path-id column with "
                              "path_column= (--path-column)")
    return paths, steps, names, [header[i] for i in state]


def _read_npy(file: Path) -> tuple[list[np.ndarray], None, list[str], list[str]]:
    try:
        arr = np.load(file, allow_pickle=False, mmap_mode="r")
    except ValueError as exc:
        raise TrajectoryError(f"{file}: not a numeric .npy array ({exc})") from exc
    except OSError as exc:
        raise TrajectoryError(f"{file}: cannot be read ({exc})") from exc
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TrajectoryError(f"{file}: holds {arr.dtype} values; real numbers are needed")
    if arr.ndim == 1:
        arr = arr[None, :, None]
    elif arr.ndim == 2:
        arr = arr[:, :, None]
    elif arr.ndim != 3:
        raise TrajectoryError(f"{file}: an array of shape {arr.shape}; expected (T,), (n_paths, T) or (n_paths, T, d)")
    if arr.size == 0:
        raise TrajectoryError(f"{file}: the array of shape {arr.shape} is empty")
    arr = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise TrajectoryError(f"{file}: holds NaN or infinite values")
    names = [str(file) if arr.shape[0] == 1 else f"{file}:{i}" for i in range(arr.shape[0])]
    return list(arr), None, names, [f"x{i + 1}" for i in range(arr.shape[2])]


def read_trajectories(*files: str | Path, dt: float | None = None, path_column: str | None = None,
                      time_column: str | None = None) -> Trajectories:
    """Read observed paths from CSV and ``.npy`` files (see the module doc).

    Args:
        files: one or more files; their paths are pooled (the same number of state columns in each;
            the first file's column names are kept).
        dt: the time between observations when the files have no time column.
        path_column, time_column: names of those CSV columns, when not one of the usual names.

    Raises:
        TrajectoryError: a missing or unreadable file, a non-numeric cell, decreasing times, files
            with different numbers of state columns, paths of fewer than two observations, or a time step given
            both ways or neither (the message names the file).
    """
    if not files:
        raise TrajectoryError("no trajectory file given")
    if dt is not None and (isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not math.isfinite(dt)
                           or dt <= 0):
        raise TrajectoryError(f"dt must be a finite number > 0, got {dt!r}")
    paths: list[np.ndarray] = []
    steps: list[np.ndarray] = []
    names: list[str] = []
    columns: list[str] | None = None
    for f in files:
        file = Path(f)
        if not file.is_file():
            raise TrajectoryError(f"{file}: no such file")
        if file.suffix.lower() == ".npy":
            p, s, n, c = _read_npy(file)
        elif file.suffix.lower() in (".csv", ".tsv", ".txt"):
            p, s, n, c = _read_csv(file, path_column=path_column, time_column=time_column)
        else:
            raise TrajectoryError(f"{file}: unknown kind of file {file.suffix!r}; trajectories are read from "
                                  ".csv/.tsv/.txt tables and .npy arrays")
        if columns is not None and len(c) != len(columns):
            raise TrajectoryError(f"{file}: {len(c)} state columns {c}, but the files before have {len(columns)} "
                                  f"{columns}")
        columns = columns or c
        if s is None:
            if dt is None:
                raise TrajectoryError(f"{file}: has no time column; give the time between observations (dt)")
            s = [np.full(max(x.shape[0] - 1, 0), float(dt)) for x in p]
        elif dt is not None:
            raise TrajectoryError(f"{file}: has a time column and dt={dt!r} was given too; use one of the two")
        for x, name in zip(p, n):
            if x.shape[0] < 2:
                raise TrajectoryError(f"{name}: a path of {x.shape[0]} observation; at least 2 are needed")
        paths += p
        steps += s
        names += n
    return Trajectories(paths=paths, steps=steps, names=names, columns=list(columns or []))
