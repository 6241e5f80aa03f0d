"""Small glue the notebook and the main job share: which loops to use, reading one to show it, showing a
figure, and the size of the notebook's training run on this machine.

Kept out of the notebook so that it only calls the package, and tested like
the rest.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

from beatgan.audio import find_audio_files, read_audio
from beatgan.config import ModelConfig, TrainConfig, check_positive_int
from beatgan.corpus import render_corpus, render_demo_pack
from beatgan.errors import ConfigError, DatasetError

USER_FOLDER = "ULTIMATE_DRUM_LOOPS"  # where users put their own pack
CORPUS_FOLDER = "data/open_loops"  # where `beatgan render-loops` puts the open corpus by default
DEMO_FOLDER = "data/demo_pack"  # where the notebook renders the demo pack to fine-tune on


def has_loops(folder: str | os.PathLike) -> bool:
    """True when ``folder`` exists and holds at least one audio file (searched recursively)."""
    folder = Path(folder)
    return folder.is_dir() and bool(find_audio_files(folder))


def _given_or_user(name: str, given, user_folder) -> tuple[Path, str] | None:
    """The folder given as ``name`` (it must hold loops), else the user's when it holds loops, else None."""
    if given is not None:
        if not has_loops(given):
            raise DatasetError(f"{name}={str(given)!r} holds no audio files")
        return Path(given), "given"
    if has_loops(user_folder):
        return Path(user_folder), "user"
    return None


