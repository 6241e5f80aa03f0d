"""Differentiable augmentation of the critic's inputs (DiffAugment, Zhao et al., NeurIPS 2020), for audio.

With little data the critic memorises the training loops and stops teaching the generator.
DiffAugment shows the critic randomly transformed loops, real and generated alike, and
back-propagates through the transform into the generator; since generated loops are
transformed too, the generator is not pushed to make transformed-looking loops (unlike
augmenting the dataset, where the seed's noisy copies teach the generator the noise).

``TrainConfig.critic_augment`` switches on any of (per example, drawn at every critic call):

* ``flip``: polarity inverted with probability 1/2 (inaudible for a loop heard alone);
* ``swap``: left and right exchanged with probability 1/2 (stereo only);
* ``gain``: a gain uniform in [-6, +6] dB;
* ``shift``: a circular shift of up to 1/64 of the loop (256 samples, 17 ms at 16384);
* ``noise``: uniform white noise of the seed's amplitude (0.0011 peak).

Within one critic update the *same* draw transforms the real minibatch, the generated one
and so their interpolates (each transform is linear but the noise, which the interpolation
keeps: ``T(r) + a (T(f) - T(r)) = T(r + a (f - r))``); the generator update gets a draw of
its own. Everything is :mod:`keras.ops`: both backends, under ``jit``.
"""

from __future__ import annotations

from beatgan.backend import keras, ops  # Keras imported quietly, after the backend is chosen
from beatgan.config import AUGMENT_AMPLITUDE, CRITIC_AUGMENTS

GAIN_DB = 6.0  # gains are uniform in [-GAIN_DB, +GAIN_DB] dB
SHIFT_FRACTION = 64  # circular shifts of up to slice_len / SHIFT_FRACTION samples

__all__ = ["draw", "select", "rows", "apply", "GAIN_DB", "SHIFT_FRACTION"]


def draw(names, seed_generator, calls: int, batch: int, length: int, channels: int) -> dict:
    """Draw the transforms of ``calls`` critic calls of ``batch`` examples each.

    Parameters
    ----------
    names : tuple of str
        Transforms switched on, from ``("flip", "swap", "gain", "shift", "noise")``.
    seed_generator : keras.random.SeedGenerator
        The random stream (advanced by each transform drawn).
    calls, batch, length, channels : int
        Critic calls (d_steps + 1 per generator step), examples per call, samples and channels.

    Returns
    -------
    dict
        Tensors with leading axis ``calls``: ``sign`` (calls, B, 1, 1) of +-1, ``swap`` (calls, B,
        1, 1) of 0/1, ``gain`` (calls, B, 1, 1) linear, ``shift`` (calls, B) int32 in
        [-length/64, length/64], ``noise`` (calls, B, length, channels); only the switched-on ones.
    """
    unknown = [n for n in names if n not in CRITIC_AUGMENTS]
    if unknown:
        raise ValueError(f"unknown critic augmentations {unknown}; allowed: {CRITIC_AUGMENTS}")
    out = {}
    per_example = (calls, batch, 1, 1)
    if "flip" in names:
        coin = keras.random.randint(per_example, 0, 2, seed=seed_generator, dtype="int32")
        out["sign"] = ops.cast(coin * 2 - 1, "float32")
    if "swap" in names:
        out["swap"] = ops.cast(keras.random.randint(per_example, 0, 2, seed=seed_generator, dtype="int32"), "float32")
    if "gain" in names:
        db = keras.random.uniform(per_example, -GAIN_DB, GAIN_DB, seed=seed_generator)
        out["gain"] = ops.power(10.0, db / 20.0)
    if "shift" in names:
        reach = length // SHIFT_FRACTION
        out["shift"] = keras.random.randint((calls, batch), -reach, reach + 1, seed=seed_generator, dtype="int32")
    if "noise" in names:
        out["noise"] = keras.random.uniform((calls, batch, length, channels), -AUGMENT_AMPLITUDE, AUGMENT_AMPLITUDE,
                                            seed=seed_generator)
    return out


def select(params: dict, index) -> dict:
    """The transforms of critic call ``index``: every tensor of :func:`draw` at that position."""
    return {key: value[index] for key, value in params.items()}


def rows(params: dict, start: int, count: int) -> dict:
    """The transforms of examples ``start .. start + count`` of every call (a replica's share)."""
    return {key: value[:, start:start + count] for key, value in params.items()}


def apply(audio, params: dict):
    """Transform a batch (B, T, C) by one call's draws (:func:`select`); float32 (B, T, C) out.

    An empty ``params`` returns the batch unchanged (cast to float32).
    """
    x = ops.cast(audio, "float32")  # (B, T, C)
    if "sign" in params:
        x = x * params["sign"]
    if "swap" in params and x.shape[-1] == 2:
        x = x + params["swap"] * (ops.flip(x, axis=-1) - x)  # (B, T, 2): left and right exchanged where swap is 1
    if "gain" in params:
        x = x * params["gain"]
    if "shift" in params:
        length = ops.shape(x)[1]
        t = ops.arange(length, dtype="int32")[None, :]  # (1, T)
        source = ops.mod(t - params["shift"][:, None], length)  # (B, T): out[t] = x[t - shift]
        source = ops.broadcast_to(source[:, :, None], ops.shape(x))  # (B, T, C)
        x = ops.take_along_axis(x, source, axis=1)
    if "noise" in params:
        x = x + params["noise"]
    return x
