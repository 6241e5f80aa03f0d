"""Tests of beatgan.data: loading loop folders, resampling, channels, augmentation."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr

import wavfile24
from beatgan.data import (
    load_loop,
    Loops, SkippedFileWarning, augment, augment_loops, load_loops, load_training_audio, save_dataset,
)
from beatgan.errors import AudioError, ConfigError, DatasetError

SONIC_PI = Path("/usr/share/sonic-pi/samples")
RATE = 14700
SLICE = 16384


@pytest.fixture(autouse=True)
def _private_user_cache(tmp_path, monkeypatch):
    """Keep the fallback cache out of the real ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def sonic_pi_loop(name: str, seconds: float) -> np.ndarray:
    """float64 (frames, 2) at 44.1 kHz: the first ``seconds`` of a sonic-pi loop, tiled if shorter."""
    path = SONIC_PI / name
    if not path.is_file():
        pytest.skip(f"{path} is missing (install sonic-pi-samples)")
    x, rate = soundfile.read(path, dtype="float64", always_2d=True)
    assert rate == 44100
    frames = int(seconds * rate)
    return np.resize(x, (frames, x.shape[1])) if len(x) < frames else x[:frames]


def reference(x: np.ndarray, rate: int, *, channels: int = 2) -> np.ndarray:
    """What a loader without head-only tricks gives: mix, soxr HQ on the whole file, cut, pad."""
    x = np.asarray(x, dtype=np.float32)
    if channels == 1:
        x = x.mean(axis=1, keepdims=True)
    y = soxr.resample(x, rate, RATE, quality="HQ") if rate != RATE else x
    out = np.zeros((SLICE, channels), np.float32)
    out[: min(SLICE, len(y))] = y[:SLICE]
    return np.clip(out, -1, 1)


def tone(freq: float, *, rate: int = 44100, seconds: float = 2.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t))[:, None]


def quiet_load(folder, **options) -> Loops:
    options.setdefault("progress", False)
    options.setdefault("cache", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFileWarning)
        return load_loops(folder, **options)


@pytest.fixture
def mixed_folder(tmp_path, drum_recording):
    """A folder like a user's: WAVs of several formats, FLAC in a sub-folder, a short loop, junk."""
    rate, amen = drum_recording
    assert rate == 44100
    folder = tmp_path / "loops"
    (folder / "sub").mkdir(parents=True)
    wavfile24.write(folder / "a_stereo24.wav", 44100, amen, bits=24)
    mono48 = soxr.resample(amen.mean(axis=1), 44100, 48000, quality="VHQ")
    soundfile.write(folder / "b_mono48k.wav", mono48, 48000, subtype="PCM_16")
    soundfile.write(folder / "sub" / "c_breakbeat.flac", sonic_pi_loop("loop_breakbeat.flac", 1.5), 44100)
    soundfile.write(folder / "d_short.flac", amen[:4410], 44100, subtype="PCM_24")  # 0.1 s
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00garbage")
    (folder / "notes.txt").write_text("120 bpm, 2 bars")
    (folder / "README.md").write_text("# my loops")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "._a_stereo24.wav").write_bytes(b"\x00\x05\x16\x07")  # macOS resource fork
    return folder


def test_mixed_folder_loads_every_good_loop(mixed_folder, drum_recording):
    _, amen = drum_recording
    with pytest.warns(SkippedFileWarning, match="corrupt.wav"):
        loops = load_loops(mixed_folder, progress=False, cache=False)
    assert loops.names == ["a_stereo24.wav", "b_mono48k.wav", "d_short.flac", "sub/c_breakbeat.flac"]
    assert [name for name, _ in loops.skipped] == ["corrupt.wav"]
    assert loops.skipped[0][1]  # a reason is given
    assert loops.audio.dtype == np.float32 and loops.audio.shape == (4, SLICE, 2)
    assert np.abs(loops.audio).max() <= 1.0
    assert loops.sample_rate == RATE and loops.slice_len == SLICE and loops.channels == 2
    stereo, mono, short, breakbeat = loops.audio
    np.testing.assert_allclose(stereo, reference(amen, 44100), atol=2e-5)  # 24-bit quantisation
    np.testing.assert_array_equal(mono[:, 0], mono[:, 1])  # mono duplicated
    np.testing.assert_allclose(mono[:, 0], reference(amen, 44100, channels=1)[:, 0], atol=2e-3)
    assert np.abs(short[:1400]).max() > 0.01 and not short[1500:].any()  # 0.1 s = 1470 samples
    assert np.abs(breakbeat).max() > 0.1 and np.abs(breakbeat[-1000:]).max() > 0  # 1.5 s fills it


