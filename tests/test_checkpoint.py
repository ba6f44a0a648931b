"""fimcg's file format: safetensors + JSON, atomic writes, exact round trips, clear errors on bad files."""

from __future__ import annotations

import json
import math
import os
import struct

import numpy as np
import pytest
import torch

from fimcg.io.checkpoint import FILE_FORMAT, LegacyFormatError, UnsafeFileError, atomic_write_json, atomic_write_text, convert_legacy, load_checkpoint, save_checkpoint, sha256_of


def test_round_trip_and_no_temporary_files(tmp_path):
    path = save_checkpoint({"w": torch.arange(5), "step": 3}, tmp_path / "sub" / "ck.safetensors")
    ck = load_checkpoint(path)
    assert ck["step"] == 3 and torch.equal(ck["w"], torch.arange(5))
    assert os.listdir(path.parent) == ["ck.safetensors"]
    assert path.stat().st_mode & 0o044  # readable by others, like any new file (not mkstemp's 0600)


def test_every_kind_of_value_comes_back_as_it_was(tmp_path):
    """Optimiser states (int keys, tuples), RNG states, numpy arrays, nan/inf, marker-like keys."""
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    tree = {"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": torch.Generator().get_state(),
            "arr": np.arange(6.0).reshape(2, 3), "t": (1, "a", None, True), "best": math.inf, "nan": float("nan"),
            "nested": [{"__tensor__": "not a tensor"}, {1: "int key", 2.5: [1, 2]}], "empty": torch.zeros(0, 3),
            "bool": torch.tensor([True, False]), "half": torch.ones(2, dtype=torch.bfloat16), "np_float": np.float32(2.5)}
    back = load_checkpoint(save_checkpoint(tree, tmp_path / "all.safetensors"))
    assert back["optimizer"]["param_groups"] == opt.state_dict()["param_groups"]
    assert set(back["optimizer"]["state"]) == {0, 1}
    for k, v in opt.state_dict()["state"][0].items():
        assert torch.equal(back["optimizer"]["state"][0][k], v)
    assert all(torch.equal(back["model"][k], v) for k, v in model.state_dict().items())
    assert torch.equal(back["rng"], tree["rng"]) and np.array_equal(back["arr"], tree["arr"])
    assert back["t"] == (1, "a", None, True) and back["best"] == math.inf and math.isnan(back["nan"])
    assert back["nested"] == tree["nested"] and back["np_float"] == 2.5
    assert back["empty"].shape == (0, 3) and back["bool"].dtype == torch.bool and back["half"].dtype == torch.bfloat16
    # a restored optimiser continues exactly like the original
    opt2 = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt2.load_state_dict(back["optimizer"])
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]


def test_views_and_shared_storage_are_saved(tmp_path):
    base = torch.arange(10.0)
    back = load_checkpoint(save_checkpoint({"a": base, "b": base[2:5], "c": base.view(2, 5).t()}, tmp_path / "v"))
    assert torch.equal(back["b"], base[2:5]) and torch.equal(back["c"], base.view(2, 5).t())


def test_failed_write_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "ck.safetensors"
    save_checkpoint({"step": 1}, path)
    with pytest.raises(TypeError, match=r"cannot save bad: values of type object"):
        save_checkpoint({"step": 2, "bad": object()}, path)
    assert load_checkpoint(path)["step"] == 1
    assert os.listdir(tmp_path) == ["ck.safetensors"]


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.safetensors")
    path = save_checkpoint({"step": 1, "w": torch.ones(100)}, tmp_path / "ck.safetensors")
    whole = path.read_bytes()
    for cut in (5, 20, len(whole) - 10):
        path.write_bytes(whole[:cut])
        with pytest.raises(UnsafeFileError, match="corrupt"):
            load_checkpoint(path)
    path.write_bytes(b"")
    with pytest.raises(UnsafeFileError, match="only 0 bytes"):
        load_checkpoint(path)
    path.write_text("just some text, not a checkpoint")
    with pytest.raises(UnsafeFileError, match="not a fimcg file"):
        load_checkpoint(path)
    # a safetensors file that fimcg did not write
    from safetensors.torch import save_file
    save_file({"x": torch.ones(2)}, str(path))
    with pytest.raises(UnsafeFileError, match="not one written by fimcg"):
        load_checkpoint(path)


def _safetensors_with_tree(tree: str, tensors: dict) -> bytes:
    from safetensors.torch import save
    return save(tensors, metadata={"format": FILE_FORMAT, "tree": tree})


def test_crafted_metadata_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(_safetensors_with_tree('{"w": {"__tensor__": "missing"}}', {"x": torch.ones(1)}))
    with pytest.raises(UnsafeFileError, match="refers to a tensor 'missing'"):
        load_checkpoint(path)
    path.write_bytes(_safetensors_with_tree("{not json", {"x": torch.ones(1)}))
    with pytest.raises(UnsafeFileError, match="not valid JSON"):
        load_checkpoint(path)
    # a header length that points past the end of the file
    raw = bytearray(save_checkpoint({"a": 1}, path).read_bytes())
    raw[:8] = struct.pack("<Q", 10 ** 7)
    path.write_bytes(bytes(raw))
    with pytest.raises(UnsafeFileError, match="truncated"):
        load_checkpoint(path)


def test_legacy_pickles_are_refused_and_convert_only_knowingly(tmp_path):
    old = tmp_path / "old.pt"
    torch.save({"step": 7, "w": torch.arange(3)}, old)
    with pytest.raises(LegacyFormatError, match=r"pickle-based format.*fimcg convert"):
        load_checkpoint(old)
    with pytest.warns(UserWarning, match="unpickles"):
        new = convert_legacy(old, tmp_path / "new.safetensors")
    ck = load_checkpoint(new)
    assert ck["step"] == 7 and torch.equal(ck["w"], torch.arange(3))
    with pytest.raises(ValueError, match="already in the current format"):
        convert_legacy(new, tmp_path / "again.safetensors")
    (tmp_path / "text").write_text("hello")
    with pytest.raises(ValueError, match="neither a legacy fimcg file"):
        convert_legacy(tmp_path / "text", tmp_path / "x.safetensors")


def test_text_json_and_checksum(tmp_path):
    p = atomic_write_text("héllo\n", tmp_path / "a.txt")
    assert p.read_text(encoding="utf-8") == "héllo\n"
    j = atomic_write_json({"b": 1, "a": [1, 2]}, tmp_path / "a.json")
    assert j.read_text().startswith("{\n  \"a\"")
    assert json.loads(j.read_text()) == {"a": [1, 2], "b": 1}
    assert sha256_of(p) != sha256_of(j) and len(sha256_of(p)) == 64
