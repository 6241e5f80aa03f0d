"""Tests of beatgan.generate and the ``beatgan generate`` verb (tiny generators, CPU)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soxr

import wavfile24
from beatgan.cli import main
from beatgan.audio import loop_frames
from beatgan.config import ModelConfig
from beatgan.errors import AudioError, CheckpointError, ConfigError
from beatgan.generate import (
    check_tempo, clip_names, generate, make_loop, sample_latents, write_clips,
)

FULL_SCALE = (2**23 - 1) / 2**23  # largest 24-bit code, read back


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A stereo generator of width 2 and its exported weights directory."""
    from beatgan.model import build_generator
    from beatgan.checkpoint import export_generator

    config = ModelConfig(model_dim=2)
    generator = build_generator(config)
    directory = tmp_path_factory.mktemp("weights")
    export_generator(generator, config, directory, dtype="float32")
    return generator, config, directory


@pytest.fixture(scope="module")
def saturated(tmp_path_factory):
    """Weights whose output is exactly +1 on the left channel and -1 on the right (tanh saturated)."""
    from beatgan.model import build_generator, generator_plan
    from beatgan.checkpoint import export_generator

    config = ModelConfig(model_dim=2)
    generator = build_generator(config)
    last = generator.get_layer(f"upconv_{len(generator_plan(config)) - 1}")
    kernel, _ = last.get_weights()
    last.set_weights([kernel, np.array([100.0, -100.0], dtype=np.float32)])
    directory = tmp_path_factory.mktemp("saturated")
    export_generator(generator, config, directory, dtype="float32")
    return directory


def test_sample_latents_is_seeded_uniform():
    z = sample_latents(500, 100, seed=3)
    assert z.shape == (500, 100) and z.dtype == np.float32
    assert z.min() >= -1 and z.max() < 1 and abs(z.mean()) < 0.02
    np.testing.assert_array_equal(z, sample_latents(500, 100, seed=3))
    np.testing.assert_array_equal(z[:7], sample_latents(7, 100, seed=3))  # rows do not depend on n
    assert not np.array_equal(z, sample_latents(500, 100, seed=4))


@pytest.mark.parametrize("n, latent_dim, seed", [(0, 100, 0), (2, 0, 0), (2, 100, -1), (2.0, 100, 0), (True, 100, 0)])
def test_sample_latents_rejects(n, latent_dim, seed):
    with pytest.raises(ConfigError):
        sample_latents(n, latent_dim, seed=seed)


def test_generate_shape_range_and_seed(tiny):
    generator, config, directory = tiny
    audio = generate(generator, 5, seed=1, batch_size=2)
    assert audio.shape == (5, config.slice_len, config.channels) and audio.dtype == np.float32
    assert np.all(np.abs(audio) <= 1)
    np.testing.assert_allclose(audio, generate(generator, 5, seed=1, batch_size=64), atol=1e-6)
    np.testing.assert_allclose(audio, generate(directory, 5, seed=1), atol=1e-6)  # from the weights directory
    assert not np.allclose(audio, generate(generator, 5, seed=2))


def test_generate_needs_a_config(tmp_path, tiny):
    _, _, directory = tiny
    (tmp_path / "generator.npz").write_bytes((directory / "generator.npz").read_bytes())
    with pytest.raises(CheckpointError, match="config.json"):
        generate(tmp_path, 1)


@pytest.mark.parametrize("bpm, bars", [(124, 4), (120, 1), (125, 2), (124.5, 3), (60, 2), (300, 4), (40, 1), (97.3, 5)])
def test_loop_length_is_exact(bpm, bars):
    clip = np.random.default_rng(0).uniform(-0.5, 0.5, (16384, 2)).astype(np.float32)
    loop = make_loop(clip, sample_rate=14700, bpm=bpm, bars=bars) if 100 <= bpm <= 150 else None
    if loop is None:
        with pytest.warns(UserWarning, match="bpm"):
            loop = make_loop(clip, sample_rate=14700, bpm=bpm, bars=bars)
    assert loop.shape == (round(bars * 4 * 60 / bpm * 44100), 2) == (loop_frames(bpm, bars), 2)
    assert loop.dtype == np.float32


