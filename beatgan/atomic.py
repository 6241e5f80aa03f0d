"""Atomic file writes: a reader (or a resumed run) never sees half a file.

Everything the package writes that another step reads back (configs, weights,
datasets, caches, checkpoints' parts) goes through :func:`atomic_write`: the
bytes go to a temporary file in the destination's folder, are flushed to
disk, and then replace the destination with :func:`os.replace`, which is
atomic on POSIX and Windows. A crash or power loss leaves the old file or
the new one, never a mix; a stray temporary file is the only trace.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Mapping

import numpy as np


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", *, newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` when the block exits cleanly.

    Parameters
    ----------
    path : path-like
        Destination; its folder is created when missing.
    mode : {"wb", "w"}, optional
        Binary or text.
    newline : str or None, optional
        As for :func:`open` in text mode (``""`` for the :mod:`csv` module).

    Yields
    ------
    file object
        Write to it; on an exception the temporary file is removed and
        ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, mode, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


def write_json_atomic(path: str | os.PathLike, payload: Mapping) -> None:
    """Write ``payload`` as indented, key-sorted JSON to ``path`` atomically."""
    with atomic_write(path, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.write("\n")


def write_npz_atomic(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to an uncompressed ``.npz`` at ``path`` atomically.

    Raises
    ------
    ValueError
        When an array holds Python objects (it would need pickle).
    """
    for name, array in arrays.items():
        if np.asarray(array).dtype == object:
            raise ValueError(f"array {name!r} has dtype object; it would need pickle")
    # A file object, not a name: np.savez would append ".npz" to the temporary name.
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)
