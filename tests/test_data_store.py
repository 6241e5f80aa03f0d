"""Tests of beatgan.data's stores: the load cache and the dataset files of ``beatgan prepare``."""

from __future__ import annotations

import json
import os
import warnings
import zipfile

import numpy as np
import pytest
import soundfile

from beatgan import atomic, data
from beatgan.data import SkippedFileWarning, load_dataset, load_loops, save_dataset
from beatgan.errors import ConfigError, DatasetError


@pytest.fixture(autouse=True)
def xdg_cache(tmp_path, monkeypatch):
    """A private fallback cache instead of the real ~/.cache."""
    path = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(path))
    return path / "beatgan"


@pytest.fixture
def folder(tmp_path, drum_recording):
    _, amen = drum_recording
    folder = tmp_path / "loops"
    (folder / "sub").mkdir(parents=True)
    soundfile.write(folder / "a.flac", amen, 44100, subtype="PCM_24")
    soundfile.write(folder / "sub" / "b.wav", amen[::-1].copy(), 44100, subtype="PCM_16")
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    return folder


class DecodeCounter:
    """Stands in for beatgan.audio.read_head as beatgan.data calls it and counts calls; can forbid decoding."""

    def __init__(self, monkeypatch):
        self.real, self.calls, self.forbid = data.read_head, 0, False
        monkeypatch.setattr(data, "read_head", self)  # data calls it by this name

    def __call__(self, path, **options):
        if self.forbid:
            raise AssertionError(f"{path} was decoded although the cache should hold it")
        self.calls += 1
        return self.real(path, **options)


def load(folder, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFileWarning)
        return load_loops(folder, progress=False, **options)


def test_second_load_comes_from_the_cache(folder, monkeypatch):
    decoder = DecodeCounter(monkeypatch)
    first = load(folder)
    assert decoder.calls == 3
    assert len(list((folder / data.CACHE_DIR_NAME).glob("loops-*.npz"))) == 1
    decoder.forbid = True
    with pytest.warns(SkippedFileWarning, match="broken.wav"):  # skipped files are still reported
        second = load_loops(folder, progress=False)
    np.testing.assert_array_equal(second.audio, first.audio)
    assert second.names == first.names == ["a.flac", "sub/b.wav"]
    assert second.skipped == first.skipped and second.audio.dtype == np.float32


def test_no_cache_when_turned_off(folder, monkeypatch):
    decoder = DecodeCounter(monkeypatch)
    load(folder, cache=False)
    load(folder, cache=False)
    assert decoder.calls == 6
    assert not (folder / data.CACHE_DIR_NAME).exists()


@pytest.mark.parametrize("change", ["mtime", "size", "new file", "removed file", "settings"])
def test_cache_is_invalidated(folder, monkeypatch, drum_recording, change):
    decoder = DecodeCounter(monkeypatch)
    options = {}
    load(folder)
    target = folder / "a.flac"
    if change == "mtime":
        stat = target.stat()
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    elif change == "size":  # same modification time, other size
        stat = target.stat()
        soundfile.write(target, drum_recording[1][:20000], 44100, subtype="PCM_24")
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    elif change == "new file":
        soundfile.write(folder / "c.flac", drum_recording[1], 44100)
    elif change == "removed file":
        target.unlink()
    else:
        options = {"slice_len": 8192}
    decoder.calls = 0
    loops = load(folder, **options)
    assert decoder.calls >= 2  # decoded again
    assert loops.slice_len == options.get("slice_len", 16384)
    decoder.forbid = True
    load(folder, **options)  # and cached again


@pytest.mark.parametrize("damage", [b"", b"not a zip file", "truncate", "wrong shape"])
def test_corrupt_cache_is_rebuilt(folder, monkeypatch, damage, caplog):
    first = load(folder)
    (path,) = (folder / data.CACHE_DIR_NAME).glob("loops-*.npz")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "wrong shape":
        with np.load(path) as npz:
            arrays = dict(npz)
        arrays["audio"] = arrays["audio"][:, :100]
        atomic.write_npz_atomic(path, arrays)
    else:
        path.write_bytes(damage)
    decoder = DecodeCounter(monkeypatch)
    with caplog.at_level("WARNING", logger="beatgan.data"):
        again = load(folder)
    assert decoder.calls == 3 and "corrupt" in caplog.text
    np.testing.assert_array_equal(again.audio, first.audio)
    decoder.forbid = True
    load(folder)  # rebuilt


def test_read_only_folder_falls_back_to_the_user_cache(folder, monkeypatch, xdg_cache):
    # A regular file where the cache folder would go makes it unwritable, even for root.
    (folder / "blocker").write_text("")
    monkeypatch.setattr(data, "CACHE_DIR_NAME", "blocker/.beatgan-cache")
    decoder = DecodeCounter(monkeypatch)
    load(folder)
    assert len(list(xdg_cache.glob("loops-*.npz"))) == 1
    decoder.forbid = True
    load(folder)


def test_unwritable_everywhere_is_only_a_warning(folder, monkeypatch, tmp_path):
    (tmp_path / "blocker").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "blocker"))
    (folder / "blocker").write_text("")
    monkeypatch.setattr(data, "CACHE_DIR_NAME", "blocker/.beatgan-cache")
    with pytest.warns(UserWarning, match="could not write the dataset cache"):
        loops = load(folder)
    assert len(loops) == 2