def choose_loop_folder(
    data_folder: str | os.PathLike | None = None,
    *,
    user_folder: str | os.PathLike = USER_FOLDER,
    corpus_folder: str | os.PathLike = CORPUS_FOLDER,
    corpus_count: int | None = None,
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
        The open corpus; rendered with ``corpus_count`` loops (None: the
        renderer's default, 434 as the original pack) and ``seed`` when it holds none.

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
    chosen = _given_or_user("data_folder", data_folder, user_folder)
    if chosen is not None:
        return chosen
    return ensure_corpus(corpus_folder, count=corpus_count, seed=seed, progress=progress), "open corpus"


def choose_pack(
    own_loops: str | os.PathLike | None = None,
    *,
    user_folder: str | os.PathLike = USER_FOLDER,
    demo_folder: str | os.PathLike = DEMO_FOLDER,
    progress: bool = True,
) -> tuple[Path, str]:
    """Pick the pack to fine-tune on: the one given, else the user's, else the demo pack (rendered when needed).

    Parameters
    ----------
    own_loops : path-like, optional
        An explicit choice; it must hold loops.
    user_folder : path-like, optional
        Used when it holds loops (``ULTIMATE_DRUM_LOOPS/``).
    demo_folder : path-like, optional
        Where :func:`beatgan.corpus.render_demo_pack` renders the demo pack (90-95 bpm, a
        tempo the shipped model never heard) when neither holds loops.

    Returns
    -------
    folder : pathlib.Path
    source : {"given", "user", "demo pack"}

    Raises
    ------
    DatasetError
        When ``own_loops`` is given but holds no loops.
    """
    chosen = _given_or_user("own_loops", own_loops, user_folder)
    if chosen is not None:
        return chosen
    render_demo_pack(demo_folder, progress=progress)
    return Path(demo_folder), "demo pack"


def ensure_corpus(
    corpus_folder: str | os.PathLike = CORPUS_FOLDER, *, count: int | None = None, seed: int = 0,
    progress: bool = True,
) -> Path:
    """Return the open corpus folder, rendering it first when it holds no finished corpus.

    A finished corpus has its ``CREDITS`` file (written last) and its loops; the
    render is deterministic for ``count`` (None: :func:`beatgan.corpus.render_corpus`'s
    default) and ``seed`` on a given set of kits.
    """
    corpus_folder = Path(corpus_folder)
    if not (corpus_folder / "CREDITS").is_file() or not has_loops(corpus_folder):
        render_corpus(corpus_folder, **({} if count is None else {"count": count}), seed=seed, progress=progress)
    return corpus_folder


def read_loop(path: str | os.PathLike, *, seconds: float | None = None) -> tuple[int, np.ndarray]:
    """Read any loop (a training file or a generated one) at its own rate for display: ``(rate, float32 (frames, channels))``, the first ``seconds``."""
    return read_audio(path, frames=None if seconds is None else (lambda rate: int(round(seconds * rate))))


class Figures:
    """Show figures in the notebook and keep a PNG copy of each: ``show = Figures(folder)``, then ``show(fig, name)``.

    Parameters
    ----------
    folder : path-like
        Where ``NAME.png`` is written; created when missing.
    dpi : int, optional
        Resolution of the PNG copies.
    """

    def __init__(self, folder: str | os.PathLike, *, dpi: int = 100):
        self.folder = Path(folder)
        self.dpi = check_positive_int("dpi", dpi)
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, fig, name: str) -> Path:
        """Save ``fig`` as ``folder/NAME.png``, display it and close it; return the PNG's path.

        Parameters
        ----------
        fig : matplotlib.figure.Figure
            Any figure of :mod:`beatgan.plots`, made with or without ``pyplot``.
        name : str
            The file's stem: a plain name, no folder.

        Raises
        ------
        ConfigError
            When ``name`` is empty or names a folder.
        """
        from IPython.display import display  # here: IPython comes with the notebook extra only

        if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
            raise ConfigError(f"name={name!r} must be a plain file name (no folder) for the figure's PNG")
        path = self.folder / f"{name}.png"
        fig.savefig(path, dpi=self.dpi, bbox_inches="tight")
        display(fig)
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:  # a pyplot figure stays open, and the inline backend would draw it again
            pyplot.close(fig)
        return path


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """What the notebook's training cell trains with on this machine (see :func:`training_settings`).

    Attributes
    ----------
    device : str or None
        The accelerator (``"gpu"``, ``"tpu"``), or None for a CPU.
    model_config : ModelConfig
    train_config : TrainConfig
    log_every : int
        Generator steps between the run's log lines.
    """

    device: str | None
    model_config: ModelConfig
    train_config: TrainConfig
    log_every: int

    def describe(self) -> str:
        """One Markdown line: ``training on **CPU**: model_dim 8, batch 16, 20 generator steps``."""
        return (f"training on **{self.device or 'CPU'}**: model_dim {self.model_config.model_dim}, "
                f"batch {self.train_config.batch_size}, {self.train_config.steps} generator steps")


def training_settings(
    device: str | None,
    *,
    steps: int,
    cpu_model_dim: int,
    cpu_batch_size: int,
    model_dim: int | None = None,
    batch_size: int | None = None,
    slice_len: int | None = None,
    channels: int | None = None,
    seed: int = 0,
) -> TrainingSettings:
    """Size the notebook's training run for the machine: WaveGAN at full size on an accelerator, small on a CPU.

    The run checkpoints and previews half-way and at the end, and logs ten times
    (every step of a run shorter than ten steps).

    Parameters
    ----------
    device : str or None
        :func:`beatgan.backend.accelerator`: the accelerator Keras sees, None on a CPU.
    steps : int
        Generator steps of the run.
    cpu_model_dim, cpu_batch_size : int
        Model size and batch on a CPU (a full-size step takes about 14 s on 2 cores).
    model_dim, batch_size : int, optional
        Model size and batch on an accelerator; None: :class:`ModelConfig`'s and
        :class:`TrainConfig`'s defaults (64 and 64, as WaveGAN).
    slice_len, channels : int, optional
        The data's format; None: :class:`ModelConfig`'s defaults.
    seed : int, optional
        Seeds the run.

    Returns
    -------
    TrainingSettings

    Raises
    ------
    ConfigError
        For a ``device`` that is neither a name nor None, a ``steps`` that is not a
        positive integer, or a size the configs refuse (naming the field).

    Examples
    --------
    >>> settings = training_settings(None, steps=20, cpu_model_dim=8, cpu_batch_size=16)
    >>> settings.describe()
    'training on **CPU**: model_dim 8, batch 16, 20 generator steps'
    >>> training_settings("gpu", steps=20, cpu_model_dim=8, cpu_batch_size=16).model_config.model_dim
    64
    """
    if device is not None and (not isinstance(device, str) or not device):
        raise ConfigError(f"device={device!r} must name the accelerator (as beatgan.backend.accelerator() does) "
                          "or be None for a CPU")
    steps = check_positive_int("steps", steps)
    model_fields = {name: value for name, value in (("slice_len", slice_len), ("channels", channels))
                    if value is not None}
    if device:
        model_fields["model_dim"] = ModelConfig().model_dim if model_dim is None else model_dim
        batch = TrainConfig().batch_size if batch_size is None else batch_size
    else:
        model_fields["model_dim"] = cpu_model_dim
        batch = cpu_batch_size
    half = max(1, steps // 2)
    return TrainingSettings(
        device=device,
        model_config=ModelConfig(**model_fields),
        train_config=TrainConfig(batch_size=batch, steps=steps, seed=seed, checkpoint_every=half,
                                 preview_every=half),
        log_every=max(1, steps // 10),
    )


def kernel_config():
    """Settings for the kernel that runs the notebook headless: its connection encrypted (CurveZMQ).

    Pass them to papermill or nbclient (``papermill.execute_notebook(..., config=kernel_config())``):
    the kernel manager then provisions CurveZMQ keys for a kernel whose kernelspec declares
    support (ipykernel 7 does), and the kernel runs encrypted instead of warning "Kernel is
    running over TCP without encryption". Where jupyter_client has no such setting or pyzmq
    no CurveZMQ, the settings are empty and the kernel starts as before.

    Returns
    -------
    traitlets.config.Config
        ``{"KernelManager": {"transport_encryption": "auto"}}``, or empty.
    """
    import zmq  # here: pyzmq and the Jupyter packages come with the notebook extra only
    from jupyter_client.manager import KernelManager  # here: as zmq
    from traitlets.config import Config  # here: as zmq

    if not zmq.has("curve") or "transport_encryption" not in KernelManager.class_trait_names():
        return Config()
    return Config({"KernelManager": {"transport_encryption": "auto"}})
