"""Small glue the notebook and the main job share: which loops to use, and reading one to show it.

Kept out of the notebook so that it only calls the package, and tested like
the rest.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from beatgan.audio import find_audio_files, read_audio
from beatgan.corpus import render_corpus
from beatgan.errors import DatasetError

USER_FOLDER = "ULTIMATE_DRUM_LOOPS"  # where users put their own pack
CORPUS_FOLDER = "data/open_loops"  # where `beatgan render-loops` puts the open corpus by default


def has_loops(folder: str | os.PathLike) -> bool:
    """True when ``folder`` exists and holds at least one audio file (searched recursively)."""
    folder = Path(folder)
    return folder.is_dir() and bool(find_audio_files(folder))


def choose_loop_folder(
    data_folder: str | os.PathLike | None = None,
    *,
    user_folder: str | os.PathLike = USER_FOLDER,
    corpus_folder: str | os.PathLike = CORPUS_FOLDER,
    corpus_count: int = 434,
    seed: int = 0,
    progress: bool = True,
) -> tuple[Path, str]:
    """Pick the folder of loops to train on, rendering the open corpus when needed.

    Parameters
    ----------
    data_folder : path-like, optional
        An explicit choice; it must hold loops.
    user_folder : path-like, optional
        Used when it holds loops (``ULTIMATE_DRUM_LOOPS/``).
    corpus_folder : path-like, optional
        The open corpus; rendered with ``corpus_count`` loops and ``seed`` when
        it holds none.

    Returns
    -------
    folder : pathlib.Path
    source : {"given", "user", "open corpus"}
        Why that folder was chosen.

    Raises
    ------
    DatasetError
        When ``data_folder`` is given but holds no loops.
    """
    if data_folder is not None:
        if not has_loops(data_folder):
            raise DatasetError(f"data_folder={str(data_folder)!r} holds no audio files")
        return Path(data_folder), "given"
    if has_loops(user_folder):
        return Path(user_folder), "user"
    return ensure_corpus(corpus_folder, count=corpus_count, seed=seed, progress=progress), "open corpus"


def ensure_corpus(
    corpus_folder: str | os.PathLike = CORPUS_FOLDER, *, count: int = 434, seed: int = 0, progress: bool = True
) -> Path:
    """Return the open corpus folder, rendering it first when it holds no finished corpus.

    A finished corpus has its ``CREDITS`` file (written last) and its loops; the
    render is deterministic for ``count`` and ``seed`` on a given set of kits.
    """
    corpus_folder = Path(corpus_folder)
    if not (corpus_folder / "CREDITS").is_file() or not has_loops(corpus_folder):
        render_corpus(corpus_folder, count=count, seed=seed, progress=progress)
    return corpus_folder


def read_loop(path: str | os.PathLike, *, seconds: float | None = None) -> tuple[int, np.ndarray]:
    """Read any loop (a training file or a generated one) at its own rate for display: ``(rate, float32 (frames, channels))``, the first ``seconds``."""
    return read_audio(path, frames=None if seconds is None else (lambda rate: int(round(seconds * rate))))
