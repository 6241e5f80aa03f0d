"""Tests of wavfile24: agreement with libsndfile on real drums, writing, errors, fuzzing."""

from __future__ import annotations

import io
import os
import re
import struct
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import wavfile24
from wavfile24 import WavFileError

SUBTYPE_BITS = {"PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64}
PCM_SUBTYPE = {8: "PCM_U8", 16: "PCM_16", 24: "PCM_24", 32: "PCM_32"}
GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")


# ---------------------------------------------------------------- building files by hand
def chunk(cid: bytes, body: bytes, size: int | None = None) -> bytes:
    """A RIFF chunk with its pad byte; ``size`` overrides the size field."""
    return cid + struct.pack("<I", len(body) if size is None else size) + body + b"\0" * (len(body) & 1)


class FileProxy:
    """An open file seen through a wrapper: every attribute but the ones a subclass overrides is the file's."""

    def __init__(self, file):
        self.file = file

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def fmt_chunk(tag=1, channels=1, rate=44100, bits=16, *, block_align=None, sub=None, extra=b""):
    """A fmt chunk; ``sub`` makes it WAVE_FORMAT_EXTENSIBLE with that sub-format code."""
    align = channels * bits // 8 if block_align is None else block_align
    body = struct.pack("<HHIIHH", 0xFFFE if sub is not None else tag, channels, rate,
                       rate * align, align, bits)
    if sub is not None:
        guid = sub if isinstance(sub, bytes) else struct.pack("<H", sub) + GUID_TAIL
        body += struct.pack("<HHI", 22, bits, 0) + guid
    return chunk(b"fmt ", body + extra)


def riff(*chunks: bytes, size: int | None = None, magic=b"RIFF", form=b"WAVE") -> bytes:
    body = form + b"".join(chunks)
    return magic + struct.pack("<I", len(body) if size is None else size) + body


def pcm_bytes(codes: np.ndarray, bits: int) -> bytes:
    """Signed integer codes -> little-endian stored bytes (8-bit stored unsigned)."""
    codes = np.asarray(codes, np.int64).reshape(-1)
    if bits == 8:
        return (codes + 128).astype(np.uint8).tobytes()
    if bits == 24:
        return codes.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    return codes.astype({16: "<i2", 32: "<i4"}[bits]).tobytes()


def quantize(x: np.ndarray, bits: int) -> np.ndarray:
    """The codes ``write`` must produce for floats ``x``: rint, then clip, no wraparound."""
    top = 2 ** (bits - 1)
    return np.clip(np.rint(np.asarray(x, np.float64) * top), -top, top - 1).astype(np.int64)


def exact(path, problem: str) -> str:
    """A ``match`` pattern for the whole message of a WavFileError about ``path``."""
    return "^" + re.escape(f"{path}: {problem}") + "$"


@pytest.fixture(scope="module")
def drums(drum_recording):
    """(rate, {channels: float64 (frames, channels)}) made from the real recording."""
    rate, stereo = drum_recording
    left, right = stereo[:, 0], stereo[:, 1]
    six = np.stack([left, right, 0.5 * (left + right), -0.7 * right, 0.5 * (left - right),
                    left[::-1]], axis=1)
    return rate, {1: stereo.mean(axis=1, keepdims=True), 2: np.array(stereo), 6: six}


# ---------------------------------------------------------------- agreement with libsndfile
@pytest.mark.parametrize("container", ["WAV", "WAVEX"])
@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("subtype", list(SUBTYPE_BITS))
def test_read_matches_libsndfile(tmp_path, drums, subtype, channels, container):
    rate, signals = drums
    path = tmp_path / f"drums_{subtype}_{channels}_{container}.wav"
    sf.write(path, signals[channels], rate, format=container, subtype=subtype)
    expected, expected_rate = sf.read(path, dtype="float64", always_2d=True)

    got_rate, got, bits = wavfile24.read(path, dtype="float64")
    meta = wavfile24.info(path)
    assert (got_rate, bits, got.dtype, got.shape) == (expected_rate, SUBTYPE_BITS[subtype],
                                                     np.float64, expected.shape)
    assert meta == wavfile24.WavInfo(rate, channels, bits, len(expected),
                                     "float" if subtype in ("FLOAT", "DOUBLE") else "pcm",
                                     container == "WAVEX")
    assert np.abs(got).max() > 0.1  # real audio, not silence
    if subtype == "PCM_32":
        np.testing.assert_allclose(got, expected, rtol=0, atol=2.0**-31)
    else:
        np.testing.assert_array_equal(got, expected)

    _, got32, _ = wavfile24.read(path)  # default float32
    assert got32.dtype == np.float32
    if subtype in ("PCM_32", "DOUBLE"):
        np.testing.assert_allclose(got32, expected, rtol=0, atol=2.0**-24)
    else:  # 8/16/24-bit codes and float32 samples are exact in float32
        np.testing.assert_array_equal(got32, sf.read(path, dtype="float32", always_2d=True)[0])

    if meta.format == "pcm":  # libsndfile's int32 is left-justified: ours shifted up
        _, codes, _ = wavfile24.read(path, dtype="int32")
        assert codes.dtype == np.int32
        np.testing.assert_array_equal(codes.astype(np.int64) << (32 - bits),
                                      sf.read(path, dtype="int32", always_2d=True)[0])
    else:
        with pytest.raises(WavFileError, match=exact(path, f"{bits}-bit float samples cannot be read as "
                                                       "int32; use dtype='float32' or 'float64'")):
            wavfile24.read(path, dtype="int32")


def _layouts(fmt: bytes, data: bytes, block_align: int = 1) -> dict[str, tuple[bytes, bool]]:
    """Hand-made files holding ``data``: name -> (bytes, libsndfile can read it)."""
    info_list = chunk(b"LIST", b"INFOICMT" + struct.pack("<I", 5) + b"amen\0")
    cue = chunk(b"cue ", struct.pack("<II", 1, 1) + b"\0" * 20)
    fact = chunk(b"fact", struct.pack("<I", 0))
    return {
        "plain": (riff(fmt, chunk(b"data", data)), True),
        "list_cue_fact_first": (riff(info_list, fmt, fact, cue, chunk(b"data", data), info_list), True),
        "odd_chunk_with_pad": (riff(fmt, chunk(b"junk", b"abc"), chunk(b"data", data)), True),
        "odd_chunk_pad_missing": (riff(fmt, chunk(b"junk", b"abc")[:-1], cue,
                                       chunk(b"data", data)), False),
        "odd_list_pad_missing_before_fmt": (riff(info_list[:-1], fmt, chunk(b"data", data)), False),
        "data_before_fmt": (riff(chunk(b"data", data), fmt), False),
        "data_before_fmt_and_list": (riff(cue, chunk(b"data", data), info_list, fmt), False),
        "riff_size_ffffffff": (riff(fmt, chunk(b"data", data), size=0xFFFFFFFF), True),
        "riff_size_zero": (riff(fmt, chunk(b"data", data), size=0), True),
        "riff_size_short": (riff(fmt, chunk(b"data", data), size=20), True),
        "trailing_garbage": (riff(fmt, chunk(b"data", data)) + b"\xff" * 13, True),
        "pad_missing_at_eof": (riff(fmt, chunk(b"data", data))[:12 + len(fmt) + 8 + len(data)],
                               True),
        # bytes short of a whole frame are dropped, as libsndfile does
        "partial_trailing_frame": (riff(fmt, chunk(b"data", data + b"\x01" * (block_align - 1))),
                                   True),
    }


HAND_FORMATS = [(8, 1, None), (16, 2, None), (24, 1, None), (24, 2, 1), (32, 6, None),
                (24, 3, 1)]


@pytest.mark.parametrize("bits, channels, sub", HAND_FORMATS)
@pytest.mark.parametrize("layout", list(_layouts(b"", b"")))
def test_read_hand_made_layouts(tmp_path, drums, layout, bits, channels, sub):
    rate, signals = drums
    x = signals[2 if channels < 6 else 6][1000:1301]  # 301 frames: odd data sizes for 8/24-bit
    x = np.concatenate([x, x[:, :1]], axis=1)[:, :channels] if channels == 3 else x[:, :channels]
    codes = quantize(x, bits)
    fmt = fmt_chunk(1, channels, rate, bits, sub=sub)
    content, libsndfile_reads = _layouts(fmt, pcm_bytes(codes, bits), channels * bits // 8)[layout]
    path = tmp_path / f"{layout}.wav"
    path.write_bytes(content)

    _, got, got_bits = wavfile24.read(path, dtype="int32")
    assert got_bits == bits
    np.testing.assert_array_equal(got, codes)
    _, scaled, _ = wavfile24.read(path, dtype="float64")
    np.testing.assert_array_equal(scaled, codes / 2.0 ** (bits - 1))
    if libsndfile_reads:
        np.testing.assert_array_equal(scaled, sf.read(path, dtype="float64", always_2d=True)[0])


@pytest.mark.parametrize("bits", [32, 64])
def test_read_hand_made_float(tmp_path, drums, bits):
    x = drums[1][2][:257] * 1.5  # float files keep values beyond [-1, 1]
    stored = x.astype("<f4" if bits == 32 else "<f8")
    fmt = fmt_chunk(3, 2, 48000, bits, extra=b"\0\0")
    path = tmp_path / "float.wav"
    path.write_bytes(riff(chunk(b"data", stored.tobytes()), chunk(b"fact", b"\1\0\0\0"), fmt))
    rate, got, got_bits = wavfile24.read(path, dtype="float64")
    assert (rate, got_bits) == (48000, bits)
    np.testing.assert_array_equal(got, stored.astype(np.float64))


def test_empty_data_chunk(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(riff(fmt_chunk(1, 2, 8000, 16), chunk(b"data", b"")))
    rate, data, bits = wavfile24.read(path)
    assert (rate, data.shape, data.dtype, bits) == (8000, (0, 2), np.float32, 16)


# ---------------------------------------------------------------- reading part of a file
# (start, frames) against a file of n frames: heads, a middle run, past the end, nothing.
SPANS = [(0, 0), (0, 1), (0, 257), (0, "n-1"), (0, "n"), (0, "n+1"), (0, 10**12), (0, None),
         (3, 100), (5, None), ("n-1", 7), ("n", 5), ("n+2", None), (10**12, 4)]


def _span(value, n):
    return n + int(value[1:] or 0) if isinstance(value, str) else value


def _check_spans(path, n, dtypes):
    whole = {dtype: wavfile24.read(path, dtype=dtype) for dtype in dtypes}
    for start, frames in SPANS:
        start, frames = _span(start, n), _span(frames, n)
        for dtype, (rate, data, bits) in whole.items():
            got_rate, got, got_bits = wavfile24.read(path, dtype=dtype, start=start, frames=frames)
            expected = data[start:] if frames is None else data[start:start + frames]
            assert (got_rate, got_bits, got.dtype) == (rate, bits, data.dtype)
            assert got.shape == expected.shape, (start, frames, dtype)
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("container", ["WAV", "WAVEX"])
@pytest.mark.parametrize("channels", [1, 6])
@pytest.mark.parametrize("subtype", list(SUBTYPE_BITS))
def test_read_frames_equals_slice_of_whole_read(tmp_path, drums, subtype, channels, container):
    rate, signals = drums
    x = signals[channels][:3001]
    path = tmp_path / "part.wav"
    sf.write(path, x, rate, format=container, subtype=subtype)
    pcm = subtype.startswith("PCM")
    _check_spans(path, len(x), ["float32", "float64"] + ["int32"] * pcm)


@pytest.mark.parametrize("bits, channels, sub", HAND_FORMATS)
@pytest.mark.parametrize("layout", list(_layouts(b"", b"")))
def test_read_frames_hand_made_layouts(tmp_path, drums, layout, bits, channels, sub):
    rate, signals = drums
    x = signals[6][2000:2301, :channels]  # 301 frames: odd data sizes for 8/24-bit
    codes = quantize(x, bits)
    fmt = fmt_chunk(1, channels, rate, bits, sub=sub)
    content, _ = _layouts(fmt, pcm_bytes(codes, bits), channels * bits // 8)[layout]
    path = tmp_path / f"{layout}.wav"
    path.write_bytes(content)
    np.testing.assert_array_equal(wavfile24.read(path, dtype="int32", frames=300)[1], codes[:300])
    _check_spans(path, len(codes), ["int32", "float64"])


def test_read_frames_of_empty_data_chunk(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(riff(fmt_chunk(1, 2, 8000, 16), chunk(b"data", b"")))
    for start, frames in [(0, 0), (0, 5), (3, None), (0, None)]:
        rate, data, bits = wavfile24.read(path, start=start, frames=frames)
        assert (rate, data.shape, data.dtype, bits) == (8000, (0, 2), np.float32, 16)


def test_read_frames_reads_only_the_bytes_it_needs(tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    wavfile24.write(path, 44100, np.zeros((200_000, 2)), bits=24)  # 1.2 MB of samples
    header = 44
    read_bytes = []

    class Counting(FileProxy):
        def read(self, n=-1):
            chunk = self.file.read(n)
            read_bytes.append(len(chunk))
            return chunk


    monkeypatch.setattr(wavfile24, "open", lambda *a: Counting(open(*a)), raising=False)
    for start, frames in [(0, 1000), (150_000, 10), (0, 0), (199_990, 1000)]:
        read_bytes.clear()
        data = wavfile24.read(path, start=start, frames=frames)[1]
        assert len(data) == min(frames, 200_000 - start)
        assert sum(read_bytes) <= header + len(data) * 6  # the header walk, then only the frames
    read_bytes.clear()
    wavfile24.read(path)
    assert sum(read_bytes) == path.stat().st_size  # the counter sees every byte of a whole read


@pytest.mark.parametrize("option, value, message", [
    ("frames", -1, "frames=-1 must be a non-negative integer or None"),
    ("start", -1, "start=-1 must be a non-negative integer"),
    ("frames", 2.0, "frames=2.0 must be a non-negative integer or None"),
    ("frames", True, "frames=True must be a non-negative integer or None"),
    ("start", None, "start=None must be a non-negative integer"),
    ("start", "0", "start='0' must be a non-negative integer"),
    ("frames", "10", "frames='10' must be a non-negative integer or None"),
    ("start", np.float64(1), "start=np.float64(1.0) must be a non-negative integer"),
])
def test_read_rejects_bad_start_or_frames(tmp_path, option, value, message):
    path = tmp_path / "ok.wav"
    path.write_bytes(riff(F16, D16))
    with pytest.raises(WavFileError, match="^" + re.escape(message) + "$"):
        wavfile24.read(path, **{option: value})
    assert wavfile24.read(path, start=np.int64(2), frames=np.uint8(3))[1].shape == (3, 1)


# ---------------------------------------------------------------- writing
@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("bits, fmt", [(8, "pcm"), (16, "pcm"), (24, "pcm"), (32, "pcm"),
                                       (32, "float"), (64, "float")])
def test_write_reads_back_in_both_readers(tmp_path, drums, bits, fmt, channels):
    rate, signals = drums
    x = signals[channels] * 1.2  # drive some samples past full scale
    path = tmp_path / "out.wav"
    wavfile24.write(path, rate, x, bits=bits, fmt=fmt)

    _, ours, got_bits = wavfile24.read(path, dtype="float64")
    theirs, their_rate = sf.read(path, dtype="float64", always_2d=True)
    assert (their_rate, got_bits, ours.shape) == (rate, bits, x.shape)
    data_size = x.size * bits // 8  # header: RIFF 12 + fmt 24 (float: 26 + fact 12) + data 8
    assert path.stat().st_size == (44 if fmt == "pcm" else 58) + data_size + data_size % 2
    np.testing.assert_array_equal(ours, theirs)
    if fmt == "pcm":
        assert sf.info(path).subtype == PCM_SUBTYPE[bits]
        np.testing.assert_array_equal(ours, quantize(x, bits) / 2.0 ** (bits - 1))
        # read -> write -> read is lossless
        again = tmp_path / "again.wav"
        wavfile24.write(again, rate, wavfile24.read(path, dtype="float64")[1], bits=bits)
        assert again.read_bytes() == path.read_bytes()
    else:
        assert sf.info(path).subtype == {32: "FLOAT", 64: "DOUBLE"}[bits]
        np.testing.assert_array_equal(ours, x.astype("<f4" if bits == 32 else "<f8"))
        assert b"fact" in path.read_bytes()[:80]
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@pytest.mark.parametrize("bits", [8, 16, 24, 32])
def test_write_full_scale_never_wraps(tmp_path, bits):
    top = 2 ** (bits - 1)
    x = np.array([1.0, 1.0 + 1e-12, 1.5, 1e30, np.nextafter(1.0, 0), -1.0, -1.5, -1e30,
                  0.5 / top, -0.5 / top, 0.0], dtype=np.float64)
    path = tmp_path / "full_scale.wav"
    for data in (x, x.astype(np.float32)):
        wavfile24.write(path, 44100, data, bits=bits)
        codes = wavfile24.read(path, dtype="int32")[1][:, 0]
        # np.rint rounds half to even: +-0.5 LSB -> 0
        assert codes.tolist() == [top - 1] * 5 + [-top] * 3 + [0, 0, 0]
        theirs = sf.read(path, dtype="float64")[0]
        assert (theirs[:5] > 0).all() and (theirs[5:8] < 0).all()


@pytest.mark.parametrize("bits", [8, 16, 24, 32])
def test_write_integer_codes_as_is(tmp_path, bits):
    top = 2 ** (bits - 1)
    codes = np.array([[-top, top - 1], [0, 1], [-1, 12]], dtype=np.int64)
    path = tmp_path / "ints.wav"
    wavfile24.write(path, 8000, codes, bits=bits)
    np.testing.assert_array_equal(wavfile24.read(path, dtype="int32")[1], codes)
    for bad in (top, -top - 1):
        low, high = min(0, bad), max(0, bad)
        with pytest.raises(WavFileError, match=exact(path, f"integer data spans [{low}, {high}], outside the "
                                                           f"{bits}-bit range [{-top}, {top - 1}] (8-bit codes "
                                                           "are signed, stored as x + 128)")):
            wavfile24.write(path, 8000, np.array([0, bad]), bits=bits)


def test_write_mono_1d_and_permissions(tmp_path):
    path = tmp_path / "mono.wav"
    wavfile24.write(str(path), 22050, np.linspace(-1, 1, 101))
    rate, data, bits = wavfile24.read(path)
    assert (rate, data.shape, bits) == (22050, (101, 1), 24)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


U32 = 2**32 - 1
NAN_IN_SECOND_BLOCK = np.zeros((18, 65535), np.float16)  # 8-bit: NaNs are sought 16 frames at a time
NAN_IN_SECOND_BLOCK[17, 5] = np.nan
NAN_IN_ROW_3 = np.zeros((5, 2))
NAN_IN_ROW_3[3, 1] = np.nan
# case: (arguments over rate=8000, data=zeros((5, 2)), bits=24, fmt="pcm"; the message after the path)
BAD_WRITES = {
    "rate zero": (dict(rate=0), "rate=0 must be a positive integer number of Hz"),
    "rate negative": (dict(rate=-44100), "rate=-44100 must be a positive integer number of Hz"),
    "rate float": (dict(rate=44100.0), "rate=44100.0 must be a positive integer number of Hz"),
    "rate bool": (dict(rate=True), "rate=True must be a positive integer number of Hz"),
    "rate str": (dict(rate="44100"), "rate='44100' must be a positive integer number of Hz"),
    "rate 2**32": (dict(rate=2**32, data=np.zeros(3), bits=8),
                   "rate=4294967296 must be a positive integer number of Hz"),
    "byte rate mono": (dict(rate=U32, data=np.zeros(3), bits=16),
                       "rate=4294967295 with 1 channels overflows the header's byte rate"),
    "byte rate stereo": (dict(rate=U32, data=np.zeros((3, 2)), bits=8),
                         "rate=4294967295 with 2 channels overflows the header's byte rate"),
    "byte rate one over": (dict(rate=U32 // 3 + 1, data=np.zeros(3), bits=24),
                           "rate=1431655766 with 1 channels overflows the header's byte rate"),
    "no channels": (dict(data=np.zeros((10, 0))),
                    "data has 0 channels; a WAV file of 24-bit samples holds 1 to 21845"),
    "3-d data": (dict(data=np.zeros((4, 2, 2))),
                 "data has shape (4, 2, 2); expected (frames,) or (frames, channels)"),
    "scalar data": (dict(data=np.float64(0.5)), "data has shape (); expected (frames,) or (frames, channels)"),
    "complex": (dict(data=np.zeros(4, complex)), "data dtype complex128 is not real floating point or integer"),
    "bool data": (dict(data=np.zeros(4, bool)), "data dtype bool is not real floating point or integer"),
    "strings": (dict(data=["a", "b"]), "data dtype <U1 is not real floating point or integer"),
    "nan": (dict(data=np.array([0.0, np.nan])), "data holds NaN or infinity (first at frame 1)"),
    "inf": (dict(data=np.array([np.inf, 0.0])), "data holds NaN or infinity (first at frame 0)"),
    "nan in a later channel": (dict(data=NAN_IN_ROW_3), "data holds NaN or infinity (first at frame 3)"),
    "nan past the first block": (dict(data=NAN_IN_SECOND_BLOCK, bits=8),
                                 "data holds NaN or infinity (first at frame 17)"),
    "bits 12": (dict(bits=12), "bits=12 must be one of (8, 16, 24, 32) for fmt='pcm'"),
    "bits 24.0": (dict(bits=24.0), "bits=24.0 must be one of (8, 16, 24, 32) for fmt='pcm'"),
    "bits True": (dict(bits=True), "bits=True must be one of (8, 16, 24, 32) for fmt='pcm'"),
    "float 16": (dict(bits=16, fmt="float"), "bits=16 must be one of (32, 64) for fmt='float'"),
    "fmt alaw": (dict(fmt="alaw"), "fmt='alaw' must be 'pcm' or 'float'"),
    "fmt None": (dict(fmt=None), "fmt=None must be 'pcm' or 'float'"),
    "int as float": (dict(data=np.arange(4), bits=32, fmt="float"),
                     "integer data cannot be written as float; scale it to floats in [-1, 1] first"),
    "beyond float32": (dict(data=np.array([1e39]), bits=32, fmt="float"),
                       "data reach 1e+39, beyond the largest 32-bit float"),
    "beyond float32 negative": (dict(data=np.array([0.0, -1e39]), bits=32, fmt="float"),
                                "data reach 1e+39, beyond the largest 32-bit float"),
    "too many channels": (dict(data=np.zeros((2, 30000)), bits=24),
                          "data has 30000 channels; a WAV file of 24-bit samples holds 1 to 21845"),
    "channels 8-bit": (dict(data=np.zeros((1, 65536)), bits=8),
                       "data has 65536 channels; a WAV file of 8-bit samples holds 1 to 65535"),
    "channels 16-bit": (dict(data=np.zeros((1, 32768)), bits=16),
                        "data has 32768 channels; a WAV file of 16-bit samples holds 1 to 32767"),
    "channels 32-bit": (dict(data=np.zeros((1, 16384)), bits=32),
                        "data has 16384 channels; a WAV file of 32-bit samples holds 1 to 16383"),
    "channels 64-bit float": (dict(data=np.zeros((1, 8192)), bits=64, fmt="float"),
                              "data has 8192 channels; a WAV file of 64-bit samples holds 1 to 8191"),
}


@pytest.mark.parametrize("case", list(BAD_WRITES))
def test_write_rejects_bad_arguments_and_keeps_old_file(tmp_path, case):
    path = tmp_path / "keep.wav"
    wavfile24.write(path, 8000, np.zeros(3), bits=16)
    before = path.read_bytes()
    changes, problem = BAD_WRITES[case]
    kwargs = dict(rate=8000, data=np.zeros((5, 2)), bits=24, fmt="pcm") | changes
    with pytest.raises(WavFileError, match=exact(path, problem)):
        wavfile24.write(path, kwargs.pop("rate"), kwargs.pop("data"), **kwargs)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["keep.wav"]


# case: (rate, data, bits, fmt, what reading back as float64 gives)
F32_MAX = float(np.finfo(np.float32).max)
WRITE_LIMITS = {
    "rate 1": (1, np.array([0.5]), 8, "pcm", [[0.5]]),
    "rate 2**32-1": (U32, np.array([0.5]), 8, "pcm", [[0.5]]),
    "byte rate 2**32-1": (U32 // 3, np.array([-0.5]), 24, "pcm", [[-0.5]]),
    "channels 8-bit": (8000, np.full((1, 65535), 0.5), 8, "pcm", np.full((1, 65535), 0.5)),
    "channels 16-bit": (8000, np.full((1, 32767), 0.5), 16, "pcm", np.full((1, 32767), 0.5)),
    "channels 24-bit": (8000, np.full((1, 21845), 0.5), 24, "pcm", np.full((1, 21845), 0.5)),
    "channels 32-bit": (8000, np.full((1, 16383), 0.5), 32, "pcm", np.full((1, 16383), 0.5)),
    "channels 32-bit float": (8000, np.full((1, 16383), 0.5), 32, "float", np.full((1, 16383), 0.5)),
    "channels 64-bit float": (8000, np.full((1, 8191), 0.5), 64, "float", np.full((1, 8191), 0.5)),
    "largest float32": (8000, np.array([F32_MAX, -F32_MAX]), 32, "float", [[F32_MAX], [-F32_MAX]]),
    "largest float32 as float32": (8000, np.array([F32_MAX], np.float32), 32, "float", [[F32_MAX]]),
    "huge float64": (8000, np.array([1e300, -1e300]), 64, "float", [[1e300], [-1e300]]),
    "huge to pcm": (8000, np.array([1e300, -1e300]), 16, "pcm", [[32767 / 32768], [-1.0]]),
    "empty pcm": (8000, np.zeros((0, 2)), 24, "pcm", np.zeros((0, 2))),
    "empty float32": (8000, np.zeros((0, 2)), 32, "float", np.zeros((0, 2))),
    "empty float64": (8000, np.zeros((0, 3), np.float32), 64, "float", np.zeros((0, 3))),
}


@pytest.mark.parametrize("case", list(WRITE_LIMITS))
def test_write_accepts_the_limits(tmp_path, case):
    rate, data, bits, fmt, expected = WRITE_LIMITS[case]
    path = tmp_path / "limit.wav"
    wavfile24.write(path, rate, data, bits=bits, fmt=fmt)
    got_rate, got, got_bits = wavfile24.read(path, dtype="float64")
    assert (got_rate, got_bits) == (rate, bits)
    np.testing.assert_array_equal(got, np.asarray(expected, np.float64))


def test_write_failure_midway_leaves_no_trace(tmp_path, monkeypatch):
    path = tmp_path / "keep.wav"
    wavfile24.write(path, 8000, np.zeros(3), bits=16)
    before = path.read_bytes()

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(wavfile24, "encode_block", broken)
    with pytest.raises(OSError, match="disk full"):
        wavfile24.write(path, 8000, np.ones(10) * 0.5)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["keep.wav"]


def test_write_keeps_the_error_when_the_temporary_file_is_already_gone(tmp_path, monkeypatch):
    def vanish_then_fail(*args):
        for name in os.listdir(tmp_path):
            os.unlink(tmp_path / name)  # e.g. a cleaner removed it
        raise OSError("disk full")

    monkeypatch.setattr(wavfile24, "encode_block", vanish_then_fail)
    with pytest.raises(OSError, match="disk full"):
        wavfile24.write(tmp_path / "out.wav", 8000, np.zeros(4))
    assert os.listdir(tmp_path) == []


def test_write_goes_through_a_hidden_file_beside_the_destination(tmp_path, monkeypatch):
    path = tmp_path / "out.wav"
    wavfile24.write(path, 8000, np.zeros(3), bits=16)
    before = path.read_bytes()
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    seen = []
    encode = wavfile24.encode_block

    def watching(*args):
        seen.append((sorted(os.listdir(tmp_path)), path.read_bytes(), os.listdir(".")))
        return encode(*args)

    monkeypatch.setattr(wavfile24, "encode_block", watching)
    wavfile24.write(path, 8000, np.full(5, 0.5))
    (names, old, elsewhere), = seen
    # while the samples are written the old file is untouched and the new one is a hidden temp file
    temporary = [name for name in names if name not in ("cwd", "out.wav")]
    assert old == before and elsewhere == [] and len(names) == 3 and len(temporary) == 1
    assert re.fullmatch(r"\.out\.wav\.\w+\.tmp", temporary[0])
    assert sorted(os.listdir(tmp_path)) == ["cwd", "out.wav"] and wavfile24.info(path).frames == 5


def test_write_skips_a_temporary_name_already_taken(tmp_path, monkeypatch):
    taken = tmp_path / ".out.wav.00000000.tmp"
    taken.write_bytes(b"another writer's file")
    names = iter(["00000000", "11111111"])
    monkeypatch.setattr(wavfile24.secrets, "token_hex", lambda n: next(names))
    wavfile24.write(tmp_path / "out.wav", 8000, np.full(4, 0.25), bits=16)
    assert taken.read_bytes() == b"another writer's file"
    assert sorted(os.listdir(tmp_path)) == [taken.name, "out.wav"]
    np.testing.assert_array_equal(wavfile24.read(tmp_path / "out.wav")[1][:, 0], [0.25] * 4)


def test_write_long_file_name(tmp_path):
    # NAME_MAX is 255 bytes; the temporary file adds 14 (".", ".", 8 hex digits, ".tmp")
    path = tmp_path / ("x" * 237 + ".wav")
    wavfile24.write(path, 8000, np.zeros(2))
    assert os.listdir(tmp_path) == [path.name] and wavfile24.info(path).frames == 2


# Frames of 8191 channels of 64-bit floats: just past 2 GiB (past a signed 32-bit size), and the fewest
# past the 4 GiB of RIFF WAV (a RIFF size field of 50 header bytes plus the samples).
FRAMES_2GIB, FRAMES_4GIB = 2**31 // (8 * 8191) + 1, (U32 - 50) // (8 * 8191) + 1


@pytest.mark.parametrize("frames", [FRAMES_2GIB, FRAMES_4GIB])
def test_write_size_limit_of_riff(tmp_path, monkeypatch, frames):
    """Sizes past 2 GiB fit the header's unsigned fields; past 4 GiB they do not (nothing is stored)."""
    data = np.broadcast_to(np.float32(0.25), (frames, 8191))  # no memory for the samples

    class Stop(Exception):
        pass

    def stop(*args):
        raise Stop  # the header is built; do not write gigabytes

    monkeypatch.setattr(wavfile24, "encode_block", stop)
    path = tmp_path / "huge.wav"
    if frames == FRAMES_2GIB:
        with pytest.raises(Stop):
            wavfile24.write(path, 8000, data, bits=64, fmt="float")
    else:
        with pytest.raises(WavFileError, match=exact(path, f"{frames * 8191 * 8} bytes of samples exceed the "
                                                           "4 GiB limit of RIFF WAV")):
            wavfile24.write(path, 8000, data, bits=64, fmt="float")
    assert os.listdir(tmp_path) == []


def test_write_pcm_size_limit_counts_its_own_header(tmp_path, monkeypatch):
    """PCM's fmt chunk is 24 bytes (no fact chunk): 16-bit mono samples filling RIFF to 2**32 - 2 bytes
    are written, 2 more bytes are refused."""
    class Stop(Exception):
        pass

    def stop(*args):
        raise Stop  # past every check: do not write 4 GiB

    monkeypatch.setattr(wavfile24, "encode_block", stop)
    frames = (U32 - 1 - 36) // 2  # RIFF size 36 + 2 * frames = 2**32 - 2
    path = tmp_path / "big.wav"
    with pytest.raises(Stop):
        wavfile24.write(path, 8000, np.broadcast_to(np.int16(3), (frames, 1)), bits=16)
    with pytest.raises(WavFileError, match="exceed the 4 GiB limit"):
        wavfile24.write(path, 8000, np.broadcast_to(np.int16(3), (frames + 1, 1)), bits=16)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("frames", [2**31, 2**32])
def test_write_size_limit_before_frame_count(tmp_path, frames):
    """A float file's fact chunk holds the frame count as unsigned 32 bits: mono frames past 2**31 and
    2**32 are refused by the 4 GiB check, before the header is packed and before any sample is scanned."""
    data = np.broadcast_to(np.float32(np.nan), (frames, 1))  # NaN: a scan first would report it instead
    path = tmp_path / "long.wav"
    with pytest.raises(WavFileError, match=exact(path, f"{frames * 4} bytes of samples exceed the "
                                                       "4 GiB limit of RIFF WAV")):
        wavfile24.write(path, 8000, data, bits=32, fmt="float")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("bits, fmt, data, body", [
    (8, "pcm", np.array([-1.0, 0.0, 0.999]), bytes([0, 128, 255])),  # odd size: a pad byte follows
    (16, "pcm", np.array([[0.5, -0.5]]), struct.pack("<hh", 16384, -16384)),
    (24, "pcm", np.array([[0.5], [-1.0]]), bytes.fromhex("000040000080")),
    (32, "pcm", np.array([0.25]), struct.pack("<i", 1 << 29)),
    (32, "float", np.array([[0.5, -0.25]]), struct.pack("<ff", 0.5, -0.25)),
    (64, "float", np.array([[1.5, -2.0, 3.0]]), struct.pack("<ddd", 1.5, -2.0, 3.0)),
])
def test_write_canonical_header(tmp_path, bits, fmt, data, body):
    path = tmp_path / "canon.wav"
    wavfile24.write(path, 48000, data, bits=bits, fmt=fmt)
    frames, channels = data.reshape(len(data), -1).shape
    align = channels * bits // 8
    fmt_body = struct.pack("<HHIIHH", 1 if fmt == "pcm" else 3, channels, 48000, 48000 * align, align, bits)
    chunks = (chunk(b"fmt ", fmt_body) if fmt == "pcm" else
              chunk(b"fmt ", fmt_body + b"\0\0") + chunk(b"fact", struct.pack("<I", frames)))
    assert path.read_bytes() == riff(chunks, chunk(b"data", body))


def test_write_and_read_more_than_one_block(tmp_path):
    codes = (np.arange((1 << 20) + 3) % 256 - 128).astype(np.int8)  # 8-bit: 2**20 samples a block
    path = tmp_path / "long.wav"
    wavfile24.write(path, 8000, codes, bits=8)
    np.testing.assert_array_equal(wavfile24.read(path, dtype="int32")[1][:, 0], codes)
    np.testing.assert_array_equal(wavfile24.read(path, dtype="int32", start=(1 << 20) - 1)[1][:, 0],
                                  codes[(1 << 20) - 1:])


def test_read_float64_beyond_float32_as_inf_without_warning(tmp_path, recwarn):
    path = tmp_path / "huge.wav"
    wavfile24.write(path, 8000, np.array([1e300, -1e300, 0.5]), bits=64, fmt="float")
    _, got, bits = wavfile24.read(path)
    assert bits == 64 and got[:, 0].tolist() == [np.inf, -np.inf, 0.5]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


# ---------------------------------------------------------------- malformed files
F16 = fmt_chunk(1, 1, 8000, 16)
D16 = chunk(b"data", b"\1\0" * 8)
AMBISONIC_GUID = bytes.fromhex("010000002107d3118644c8c1ca000000")
UNSUPPORTED = ("; only PCM (0x0001) and IEEE float (0x0003), plain or WAVE_FORMAT_EXTENSIBLE, "
               "can be read")
# case: (file content, the whole message after the path)
MALFORMED = {
    "empty": (b"", "truncated header: the file has 0 bytes, a WAV file starts with a 12-byte RIFF/WAVE header"),
    "riff_only": (b"RIFF\x10\0\0\0",
                  "truncated header: the file has 8 bytes, a WAV file starts with a 12-byte RIFF/WAVE header"),
    "not_riff": (b"OggS" + bytes(100), r"not a RIFF/WAVE file (starts with b'OggS', form b'\x00\x00\x00\x00')"),
    "riff_avi": (riff(F16, D16, form=b"AVI "), "not a RIFF/WAVE file (starts with b'RIFF', form b'AVI ')"),
    "rf64": (riff(F16, D16, magic=b"RF64"),
             "RF64 (64-bit WAV) files are unsupported; convert to a plain RIFF WAV under 4 GiB"),
    "bw64": (riff(F16, D16, magic=b"BW64"),
             "BW64 (64-bit WAV) files are unsupported; convert to a plain RIFF WAV under 4 GiB"),
    "rifx": (riff(F16, D16, magic=b"RIFX"), "big-endian RIFX files are unsupported"),
    "no_fmt": (riff(D16), "no fmt chunk"),
    "no_fmt_list_overruns": (riff(D16, chunk(b"LIST", b"ab", size=99)),
                             "no fmt chunk (chunk 'LIST' at byte 36 claims 99 bytes, past the end of the "
                             "file (46 bytes))"),
    "no_data": (riff(F16), "no data chunk"),
    "no_data_stray_bytes": (riff(F16) + b"data\x01", "no data chunk (5 stray bytes at the end)"),
    "no_data_list_overruns": (riff(F16, chunk(b"LIST", b"ab", size=0xFFFFFFF0)),
                              "no data chunk (chunk 'LIST' at byte 36 claims 4294967280 bytes, past the end "
                              "of the file (46 bytes))"),
    "data_past_eof": (riff(F16, chunk(b"data", b"\0" * 8, size=100)),
                      "data size past the end of the file: chunk 'data' at byte 36 claims 100 bytes, past "
                      "the end of the file (52 bytes)"),
    "data_size_ffffffff": (riff(F16, chunk(b"data", b"\0" * 8, size=0xFFFFFFFF)),
                           "data size past the end of the file: chunk 'data' at byte 36 claims 4294967295 "
                           "bytes, past the end of the file (52 bytes)"),
    "data_past_eof_before_fmt": (riff(chunk(b"data", b"\0\0", size=1 << 31), F16),
                                 "data size past the end of the file: chunk 'data' at byte 12 claims "
                                 "2147483648 bytes, past the end of the file (46 bytes)"),
    "fmt_truncated": (riff(chunk(b"fmt ", b"\1\0\1\0", size=16)),
                      "truncated fmt chunk: chunk 'fmt ' at byte 12 claims 16 bytes, past the end of the "
                      "file (24 bytes)"),
    "fmt_short": (riff(chunk(b"fmt ", b"\1\0\1\0\x40\x1f\0\0"), D16),
                  "truncated header: fmt chunk has 8 bytes, needs 16"),
    "zero_channels": (riff(fmt_chunk(1, 0, 8000, 16), D16), "zero channels in the fmt chunk"),
    "zero_rate": (riff(fmt_chunk(1, 1, 0, 16), D16), "zero sample rate in the fmt chunk"),
    "block_align": (riff(fmt_chunk(1, 2, 8000, 16, block_align=2), D16),
                    "block align 2 inconsistent with 2 channel(s) of 16 bits (expected 4)"),
    "bits_12": (riff(fmt_chunk(1, 1, 8000, 12, block_align=2), D16),
                "unsupported bits per sample 12 for pcm (supported: 8, 16, 24, 32)"),
    "bits_0": (riff(fmt_chunk(1, 1, 8000, 0, block_align=0), D16),
               "unsupported bits per sample 0 for pcm (supported: 8, 16, 24, 32)"),
    "pcm_64": (riff(fmt_chunk(1, 1, 8000, 64), D16),
               "unsupported bits per sample 64 for pcm (supported: 8, 16, 24, 32)"),
    "float_16": (riff(fmt_chunk(3, 1, 8000, 16), D16),
                 "unsupported bits per sample 16 for float (supported: 32, 64)"),
    "adpcm": (riff(fmt_chunk(2, 1, 8000, 4, block_align=256), D16),
              "unsupported format code 0x0002 ADPCM" + UNSUPPORTED),
    "ima_adpcm": (riff(fmt_chunk(0x11, 1, 8000, 4, block_align=256), D16),
                  "unsupported format code 0x0011 IMA ADPCM" + UNSUPPORTED),
    "mu_law": (riff(fmt_chunk(7, 1, 8000, 8), D16), "unsupported format code 0x0007 mu-law" + UNSUPPORTED),
    "mp3": (riff(fmt_chunk(0x55, 2, 44100, 0, block_align=1), D16),
            "unsupported format code 0x0055 MPEG Layer III" + UNSUPPORTED),
    "unknown_code": (riff(fmt_chunk(0x1234, 1, 8000, 16), D16),
                     "unsupported format code 0x1234 (unknown)" + UNSUPPORTED),
    "extensible_adpcm": (riff(fmt_chunk(bits=16, sub=2), D16),
                         "unsupported format code 0x0002 ADPCM" + UNSUPPORTED),
    "extensible_flac": (riff(fmt_chunk(bits=16, sub=0xF1AC), D16),  # a code above 0x7FFF
                        "unsupported format code 0xF1AC FLAC" + UNSUPPORTED),
    "extensible_guid": (riff(fmt_chunk(bits=16, sub=AMBISONIC_GUID), D16),
                        "unsupported WAVE_FORMAT_EXTENSIBLE sub-format GUID "
                        "{00000001-0721-11d3-8644-c8c1ca000000}"),
    "extensible_short": (riff(chunk(b"fmt ", struct.pack("<HHIIHH", 0xFFFE, 1, 8000, 16000, 2, 16)),
                              D16), "WAVE_FORMAT_EXTENSIBLE fmt chunk has 16 bytes, needs 40"),
    # The step one byte back (for a forgotten pad byte) is only taken after an odd-sized chunk:
    # a header that starts one byte early elsewhere is not read.
    "data_one_byte_early_at_the_start": (riff(b"abc\x04\0\0\0\x01", F16, D16),
                                         r"no fmt chunk (chunk 'abc\x04' at byte 12 claims 16777216 bytes, "
                                         "past the end of the file (68 bytes))"),
    "data_one_byte_early_after_even_chunk": (riff(F16, chunk(b"junk", b"xd"), b"ata\x04\0\0\0\x01", bytes(4)),
                                             r"no data chunk (chunk 'ata\x04' at byte 46 claims 16777216 "
                                             "bytes, past the end of the file (58 bytes))"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_file_raises_named_error(tmp_path, case):
    content, problem = MALFORMED[case]
    path = tmp_path / f"bad_{case}.wav"
    path.write_bytes(content)
    # a partial read validates the header exactly as a whole read does
    for call in (wavfile24.info, wavfile24.read, lambda p: wavfile24.read(p, frames=0)):
        with pytest.raises(WavFileError, match=exact(path, problem)) as caught:
            call(path)
        assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("dtype", ["int16", "uint8", "float16", int, "nonsense", None])
def test_read_rejects_bad_dtype(tmp_path, dtype):
    path = tmp_path / "ok.wav"
    path.write_bytes(riff(F16, D16))
    with pytest.raises(WavFileError, match="dtype="):
        wavfile24.read(path, dtype=dtype)
    for good in ("float32", np.float64, "<i4", np.dtype("float64")):
        assert wavfile24.read(path, dtype=good)[1].dtype == np.dtype(good)


def test_lying_sizes_allocate_nothing_large(tmp_path):
    path = tmp_path / "liar.wav"
    liars = [riff(F16, chunk(b"data", b"\0" * 8, size=0xFFFFFFF0)),
             riff(fmt_chunk(3, 8191, 8000, 64), chunk(b"data", b"\0" * 8, size=0x7FFFFFFF)),
             riff(chunk(b"fmt ", b"\1\0" * 8, size=0xFFFFFFFF), D16),
             riff(F16, chunk(b"LIST", b"", size=0xFFFFFFFE), D16)]
    tracemalloc.start()
    try:
        for content in liars:
            path.write_bytes(content)
            with pytest.raises(WavFileError, match="liar.wav"):
                wavfile24.read(path, dtype="float64")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


JUNK = chunk(b"junk", b"abc")  # an odd-sized chunk: JUNK[:-1] is the same with its pad byte forgotten
F8 = fmt_chunk(1, 1, 8000, 8)
NEAR_FIT = bytes([1]) + bytes(125)  # 126 bytes: "data" + size, read one byte late, is "ata~" of 2**24 bytes
# case: (file content, zero bytes after it, the int32 codes it holds)
PAD_FORGOTTEN = {
    # the chunk after the forgotten pad byte has a "~" (0x7E, printable) in its id
    "tilde_id": (riff(F16, JUNK[:-1], chunk(b"~~~~", b"xy"), D16), 0, [1] * 8),
    # read one byte late, "data" + size 127 has a DEL (0x7F, not printable) in its id
    "del_in_the_late_id": (riff(F8, JUNK[:-1], chunk(b"data", bytes(range(127)))), 0, list(range(-128, -1))),
    # the data chunk ends exactly at the end of the file
    "data_ends_at_eof": (riff(F16, JUNK[:-1], chunk(b"data", b"\1\0\2\0")), 0, [1, 2]),
    # read one byte late, the data chunk header claims a chunk one byte longer than the file
    "late_header_one_byte_too_long": (riff(F8, JUNK[:-1], chunk(b"data", NEAR_FIT)), 16777090,
                                      [-127] + [-128] * 125),
}


@pytest.mark.parametrize("case", list(PAD_FORGOTTEN))
def test_read_tolerates_a_forgotten_pad_byte(tmp_path, case):
    content, zeros, codes = PAD_FORGOTTEN[case]
    path = tmp_path / f"{case}.wav"
    with open(path, "wb") as f:  # the zeros are a hole in a sparse file
        f.write(content)
        f.truncate(len(content) + zeros)
    assert wavfile24.info(path).frames == len(codes)
    np.testing.assert_array_equal(wavfile24.read(path, dtype="int32", frames=200)[1][:, 0], codes)


class Shrinking(FileProxy):
    """A file that another program cuts to ``keep`` bytes when the reader seeks to byte ``at``."""

    def __init__(self, path, at, keep):
        super().__init__(open(path, "rb", buffering=0))
        self.path, self.at, self.keep = path, at, keep

    def seek(self, pos, *args):
        if pos == self.at:
            os.truncate(self.path, self.keep)
        return self.file.seek(pos, *args)


EXTENSIBLE_42 = fmt_chunk(bits=16, sub=1, extra=b"\0\0")  # 42 bytes: only the first 40 are read
# case: (file content, byte the reader seeks to when the file shrinks, bytes left, what is missing)
SHRUNK = {
    "chunk_header": (riff(F16, D16), 12, 16, "wanted 8 bytes at byte 12"),
    "fmt_body": (riff(F16, D16), 20, 30, "wanted 16 bytes at byte 20"),
    "after_40_bytes_of_fmt": (riff(EXTENSIBLE_42, D16), 20, 60, "wanted 8 bytes at byte 62"),
    "header_after_forgotten_pad": (riff(F16, JUNK[:-1], D16), 47, 50, "wanted 8 bytes at byte 47"),
    "samples": (riff(F16, D16), 44, 50, "wanted 16 bytes at byte 44"),
}


@pytest.mark.parametrize("case", list(SHRUNK))
def test_read_file_that_shrinks_while_read(tmp_path, monkeypatch, case):
    content, at, keep, missing = SHRUNK[case]
    path = tmp_path / "shrinking.wav"
    path.write_bytes(content)
    monkeypatch.setattr(wavfile24, "open", lambda p, mode: Shrinking(p, at, keep), raising=False)
    with pytest.raises(WavFileError, match=exact(path, f"file ended early: {missing}")):
        wavfile24.read(path)


# ---------------------------------------------------------------- fuzzing
@pytest.fixture(scope="module")
def fuzz_bases(drums):
    """Small valid files (63 frames) in every format, written by libsndfile and by hand."""
    rate, signals = drums
    bases = []
    for subtype, container, channels in [("PCM_U8", "WAV", 1), ("PCM_16", "WAV", 2),
                                         ("PCM_24", "WAVEX", 6), ("PCM_32", "WAV", 2),
                                         ("FLOAT", "WAV", 2), ("DOUBLE", "WAVEX", 1)]:
        buffer = io.BytesIO()
        sf.write(buffer, signals[channels][5000:5063], rate, format=container, subtype=subtype)
        bases.append(buffer.getvalue())
    codes = quantize(signals[2][7000:7063], 24)
    layouts = _layouts(fmt_chunk(1, 2, rate, 24, sub=1), pcm_bytes(codes, 24), 6)
    bases += [layouts["data_before_fmt_and_list"][0], layouts["list_cue_fact_first"][0]]
    return bases


def _fields(content: bytes) -> tuple[list[int], list[int]]:
    """Offsets of the 32-bit size fields and of the fmt chunk's fields in a valid file."""
    sizes, fmt_fields, pos = [4], [], 12
    while pos + 8 <= len(content):
        length = struct.unpack_from("<I", content, pos + 4)[0]
        sizes.append(pos + 4)
        if content[pos:pos + 4] == b"fmt ":
            fmt_fields = [pos + 8 + k for k in (0, 2, 4, 12, 14, 24)]
        pos += 8 + length + (length & 1)
    return sizes, fmt_fields


SPECIAL_U32 = [0, 1, 7, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]
SPECIAL_U16 = [0, 1, 2, 3, 4, 7, 8, 12, 24, 32, 64, 0x7FFF, 0xFFFE, 0xFFFF]


def _mutate(content: bytes, ops, rng_bytes) -> bytes:
    """Apply ``ops``: a list of (op, position, value) with op in 0..5."""
    b = bytearray(content)
    sizes, fmt_fields = _fields(content)
    for op, pos, value in ops:
        if op == 0 and b:  # flip one bit, mostly in the header where it matters
            at = pos % min(len(b), 96 if value % 2 else len(b))
            b[at] ^= 1 << (value % 8)
        elif op == 1:  # truncate
            del b[pos % (len(b) + 1):]
        elif op == 2:  # insert junk
            at = pos % (len(b) + 1)
            b[at:at] = rng_bytes(1 + value % 15)
        elif op == 3:  # set a size field to something huge, tiny or wrong
            at = sizes[pos % len(sizes)]
            new = SPECIAL_U32[value % len(SPECIAL_U32)] if value % 3 else value + len(b)
            b[at:at + 4] = struct.pack("<I", new & 0xFFFFFFFF)
        elif op == 4:  # delete a range
            at = pos % (len(b) + 1)
            del b[at:at + 1 + value % 64]
        elif op == 5 and fmt_fields:  # set a fmt field (format, channels, rate, align, bits)
            at = fmt_fields[pos % len(fmt_fields)]
            b[at:at + 2] = struct.pack("<H", SPECIAL_U16[value % len(SPECIAL_U16)]
                                       if value % 4 else value & 0xFFFF)
    return bytes(b)


@pytest.fixture
def scratch(tmp_path):
    """(path, put): ``put(content)`` rewrites the file at ``path`` in place.

    Overwriting through one open descriptor, then cutting to length, keeps thousands
    of cases fast: truncating to zero (as ``write_bytes`` does) frees the file's block,
    and ext4 then flushes or discards it, milliseconds per case.
    """
    path = tmp_path / "fuzz.wav"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def put(content: bytes) -> None:
        os.pwrite(fd, content, 0)
        os.ftruncate(fd, len(content))

    yield path, put
    os.close(fd)


def _check_read(scratch, content: bytes, dtype: str) -> bool:
    """Read mutated ``content``: a WavFileError naming the file, or a consistent result."""
    path, put = scratch
    put(content)
    try:
        meta = wavfile24.info(path)
        rate, data, bits = wavfile24.read(path, dtype=dtype)
    except WavFileError as error:
        assert str(path) in str(error)
        return False
    assert rate == meta.rate > 0 and bits == meta.bits and meta.channels >= 1
    assert data.shape == (meta.frames, meta.channels) and data.dtype == np.dtype(dtype)
    assert data.size * bits // 8 <= len(content)
    np.testing.assert_array_equal(wavfile24.read(path, dtype=dtype, start=1, frames=5)[1], data[1:6])
    if meta.format == "pcm" and data.size:
        top = 2 ** (bits - 1) if dtype == "int32" else 1
        assert -top <= data.min() and data.max() < top
    return True


@pytest.mark.timeout(60)
def test_fuzz_seeded_mutations(scratch, fuzz_bases):
    rng = np.random.default_rng(20240601)
    outcomes = []
    for case in range(10000):
        base = fuzz_bases[case % len(fuzz_bases)]
        ops = [(int(rng.integers(6)), int(rng.integers(1 << 30)), int(rng.integers(1 << 32)))
               for _ in range(int(rng.integers(1, 4)))]
        dtype = ("float32", "float64", "int32")[case % 3]
        outcomes.append(_check_read(scratch, _mutate(base, ops, rng.bytes), dtype))
    # both paths are exercised: many mutations still read, many are rejected
    assert 1000 < sum(outcomes) < 9000


@pytest.mark.timeout(60)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, 7), dtype=st.sampled_from(["float32", "float64", "int32"]),
       ops=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 1 << 30), st.integers(0, (1 << 32) - 1)),
                    min_size=1, max_size=4),
       junk=st.binary(min_size=16, max_size=16))
def test_fuzz_hypothesis_mutations(scratch, fuzz_bases, index, dtype, ops, junk):
    content = _mutate(fuzz_bases[index % len(fuzz_bases)], ops, lambda n: junk[:n])
    _check_read(scratch, content, dtype)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=24),
                    elements=st.floats(-3, 3, allow_nan=False)),
       bits=st.sampled_from([8, 16, 24, 32]))
def test_hypothesis_write_read_round_trip(tmp_path, x, bits):
    path = tmp_path / "round.wav"
    wavfile24.write(path, 48000, x, bits=bits)
    expected = quantize(x.reshape(len(x), -1), bits)
    np.testing.assert_array_equal(wavfile24.read(path, dtype="int32")[1], expected)
    np.testing.assert_array_equal(wavfile24.read(path, dtype="float64")[1],
                                  sf.read(path, dtype="float64", always_2d=True)[0])


def test_extensible_valid_bits_scaled_by_container_like_libsndfile(tmp_path):
    codes = np.array([1 << 22, -(1 << 23), 5 << 4])
    body = fmt_chunk(bits=24, sub=1)
    body = body[:26] + struct.pack("<H", 20) + body[28:]  # wValidBitsPerSample = 20
    path = tmp_path / "valid20.wav"
    path.write_bytes(riff(body, chunk(b"data", pcm_bytes(codes, 24))))
    _, got, bits = wavfile24.read(path, dtype="float64")
    assert bits == 24
    np.testing.assert_array_equal(got, sf.read(path, dtype="float64", always_2d=True)[0])
    np.testing.assert_array_equal(got[:, 0], codes / 2.0**23)


# ---------------------------------------------------------------- the shared fixtures
def test_drum_recording_fixture(drum_recording, drum_recording_path):
    rate, data = drum_recording
    assert rate > 0 and data.dtype == np.float64 and data.ndim == 2 and data.shape[1] == 2
    assert 1.5 * rate <= len(data) <= 2 * rate and not data.flags.writeable
    assert 0.1 < np.abs(data).max() <= 1
    if drum_recording_path is not None:
        real, real_rate = sf.read(drum_recording_path, dtype="float64", always_2d=True)
        assert real_rate == rate
        np.testing.assert_array_equal(data, real[:len(data), :2])


def test_drum_fallback_warns_and_synthesizes():
    import conftest

    with pytest.warns(UserWarning, match="sonic-pi-samples"):
        rate, data = conftest.load_drum_recording(None)
    assert (rate, data.shape, data.dtype) == (44100, (88200, 2), np.float64)
    assert np.isclose(np.abs(data).max(), 0.9) and not np.array_equal(data[:, 0], data[:, 1])
    np.testing.assert_array_equal(data, conftest.synth_drums())