def test_four_bars_at_124_bpm():
    assert loop_frames(124, 4) == 341419  # 16 beats * 60 / 124 s * 44100 Hz = 341419.35


@pytest.mark.parametrize("bpm", [124, 120, 125, 123.7])
def test_repeats_stay_on_the_beat_grid(bpm):
    """A click 100 samples into the clip must recur at round(k * segment) + 300 frames."""
    clip = np.zeros((16384, 1), dtype=np.float32)
    clip[100] = 1.0
    loop = make_loop(clip, sample_rate=14700, bpm=bpm, bars=4)[:, 0]
    beat = 60 / bpm * 44100
    segment = 2 * beat  # 1.11 s holds two whole beats at 120-125 bpm
    repeats = int(np.ceil(len(loop) / segment))
    assert repeats == 8
    for k in range(repeats):
        start = round(k * segment)
        window = loop[start : start + 600]
        assert abs(int(np.argmax(window)) - 300) <= 1, k


def test_joins_do_not_click():
    """A sine cut mid-cycle would jump at every join; the fades keep every step small."""
    t = np.arange(16384) / 14700
    clip = (0.8 * np.sin(2 * np.pi * 97.0 * t))[:, None].astype(np.float32)
    loop = make_loop(clip, sample_rate=14700, bpm=124, bars=4)[:, 0]
    largest_step_of_the_sine = 0.8 * 2 * np.pi * 97.0 / 44100
    assert np.abs(np.diff(loop)).max() < 1.5 * largest_step_of_the_sine
    joins = [round(k * 2 * 60 / 124 * 44100) for k in range(1, 8)]
    assert all(abs(loop[j]) < 0.01 and abs(loop[j - 1]) < 0.01 for j in joins)


def test_short_clip_is_padded_to_one_beat():
    clip = np.ones((1000, 2), dtype=np.float32) * 0.5  # 68 ms: less than a beat
    loop = make_loop(clip, sample_rate=14700, bpm=124, bars=1)
    beat = 60 / 124 * 44100
    assert loop.shape == (loop_frames(124, 1), 2)
    assert np.all(np.abs(loop[4000 : int(beat) - 10]) < 1e-3)  # silence after the clip
    assert abs(loop[round(beat) + 1500, 0] - 0.5) < 1e-2  # the next repeat starts a beat later


@pytest.mark.parametrize("bpm, beat", [(120, 4000), (8000 * 60 / 3203, 3203)])
@pytest.mark.parametrize("bars", [1, 2])
def test_clip_of_whole_beats_repeats_whole(bpm, beat, bars):
    """At the loop's own rate (no resampling) and without fades, a clip of two beats is tiled as it is,
    also where 60 / bpm * rate rounds a hair above the beat (3203.0000000000005 frames)."""
    clip = np.random.default_rng(1).uniform(-0.5, 0.5, (2 * beat, 2))
    loop = make_loop(clip, sample_rate=8000, rate=8000, bpm=bpm, bars=bars, fade_ms=0)
    assert loop.shape == (loop_frames(bpm, bars, rate=8000), 2) == (4 * bars * beat, 2)
    np.testing.assert_array_equal(loop, np.tile(clip, (2 * bars, 1)).astype(np.float32))


@pytest.mark.parametrize("fade_ms, fade", [(1, 8), (2.5, 20), (50, 400), (None, 16)])  # None: the default, 2 ms
def test_fades_at_both_ends_of_every_repeat(fade_ms, fade):
    clip = np.full(8000, 0.5)  # 1-D: one channel; two beats at 120 bpm and 8 kHz
    options = {} if fade_ms is None else {"fade_ms": fade_ms}
    loop = make_loop(clip, sample_rate=8000, rate=8000, bpm=120, bars=1, **options)
    assert loop.shape == (16000, 1)
    first, second = loop[:8000, 0], loop[8000:, 0]
    np.testing.assert_array_equal(first, second)
    ramp = first[:fade]
    assert np.all(first[fade:-fade] == np.float32(0.5)) and np.all(ramp < 0.5) and np.all(ramp > 0)
    assert np.all(np.diff(ramp) > 0)  # rising ...
    np.testing.assert_array_equal(first[-fade:], ramp[::-1])  # ... and the mirrored fall
    np.testing.assert_allclose(ramp + ramp[::-1], 0.5, atol=1e-6)  # half cosine: symmetric about 1/2


