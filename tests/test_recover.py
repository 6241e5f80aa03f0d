"""Tests of beatgan.recover (tiny random generators, CPU).

Recovery runs on both backends: in this process for its own backend and in a subprocess
(tests/_explore_worker.py) for the other, since a Keras backend is fixed per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import EXPLORE_WORKER, explore_worker

import wavfile24
from beatgan import explore
from beatgan.errors import AudioError, ConfigError
from beatgan.generate import sample_latents
from beatgan.plots import recovery_figure
from beatgan.recover import RECOVERY_FILES, recover, recovery_report

REPO = Path(__file__).resolve().parent.parent
RATE = 14700


def _z(seed: int = 0) -> np.ndarray:
    return sample_latents(1, 100, seed=seed)[0]


# --- recovery --------------------------------------------------------------------------------------


def _run_on(backend: str, tmp_path: Path) -> dict:
    if keras.backend.backend() == backend:
        return explore_worker().run()
    out = tmp_path / f"{backend}.json"
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(EXPLORE_WORKER), str(out)], env=env, capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_recover_finds_a_generated_loop(backend, tmp_path):
    result = _run_on(backend, tmp_path)
    assert result["backend"] == backend
    assert result["latent_in_prior"] and result["reconstruction_exact"] and result["ends_exact"]
    assert result["distance_db"] < 0.6, result  # a copy is 0 dB; this generator's loops are ~3 dB apart
    assert result["distance_db"] < 0.25 * result["random_db"], result
    assert result["score"] < 0.02 < 0.5 < result["random_score"], result
    assert result["distance_db"] == min(result["restart_distances_db"])


def test_recover_resamples_and_says_so(tiny, tmp_path):
    clip = explore.render(tiny, _z(2)[None])[0]  # (16384, 1) at 14.7 kHz
    stereo = np.repeat(clip, 2, axis=1)
    import soxr

    wavfile24.write(tmp_path / "loop.wav", 44100, soxr.resample(stereo, RATE, 44100), bits=24)
    with pytest.warns(UserWarning, match="resampled from 44100 Hz to 14700 Hz"):
        result = recover(tiny, tmp_path / "loop.wav", steps=2, restarts=1)
    assert any("resampled" in note for note in result.notes)
    assert any("mixed 2 channel(s) to 1" in note for note in result.notes)
    assert result.target.shape == (16384, 1) and result.audio.shape == (16384, 1)
    assert result.latent.shape == (100,) and result.restart_distances_db.shape == (1,)
    json.dumps(result.to_dict())


@pytest.mark.parametrize(
    "make, kwargs, error, message",
    [
        (lambda p: np.zeros((16384, 1), np.float32), {}, AudioError, "silent"),
        (lambda p: p / "missing.wav", {}, AudioError, "does not exist"),
        (lambda p: (p / "bad.wav").write_bytes(b"RIFF junk") and p / "bad.wav", {}, AudioError, "cannot read loop"),
        (lambda p: np.zeros((4, 4, 4), np.float32), {}, AudioError, r"\(frames,\) or \(frames, channels\)"),
        (lambda p: np.full((16384, 1), np.nan, np.float32), {}, AudioError, "NaN"),
        (lambda p: np.ones((16384, 1), np.float32) * 0.1, {"steps": 0}, ConfigError, r"steps=0 must be"),
        (lambda p: np.ones((16384, 1), np.float32) * 0.1, {"steps": -5}, ConfigError, r"steps=-5"),
        (lambda p: np.ones((16384, 1), np.float32) * 0.1, {"restarts": 0}, ConfigError, r"restarts=0"),
    ],
)
def test_recover_rejects(tiny, tmp_path, make, kwargs, error, message):
    with pytest.raises(error, match=message):
        recover(tiny, make(tmp_path), **kwargs)


# --- recovery report -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_report(tiny):
    """"Training" loops the generator makes (recoverable) against noise bursts it cannot make."""
    training = explore.render(tiny, sample_latents(4, 100, seed=21))
    rng = np.random.default_rng(0)
    envelope = np.exp(-np.arange(16384) / 2000.0)[None, :, None]
    heldout = (rng.uniform(-1, 1, (4, 16384, 1)) * envelope * np.abs(training).max()).astype(np.float32)
    memorised = recovery_report(tiny, training, heldout, n=4, steps=80, restarts=2, seed=0)
    novel = recovery_report(tiny, heldout, training, n=4, steps=80, restarts=2, seed=0)
    return memorised, novel


def test_recovery_report_verdicts(toy_report):
    memorised, novel = toy_report
    assert memorised.verdict == "memorised", memorised.text()
    assert memorised.p_value < 0.05 and memorised.effect == 1.0 and memorised.gap_db > 0
    assert novel.verdict == "no evidence of memorisation", novel.text()
    assert novel.effect < 0 and novel.p_value > 0.5
    summary = memorised.to_dict()
    json.dumps(summary)
    assert summary["training_db"]["n"] == 4 and summary["heldout_db"]["q25"] <= summary["heldout_db"]["median"]
    assert "verdict: memorised" in memorised.text() and "Mann-Whitney" in memorised.text()


def test_recovery_report_saves_text_json_and_figure(toy_report, tmp_path):
    report = toy_report[0]
    paths = report.save(tmp_path / "similarity")
    assert [p.name for p in paths.values()] == [*RECOVERY_FILES, "recovery.png"]
    assert paths["text"].read_text() == report.text() + "\n"
    assert json.loads(paths["json"].read_text()) == json.loads(json.dumps(report.to_dict()))
    assert paths["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recovery_figure(toy_report):
    from matplotlib.figure import Figure

    figure = recovery_figure(toy_report[0])
    assert isinstance(figure, Figure) and len(figure.axes) == 2


@pytest.mark.parametrize(
    "kwargs, error, message",
    [({"n": 1}, ConfigError, r"n=1 must be an integer >= 2"), ({"alpha": 1.5}, ConfigError, r"alpha=1.5"),
     ({"seed": -1}, ConfigError, r"seed=-1"), ({"steps": 0}, ConfigError, r"steps=0"),
     ({"training": np.zeros((3, 16384, 1), np.float32)}, AudioError, "training set holds 0 non-silent"),
     ({"heldout": np.zeros((3, 100, 1), np.float32)}, AudioError, r"held-out loops must be float \(N, 16384, 1\)")],
)
def test_recovery_report_rejects(tiny, kwargs, error, message):
    loops = np.full((3, 16384, 1), 0.1, np.float32)
    arguments = {"training": loops, "heldout": loops, "steps": 1, "restarts": 1, **kwargs}
    with pytest.raises(error, match=message):
        recovery_report(tiny, arguments.pop("training"), arguments.pop("heldout"), **arguments)
