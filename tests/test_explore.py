"""Tests of beatgan.explore (tiny random generators, CPU).

Recovery runs on both backends: in this process for its own backend and in a subprocess
(tests/_explore_worker.py) for the other, since a Keras backend is fixed per process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import wavfile24
from beatgan import explore
from beatgan.plots import recovery_figure
from beatgan.recovery_report import recovery_report
from beatgan.errors import AudioError, ConfigError
from beatgan.generate import loop_frames, make_loop, sample_latents

REPO = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).with_name("_explore_worker.py")
RATE = 14700


def _worker_module():
    spec = importlib.util.spec_from_file_location("_explore_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny():
    """A seeded mono generator of width 2."""
    return _worker_module().tiny_generator(channels=1)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A stereo width-2 generator exported as a weights directory."""
    from beatgan.config import ModelConfig
    from beatgan.checkpoint import export_generator

    generator = _worker_module().tiny_generator(channels=2, seed=1)
    directory = tmp_path_factory.mktemp("weights")
    export_generator(generator, ModelConfig(model_dim=2, channels=2), directory, dtype="float32")
    return directory


def _z(seed: int = 0) -> np.ndarray:
    return sample_latents(1, 100, seed=seed)[0]


# --- latents ---------------------------------------------------------------------------------------


def test_load_latent_specs(tmp_path):
    assert np.array_equal(explore.load_latent("17@0", 100), sample_latents(18, 100, seed=0)[17])
    assert np.array_equal(explore.load_latent(" 2 @ 3 ", 100), sample_latents(3, 100, seed=3)[2])
    for spec in (5, "5", "0@5"):
        assert np.array_equal(explore.load_latent(spec, 100), sample_latents(1, 100, seed=5)[0])
    z = _z(4) * 0.5
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "row.npy", z[None])
    for name in ("z.npy", "row.npy"):
        loaded = explore.load_latent(tmp_path / name, 100)
        assert loaded.shape == (100,) and loaded.dtype == np.float32
        np.testing.assert_array_equal(loaded, z)
    np.testing.assert_array_equal(explore.load_latent(str(tmp_path / "z.npy"), 100), z)


@pytest.mark.parametrize(
    "content, spec, message",
    [
        (np.zeros(99), None, r"shape \(99,\).*needs \(100,\)"),
        (np.zeros((2, 100)), None, r"shape \(2, 100\)"),
        (np.full(100, 1.5), None, r"\[1\.5, 1\.5\], outside the prior's support \[-1, 1\]"),
        (np.full(100, np.nan), None, "NaN"),
        (None, "x@0", "INDEX@SEED"),
        (None, "missing.npy", "neither 'INDEX@SEED', a seed, nor an existing .npy file"),
        (None, -3, r"seed=-3 must be an integer >= 0"),
    ],
)
def test_load_latent_rejects(tmp_path, content, spec, message):
    if content is not None:
        spec = tmp_path / "bad.npy"
        np.save(spec, content)
    with pytest.raises(ConfigError, match=message):
        explore.load_latent(spec, 100)


def test_load_latent_rejects_unreadable_file(tmp_path):
    (tmp_path / "z.npy").write_bytes(b"not numpy")
    with pytest.raises(ConfigError, match="not a readable .npy"):
        explore.load_latent(tmp_path / "z.npy", 100)


def test_reflect():
    z = np.array([-3.5, -1.2, -1.0, 0.3, 1.0, 1.2, 2.5, 5.0])
    np.testing.assert_allclose(explore.reflect(z), [0.5, -0.8, -1.0, 0.3, 1.0, 0.8, -0.5, 1.0], atol=1e-6)
    noisy = explore.reflect(np.random.default_rng(0).uniform(-1, 1, 200_000) + np.random.default_rng(1).normal(0, 0.7, 200_000))
    counts, _ = np.histogram(noisy, bins=10, range=(-1, 1))  # reflection keeps the prior uniform
    assert counts.min() > 0.97 * counts.max()


# --- variations and morphs -------------------------------------------------------------------------


def test_variations_stay_in_prior_and_approach_the_source(tiny):
    z = _z(1)
    source = explore.render(tiny, z[None])[0]
    distances = []
    for spread in (0.02, 0.2, 1.0):
        result = explore.variations(tiny, z, 4, spread=spread, seed=3)
        assert result.audio.shape == (4, 16384, 1) and result.latents.shape == (4, 100)
        assert np.all(np.abs(result.latents) <= 1.0)
        latent_gap = np.abs(result.latents - z).mean()
        assert latent_gap < spread
        distances.append(float(np.mean((result.audio - source) ** 2)))
    assert distances[0] < distances[1] < distances[2]
    same = explore.variations(tiny, z, 2, spread=0.0)
    np.testing.assert_array_equal(same.latents, np.stack([z, z]))
    np.testing.assert_array_equal(same.audio[0], source)
    again = explore.variations(tiny, z, 4, spread=0.2, seed=3)
    np.testing.assert_array_equal(again.latents, explore.variations(tiny, z, 4, spread=0.2, seed=3).latents)


