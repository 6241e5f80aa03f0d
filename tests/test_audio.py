"""Tests of beatgan.audio: finding loop files and decoding only their heads."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile

import wavfile24
from beatgan import audio
from beatgan.errors import AudioError
from beatgan.audio import find_audio_files, head_frames, read_head

SLICE = 16384
LOAD = {"sample_rate": 14700, "slice_len": SLICE, "resample": "polyphase"}


def test_find_audio_files_is_recursive_sorted_and_case_blind(tmp_path):
    for name in ["z.WAV", "b/a.flac", "a.Aiff", "b/.hidden.wav", ".cache/x.wav", "c.txt", "d.ogg", "e.npz"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in find_audio_files(tmp_path)]
    assert found == ["a.Aiff", "b/a.flac", "d.ogg", "z.WAV"]


def test_find_audio_files_follows_links_once(tmp_path):
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "x.wav").write_bytes(b"")
    os.symlink(tmp_path, tmp_path / "kit" / "back_up")  # a loop: must not recurse forever
    os.symlink(tmp_path / "kit", tmp_path / "alias")
    found = [p.relative_to(tmp_path).as_posix() for p in find_audio_files(tmp_path)]
    assert found in (["alias/x.wav"], ["kit/x.wav"])  # one copy, whichever was walked first


@pytest.mark.parametrize("rate", [8000, 14700, 22050, 44100, 96000])
def test_head_frames(rate):
    assert head_frames(rate, sample_rate=14700, slice_len=SLICE, resample="stride") == 3 * SLICE
    frames = head_frames(rate, **LOAD)
    assert frames >= SLICE * rate / 14700 + 256  # the resampler's reach is covered
    assert frames <= SLICE * rate / 14700 + 128 * np.ceil(rate / 14700) + 257


# (subtype, container): every sample format wavfile24 reads, plain and extensible.
WAV_FORMATS = [("PCM_U8", "WAV"), ("PCM_16", "WAV"), ("PCM_24", "WAV"), ("PCM_24", "WAVEX"),
               ("PCM_32", "WAV"), ("FLOAT", "WAVEX"), ("DOUBLE", "WAV")]


@pytest.mark.parametrize("seconds", [0.1, 3.0])
@pytest.mark.parametrize("subtype, container", WAV_FORMATS)
def test_wav_head_is_the_head_of_the_whole_file(tmp_path, drum_recording, subtype, container, seconds):
    _, amen = drum_recording
    x = np.resize(amen, (int(44100 * seconds), 2))
    path = tmp_path / "loop.wav"
    soundfile.write(path, x, 44100, subtype=subtype, format=container)
    rate, head = read_head(path, **LOAD)
    whole = wavfile24.read(path, dtype="float32")[1]
    assert rate == 44100 and head.dtype == np.float32
    assert len(head) == min(len(whole), head_frames(44100, **LOAD))
    np.testing.assert_array_equal(head, whole[: len(head)])


@pytest.mark.parametrize("suffix, channels", [(".flac", 1), (".flac", 2), (".aiff", 2)])
def test_other_formats_head_is_the_head_of_the_whole_file(tmp_path, drum_recording, suffix, channels):
    _, amen = drum_recording
    path = tmp_path / f"loop{suffix}"
    soundfile.write(path, amen[:, :channels], 48000, subtype="PCM_24")
    rate, head = read_head(path, **LOAD)
    whole = soundfile.read(path, dtype="float32", always_2d=True)[0]
    assert rate == 48000 and head.shape == (head_frames(48000, **LOAD), channels)
    np.testing.assert_array_equal(head, whole[: len(head)])


@pytest.mark.parametrize("suffix", [".flac", ".wav", ".WAVE"])
def test_long_files_are_read_only_as_far_as_the_head(tmp_path, monkeypatch, suffix):
    # A 60 s file: only about slice_len * 3 frames may be asked for, not all of them.
    path = tmp_path / f"long{suffix}"
    soundfile.write(path, np.zeros((44100 * 60, 2)), 44100, format="WAV" if suffix != ".flac" else "FLAC")
    asked = []
    real_read = wavfile24.read

    def spy(*args, **options):
        asked.append(options.get("frames"))
        return real_read(*args, **options)

    monkeypatch.setattr(wavfile24, "read", spy)
    rate, head = read_head(path, **LOAD)
    assert rate == 44100 and SLICE * 3 < len(head) < SLICE * 3 + 1000
    assert asked == ([] if suffix == ".flac" else [len(head)])
    assert read_head(path, sample_rate=14700, slice_len=SLICE, resample="stride")[1].shape == (3 * SLICE, 2)


def test_broken_files_raise(tmp_path):
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    with pytest.raises(AudioError, match="broken.wav") as caught:  # the package's one hierarchy
        read_head(tmp_path / "broken.wav", **LOAD)
    assert isinstance(caught.value.__cause__, wavfile24.WavFileError)
    (tmp_path / "broken.flac").write_bytes(b"fLaC" + bytes(20))
    with pytest.raises(AudioError, match="broken.flac"):  # soundfile.LibsndfileError, turned
        read_head(tmp_path / "broken.flac", **LOAD)
    with pytest.raises(AudioError, match="missing.wav"):
        read_head(tmp_path / "missing.wav", **LOAD)


def test_public_names():
    assert set(audio.__all__) <= set(dir(audio))