def test_resampling_matches_whole_file_resampling(tmp_path, drum_recording):
    # Only the head of a file is resampled; the margin must make that invisible.
    x = sonic_pi_loop("loop_amen_full.flac", 6.0)
    for rate in (8000, 22050, 44100, 48000, 96000):
        folder = tmp_path / str(rate)
        folder.mkdir()
        soundfile.write(folder / "x.flac", x, rate, subtype="PCM_24")
        got = quiet_load(folder).audio[0]
        want = reference(soundfile.read(folder / "x.flac", dtype="float32")[0], rate)
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=f"rate {rate}")


def _write_tone(folder: Path, freq: float, rate: int = 44100) -> Path:
    folder.mkdir(exist_ok=True)
    soundfile.write(folder / "tone.flac", tone(freq, rate=rate), rate, subtype="PCM_24")
    return folder


def _rms_db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-300)


@pytest.mark.parametrize("freq", [7600.0, 10000.0, 13000.0])
def test_polyphase_removes_what_stride_folds_back(tmp_path, freq):
    folder = _write_tone(tmp_path / "tone", freq)
    level_in = _rms_db(tone(freq))
    clean = quiet_load(folder, resample="polyphase").audio[0, 2000:-2000, 0]
    folded = quiet_load(folder, resample="stride").audio[0, 2000:-2000, 0]
    assert _rms_db(clean) - level_in < -60  # anti-aliased: above 7.35 kHz is gone
    assert abs(_rms_db(folded) - level_in) < 1  # stride keeps it, at full level ...
    spectrum = np.abs(np.fft.rfft(folded * np.hanning(len(folded))))
    peak = np.argmax(spectrum) * RATE / len(folded)
    assert abs(peak - (RATE - freq)) < 5  # ... folded to 14.7 kHz - f


@pytest.mark.parametrize("rate", [44100, 48000, 22050])
def test_polyphase_passes_a_1khz_tone(tmp_path, rate):
    folder = _write_tone(tmp_path / "tone", 1000.0, rate)
    y = quiet_load(folder).audio[0]
    np.testing.assert_array_equal(y[:, 0], y[:, 1])
    mid = y[2000:-2000, 0].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
    assert abs(np.argmax(spectrum) * RATE / len(mid) - 1000) < 2
    assert abs(np.sqrt(np.mean(mid**2)) - 0.5 / np.sqrt(2)) < 0.005  # level kept


def test_stride_is_the_originals_every_third_sample(tmp_path, drum_recording):
    _, amen = drum_recording
    wavfile24.write(tmp_path / "amen.wav", 44100, amen, bits=24)
    x = wavfile24.read(tmp_path / "amen.wav")[1]
    got = quiet_load(tmp_path, resample="stride").audio[0]
    want = x[::3][:SLICE]
    np.testing.assert_array_equal(got[: len(want)], want)
    assert not got[len(want):].any()  # zero padding after the file's end, if it is that short


def test_stride_refuses_other_input_rates(tmp_path):
    soundfile.write(tmp_path / "loop48k.wav", tone(1000, rate=48000), 48000)
    with pytest.raises(ConfigError, match=r"loop48k\.wav.*48000 Hz"):
        quiet_load(tmp_path, resample="stride")


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("sample_rate", 0, "sample_rate=0"),
        ("sample_rate", -14700, "sample_rate=-14700"),
        ("sample_rate", 14700.5, "sample_rate=14700.5"),
        ("slice_len", 0, "slice_len=0"),
        ("slice_len", -1, "slice_len=-1"),
        ("channels", 3, r"channels=3 must be 1 or 2"),
        ("channels", 0, "channels=0"),
        ("resample", "linear", r"resample='linear' must be one of \('polyphase', 'stride'\)"),
        ("resample", "stride", r"sample_rate=22050"),  # stride with sample_rate 22050
    ],
)
def test_invalid_options_are_config_errors(tmp_path, option, value, match):
    options = {option: value}
    if value == "stride":
        options["sample_rate"] = 22050
    with pytest.raises(ConfigError, match=match):
        load_loops(tmp_path, progress=False, **options)


