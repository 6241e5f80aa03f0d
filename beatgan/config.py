"""Frozen configurations of the model and of training.

Defaults are WaveGAN's published values (Donahue et al., ICLR 2019, table 4 and
the reference code), which BeatGAN used unchanged. A config is validated when
it is built, written as ``config.json`` next to every checkpoint and weights
file, and the models are rebuilt from it.

Examples
--------
>>> from beatgan.config import ModelConfig
>>> ModelConfig(model_dim=32).to_dict()["model_dim"]
32
>>> ModelConfig(slice_len=1000)
Traceback (most recent call last):
...
beatgan.errors.ConfigError: slice_len=1000 must be one of (16384, 32768, 65536)
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, TypeVar

from beatgan.atomic import write_json_atomic
from beatgan.errors import ConfigError

SLICE_LENGTHS = (16384, 32768, 65536)

T = TypeVar("T", bound="_JsonConfig")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _positive_int(name: str, value: Any) -> None:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and value > 0,
        f"{name}={value!r} must be a positive integer",
    )


def _positive_float(name: str, value: Any) -> None:
    _require(
        isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0,
        f"{name}={value!r} must be a positive number",
    )


class _JsonConfig:
    """JSON round trip shared by the config dataclasses."""

    def to_dict(self) -> dict:
        """Return the fields as a plain ``dict`` (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[T], data: dict) -> T:
        """Build a config from a ``dict``; unknown keys raise :class:`ConfigError`."""
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} must be built from a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**data)

    def to_json(self) -> str:
        """Return the config as a JSON string."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        """Parse a config from a JSON string."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{cls.__name__}: invalid JSON ({error})") from None
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike) -> None:
        """Write the config as JSON to ``path``, atomically."""
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls: type[T], path: str | os.PathLike) -> T:
        """Read a config written by :meth:`save`; a missing file raises :class:`ConfigError`."""
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise ConfigError(f"cannot read {cls.__name__} from {path}: {error.strerror}") from None
        return cls.from_json(text)

    def replace(self: T, **changes: Any) -> T:
        """Return a copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class ModelConfig(_JsonConfig):
    """Shape of WaveGAN's generator and discriminator."""

    slice_len: int = 16384  # samples per example; WaveGAN v1 16384, v2 adds 32768 and 65536
    channels: int = 2  # audio channels; BeatGAN trained on stereo
    model_dim: int = 64  # d in the paper: width multiplier of every layer
    latent_dim: int = 100  # size of z ~ U(-1, 1)
    kernel_len: int = 25  # taps of every (transposed) convolution
    phase_shuffle: int = 2  # radius n of the discriminator's phase shuffle; 0 disables it
    sample_rate: int = 14700  # Hz of the audio the model makes: 44.1 kHz / 3, as BeatGAN

    def __post_init__(self) -> None:
        _require(
            self.slice_len in SLICE_LENGTHS,
            f"slice_len={self.slice_len!r} must be one of {SLICE_LENGTHS}",
        )
        _require(self.channels in (1, 2), f"channels={self.channels!r} must be 1 or 2")
        for name in ("model_dim", "latent_dim", "kernel_len", "sample_rate"):
            _positive_int(name, getattr(self, name))
        _require(
            isinstance(self.phase_shuffle, int) and 0 <= self.phase_shuffle <= 16,
            f"phase_shuffle={self.phase_shuffle!r} must be an integer in [0, 16]",
        )

    @property
    def seconds(self) -> float:
        """Duration of one generated clip in seconds."""
        return self.slice_len / self.sample_rate


@dataclasses.dataclass(frozen=True)
class TrainConfig(_JsonConfig):
    """WGAN-GP optimisation settings; ``steps`` count generator updates, as WaveGAN does."""

    batch_size: int = 64  # examples per discriminator and generator update
    d_steps: int = 5  # discriminator updates per generator update (WGAN-GP n_critic)
    gp_weight: float = 10.0  # lambda of the gradient penalty
    d_learning_rate: float = 1e-4  # Adam, discriminator
    g_learning_rate: float = 1e-4  # Adam, generator
    beta_1: float = 0.5  # Adam beta1, both networks
    beta_2: float = 0.9  # Adam beta2, both networks
    steps: int = 40_000  # generator updates; the original's 200k D updates are about 40k G updates
    checkpoint_every: int = 500  # generator updates between checkpoints
    keep_checkpoints: int = 3  # newest checkpoints kept on disk
    preview_every: int = 500  # generator updates between audio previews of a fixed latent batch
    seed: int = 0  # seeds weights, latents, phase shuffle and data order
    mixed_precision: bool = False  # bfloat16 compute, float32 weights and penalty (GPU)

    def __post_init__(self) -> None:
        for name in ("batch_size", "d_steps", "steps", "checkpoint_every", "keep_checkpoints", "preview_every"):
            _positive_int(name, getattr(self, name))
        for name in ("d_learning_rate", "g_learning_rate"):
            _positive_float(name, getattr(self, name))
        _require(
            isinstance(self.gp_weight, (int, float)) and self.gp_weight >= 0,
            f"gp_weight={self.gp_weight!r} must be a number >= 0",
        )
        for name in ("beta_1", "beta_2"):
            value = getattr(self, name)
            _require(
                isinstance(value, (int, float)) and 0 <= value < 1,
                f"{name}={value!r} must be in [0, 1)",
            )
        _require(
            isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0,
            f"seed={self.seed!r} must be an integer >= 0",
        )
        _require(isinstance(self.mixed_precision, bool), f"mixed_precision={self.mixed_precision!r} must be true or false")