def test_variations_from_a_spec_and_a_weights_directory(tiny_dir):
    result = explore.variations(tiny_dir, "2@7", 2, spread=0.1)
    np.testing.assert_array_equal(result.source, sample_latents(3, 100, seed=7)[2])
    assert result.audio.shape == (2, 16384, 2) and result.sample_rate == RATE


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, r"n=0 must be an integer >= 1"),
        ({"n": 2, "spread": -0.1}, r"spread=-0.1 must be a finite number >= 0"),
        ({"n": 2, "spread": float("nan")}, r"spread=nan"),
        ({"n": 2, "seed": -1}, r"seed=-1"),
    ],
)
def test_variations_rejects(tiny, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        explore.variations(tiny, _z(), **kwargs)


def test_variations_rejects_a_latent_outside_the_prior(tiny):
    with pytest.raises(ConfigError, match=r"z has values in .*outside the prior"):
        explore.variations(tiny, _z() * 2, 2)


@pytest.mark.parametrize("mode", explore.MODES)
def test_interpolate_end_points_are_exact(tiny, mode):
    z_a, z_b = sample_latents(2, 100, seed=5)
    latents = explore.interpolation_latents(z_a, z_b, 7, mode=mode)
    assert latents.shape == (7, 100) and np.all(np.abs(latents) <= 1)
    assert np.array_equal(latents[0], z_a) and np.array_equal(latents[-1], z_b)
    clips = explore.interpolate(tiny, z_a, z_b, 7, mode=mode)
    assert clips.shape == (7, 16384, 1)
    for clip, z in ((clips[0], z_a), (clips[-1], z_b)):
        np.testing.assert_array_equal(clip, keras.ops.convert_to_numpy(tiny(z[None], training=False))[0])
    # a morph moves away from z_a step by step
    gaps = [np.mean((clip - clips[0]) ** 2) for clip in clips]
    assert gaps[1] < gaps[3] < gaps[6]


def test_slerp_follows_the_great_circle():
    z_a, z_b = np.eye(100, dtype=np.float32)[:2] * 0.8
    middle = explore.interpolation_latents(z_a, z_b, 3, mode="slerp")[1]
    np.testing.assert_allclose(np.linalg.norm(middle), 0.8, rtol=1e-6)  # linear would be 0.8 / sqrt(2)
    np.testing.assert_allclose(explore.interpolation_latents(z_a, z_b, 3, mode="linear")[1], (z_a + z_b) / 2)
    opposite = explore.interpolation_latents(z_a, -z_a, 3)  # slerp undefined: falls back to linear
    np.testing.assert_allclose(opposite[1], 0, atol=1e-7)


@pytest.mark.parametrize(
    "steps, mode, message",
    [(0, "slerp", r"steps=0 must be an integer >= 2"), (-2, "linear", r"steps=-2"),
     (1, "slerp", r"steps=1 must be an integer >= 2"), (4, "cubic", r"mode='cubic' must be one of")],
)
def test_interpolate_rejects(tiny, steps, mode, message):
    with pytest.raises(ConfigError, match=message):
        explore.interpolate(tiny, _z(0), _z(1), steps, mode=mode)


def test_morph_loop_is_one_bar_per_step(tiny_dir):
    z_a, z_b = sample_latents(2, 100, seed=2)
    loop = explore.morph_loop(tiny_dir, z_a, z_b, 3, bpm=124)
    assert loop.shape == (loop_frames(124, 3), 2) and loop.dtype == np.float32
    first = explore.interpolate(tiny_dir, z_a, z_b, 3)[0]
    bar = make_loop(first, sample_rate=RATE, bpm=124, bars=1)
    np.testing.assert_array_equal(loop[: len(bar)], bar)
    with pytest.raises(ConfigError, match="bpm=500"):
        explore.morph_loop(tiny_dir, z_a, z_b, 3, bpm=500)


# --- recovery --------------------------------------------------------------------------------------


def _run_on(backend: str, tmp_path: Path) -> dict:
    if keras.backend.backend() == backend:
        return _worker_module().run()
    out = tmp_path / f"{backend}.json"
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(WORKER), str(out)], env=env, capture_output=True, text=True,
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
        result = explore.recover(tiny, tmp_path / "loop.wav", steps=2, restarts=1)
    assert any("resampled" in note for note in result.notes)
    assert any("mixed 2 channel(s) to 1" in note for note in result.notes)
    assert result.target.shape == (16384, 1) and result.audio.shape == (16384, 1)
    assert result.latent.shape == (100,) and result.restart_distances_db.shape == (1,)
    json.dumps(result.to_dict())
    audio, notes = explore.load_loop(clip[:1000, 0], sample_rate=RATE, slice_len=16384, channels=1)
    assert any("zero-padded from 1000 to 16384" in note for note in notes)
    assert np.array_equal(audio[:1000], clip[:1000]) and not audio[1000:].any()
    _, notes = explore.load_loop(clip, sample_rate=RATE, slice_len=16384, channels=1)
    assert notes == []


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
        explore.recover(tiny, make(tmp_path), **kwargs)


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