@pytest.mark.parametrize(
    ("file_channels", "channels"), [(1, 1), (1, 2), (2, 1), (2, 2), (4, 1), (4, 2)]
)
def test_channel_conversion(tmp_path, drum_recording, file_channels, channels):
    _, amen = drum_recording
    x = np.concatenate([amen, amen[:, ::-1] * 0.5], axis=1)[:, :file_channels]
    soundfile.write(tmp_path / "x.flac", x, 44100, subtype="PCM_24")
    x = soundfile.read(tmp_path / "x.flac", dtype="float32")[0].reshape(len(x), file_channels)
    got = quiet_load(tmp_path, channels=channels).audio[0]
    assert got.shape == (SLICE, channels)
    if channels == 1:
        want = reference(x.mean(axis=1, keepdims=True), 44100)[:, :1]  # the average of all channels
    elif file_channels == 1:
        want = reference(np.repeat(x, 2, axis=1), 44100)  # duplicated
    else:
        want = reference(x[:, :2], 44100)  # the first two channels
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("slice_len", [1000, 16384, 32768])
def test_slice_length_and_padding(tmp_path, drum_recording, slice_len):
    _, amen = drum_recording  # the amen break: 77321 frames at 44.1 kHz, 25774 at 14.7 kHz
    soundfile.write(tmp_path / "amen.flac", amen, 44100, subtype="PCM_24")
    y = quiet_load(tmp_path, slice_len=slice_len).audio
    assert y.shape == (1, slice_len, 2)
    kept = min(slice_len, round(len(amen) / 3))
    assert np.abs(y[0, kept - 200 : kept]).max() > 0
    assert not y[0, kept + 50 :].any()


def test_missing_or_empty_folders_are_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="nowhere"):
        load_loops(tmp_path / "nowhere", progress=False)
    (tmp_path / "notes.txt").write_text("no audio here")
    with pytest.raises(DatasetError, match=r"no audio files .* under"):
        load_loops(tmp_path, progress=False)
    (tmp_path / "broken.wav").write_bytes(b"RIFF")
    (tmp_path / "broken.flac").write_bytes(b"fLaC" + bytes(20))
    with pytest.warns(SkippedFileWarning), pytest.raises(DatasetError, match=r"broken\.flac.*broken\.wav"):
        load_loops(tmp_path, progress=False)


def test_non_finite_and_empty_files_are_skipped(tmp_path, drum_recording):
    _, amen = drum_recording
    bad = amen.copy()
    bad[100, 0] = np.nan
    soundfile.write(tmp_path / "nan.wav", bad, 44100, subtype="FLOAT")
    soundfile.write(tmp_path / "empty.wav", np.zeros((0, 2)), 44100)
    soundfile.write(tmp_path / "good.wav", amen, 44100)
    loops = quiet_load(tmp_path)
    assert loops.names == ["good.wav"]
    assert dict(loops.skipped).keys() == {"empty.wav", "nan.wav"}
    assert "NaN" in dict(loops.skipped)["nan.wav"]


# --- augmentation -------------------------------------------------------------------------

@pytest.fixture
def clips(drum_recording) -> np.ndarray:
    _, amen = drum_recording
    x = np.stack([amen[:4000], amen[4000:8000], -amen[:4000]]).astype(np.float32)
    x[0, :10] = 1.0  # full scale, so clipping happens
    x[1, :10] = -1.0
    return x


def test_augment_bounds_copies_and_order(clips):
    amplitude, copies = 0.0011, 4
    out = augment(clips, copies=copies, amplitude=amplitude, seed=3)
    assert out.dtype == np.float32 and out.shape == (3 * copies, 4000, 2)
    assert np.abs(out).max() <= 1.0
    # Row i * copies + k is copy k of loop i; the float32 sum rounds by half an ulp of 1.
    noise = out - np.repeat(clips, copies, axis=0)
    assert np.abs(noise).max() <= amplitude + np.finfo(np.float32).eps
    assert np.abs(noise[:, 20:]).max() > 0.99 * amplitude  # the whole range is used
    assert abs(noise[:, 20:].mean()) < 1e-5  # zero mean
    # At full scale, positive noise is clipped (about half the samples land on 1.0 exactly).
    top, bottom = out[0 * copies : 1 * copies, :10], out[1 * copies : 2 * copies, :10]
    assert top.min() >= 1 - amplitude - 1e-7 and 0.3 < np.mean(top == 1.0) < 0.7
    assert bottom.max() <= -1 + amplitude + 1e-7 and 0.3 < np.mean(bottom == -1.0) < 0.7
    assert not np.array_equal(out[0], out[1])  # copies differ from each other


def test_augment_is_seeded(clips):
    a = augment(clips, seed=7)
    np.testing.assert_array_equal(a, augment(clips, seed=7))
    assert not np.array_equal(a, augment(clips, seed=8))
    np.testing.assert_array_equal(augment(clips, copies=2, amplitude=0.0), np.repeat(clips, 2, axis=0))


