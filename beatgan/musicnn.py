"""musicnn's MSD_musicnn embedding, ported to eager TensorFlow (no TF1 graph, no tf-keras).

musicnn (Pons & Serra, "musicnn: pre-trained convolutional neural networks for music
audio tagging", ISMIR 2019 LBD; PyPI ``musicnn==0.1.0``, ISC licence) ships its weights
as TF1 checkpoints and builds its network with ``tf.compat.v1.layers`` under
``disable_eager_execution()``, which needs the legacy tf-keras and changes TensorFlow for
the whole process. This module reads the same checkpoint arrays with
``tf.compat.v1.train.NewCheckpointReader`` and runs the same forward pass (inference
mode: batch norm with the moving statistics, no dropout) as a :func:`tf.function`, so it
can live in the process that trains and generates. ``benchmarks/musicnn_parity.py``
checks it against the package's own TF1 graph.

The embedding is the 200-d "penultimate" layer of MSD_musicnn (dense + ReLU + batch norm
after mean- and max-pooling over time), so any number of frames works: a 1.11 s loop
gives 70 frames.

Input features follow ``musicnn/extractor.py``: mono audio at 16 kHz, librosa mel power
spectrogram (n_fft 512, hop 256, 96 bands), then ``log10(10000 x + 1)``. The package
casts the mel power to float16 before the log, which overflows to infinity above 65504
(a loud kick); here it stays float32, otherwise the same formula.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from beatgan.backend import quiet_import
from beatgan.errors import AudioError, ConfigError
from beatgan.extras import require

librosa = require("librosa", "FAD's musicnn embedding")
soxr = require("soxr", "FAD's musicnn embedding")
tf = quiet_import("tensorflow", "FAD's musicnn embedding")  # it runs on TensorFlow whatever the Keras backend

__all__ = ["SAMPLE_RATE", "N_FFT", "HOP", "N_MELS", "EMBEDDING_DIM", "EMBEDDING_NAME",
           "checkpoint_folder", "log_mel", "MusicnnEmbedder", "embedder", "embed"]

SAMPLE_RATE = 16000  # Hz, musicnn's configuration.SR
N_FFT = 512  # samples (32 ms), configuration.FFT_SIZE
HOP = 256  # samples (16 ms), configuration.FFT_HOP
N_MELS = 96  # configuration.N_MELS
EMBEDDING_DIM = 200  # units of the penultimate dense layer of MSD_musicnn
EMBEDDING_NAME = "MSD_musicnn"
BN_EPSILON = 1e-3  # tf.compat.v1.layers.batch_normalization's default
_BATCH = 64  # loops per forward pass: bounds memory (~0.5 GB of activations for 70 frames)


def checkpoint_folder(model: str = EMBEDDING_NAME) -> Path:
    """Folder of the installed musicnn package's checkpoint for ``model``.

    Parameters
    ----------
    model : str, default "MSD_musicnn"
        A folder of the package (only "MSD_musicnn" is supported by :class:`MusicnnEmbedder`).

    Returns
    -------
    pathlib.Path
        The folder; the checkpoint prefix is this folder with a trailing separator (its
        files are named ``.index`` and ``.data-00000-of-00001``).

    Raises
    ------
    ConfigError
        When musicnn is not installed or lacks the checkpoint; the message gives the install line.
    """
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the musicnn package is not installed; install its weights with "
                          "`pip install --no-deps musicnn==0.1.0`")
    folder = Path(list(spec.submodule_search_locations)[0]) / model
    if not (folder / ".index").is_file():
        raise ConfigError(f"musicnn checkpoint {model!r} not found under {folder}")
    return folder


def log_mel(audio, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """musicnn's input: ``log10(10000 * mel_power + 1)`` in float32.

    Parameters
    ----------
    audio : array_like
        Float, shape (N, samples), mono at ``sample_rate``, values in [-1, 1].
    sample_rate : int, default 16000
        Must be 16000 (resample first).

    Returns
    -------
    numpy.ndarray
        float32, shape (N, frames, 96), frames = 1 + samples // 256, values >= 0.
    """
    if sample_rate != SAMPLE_RATE:
        raise ConfigError(f"sample_rate={sample_rate} must be {SAMPLE_RATE} (musicnn's rate); resample first")
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        raise AudioError(f"audio must have shape (N, samples), got {audio.shape}")
    mel = librosa.feature.melspectrogram(y=audio, sr=SAMPLE_RATE, hop_length=HOP, n_fft=N_FFT,
                                         n_mels=N_MELS)  # (N, 96, frames) power
    return np.log10(10000.0 * mel.astype(np.float32) + 1.0).transpose(0, 2, 1).astype(np.float32)


class MusicnnEmbedder:
    """The MSD_musicnn forward pass up to its 200-d penultimate layer.

    Parameters
    ----------
    folder : path-like or None, default None
        Checkpoint folder; None: the installed package's MSD_musicnn (:func:`checkpoint_folder`).

    Notes
    -----
    Layer names follow the checkpoint (``conv2d_k``, ``batch_normalization_k``), in the
    order ``musicnn/models.py`` creates them. Shapes below: B loops, T frames.
    """

    def __init__(self, folder=None):
        folder = checkpoint_folder() if folder is None else Path(folder)
        reader = tf.compat.v1.train.NewCheckpointReader(str(folder) + "/")
        self._w = {name: tf.constant(reader.get_tensor(name))
                   for name in reader.get_variable_to_shape_map() if "Adam" not in name and "power" not in name}
        # the mid-end kernels span the whole feature axis: a 1-D conv over time in disguise
        for k in (5, 6, 7):
            w = self._w[f"conv2d_{k}/kernel"]  # (7, C, 1, 64)
            self._w[f"conv2d_{k}/kernel1d"] = tf.reshape(w, (w.shape[0], w.shape[1], w.shape[3]))
        self._forward = tf.function(self._graph, input_signature=[tf.TensorSpec((None, None, N_MELS), tf.float32)],
                                    autograph=False, reduce_retracing=True)

    def _bn(self, x, k: int):
        name = "batch_normalization" + (f"_{k}" if k else "")
        w = self._w
        scale = w[f"{name}/gamma"] * tf.math.rsqrt(w[f"{name}/moving_variance"] + BN_EPSILON)
        return (x - w[f"{name}/moving_mean"]) * scale + w[f"{name}/beta"]

    def _conv2d(self, x, k: int, padding: str):
        name = "conv2d" + (f"_{k}" if k else "")
        y = tf.nn.conv2d(x, self._w[f"{name}/kernel"], strides=1, padding=padding)
        return tf.nn.relu(y + self._w[f"{name}/bias"])

    def _conv1d(self, x, k: int):
        x = tf.pad(x, [[0, 0], [3, 3], [0, 0]])  # 'same' in time, as models.py pads by hand
        y = tf.nn.conv1d(x, self._w[f"conv2d_{k}/kernel1d"], stride=1, padding="VALID")
        return tf.nn.relu(y + self._w[f"conv2d_{k}/bias"])

    def _graph(self, x):
        x = self._bn(x[..., None], 0)  # (B, T, 96, 1), one scalar normalisation
        # front-end: timbral (7 x 38 and 7 x 67 kernels) and temporal (128/64/32 x 1) blocks,
        # each max-pooled over frequency
        padded = tf.pad(x, [[0, 0], [3, 3], [0, 0], [0, 0]])  # (B, T+6, 96, 1)
        feats = []
        for k in (1, 2):  # conv2d / conv2d_1 with batch_normalization_1 / _2
            y = self._bn(self._conv2d(padded, k - 1, "VALID"), k)  # (B, T, 96-37 or 96-66, 204)
            feats.append(tf.reduce_max(y, axis=2))  # (B, T, 204)
        for k in (3, 4, 5):  # conv2d_2.._4 with batch_normalization_3.._5
            y = self._bn(self._conv2d(x, k - 1, "SAME"), k)  # (B, T, 96, 51)
            feats.append(tf.reduce_max(y, axis=2))  # (B, T, 51)
        front = tf.concat(feats, axis=2)  # (B, T, 561)
        # mid-end: three 7-frame convs with residual connections
        c1 = self._bn(self._conv1d(front, 5), 6)  # (B, T, 64)
        c2 = self._bn(self._conv1d(c1, 6), 7) + c1  # (B, T, 64)
        c3 = self._bn(self._conv1d(c2, 7), 8) + c2  # (B, T, 64)
        mid = tf.concat([front, c1, c2, c3], axis=2)  # (B, T, 753)
        # back-end: max and mean over time, interleaved per feature as tf.concat(axis=2) + flatten did
        pooled = tf.stack([tf.reduce_max(mid, axis=1), tf.reduce_mean(mid, axis=1)], axis=2)  # (B, 753, 2)
        flat = self._bn(tf.reshape(pooled, (-1, 1506)), 9)  # (B, 1506)
        dense = tf.nn.relu(tf.matmul(flat, self._w["dense/kernel"]) + self._w["dense/bias"])  # (B, 200)
        return self._bn(dense, 10)  # (B, 200): the "penultimate" features

    def from_log_mel(self, features) -> np.ndarray:
        """Embeddings of log-mel inputs.

        Parameters
        ----------
        features : array_like
            float32, shape (N, frames, 96), as :func:`log_mel` returns; frames >= 1.

        Returns
        -------
        numpy.ndarray
            float32, shape (N, 200).
        """
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 3 or features.shape[2] != N_MELS or features.shape[1] < 1:
            raise AudioError(f"musicnn features must have shape (N, frames >= 1, {N_MELS}), got {features.shape}")
        out = [self._forward(features[s:s + _BATCH]).numpy() for s in range(0, len(features), _BATCH)]
        return np.concatenate(out, axis=0) if out else np.zeros((0, EMBEDDING_DIM), np.float32)

    def __call__(self, audio, *, sample_rate: int) -> np.ndarray:
        """Embeddings of loops.

        Parameters
        ----------
        audio : array_like
            Float, shape (N, samples, channels) or (N, samples), values in [-1, 1]; channels
            are averaged to mono.
        sample_rate : int
            Hz of ``audio``; resampled to 16 kHz with soxr ('HQ') when different.

        Returns
        -------
        numpy.ndarray
            float32, shape (N, 200).
        """
        return self.from_log_mel(log_mel(to_16k_mono(audio, sample_rate), sample_rate=SAMPLE_RATE))


def to_16k_mono(audio, sample_rate: int) -> np.ndarray:
    """Average channels and resample to 16 kHz (soxr 'HQ'); float32, shape (N, samples')."""
    audio = np.asarray(audio, dtype=np.float32)
    mono = audio.mean(axis=2) if audio.ndim == 3 else audio  # (N, samples)
    if sample_rate == SAMPLE_RATE:
        return np.ascontiguousarray(mono)
    # soxr treats the second axis as channels: all loops are resampled in one call
    out = soxr.resample(np.ascontiguousarray(mono.T), sample_rate, SAMPLE_RATE, quality="HQ")  # (samples', N)
    return np.ascontiguousarray(out.T, dtype=np.float32)


_LOCK = threading.Lock()
_CACHE: dict = {}


def embedder() -> MusicnnEmbedder:
    """The process-wide :class:`MusicnnEmbedder` of the installed MSD_musicnn (loaded once)."""
    with _LOCK:
        if "msd" not in _CACHE:
            _CACHE["msd"] = MusicnnEmbedder()
        return _CACHE["msd"]


def embed(audio, *, sample_rate: int) -> np.ndarray:
    """MSD_musicnn 200-d embeddings of loops; see :meth:`MusicnnEmbedder.__call__`."""
    return embedder()(audio, sample_rate=sample_rate)