@pytest.mark.parametrize("dtype", [np.float32, np.float16])  # soxr itself takes no float16
def test_loop_is_the_very_high_quality_resampled_clip(dtype):
    clip = np.random.default_rng(2).uniform(-0.5, 0.5, (16384, 2)).astype(dtype)
    loop = make_loop(clip, sample_rate=14700, bpm=124, bars=1, fade_ms=0)
    resampled = soxr.resample(clip.astype(np.float64), 14700, 44100, quality="VHQ")
    segment = round(2 * 60 / 124 * 44100)  # two whole beats
    np.testing.assert_array_equal(loop[:segment], resampled[:segment].astype(np.float32))
    np.testing.assert_array_equal(loop[segment:2 * segment - 1], loop[:segment - 1])


def test_loop_defaults_to_four_bars_at_44100_hz():
    loop = make_loop(np.zeros((16384, 2), np.float32), sample_rate=14700, bpm=124)
    assert loop.shape == (loop_frames(124, 4, rate=44100), 2)


@pytest.mark.parametrize("clip", [np.full(1, 0.5), np.full((1, 2), 0.5), np.full((1, 4), 0.5)])
def test_one_frame_clip_is_one_click_per_beat(clip):
    loop = make_loop(clip, sample_rate=8000, rate=8000, bpm=120, bars=1, fade_ms=0)
    assert loop.shape == (16000, clip.shape[1] if clip.ndim == 2 else 1)
    for channel in loop.T:  # padded with silence to a beat
        assert np.flatnonzero(channel).tolist() == [0, 4000, 8000, 12000]


def test_repeats_shorter_than_a_frame_fill_the_loop():
    """At 1 Hz a beat at 100 bpm lasts 0.6 frames: repeats start at frames 0, 1, 1, 2, 2, 3, 4, 4,
    some rounding to no frame at all; every frame of the 5-frame loop still gets the clip."""
    loop = make_loop(np.full((1, 1), 0.5), sample_rate=1, rate=1, bpm=100, bars=2, fade_ms=0)
    assert loop[:, 0].tolist() == [0.5] * 5


@pytest.mark.parametrize(
    "options, error, message",
    [({"fade_ms": -0.5}, ConfigError, "fade_ms=-0.5 must be a number of milliseconds in [0, 50]"),
     ({"fade_ms": 50.5}, ConfigError, "fade_ms=50.5 must be a number of milliseconds in [0, 50]"),
     ({"fade_ms": "2"}, ConfigError, "fade_ms='2' must be a number of milliseconds in [0, 50]"),
     ({"fade_ms": None}, ConfigError, "fade_ms=None must be a number of milliseconds in [0, 50]"),
     ({"sample_rate": 0}, ConfigError, "sample_rate=0 must be a positive integer"),
     ({"sample_rate": 14700.0}, ConfigError, "sample_rate=14700.0 must be a positive integer"),
     ({"rate": 0}, ConfigError, "rate=0 must be a positive integer"),
     ({"bpm": 500}, ConfigError, "bpm=500 must be a number in [40, 300]; the model's natural range is 120-125"),
     ({"bars": 0}, ConfigError, "bars=0 must be an integer in [1, 64]"),
     ({"clip": np.zeros((0, 2))}, AudioError, "clip must have shape (frames, channels) with frames > 0, got (0, 2)"),
     ({"clip": np.zeros(0)}, AudioError, "clip must have shape (frames, channels) with frames > 0, got (0, 1)"),
     ({"clip": np.zeros((2, 3, 4))}, AudioError,
      "clip must have shape (frames, channels) with frames > 0, got (2, 3, 4)")],
)
def test_make_loop_rejects(options, error, message):
    kwargs = {"clip": np.zeros((100, 2)), "sample_rate": 14700, "bpm": 124} | options
    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        make_loop(kwargs.pop("clip"), **kwargs)


