import json
import os
import stat

import numpy as np
import pytest

from beatgan.atomic import atomic_write, write_json_atomic, write_npz_atomic


def test_replaces_only_on_success(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path, "w") as f:
            f.write("half")
            raise RuntimeError("crash mid-write")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temporary file left
    with atomic_write(path, "w") as f:
        f.write("new")
    assert path.read_text() == "new"


def test_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "sub" / "c.json", {"b": 1, "a": [1, 2]})
    finally:
        os.umask(old)
    path = tmp_path / "sub" / "c.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}


def test_npz_round_trip_and_no_pickle(tmp_path):
    write_npz_atomic(tmp_path / "x.npz", {"a": np.arange(3)})
    with np.load(tmp_path / "x.npz", allow_pickle=False) as data:
        assert data["a"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="pickle"):
        write_npz_atomic(tmp_path / "y.npz", {"a": np.array([None])})
    assert not (tmp_path / "y.npz").exists()
