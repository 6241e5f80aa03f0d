"""Tests of beatgan.critic_augment: the draws, each transform against numpy, and the interpolation identity."""

from __future__ import annotations

import numpy as np
import pytest

from beatgan import critic_augment
from beatgan.backend import keras
from beatgan.config import AUGMENT_AMPLITUDE, CRITIC_AUGMENTS


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.fixture
def params():
    names = CRITIC_AUGMENTS
    drawn = critic_augment.draw(names, keras.random.SeedGenerator(4), 3, 64, 4096, 2)
    return {k: _np(v) for k, v in drawn.items()}


def test_draws_have_their_shapes_and_ranges(params):
    assert params["sign"].shape == params["swap"].shape == params["gain"].shape == (3, 64, 1, 1)
    assert set(np.unique(params["sign"])) == {-1.0, 1.0} and set(np.unique(params["swap"])) == {0.0, 1.0}
    db = 20 * np.log10(params["gain"])
    assert db.min() >= -critic_augment.GAIN_DB - 1e-4 and db.max() <= critic_augment.GAIN_DB + 1e-4
    reach = 4096 // critic_augment.SHIFT_FRACTION
    assert params["shift"].shape == (3, 64) and params["shift"].min() >= -reach and params["shift"].max() <= reach
    assert params["shift"].min() < 0 < params["shift"].max()
    assert params["noise"].shape == (3, 64, 4096, 2) and np.abs(params["noise"]).max() <= AUGMENT_AMPLITUDE


def test_only_the_named_transforms_are_drawn():
    drawn = critic_augment.draw(("gain",), keras.random.SeedGenerator(0), 2, 4, 256, 1)
    assert set(drawn) == {"gain"}
    assert critic_augment.draw((), keras.random.SeedGenerator(0), 2, 4, 256, 1) == {}
    with pytest.raises(ValueError, match=r"unknown critic augmentations \['blur'\]"):
        critic_augment.draw(("blur",), keras.random.SeedGenerator(0), 2, 4, 256, 1)


def test_apply_equals_the_numpy_transforms(params):
    x = np.random.default_rng(0).uniform(-1, 1, (64, 4096, 2)).astype("float32")
    one = critic_augment.select(params, 1)
    got = _np(critic_augment.apply(x, one))
    want = x * one["sign"]
    want = np.where(one["swap"] > 0, want[..., ::-1], want)
    want = want * one["gain"]
    want = np.stack([np.roll(want[b], int(one["shift"][b]), axis=0) for b in range(64)])  # out[t] = x[t - shift]
    want = want + one["noise"]
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_array_equal(_np(critic_augment.apply(x, {})), x)  # nothing on: unchanged


def test_mono_audio_is_not_swapped(params):
    x = np.random.default_rng(1).uniform(-1, 1, (64, 4096, 1)).astype("float32")
    only_swap = {"swap": params["swap"][0]}
    np.testing.assert_array_equal(_np(critic_augment.apply(x, only_swap)), x)


def test_one_draw_commutes_with_the_penalty_interpolation(params):
    rng = np.random.default_rng(2)
    real, fake = (rng.uniform(-1, 1, (64, 4096, 2)).astype("float32") for _ in range(2))
    alpha = rng.uniform(0, 1, (64, 1, 1)).astype("float32")
    one = critic_augment.select(params, 0)
    t_real, t_fake = _np(critic_augment.apply(real, one)), _np(critic_augment.apply(fake, one))
    mixed = _np(critic_augment.apply(real + alpha * (fake - real), one))
    np.testing.assert_allclose(t_real + alpha * (t_fake - t_real), mixed, atol=1e-5)


def test_rows_and_select_slice_the_draws(params):
    part = critic_augment.rows(params, 8, 4)
    assert part["shift"].shape == (3, 4) and part["noise"].shape == (3, 4, 4096, 2)
    np.testing.assert_array_equal(part["gain"], params["gain"][:, 8:12])
    assert critic_augment.select(params, 2)["sign"].shape == (64, 1, 1)