@pytest.mark.parametrize("bpm, bars", [(39, 4), (301, 4), (float("nan"), 4), ("124", 4), (124, 0), (124, 65), (124, 2.0)])
def test_check_tempo_rejects(bpm, bars):
    with pytest.raises(ConfigError):
        check_tempo(bpm, bars)


def test_check_tempo_warns_outside_natural_range():
    with pytest.warns(UserWarning, match="120-125"):
        check_tempo(90, 4)


def test_clip_names():
    assert clip_names(2) == ["beatgan_0001.wav", "beatgan_0002.wav"]
    assert clip_names(1, format="loop", bpm=124.0) == ["beatgan_0001_124bpm.wav"]
    assert clip_names(1, format="loop", bpm=122.5) == ["beatgan_0001_122.5bpm.wav"]


def test_write_clips_rejects_bad_audio(tmp_path):
    with pytest.raises(AudioError, match="NaN"):
        write_clips(np.full((1, 16, 2), np.nan), tmp_path, sample_rate=14700)
    with pytest.raises(AudioError, match="shape"):
        write_clips(np.zeros((16, 2)), tmp_path, sample_rate=14700)
    with pytest.raises(ConfigError, match="format"):
        write_clips(np.zeros((1, 16, 2)), tmp_path, sample_rate=14700, format="mp3")


def test_cli_loop_format(tmp_path, saturated, capsys):
    out = tmp_path / "loops"
    assert main(["generate", "--weights", str(saturated), "-n", "2", "-o", str(out), "--format", "loop",
                 "--bpm", "124", "--bars", "4", "--quiet"]) == 0
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["beatgan_0001_124bpm.wav", "beatgan_0002_124bpm.wav"]
    rate, data, bits = wavfile24.read(files[0])
    assert (rate, bits, data.shape) == (44100, 24, (341419, 2))
    # +1 stays at the top code, -1 at the bottom: nothing wrapped around
    assert data[:, 0].max() == pytest.approx(FULL_SCALE) and data[:, 0].min() > -0.2
    assert data[:, 1].min() == -1.0 and data[:, 1].max() < 0.2
    assert np.mean(data[:, 0] == np.float32(FULL_SCALE)) > 0.9
    assert "4 bar(s) at 124 bpm" in capsys.readouterr().out


def test_cli_raw_format_does_not_wrap(tmp_path, saturated):
    out = tmp_path / "raw"
    assert main(["generate", "--weights", str(saturated), "-n", "1", "-o", str(out), "--quiet"]) == 0
    rate, data, bits = wavfile24.read(out / "beatgan_0001.wav")
    assert (rate, bits, data.shape) == (14700, 24, (16384, 2))
    assert np.all(data[:, 0] == np.float32(FULL_SCALE)) and np.all(data[:, 1] == -1.0)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--weights", "{missing}"], "does not exist"),
        (["--weights", "{noconfig}"], "config.json"),
        (["--weights", "{weights}", "--format", "loop", "--bpm", "500"], "bpm=500"),
        (["--weights", "{weights}", "-n", "0"], "n=0"),
    ],
)
def test_cli_errors_exit_2(tmp_path, tiny, capsys, argv, message):
    (tmp_path / "noconfig").mkdir()
    paths = {"missing": tmp_path / "missing", "noconfig": tmp_path / "noconfig", "weights": tiny[2]}
    argv = [a.format(**paths) for a in argv]
    assert main(["generate", *argv, "-o", str(tmp_path / "out"), "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_a_loop_at_another_rate_without_soxr_names_it(monkeypatch):
    """soxr is imported only to resample; without it the loop says what to install, and the same rate needs none."""
    import sys

    from beatgan.errors import MissingDependencyError
    from beatgan.generate import make_loop

    clip = np.zeros((16384, 2), dtype=np.float32)
    monkeypatch.setitem(sys.modules, "soxr", None)
    with pytest.raises(MissingDependencyError, match=r"^resampling loops to 44100 Hz needs the Python package "
                                                     r"'soxr', which is not installed: pip install soxr$"):
        make_loop(clip, sample_rate=14700, bpm=124, bars=1)
    assert make_loop(clip, sample_rate=44100, bpm=124, bars=1).shape == (loop_frames(124, 1), 2)