def test_augment_noises_every_copy(clips):
    out = augment(clips, copies=3, amplitude=0.01, seed=5)
    noise = (out - np.repeat(clips, 3, axis=0))[:, 20:]  # away from the clipped full-scale samples
    assert np.all(np.abs(noise).max(axis=(1, 2)) > 0.009)  # each copy, the first included
    assert np.all(np.abs(noise.mean(axis=(1, 2))) < 1e-3)


def test_augment_values_are_stable_for_a_seed():
    """Datasets made by ``beatgan prepare`` stay reproducible: seed 0 always gives these copies."""
    out = augment(np.full((1, 3, 1), 0.5, np.float32), copies=2, amplitude=0.5, seed=0)
    expected = [[0.8506242036819458, 0.6369616389274597, 0.5111364722251892],
                [0.26978665590286255, 0.3078293800354004, 0.0409734845161438]]
    assert out.dtype == np.float32 and out.shape == (2, 3, 1)
    np.testing.assert_array_equal(out[..., 0], np.array(expected, np.float32))


@pytest.mark.parametrize("amplitude", [0.0, 1.0])
def test_augment_amplitude_limits(clips, amplitude):
    out = augment(clips[:1], copies=2, amplitude=amplitude, seed=1)
    noise = out - np.repeat(clips[:1], 2, axis=0)
    assert np.abs(out).max() <= 1 and np.abs(noise).max() <= amplitude + np.finfo(np.float32).eps
    assert (np.abs(noise).max() > 0.5) == (amplitude == 1.0)


@pytest.mark.parametrize("loops, copies", [(0, 3), (1, 1), (2, 1)])
def test_augment_few_loops(loops, copies):
    audio = np.full((loops, 5, 2), 0.25, np.float32)
    out = augment(audio, copies=copies, amplitude=0.01, seed=2)
    assert out.shape == (loops * copies, 5, 2) and out.dtype == np.float32
    assert np.all(np.abs(out - 0.25) <= 0.01) and np.all(out != 0.25)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"copies": 0}, "copies=0 must be a positive integer"),
     ({"copies": 2.5}, "copies=2.5 must be a positive integer"),
     ({"amplitude": -0.1}, "amplitude=-0.1 must be a number in [0, 1]"),
     ({"amplitude": 2}, "amplitude=2 must be a number in [0, 1]"),
     ({"amplitude": 1.0000001}, "amplitude=1.0000001 must be a number in [0, 1]"),
     ({"seed": -1}, "seed=-1 must be an integer >= 0"),
     ({"seed": None}, "seed=None must be an integer >= 0")],
)
def test_augment_rejects_bad_options(clips, options, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message) + "$"):
        augment(clips, **options)


@pytest.mark.parametrize(
    ("audio", "message"),
    [(np.zeros((4000, 2), np.float32), "got float32 (4000, 2)"),
     (np.zeros((1, 2, 3, 4)), "got float64 (1, 2, 3, 4)"),
     (np.zeros((3, 4000, 2), np.int16), "got int16 (3, 4000, 2)")],
)
def test_augment_rejects_audio_that_is_not_3d_float(audio, message):
    with pytest.raises(ConfigError, match="^" + re.escape("audio must be a float array (N, slice_len, channels), "
                                                          + message) + "$"):
        augment(audio)


def test_augment_loops_repeats_names(clips):
    loops = Loops(audio=clips, names=["a.wav", "b.wav", "c.wav"], skipped=[("x.wav", "bad")], sample_rate=RATE,
                  settings={"slice_len": 4000})
    out = augment_loops(loops, copies=np.int64(2), amplitude=0.01, seed=np.int64(4))
    assert len(out) == 6 and out.names == ["a.wav"] * 2 + ["b.wav"] * 2 + ["c.wav"] * 2
    assert out.skipped == [("x.wav", "bad")] and out.sample_rate == RATE
    assert out.settings == {"slice_len": 4000, "copies": 2, "amplitude": 0.01, "seed": 4}
    assert [type(out.settings[k]) for k in ("copies", "amplitude", "seed")] == [int, float, int]  # JSON-safe
    np.testing.assert_array_equal(out.audio, augment(clips, copies=2, amplitude=0.01, seed=4))
    assert loops.settings == {"slice_len": 4000}  # the input is left as it was
    np.testing.assert_array_equal(augment_loops(loops).audio, augment(clips))  # the defaults are augment's


# --- load_training_audio --------------------------------------------------------------------