def test_user_cache_dir_respects_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data.user_cache_dir() == tmp_path / "beatgan"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.user_cache_dir() == tmp_path / "home" / ".cache" / "beatgan"


# --- dataset files ----------------------------------------------------------------------------

@pytest.fixture
def examples():
    rng = np.random.default_rng(0)
    audio = rng.uniform(-1, 1, size=(6, 1024, 2)).astype(np.float32)
    audio[0, 0] = [1.0, -1.0]
    return audio


@pytest.mark.parametrize(("dtype", "atol"), [("float32", 0.0), ("float16", 5e-4), ("int16", 0.5 / 32767 + 1e-7)])
def test_dataset_round_trip(tmp_path, examples, dtype, atol):
    names = [f"loop{i}.wav" for i in range(6)]
    settings = {"copies": 3, "amplitude": 0.0011, "resample": "polyphase"}
    path = save_dataset(tmp_path / "out" / "ds.npz", examples, names, sample_rate=14700, settings=settings,
                        skipped=[("bad.wav", "truncated")], dtype=dtype)
    assert path == tmp_path / "out" / "ds.npz" and path.is_file()
    with np.load(path, allow_pickle=False) as npz:  # readable without pickle
        assert npz["audio"].dtype == np.dtype(dtype)
    ds = load_dataset(path)
    assert ds.audio.dtype == np.float32 and ds.audio.shape == (6, 1024, 2)
    np.testing.assert_allclose(ds.audio, examples, atol=atol, rtol=0)
    assert np.abs(ds.audio).max() <= 1.0 and ds.audio[0, 0].tolist() == [1.0, -1.0]
    assert ds.names == names and ds.sample_rate == 14700 and ds.settings == settings
    assert ds.skipped == [("bad.wav", "truncated")]


def test_smaller_dtypes_make_smaller_files(tmp_path, examples):
    sizes = {d: save_dataset(tmp_path / f"{d}.npz", examples, ["x"] * 6, sample_rate=14700, dtype=d).stat().st_size
             for d in ("float32", "float16", "int16")}
    assert sizes["int16"] < 0.6 * sizes["float32"] and sizes["float16"] < 0.6 * sizes["float32"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"dtype": "int8"}, ConfigError, "dtype='int8'"),
        ({"sample_rate": 0}, ConfigError, "sample_rate=0"),
        ({"names": ["only one"]}, DatasetError, "1 names for 6 rows"),
        ({"audio": np.zeros((6, 10), np.float32)}, DatasetError, "audio must be"),
        ({"audio": np.full((6, 10, 1), np.nan, np.float32)}, DatasetError, "NaN"),
    ],
)
def test_save_dataset_rejects_bad_input(tmp_path, examples, kwargs, error, match):
    args = {"audio": examples, "names": ["x"] * 6, "sample_rate": 14700, **kwargs}
    with pytest.raises(error, match=match):
        save_dataset(tmp_path / "ds.npz", args.pop("audio"), args.pop("names"), **args)
    assert not (tmp_path / "ds.npz").exists()


def _malformed(path, examples, kind):
    good = tmp = path.with_name("good.npz")
    save_dataset(good, examples, ["x"] * 6, sample_rate=14700)
    with np.load(tmp) as npz:
        arrays = dict(npz)
    if kind == "text":
        path.write_text("hello")
        return
    if kind == "truncated":
        path.write_bytes(good.read_bytes()[:500])
        return
    if kind == "pickle":
        np.savez(path, **{**arrays, "names": np.array([{"a": 1}] * 6, dtype=object)})
        return
    if kind == "missing key":
        del arrays["sample_rate"]
    elif kind == "wrong shape":
        arrays["slice_len"] = np.int64(2048)
    elif kind == "out of range":
        arrays["audio"] = arrays["audio"] * 2
    elif kind == "bad dtype":
        arrays["audio"] = arrays["audio"].astype(np.float64)
    elif kind == "not beatgan":
        arrays["format"] = np.str_("something else")
    elif kind == "bad json":
        arrays["settings_json"] = np.str_("{not json")
    with zipfile.ZipFile(path, "w") as zf:  # written by hand, as another tool might
        for key, value in arrays.items():
            with zf.open(f"{key}.npy", "w") as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=True)


@pytest.mark.parametrize(
    "kind",
    ["text", "truncated", "pickle", "missing key", "wrong shape", "out of range", "bad dtype", "not beatgan", "bad json"],
)
def test_malformed_dataset_files_are_dataset_errors(tmp_path, examples, kind):
    path = tmp_path / "bad.npz"
    _malformed(path, examples, kind)
    with pytest.raises(DatasetError, match=r"bad\.npz.* not a valid BeatGAN dataset"):
        load_dataset(path)


def test_missing_dataset_file(tmp_path):
    with pytest.raises(DatasetError, match=r"nothing\.npz.* does not exist"):
        load_dataset(tmp_path / "nothing.npz")


def test_write_npz_atomic_refuses_objects_and_leaves_no_temp(tmp_path):
    with pytest.raises(ValueError, match="pickle"):
        atomic.write_npz_atomic(tmp_path / "x.npz", {"a": np.array([None])})
    atomic.write_npz_atomic(tmp_path / "x.npz", {"a": np.arange(3), "s": np.str_(json.dumps({}))})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npz"]
