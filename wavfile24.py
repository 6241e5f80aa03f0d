"""Read and write WAV files as users actually have them (numpy only).

Reads PCM 8-bit unsigned, 16/24/32-bit signed and IEEE float 32/64-bit,
plain or WAVE_FORMAT_EXTENSIBLE, any number of channels, chunks in any order.
Every malformed or unsupported file raises :class:`WavFileError` naming the
file and the problem; size fields are checked against the file size before
anything is allocated, so a lying header can neither exhaust memory nor hang
the chunk walker. Writes are clipped, rounded and atomic.
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
import os
import secrets
import struct
import uuid

import numpy as np

__all__ = ["WavFileError", "WavInfo", "encode_block", "info", "read", "write"]

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
# The last 14 bytes of every KSDATAFORMAT_SUBTYPE_* GUID that wraps a format code.
_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")
_FORMAT_NAMES = {0x0002: "ADPCM", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM",
                 0x0031: "GSM 6.10", 0x0040: "G.721 ADPCM", 0x0050: "MPEG",
                 0x0055: "MPEG Layer III", 0x0092: "Dolby AC-3 SPDIF", 0x0161: "WMA",
                 0x2000: "AC-3", 0xF1AC: "FLAC"}
_BITS = {"pcm": (8, 16, 24, 32), "float": (32, 64)}
_READ_DTYPES = ("float32", "float64", "int32")
_BLOCK = 1 << 20  # samples converted at a time: bounds temporaries to a few MiB
_U32 = 0xFFFFFFFF


class WavFileError(ValueError):
    """A WAV file is malformed or unsupported, or data cannot be written as asked."""


@dataclasses.dataclass(frozen=True)
class WavInfo:
    """What a WAV file holds, read from its header alone."""

    rate: int  # samples per second per channel (Hz)
    channels: int  # interleaved channels, >= 1
    bits: int  # bits per stored sample (container size): 8, 16, 24, 32 or 64
    frames: int  # samples per channel; a partial trailing frame is dropped
    format: str  # "pcm" (integer; 8-bit unsigned, others signed) or "float" (IEEE)
    extensible: bool  # the fmt chunk is WAVE_FORMAT_EXTENSIBLE

    @property
    def duration(self) -> float:
        """Length in seconds (``frames / rate``)."""
        return self.frames / self.rate


def _fail(name, problem):
    return WavFileError(f"{name}: {problem}")


def _read_exact(f, n, name):
    chunk = f.read(n)
    if len(chunk) != n:  # only if the file shrank after we measured it
        raise _fail(name, f"file ended early: wanted {n} bytes at byte {f.tell() - len(chunk)}")
    return chunk


def _chunk_header(f, pos, name, size):
    """(id, size, plausible): plausible if the id is printable ASCII and the chunk fits."""
    f.seek(pos)
    cid, length = struct.unpack("<4sI", _read_exact(f, 8, name))
    return cid, length, all(0x20 <= c <= 0x7E for c in cid) and pos + 8 + length <= size


def _walk(f, name, size):
    """Find the first fmt and data chunks; return (fmt bytes, data offset, data size)."""
    head = f.read(12)
    if len(head) < 12:
        raise _fail(name, f"truncated header: the file has {len(head)} bytes, a WAV file "
                          "starts with a 12-byte RIFF/WAVE header")
    magic, _, form = struct.unpack("<4sI4s", head)
    if magic in (b"RF64", b"BW64"):
        raise _fail(name, f"{magic.decode()} (64-bit WAV) files are unsupported; "
                          "convert to a plain RIFF WAV under 4 GiB")
    if magic == b"RIFX":
        raise _fail(name, "big-endian RIFX files are unsupported")
    if magic != b"RIFF" or form != b"WAVE":
        raise _fail(name, f"not a RIFF/WAVE file (starts with {magic!r}, form {form!r})")
    fmt = data = None
    pos, note, odd = 12, "", False
    # The RIFF size field is ignored (streamed files write 0 or 0xFFFFFFFF): the
    # walk is bounded by the real file size and advances by at least 8 bytes per step.
    while fmt is None or data is None:
        if size - pos < 8:
            note = f" ({size - pos} stray bytes at the end)" if size > pos else ""
            break
        cid, length, plausible = _chunk_header(f, pos, name, size)
        if odd and not plausible:  # some writers forget the pad byte: try one byte back
            alt = _chunk_header(f, pos - 1, name, size)
            if alt[2]:
                pos, (cid, length, _) = pos - 1, alt
        label = cid.decode("latin-1").encode("unicode_escape").decode()
        body = pos + 8
        if body + length > size:
            where = (f"chunk '{label}' at byte {pos} claims {length} bytes, past the end "
                     f"of the file ({size} bytes)")
            if (cid == b"data" and data is None) or (cid == b"fmt " and fmt is None):
                kind = "data size past the end of the file" if cid == b"data" else "truncated fmt chunk"
                raise _fail(name, f"{kind}: {where}")
            note = f" ({where})"
            break
        if cid == b"fmt " and fmt is None:
            f.seek(body)
            fmt = _read_exact(f, min(length, 40), name)  # 40 bytes hold every field we use
        elif cid == b"data" and data is None:
            data = (body, length)
        pos, odd = body + length + (length & 1), bool(length & 1)  # odd sizes carry a pad byte
    if fmt is None:
        raise _fail(name, "no fmt chunk" + note)
    if data is None:
        raise _fail(name, "no data chunk" + note)
    return fmt, data[0], data[1]


def _parse_fmt(fmt, data_size, name):
    if len(fmt) < 16:
        raise _fail(name, f"truncated header: fmt chunk has {len(fmt)} bytes, needs 16")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    extensible = tag == _EXTENSIBLE
    if extensible:
        if len(fmt) < 40:
            raise _fail(name, f"WAVE_FORMAT_EXTENSIBLE fmt chunk has {len(fmt)} bytes, needs 40")
        guid = fmt[24:40]
        if guid[2:] != _GUID_TAIL:
            raise _fail(name, "unsupported WAVE_FORMAT_EXTENSIBLE sub-format GUID "
                              f"{{{uuid.UUID(bytes_le=guid)}}}")
        tag = struct.unpack_from("<H", guid)[0]
    kind = {_PCM: "pcm", _FLOAT: "float"}.get(tag)
    if kind is None:
        label = f"0x{tag:04X} {_FORMAT_NAMES.get(tag, '(unknown)')}"
        raise _fail(name, f"unsupported format code {label}; only PCM (0x0001) and IEEE "
                          "float (0x0003), plain or WAVE_FORMAT_EXTENSIBLE, can be read")
    if channels == 0:
        raise _fail(name, "zero channels in the fmt chunk")
    if rate == 0:
        raise _fail(name, "zero sample rate in the fmt chunk")
    if bits not in _BITS[kind]:
        raise _fail(name, f"unsupported bits per sample {bits} for {kind} "
                          f"(supported: {', '.join(map(str, _BITS[kind]))})")
    if block_align != channels * bits // 8:
        raise _fail(name, f"block align {block_align} inconsistent with {channels} channel(s) "
                          f"of {bits} bits (expected {channels * bits // 8})")
    # A trailing partial frame is dropped, as libsndfile does.
    return WavInfo(rate, channels, bits, data_size // block_align, kind, extensible)


def _open(path):
    name = os.fsdecode(os.fspath(path))
    f = open(path, "rb")
    try:
        fmt, offset, data_size = _walk(f, name, os.fstat(f.fileno()).st_size)
        return f, name, _parse_fmt(fmt, data_size, name), offset
    except BaseException:
        f.close()
        raise


def info(path) -> WavInfo:
    """Describe a WAV file without reading its samples.

    Parameters
    ----------
    path : str or os.PathLike
        The WAV file.

    Returns
    -------
    WavInfo
        ``rate`` (Hz), ``channels``, ``bits`` (container bits per sample), ``frames``,
        ``format`` (``"pcm"`` or ``"float"``), ``extensible``; ``duration`` in seconds.

    Raises
    ------
    WavFileError
        The file is malformed or unsupported; the message names the file and the problem.
    OSError
        The file cannot be opened.
    """
    f, _, meta, _ = _open(path)
    f.close()
    return meta


def _decode(raw, meta, out_dtype):
    """Little-endian sample bytes -> 1-D array of int32 codes or scaled floats."""
    if meta.format == "float":
        return np.frombuffer(raw, "<f4" if meta.bits == 32 else "<f8")
    if meta.bits == 8:
        codes = np.frombuffer(raw, np.uint8).astype(np.int32) - 128
    elif meta.bits == 24:
        # Put the 3 bytes in the top of an int32, then shift right: sign extension for free.
        wide = np.zeros((len(raw) // 3, 4), np.uint8)
        wide[:, 1:] = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        codes = wide.view("<i4").reshape(-1) >> 8
    else:
        codes = np.frombuffer(raw, "<i2" if meta.bits == 16 else "<i4")
    if out_dtype == np.int32:
        return codes
    return codes.astype(out_dtype) * out_dtype.type(2.0 ** (1 - meta.bits))


def read(path, *, dtype="float32", start=0, frames=None):
    """Read a WAV file, or a run of its frames, scaled by the file's own sample format.

    Parameters
    ----------
    path : str or os.PathLike
        The WAV file: PCM 8-bit unsigned, 16/24/32-bit signed, or IEEE float
        32/64-bit, plain or WAVE_FORMAT_EXTENSIBLE, any number of channels.
    dtype : {"float32", "float64", "int32"}, keyword-only
        Float: PCM code ``x`` becomes ``x / 2**(bits - 1)``, in [-1, 1) (8-bit:
        ``(x - 128) / 128``); float files come back as stored (not clipped).
        ``"int32"``: PCM codes as integers, 24-bit sign-extended, 8-bit as ``x - 128``;
        not allowed for float files.
    start : int, keyword-only
        First frame to read, >= 0 (default 0). At or past the end gives zero frames.
    frames : int or None, keyword-only
        Read at most this many frames (>= 0) from ``start``; ``None`` (default) reads to
        the end. Only their bytes are read from the file (one seek), so the head of a
        long file costs what the head costs. Fewer come back where the file has fewer.
        The header is checked exactly as for a whole read.

    Returns
    -------
    rate : int
        Sample rate in Hz.
    data : numpy.ndarray, shape (n, channels), dtype ``dtype``
        The samples: ``n`` is ``min(frames, total - start)`` (0 if ``start >= total``),
        the same as ``read(path)[1][start:start + frames]``; a partial trailing frame is
        dropped.
    bits : int
        Bits per stored sample: 8, 16, 24, 32 (PCM) or 32, 64 (float).

    Raises
    ------
    WavFileError
        The file is malformed or unsupported (message names the file and the
        problem), ``dtype`` is not allowed, ``start`` or ``frames`` is not a
        non-negative integer, or a float file is read as ``"int32"``.
    OSError
        The file cannot be opened.

    Notes
    -----
    The RIFF size field is ignored (streamed files leave it 0 or 0xFFFFFFFF); the
    chunks are walked up to the real end of the file, and the first ``fmt `` and
    ``data`` chunks are used wherever they are. A data size running past the end of
    the file (also 0xFFFFFFFF from a streamed file, which libsndfile would read to
    the end) raises; a data size of 0 gives zero frames, as in libsndfile. A pad
    byte missing after an odd-sized chunk is tolerated (libsndfile fails there). In
    WAVE_FORMAT_EXTENSIBLE files samples are scaled by their container size (``bits``),
    not ``wValidBitsPerSample``, as libsndfile does.
    """
    try:  # np.dtype(None) would mean float64: refuse it rather than guess
        out_dtype = None if dtype is None else np.dtype(np.dtype(dtype).name)  # native order
    except (TypeError, ValueError):
        out_dtype = None
    if out_dtype is None or out_dtype.name not in _READ_DTYPES:
        raise WavFileError(f"dtype={dtype!r} must be one of {_READ_DTYPES}")
    for label, value in (("start", start), ("frames", frames)):
        if value is None and label == "frames":
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            allowed = "a non-negative integer" + (" or None" if label == "frames" else "")
            raise WavFileError(f"{label}={value!r} must be {allowed}")
    f, name, meta, offset = _open(path)
    with f:
        if meta.format == "float" and out_dtype == np.int32:
            raise _fail(name, f"{meta.bits}-bit float samples cannot be read as int32; "
                              "use dtype='float32' or 'float64'")
        first = min(int(start), meta.frames)
        count = meta.frames - first if frames is None else min(int(frames), meta.frames - first)
        out = np.empty((count, meta.channels), out_dtype)  # size checked against the file
        flat = out.reshape(-1)
        width = meta.bits // 8
        f.seek(offset + first * meta.channels * width)
        with np.errstate(over="ignore"):  # float64 file -> float32: huge values become inf
            for lo in range(0, flat.size, _BLOCK):
                hi = min(lo + _BLOCK, flat.size)
                flat[lo:hi] = _decode(_read_exact(f, (hi - lo) * width, name), meta, out_dtype)
    return meta.rate, out, meta.bits


def _riff_size(fmt, data_size):
    """RIFF's size field: "WAVE", the fmt chunk (24 bytes; non-PCM: 26 and a 12-byte fact chunk),
    the data chunk's 8-byte header and its body padded to an even length."""
    return 4 + (24 if fmt == "pcm" else 38) + 8 + data_size + (data_size & 1)