def test_load_training_audio_from_folder_or_dataset(tmp_path, drum_recording):
    _, amen = drum_recording
    folder = tmp_path / "loops"
    folder.mkdir()
    soundfile.write(folder / "a.flac", amen, 44100)
    soundfile.write(folder / "b.flac", amen[::-1], 44100)
    from_folder = load_training_audio(folder, copies=3, progress=False, cache=False)
    assert from_folder.shape == (6, SLICE, 2) and from_folder.dtype == np.float32
    loops = quiet_load(folder)
    np.testing.assert_array_equal(from_folder, augment(loops.audio, copies=3))
    path = save_dataset(tmp_path / "ds.npz", from_folder, ["a"] * 3 + ["b"] * 3, sample_rate=RATE)
    np.testing.assert_array_equal(load_training_audio(path), from_folder)
    np.testing.assert_array_equal(load_training_audio(path, slice_len=SLICE, channels=2), from_folder)
    with pytest.raises(ConfigError, match="slice_len=32768 .* holds slice_len=16384"):
        load_training_audio(path, slice_len=32768)
    with pytest.raises(DatasetError, match="missing.npz"):
        load_training_audio(tmp_path / "missing.npz")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="notes.txt"):
        load_training_audio(tmp_path / "notes.txt")



def test_load_loop_shapes_one_loop_as_training_data_and_says_what_changed(tmp_path):
    time = np.arange(16384) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 440 * time) + 0.2 * np.sin(2 * np.pi * 1210 * time)  # well below either Nyquist
    clip = (tone * np.exp(-time / 0.4))[:, None].astype(np.float32)
    audio, notes = load_loop(clip[:1000, 0], sample_rate=RATE, slice_len=16384, channels=1)
    assert audio.shape == (16384, 1) and audio.dtype == np.float32
    assert any("zero-padded from 1000 to 16384" in note for note in notes)
    assert np.array_equal(audio[:1000], clip[:1000]) and not audio[1000:].any()
    _, notes = load_loop(clip, sample_rate=RATE, slice_len=16384, channels=1)
    assert notes == []
    stereo = np.repeat(clip, 2, axis=1)
    wavfile24.write(tmp_path / "loop.wav", 44100, soxr.resample(stereo, RATE, 44100), bits=24)
    audio, notes = load_loop(tmp_path / "loop.wav", sample_rate=RATE, slice_len=16384, channels=1)
    assert any("resampled from 44100 Hz to 14700 Hz" in note for note in notes)
    assert any("mixed 2 channel(s) to 1" in note for note in notes)
    assert np.max(np.abs(audio[100:-100] - clip[100:-100])) < 0.02  # the same loop, back at 14.7 kHz


@pytest.mark.parametrize(
    "loop, message",
    [(np.zeros((16384, 1), np.float32), "silent"), ("missing.wav", "does not exist"),
     (np.zeros((4, 4, 4), np.float32), r"\(frames,\) or \(frames, channels\)"),
     (np.full((16384, 1), np.nan, np.float32), "NaN")],
)
def test_load_loop_rejects(tmp_path, loop, message):
    if isinstance(loop, str):
        loop = tmp_path / loop
    with pytest.raises(AudioError, match=message):
        load_loop(loop, sample_rate=RATE, slice_len=16384, channels=1)


def test_loops_say_what_loading_changed_and_the_cache_keeps_it(tmp_path):
    import soundfile

    rng = np.random.default_rng(0)
    for name, rate, frames, channels in (("a.wav", 22050, 11025, 1), ("b.wav", 48000, 96000, 2),
                                         ("c.wav", 14700, 20000, 4), ("d.flac", 14700, 16384, 2)):
        soundfile.write(tmp_path / name, rng.uniform(-0.5, 0.5, (frames, channels)), rate)
    expected = ["resampled to 14700 Hz (soxr HQ): 1 loop from 22050 Hz, 1 loop from 48000 Hz",
                "mono duplicated to stereo: 1 loop",
                "first two channels kept: 1 loop with 4 channels",
                "zero-padded to 16384 samples (1.11 s): 1 loop shorter than that",
                "cut to their first 16384 samples (1.11 s): 3 loops"]
    first = load_loops(tmp_path, progress=False)
    np.testing.assert_array_equal(first.sources, [[22050, 1, 1], [48000, 2, 0], [14700, 4, 0], [14700, 2, 0]])
    assert first.adaptations() == expected
    assert load_loops(tmp_path, progress=False).adaptations() == expected  # from the cache
    mono = load_loops(tmp_path, channels=1, progress=False, cache=False).adaptations()
    assert "mixed to mono: 2 loops with 2 channels, 1 loop with 4 channels" in mono
    assert not [line for line in mono if "duplicated" in line or "first two" in line]
    assert Loops(audio=first.audio, names=first.names, skipped=[], sample_rate=14700).adaptations() == []
