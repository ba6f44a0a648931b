"""Atomic checkpoint writes: complete or absent, never half-written; clear errors on bad files."""

from __future__ import annotations

import os

import pytest
import torch

from fimcg.checkpoint import atomic_write_json, atomic_write_text, load_checkpoint, save_checkpoint, sha256_of


def test_round_trip_and_no_temporary_files(tmp_path):
    path = save_checkpoint({"w": torch.arange(5), "step": 3}, tmp_path / "sub" / "ck.pt")
    ck = load_checkpoint(path)
    assert ck["step"] == 3 and torch.equal(ck["w"], torch.arange(5))
    assert os.listdir(path.parent) == ["ck.pt"]
    assert path.stat().st_mode & 0o044  # readable by others, like any new file (not mkstemp's 0600)


def test_failed_write_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint({"step": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom while writing")

    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint({"step": 2, "bad": Unpicklable()}, path)
    assert load_checkpoint(path)["step"] == 1
    assert os.listdir(tmp_path) == ["ck.pt"]


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")
    path = save_checkpoint({"step": 1}, tmp_path / "ck.pt")
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(RuntimeError, match="corrupt"):
        load_checkpoint(path)


def test_text_json_and_checksum(tmp_path):
    p = atomic_write_text("héllo\n", tmp_path / "a.txt")
    assert p.read_text(encoding="utf-8") == "héllo\n"
    j = atomic_write_json({"b": 1, "a": [1, 2]}, tmp_path / "a.json")
    assert j.read_text().startswith("{\n  \"a\"")
    assert sha256_of(p) != sha256_of(j) and len(sha256_of(p)) == 64