def _check_write_args(name, rate, data, bits, fmt):
    if not isinstance(fmt, str) or fmt not in _BITS:
        raise _fail(name, f"fmt={fmt!r} must be 'pcm' or 'float'")
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or bits not in _BITS[fmt]:
        raise _fail(name, f"bits={bits!r} must be one of {_BITS[fmt]} for fmt={fmt!r}")
    if isinstance(rate, bool) or not isinstance(rate, numbers.Integral) or not 0 < rate <= _U32:
        raise _fail(name, f"rate={rate!r} must be a positive integer number of Hz")
    arr = np.asarray(data)
    if arr.ndim == 1:
        arr = arr[:, np.newaxis]
    if arr.ndim != 2:
        raise _fail(name, f"data has shape {arr.shape}; expected (frames,) or (frames, channels)")
    channels, width = arr.shape[1], bits // 8
    if not 1 <= channels * width <= 0xFFFF:
        raise _fail(name, f"data has {channels} channels; a WAV file of {bits}-bit samples holds "
                          f"1 to {0xFFFF // width}")
    if int(rate) * channels * width > _U32:
        raise _fail(name, f"rate={rate} with {channels} channels overflows the header's byte rate")
    if arr.dtype.kind not in "fiu":
        raise _fail(name, f"data dtype {arr.dtype} is not real floating point or integer")
    data_size = len(arr) * channels * width  # before any scan of the samples or any header field
    if _riff_size(fmt, data_size) > _U32:
        raise _fail(name, f"{data_size} bytes of samples exceed the 4 GiB limit of RIFF WAV")
    step = max(1, _BLOCK // channels)
    for start in range(0, len(arr) if arr.dtype.kind == "f" else 0, step):
        bad = ~np.isfinite(arr[start:start + step])
        if bad.any():
            frame = start + int(np.argwhere(bad)[0, 0])
            raise _fail(name, f"data holds NaN or infinity (first at frame {frame})")
    if fmt == "float" and bits == 32 and arr.dtype.kind == "f" and arr.size:
        peak = float(np.max(np.abs(arr)))
        if peak > float(np.finfo(np.float32).max):
            raise _fail(name, f"data reach {peak:g}, beyond the largest 32-bit float")
    if arr.dtype.kind in "iu" and arr.size:
        if fmt == "float":
            raise _fail(name, "integer data cannot be written as float; scale it to floats in "
                              "[-1, 1] first")
        lo, hi, low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1, int(arr.min()), int(arr.max())
        if low < lo or high > hi:
            raise _fail(name, f"integer data spans [{low}, {high}], outside the {bits}-bit range "
                              f"[{lo}, {hi}] (8-bit codes are signed, stored as x + 128)")
    return int(rate), int(bits), arr


def encode_block(block, bits, fmt):
    """Samples as the bytes :func:`write` stores, one block at a time.

    Parameters
    ----------
    block : numpy.ndarray
        Shape (n, channels): floats in [-1, 1] (clipped after rounding to the nearest code) or
        integers already in the format's range.
    bits : int
        8, 16, 24 or 32 for PCM; 32 or 64 for float.
    fmt : str
        ``"pcm"`` or ``"float"``.

    Returns
    -------
    bytes
        Little-endian samples, frame after frame (unsigned for 8-bit PCM, as WAV stores it).
    """
    if fmt == "float":
        return block.astype("<f4" if bits == 32 else "<f8").tobytes()
    if block.dtype.kind == "f":
        # float64 holds every code exactly, so clipping after rint cannot wrap around;
        # +1.0 maps to 2**(bits-1) and is clipped to the largest code.
        scaled = np.rint(block.astype(np.float64) * 2.0 ** (bits - 1))
        codes = np.clip(scaled, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1).astype(np.int32)
    else:
        codes = block.astype(np.int32)  # range already checked
    if bits == 8:
        return (codes + 128).astype(np.uint8).tobytes()
    if bits == 24:
        return codes.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    return codes.astype("<i2" if bits == 16 else "<i4").tobytes()


def write(path, rate, data, *, bits=24, fmt="pcm"):
    """Write a WAV file atomically (a temporary file in the same folder, then rename).

    Parameters
    ----------
    path : str or os.PathLike
        Destination; an existing file is replaced only once the new one is complete.
    rate : int
        Sample rate in Hz, 1 to 2**32 - 1.
    data : array_like, shape (frames,) or (frames, channels)
        Float samples, nominally in [-1, 1]; or integer PCM codes (as ``read(...,
        dtype="int32")`` returns them, 8-bit signed -128..127), written as they are.
    bits : int, keyword-only
        8, 16, 24 or 32 for ``fmt="pcm"``; 32 or 64 for ``fmt="float"``.
    fmt : {"pcm", "float"}, keyword-only
        ``"pcm"``: floats are scaled by ``2**(bits - 1)``, rounded (``np.rint``) and
        clipped to the codes ``[-2**(bits - 1), 2**(bits - 1) - 1]``, so +1.0 and above
        give the largest code and -1.0 and below the smallest, never a wraparound;
        reading back gives ``code / 2**(bits - 1)``, and read-then-write is lossless.
        ``"float"``: IEEE float as given (not clipped), with a ``fact`` chunk.

    Raises
    ------
    WavFileError
        Invalid ``rate``, ``bits``, ``fmt``, shape or dtype; no channels; NaN or
        infinite samples; integer codes outside the bit depth; more than 4 GiB.
    OSError
        The file cannot be written.
    """
    name = os.fsdecode(os.fspath(path))
    rate, bits, arr = _check_write_args(name, rate, data, bits, fmt)
    frames, channels = arr.shape
    block_align = channels * bits // 8
    data_size = frames * block_align
    if fmt == "pcm":
        header = struct.pack("<4sIHHIIHH", b"fmt ", 16, _PCM, channels, rate,
                             rate * block_align, block_align, bits)
    else:  # non-PCM formats carry cbSize and a fact chunk with the frame count
        header = struct.pack("<4sIHHIIHHH", b"fmt ", 18, _FLOAT, channels, rate,
                             rate * block_align, block_align, bits, 0)
        header += struct.pack("<4sII", b"fact", 4, frames)
    riff_size = _riff_size(fmt, data_size)  # <= 4 GiB: checked above
    header = struct.pack("<4sI4s", b"RIFF", riff_size, b"WAVE") + header
    header += struct.pack("<4sI", b"data", data_size)

    folder, base = os.path.split(os.path.abspath(name))
    while True:
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")
        try:  # mode 0o666 so the umask, not a 0o600 temp-file default, decides permissions
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            step = max(1, _BLOCK // channels)
            for start in range(0, frames, step):
                f.write(encode_block(arr[start:start + step], bits, fmt))
            f.write(b"\0" * (data_size & 1))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
