"""Tests of beatgan.explore (tiny random generators, CPU)."""

from __future__ import annotations


import keras
import numpy as np
import pytest
from conftest import explore_worker

from beatgan import explore
from beatgan.errors import ConfigError
from beatgan.generate import loop_frames, make_loop, sample_latents

RATE = 14700


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A stereo width-2 generator exported as a weights directory."""
    from beatgan.config import ModelConfig
    from beatgan.checkpoint import export_generator

    generator = explore_worker().tiny_generator(channels=2, seed=1)
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
