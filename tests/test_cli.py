"""Tests of ``beatgan prepare``, run through :func:`beatgan.cli.main`."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile

from beatgan.cli import main
from beatgan.data import load_dataset


@pytest.fixture(autouse=True)
def _private_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def folder(tmp_path, drum_recording):
    _, amen = drum_recording
    folder = tmp_path / "loops"
    (folder / "kit").mkdir(parents=True)
    soundfile.write(folder / "amen.wav", amen, 44100, subtype="PCM_24")
    soundfile.write(folder / "kit" / "amen_mono.flac", amen.mean(axis=1), 44100)
    soundfile.write(folder / "amen48k.aiff", amen[: len(amen) // 2], 48000, subtype="PCM_16")
    (folder / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    (folder / "tempo.txt").write_text("125 bpm")
    return folder


def test_prepare_end_to_end(folder, tmp_path, capsys):
    out = tmp_path / "out" / "dataset.npz"
    status = main(["prepare", str(folder), "-o", str(out), "--copies", "2", "--seed", "4",
                   "--dtype", "int16", "--quiet"])
    assert status == 0
    text = capsys.readouterr().out
    assert "loaded 3 loop(s)" in text
    assert "3.3 s of audio at 14700 Hz" in text  # 3 x 16384 samples
    assert "skipped 1 file(s):" in text and "broken.wav" in text
    assert "tempo.txt" not in text
    assert "6 examples" in text and "shape (6, 16384, 2)" in text and "int16" in text
    assert str(out) in text
    ds = load_dataset(out)
    assert ds.audio.shape == (6, 16384, 2) and ds.audio.dtype == np.float32
    assert ds.names == ["amen.wav"] * 2 + ["amen48k.aiff"] * 2 + ["kit/amen_mono.flac"] * 2
    assert ds.sample_rate == 14700 and [f for f, _ in ds.skipped] == ["broken.wav"]
    assert ds.settings["copies"] == 2 and ds.settings["seed"] == 4 and ds.settings["source"] == str(folder)
    assert np.abs(ds.audio).max() <= 1.0
    # The mono loop became stereo; only the per-channel noise (and int16 rounding) tells them apart.
    left, right = ds.audio[4].T
    assert np.abs(left - right).max() <= 2 * 0.0011 + 2 / 32767
    assert np.abs(ds.audio[0, :, 0] - ds.audio[0, :, 1]).max() > 0.05  # the stereo one stayed stereo


def test_prepare_options_reach_the_loader(folder, tmp_path, capsys):
    out = tmp_path / "mono.npz"
    assert main(["prepare", str(folder), "-o", str(out), "--channels", "1", "--slice-len", "4096",
                 "--sample-rate", "22050", "--copies", "1", "--no-cache", "--quiet"]) == 0
    ds = load_dataset(out)
    assert ds.audio.shape == (3, 4096, 1) and ds.sample_rate == 22050
    assert not (folder / ".beatgan-cache").exists()  # --no-cache
    assert "shape (3, 4096, 1)" in capsys.readouterr().out


def test_prepare_default_output(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["prepare", str(folder), "--copies", "1", "--quiet"]) == 0
    assert load_dataset(tmp_path / "data" / "dataset.npz").audio.shape == (3, 16384, 2)
    assert (folder / ".beatgan-cache").is_dir()  # cached by default


def test_prepare_help_names_the_default_output(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["prepare", "--help"])
    assert exit_info.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "data/dataset.npz" in help_text and "--no-cache" in help_text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resample", "stride"], r"amen48k\.aiff is 48000 Hz"),
        (["--slice-len", "0"], "slice_len=0"),
        (["--copies", "0"], "copies=0"),
        (["--amplitude", "-1"], "amplitude=-1"),
    ],
)
def test_prepare_user_errors_exit_2(folder, tmp_path, capsys, args, message):
    assert main(["prepare", str(folder), "-o", str(tmp_path / "x.npz"), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("beatgan prepare: error:")
    assert re.search(message, err)
    assert not (tmp_path / "x.npz").exists()


def test_prepare_missing_or_empty_folder(tmp_path, capsys):
    assert main(["prepare", str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "nowhere" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["prepare", str(tmp_path / "empty"), "--quiet"]) == 2
    assert "no audio files" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--channels", "3"], ["--dtype", "int8"], ["--resample", "linear"]])
def test_prepare_rejects_unknown_choices(folder, args):
    with pytest.raises(SystemExit) as exit_info:
        main(["prepare", str(folder), *args])
    assert exit_info.value.code == 2


START_UP_LINES = ("I0000", "E0000", "W0000", "cuInit", "oneDNN", "cuda drivers", "absl::InitializeLog")


@pytest.mark.parametrize("argv", [["--help"], ["generate", "--weights", "weights", "-n", "2", "-o", "{tmp}"]],
                         ids=["help", "generate"])
def test_commands_start_quietly_on_a_cpu(argv, tmp_path):
    """No TensorFlow C++ start-up line; one line naming the backend and device instead."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    done = subprocess.run([sys.executable, "-m", "beatgan", *[a.format(tmp=tmp_path) for a in argv]], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert not [line for line in output.splitlines() if any(s in line for s in START_UP_LINES)], output
    if argv[0] == "generate":
        assert re.search(r"^backend: tensorflow \S+ on (CPU|GPU)", done.stderr, re.M), done.stderr


def test_prepare_from_a_loops_file_augments_what_a_folder_would(folder, tmp_path, capsys):
    """A loops file (--copies 1 --amplitude 0) prepared again gives the dataset the folder gives, bit for bit."""
    loops = tmp_path / "loops.npz"
    assert main(["prepare", str(folder), "-o", str(loops), "--copies", "1", "--amplitude", "0", "--quiet"]) == 0
    assert main(["prepare", str(folder), "-o", str(tmp_path / "direct.npz"), "--copies", "3", "--seed", "2",
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["prepare", str(loops), "-o", str(tmp_path / "again.npz"), "--copies", "3", "--seed", "2",
                 "--quiet"]) == 0
    assert "loaded 3 loop(s) from" in capsys.readouterr().out
    direct, again = load_dataset(tmp_path / "direct.npz"), load_dataset(tmp_path / "again.npz")
    np.testing.assert_array_equal(again.audio, direct.audio)
    assert again.names == direct.names and again.settings["copies"] == 3


def test_prepare_refuses_an_augmented_file_or_other_settings(folder, tmp_path, capsys):
    noisy, loops = tmp_path / "noisy.npz", tmp_path / "loops.npz"
    assert main(["prepare", str(folder), "-o", str(noisy), "--copies", "2", "--quiet"]) == 0
    assert main(["prepare", str(folder), "-o", str(loops), "--copies", "1", "--amplitude", "0", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["prepare", str(noisy), "-o", str(tmp_path / "x.npz"), "--quiet"]) == 2
    assert "is already augmented (2 noisy copies per loop, amplitude 0.0011)" in capsys.readouterr().err
    assert main(["prepare", str(loops), "-o", str(tmp_path / "x.npz"), "--channels", "1", "--quiet"]) == 2
    assert "channels=1 was asked but loops file" in capsys.readouterr().err
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert main(["prepare", str(tmp_path / "junk.npz"), "-o", str(tmp_path / "x.npz"), "--quiet"]) == 2
    assert "is not a valid BeatGAN dataset file" in capsys.readouterr().err
