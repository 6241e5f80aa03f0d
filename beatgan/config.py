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
import math
import os
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from beatgan.atomic import write_json_atomic
from beatgan.errors import ConfigError

SLICE_LENGTHS = (16384, 32768, 65536)
PRECISIONS = ("auto", "float32", "bfloat16")  # TrainConfig.precision; auto is resolved when a run starts
UPSAMPLERS = ("transposed", "nearest")  # ModelConfig.upsample: WaveGAN's --wavegan_genr_upsample zeros / nn
LOSSES = ("wgan-gp", "wgan", "dcgan", "lsgan", "hinge")  # TrainConfig.loss: the reference's four and hinge
OPTIMIZERS = ("adam", "rmsprop")
# The reference's optimizer per loss (train_wavegan.py); hinge, which it lacks, takes WGAN-GP's.
# Fields a config leaves at None are filled from here; beta_1 / beta_2 matter to Adam only.
LOSS_OPTIMIZERS = {
    "wgan-gp": {"optimizer": "adam", "d_learning_rate": 1e-4, "g_learning_rate": 1e-4, "beta_1": 0.5, "beta_2": 0.9},
    "wgan": {"optimizer": "rmsprop", "d_learning_rate": 5e-5, "g_learning_rate": 5e-5, "beta_1": 0.5, "beta_2": 0.9},
    "dcgan": {"optimizer": "adam", "d_learning_rate": 2e-4, "g_learning_rate": 2e-4, "beta_1": 0.5, "beta_2": 0.999},
    "lsgan": {"optimizer": "rmsprop", "d_learning_rate": 1e-4, "g_learning_rate": 1e-4, "beta_1": 0.5, "beta_2": 0.9},
    "hinge": {"optimizer": "adam", "d_learning_rate": 1e-4, "g_learning_rate": 1e-4, "beta_1": 0.5, "beta_2": 0.9},
}
SAMPLE_RATE = 14700  # Hz of the audio the model makes and trains on: 44.1 kHz / 3, as BeatGAN
LOOP_RATE = 44100  # Hz of DAW-ready loops and of the source packs: what every DAW expects
FINETUNE_LR_SCALE = 0.05  # fine-tuning's learning rates: the recipe's times this unless given (benchmarks/FINETUNE.md)
FINETUNE_MINUTES = 20.0  # wall minutes of `beatgan finetune` when neither minutes nor steps is given
UNTIL_STOPPED = 1_000_000  # the steps of a run that only its clock (time limit) or a signal stops
AUGMENT_COPIES = 5  # noisy copies of every loop in the training data (beatgan prepare, a folder given to train)
AUGMENT_AMPLITUDE = 0.0011  # peak of the seed's uniform white noise (beatgan prepare, critic_augment's noise)
CRITIC_AUGMENTS = ("flip", "swap", "gain", "shift", "noise")  # TrainConfig.critic_augment: "all" or a comma list
CONFIG_FILE = "config.json"  # the name of a saved config, next to every checkpoint and weights file

T = TypeVar("T", bound="_JsonConfig")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _field(default: Any, help: str, choices: tuple | None = None, type: type | None = None) -> Any:
    """A config field whose ``help`` (unit and source), ``choices`` and ``type`` become its command-line option's.

    ``type`` is needed where the default is None (a value filled in from another field).
    """
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "type": type})


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int when it is an integer >= 1 (not a bool), else raise ConfigError naming it."""
    _require(isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0,
             f"{name}={value!r} must be a positive integer")
    return int(value)


def check_count(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int when it is an integer >= ``minimum`` (not a bool), else raise ConfigError naming it."""
    _require(isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum,
             f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def check_seed(value: Any, name: str = "seed") -> int:
    """Return ``value`` as an int when it is an integer >= 0 (not a bool), else raise ConfigError naming it."""
    _require(isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0,
             f"{name}={value!r} must be an integer >= 0")
    return int(value)


def check_positive(name: str, value: Any) -> float:
    """Return ``value`` as a float when it is a finite number > 0 (not a bool), else raise ConfigError naming it."""
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    _require(number and math.isfinite(value) and value > 0, f"{name}={value!r} must be a positive number")
    return float(value)


def check_range(name: str, value: Any, low: float, high: float, *, low_open: bool = False,
                high_open: bool = False) -> float:
    """Return ``value`` as a float when it is a finite number in the interval, else raise ConfigError.

    Parameters
    ----------
    name : str
        Named in the message.
    value : Any
        The value to check; bools are refused.
    low, high : float
        The interval's ends.
    low_open, high_open : bool, optional
        Exclude that end (``(low, high]``, ``[low, high)``).
    """
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = number and math.isfinite(value) and (value > low if low_open else value >= low) and (
        value < high if high_open else value <= high)
    _require(ok, f"{name}={value!r} must be a number in {'(' if low_open else '['}{low:g}, {high:g}"
                 f"{')' if high_open else ']'}")
    return float(value)


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

    slice_len: int = _field(16384, "samples per example; WaveGAN v1 16384, v2 adds 32768 and 65536")
    channels: int = _field(2, "audio channels; BeatGAN trained on stereo")
    model_dim: int = _field(64, "d in the paper: width multiplier of every layer")
    latent_dim: int = _field(100, "size of z ~ U(-1, 1)")
    kernel_len: int = _field(25, "taps of every (transposed) convolution")
    phase_shuffle: int = _field(2, "radius n of the discriminator's phase shuffle; 0 disables it")
    sample_rate: int = _field(SAMPLE_RATE, "Hz of the audio the model makes: 44.1 kHz / 3, as BeatGAN")
    upsample: str = _field("transposed", "generator upsampling: transposed convolutions (the paper's) or nearest: "
                           "repeat each sample by the stride, then a convolution (the reference's nn mode)", UPSAMPLERS)
    post_filter: int = _field(0, "taps of a learned FIR filter per channel after the generator's output, 0 = off "
                              "(the reference's --wavegan_genr_pp_len is 512)")
    batchnorm: bool = _field(False, "batch norm in both networks, as the reference's --wavegan_batchnorm "
                             "(off in the paper's WGAN-GP setting)")
    minibatch_std: int = _field(0, "group size of ProGAN's minibatch standard deviation feature at the critic's top, "
                                "0 = off; the batch must be a multiple of it")

    def __post_init__(self) -> None:
        _require(
            self.slice_len in SLICE_LENGTHS,
            f"slice_len={self.slice_len!r} must be one of {SLICE_LENGTHS}",
        )
        _require(self.channels in (1, 2), f"channels={self.channels!r} must be 1 or 2")
        for name in ("model_dim", "latent_dim", "kernel_len", "sample_rate"):
            check_positive_int(name, getattr(self, name))
        _require(
            isinstance(self.phase_shuffle, int) and 0 <= self.phase_shuffle <= 16,
            f"phase_shuffle={self.phase_shuffle!r} must be an integer in [0, 16]",
        )
        _require(self.upsample in UPSAMPLERS, f"upsample={self.upsample!r} must be one of {UPSAMPLERS}")
        _require(isinstance(self.post_filter, (int, np.integer)) and not isinstance(self.post_filter, bool)
                 and 0 <= self.post_filter <= 4096,
                 f"post_filter={self.post_filter!r} must be an integer in [0, 4096] (taps; 0 = off)")
        _require(isinstance(self.batchnorm, bool), f"batchnorm={self.batchnorm!r} must be true or false")
        _require(isinstance(self.minibatch_std, (int, np.integer)) and not isinstance(self.minibatch_std, bool)
                 and (self.minibatch_std == 0 or 2 <= self.minibatch_std <= 256),
                 f"minibatch_std={self.minibatch_std!r} must be 0 (off) or a group size in [2, 256]")

    @property
    def seconds(self) -> float:
        """Duration of one generated clip in seconds."""
        return self.slice_len / self.sample_rate


@dataclasses.dataclass(frozen=True)
class TrainConfig(_JsonConfig):
    """WGAN-GP optimisation settings; ``steps`` count generator updates, as WaveGAN does."""

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """As :meth:`_JsonConfig.from_dict`; a run saved with the old ``mixed_precision`` flag still loads."""
        if isinstance(data, dict) and "mixed_precision" in data and "precision" not in data:
            legacy = data["mixed_precision"]
            data = {k: v for k, v in data.items() if k != "mixed_precision"}
            data["precision"] = "bfloat16" if legacy is True else "float32"
        return super().from_dict(data)

    batch_size: int = _field(64, "examples per discriminator and generator update")
    d_steps: int = _field(5, "discriminator updates per generator update (WGAN-GP n_critic)")
    gp_weight: float = _field(10.0, "lambda of the gradient penalty (loss wgan-gp)")
    loss: str = _field("wgan-gp", "GAN loss: wgan-gp (the paper's), wgan (weight clipping at 0.01), dcgan, lsgan, "
                       "hinge; each brings the reference's optimizer settings unless they are given", LOSSES)
    optimizer: str = _field(None, "adam or rmsprop, both networks (default: the loss's: adam for wgan-gp, dcgan "
                            "and hinge, rmsprop for wgan and lsgan)", OPTIMIZERS, str)
    d_learning_rate: float = _field(None, "discriminator learning rate (default: the loss's: 1e-4 for wgan-gp, "
                                    "5e-5 wgan, 2e-4 dcgan, 1e-4 lsgan and hinge)", type=float)
    g_learning_rate: float = _field(None, "generator learning rate (default: the loss's, as d_learning_rate)",
                                    type=float)
    beta_1: float = _field(None, "Adam beta1, both networks (default: the loss's, 0.5)", type=float)
    beta_2: float = _field(None, "Adam beta2, both networks (default: the loss's: 0.9; 0.999 for dcgan)", type=float)
    gp_every: int = _field(1, "gradient penalty on every k-th critic update only, scaled by k (lazy "
                           "regularisation, StyleGAN2); 1 = every update, the paper's")
    ema_decay: float = _field(0.0, "decay of an exponential moving average of the generator's weights (Yazici et "
                              "al. 2019; warmed up as TensorFlow's: min(decay, (1 + step) / (10 + step))), kept "
                              "beside them; export and evaluation use it; 0 = off")
    critic_augment: str = _field("", "augmentations of the critic's inputs, real and generated alike (DiffAugment): "
                                 "'all' or a comma list of flip, swap, gain, shift, noise; '' = off")
    freeze_critic: int = _field(0, "the critic's first N convolution layers not trained (Freeze-D, Mo et al. 2020: "
                                "fine-tuning on a small pack); 0 = all trained")
    steps: int = _field(40_000, "generator updates; the original's 200k D updates are about 40k G updates")
    checkpoint_every: int = _field(500, "generator updates between checkpoints")
    keep_checkpoints: int = _field(3, "newest checkpoints kept on disk")
    preview_every: int = _field(500, "generator updates between audio previews of a fixed latent batch")
    seed: int = _field(0, "seeds weights, latents, phase shuffle and data order")
    precision: str = _field("float32", "compute precision: float32 (the paper's); bfloat16 (float32 weights, "
                            "optimizer and penalty); auto: bfloat16 where the CPU (AVX512_BF16, AMX) or GPU "
                            "computes it natively, else float32", PRECISIONS)

    def __post_init__(self) -> None:
        _require(self.loss in LOSSES, f"loss={self.loss!r} must be one of {LOSSES}")
        for name, value in LOSS_OPTIMIZERS[self.loss].items():  # unset: the loss's reference settings
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        _require(self.optimizer in OPTIMIZERS, f"optimizer={self.optimizer!r} must be one of {OPTIMIZERS}")
        check_positive_int("gp_every", self.gp_every)
        check_seed(self.freeze_critic, "freeze_critic")  # an integer >= 0; the critic's depth bounds it (WaveGAN)
        _require(self.gp_every == 1 or self.loss == "wgan-gp",
                 f"gp_every={self.gp_every!r} needs loss='wgan-gp' (the only loss with a gradient penalty), "
                 f"got loss={self.loss!r}")
        check_range("ema_decay", self.ema_decay, 0.0, 1.0, high_open=True)
        _require(isinstance(self.critic_augment, str), f"critic_augment={self.critic_augment!r} must be a string")
        unknown = [x for x in self.augmentations if x not in CRITIC_AUGMENTS]
        _require(not unknown, f"critic_augment={self.critic_augment!r}: unknown {unknown}; allowed: 'all', '' or a "
                              f"comma list of {', '.join(CRITIC_AUGMENTS)}")
        for name in ("batch_size", "d_steps", "steps", "checkpoint_every", "keep_checkpoints", "preview_every"):
            check_positive_int(name, getattr(self, name))
        for name in ("d_learning_rate", "g_learning_rate"):
            check_positive(name, getattr(self, name))
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
        check_seed(self.seed)
        _require(self.precision in PRECISIONS, f"precision={self.precision!r} must be one of {PRECISIONS}")

    @property
    def augmentations(self) -> tuple[str, ...]:
        """The critic augmentations switched on, in :data:`CRITIC_AUGMENTS` order where valid."""
        text = self.critic_augment.strip() if isinstance(self.critic_augment, str) else ""
        if text == "all":
            return CRITIC_AUGMENTS
        names = [x.strip() for x in text.split(",") if x.strip()]
        return tuple(sorted(names, key=lambda x: CRITIC_AUGMENTS.index(x) if x in CRITIC_AUGMENTS else 99))

    def replace(self, **changes: Any) -> "TrainConfig":
        """As :meth:`_JsonConfig.replace`; a new ``loss`` brings its optimizer settings.

        Optimizer fields that hold the old loss's reference values and are not given follow the
        new loss (``TrainConfig().replace(loss="wgan")`` trains with RMSProp at 5e-5); a value
        set to something else stays.
        """
        new_loss = changes.get("loss", self.loss)
        if new_loss != self.loss and new_loss in LOSS_OPTIMIZERS:
            for name, value in LOSS_OPTIMIZERS[self.loss].items():
                if name not in changes and getattr(self, name) == value:
                    changes[name] = None
        return dataclasses.replace(self, **changes)


RECIPE_KEYS = ("description", "model", "train")  # the top-level keys of a recipe file


def load_recipe(path: str | os.PathLike) -> tuple[dict, dict]:
    """Read a training recipe: a JSON file of ``ModelConfig`` and ``TrainConfig`` fields.

    The file (``configs/paper.json``, ``configs/cpu.json``; a run's ``config.json`` has the same
    two sections) is an object ``{"description": "...", "model": {...}, "train": {...}}``; both
    sections are optional and fields left out keep their defaults. Every field is checked
    by building the configs from it, so a bad value fails here, naming the file and the field.

    Parameters
    ----------
    path : path-like
        The recipe file.

    Returns
    -------
    model_options, train_options : dict
        The fields the file sets, to pass to ``ModelConfig().replace(**model_options)`` and
        ``TrainConfig().replace(**train_options)`` (or to override field by field first).

    Raises
    ------
    ConfigError
        An unreadable file, invalid JSON, an unknown key or field (named, with what is allowed),
        or a value a config refuses.
    """
    try:
        data = json.loads(Path(path).read_text())
    except OSError as error:
        raise ConfigError(f"cannot read recipe {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"recipe {path} is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {path} must hold a JSON object with 'model' and 'train', got {type(data).__name__}")
    unknown = sorted(set(data) - set(RECIPE_KEYS))
    if unknown:
        raise ConfigError(f"recipe {path}: unknown key(s) {unknown}; allowed: {list(RECIPE_KEYS)}")
    sections = []
    for key, config_class in (("model", ModelConfig), ("train", TrainConfig)):
        options = data.get(key, {})
        if not isinstance(options, dict):
            raise ConfigError(f"recipe {path}: '{key}' must be a JSON object of {config_class.__name__} fields, "
                              f"got {type(options).__name__}")
        known = [f.name for f in dataclasses.fields(config_class)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ConfigError(f"recipe {path}: unknown {config_class.__name__} field(s) {unknown}; allowed: {known}")
        try:
            config_class().replace(**options)
        except ConfigError as error:
            raise ConfigError(f"recipe {path}: {error}") from None
        sections.append(dict(options))
    return sections[0], sections[1]
