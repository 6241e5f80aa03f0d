"""Tests of beatgan.losses against the WGAN-GP formulas, computed here in NumPy float64."""

from __future__ import annotations

import numpy as np
import pytest

from beatgan.backend import keras
from beatgan.losses import EPSILON, METRIC_NAMES, critic_loss, generator_loss, interpolate, penalty_from_gradients


def _np(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.fixture
def rng():
    return np.random.default_rng(14)


def test_interpolate_is_real_plus_alpha_times_fake_minus_real(rng):
    real = rng.uniform(-1, 1, (3, 8, 2)).astype("float32")
    fake = rng.uniform(-1, 1, (3, 8, 2)).astype("float32")
    alpha = np.array([0.0, 0.25, 1.0], dtype="float32").reshape(3, 1, 1)
    x_hat = _np(interpolate(real, fake, alpha))
    assert x_hat.dtype == np.float32 and x_hat.shape == (3, 8, 2)
    np.testing.assert_array_equal(x_hat[0], real[0])  # alpha = 0: the real example
    np.testing.assert_allclose(x_hat[1], 0.75 * real[1] + 0.25 * fake[1], atol=1e-6)
    np.testing.assert_allclose(x_hat[2], fake[2], atol=1e-6)  # alpha = 1: the fake one


def test_interpolate_casts_to_float32(rng):
    real = rng.uniform(-1, 1, (2, 4, 1))  # float64 in
    x_hat = _np(interpolate(real, real, np.zeros((2, 1, 1))))
    assert x_hat.dtype == np.float32


@pytest.mark.parametrize("shape", [(1, 5, 1), (4, 16, 2)])
def test_penalty_is_the_mean_of_squared_per_example_norm_minus_one(rng, shape):
    gradients = rng.normal(0, 0.3, shape)
    gradients[0] *= 3.0  # norms on both sides of 1
    norms = np.sqrt(np.sum(gradients**2, axis=(1, 2)) + EPSILON)  # per example, not over the batch
    want = np.mean((norms - 1.0) ** 2)
    got = _np(penalty_from_gradients(gradients.astype("float32")))
    assert got.dtype == np.float32 and got.shape == ()
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_penalty_known_values():
    unit = np.zeros((2, 4, 1), "float32")
    unit[:, 0, 0] = 1.0  # norm 1 per example: no penalty
    assert float(_np(penalty_from_gradients(unit))) == pytest.approx(0.0, abs=1e-6)
    assert float(_np(penalty_from_gradients(np.zeros((2, 4, 1), "float32")))) == pytest.approx(1.0, abs=1e-5)  # sqrt(1e-12) = 1e-6
    double = np.zeros((2, 4, 1), "float32")
    double[0, :, 0] = 1.0  # norm 2 and norm 0: ((2 - 1)^2 + (0 - 1)^2) / 2
    assert float(_np(penalty_from_gradients(double))) == pytest.approx(1.0, abs=1e-5)
    batch_norm = np.zeros((2, 4, 1), "float32")
    batch_norm[0, 0, 0] = batch_norm[1, 0, 0] = 2.0  # per-example norms 2, 2 -> 1; one batch norm would give (sqrt 8 - 1)^2
    assert float(_np(penalty_from_gradients(batch_norm))) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("gp_weight", [0.0, 1.0, 10.0])
def test_critic_loss_is_fake_minus_real_plus_weighted_penalty(rng, gp_weight):
    d_real = rng.normal(1.0, 0.5, (4, 1)).astype("float32")
    d_fake = rng.normal(-2.0, 0.5, (4, 1)).astype("float32")
    gp = np.float32(0.37)
    d_loss, wasserstein = critic_loss(d_real, d_fake, gp, gp_weight)
    want_w = float(np.mean(d_real.astype(float)) - np.mean(d_fake.astype(float)))
    assert want_w > 2  # the critic scores real above fake here
    assert float(_np(wasserstein)) == pytest.approx(want_w, rel=1e-6)
    assert float(_np(d_loss)) == pytest.approx(-want_w + gp_weight * 0.37, rel=1e-6)
    assert _np(d_loss).dtype == np.float32 and _np(wasserstein).dtype == np.float32


def test_critic_loss_signs_on_hand_values():
    d_loss, wasserstein = critic_loss(np.array([[3.0]]), np.array([[1.0]]), np.float32(0.5), 10.0)
    assert float(_np(wasserstein)) == pytest.approx(2.0)
    assert float(_np(d_loss)) == pytest.approx(1.0 - 3.0 + 10.0 * 0.5)


def test_generator_loss_is_minus_the_mean_fake_score(rng):
    d_fake = rng.normal(0.5, 1.0, (5, 1)).astype("float32")
    got = _np(generator_loss(d_fake))
    assert got.dtype == np.float32
    assert float(got) == pytest.approx(-np.mean(d_fake.astype(float)), rel=1e-6)
    assert float(_np(generator_loss(np.array([[2.0], [4.0]])))) == pytest.approx(-3.0)


def test_losses_accept_bfloat16_scores_and_return_float32():
    scores = keras.ops.cast(np.array([[1.5], [2.5]]), "bfloat16")
    assert _np(generator_loss(scores)).dtype == np.float32
    d_loss, _ = critic_loss(scores, scores, np.float32(0.0), 10.0)
    assert _np(d_loss).dtype == np.float32


def test_metric_names_are_what_a_step_logs():
    assert METRIC_NAMES == ("d_loss", "g_loss", "gp", "wasserstein")


@pytest.fixture
def float64_default():
    """Keras' default float type (``floatx``) set to float64 for the test, then restored."""
    before = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield
    keras.config.set_floatx(before)


def test_losses_compute_in_float32_whatever_keras_default_float_type(rng, float64_default):
    real, fake = rng.uniform(-1, 1, (2, 2, 4, 1))  # float64 in
    scores = rng.normal(size=(2, 3, 1))
    outputs = {
        "interpolate": interpolate(real, fake, np.full((2, 1, 1), 0.5)),
        "penalty": penalty_from_gradients(real),
        "generator_loss": generator_loss(scores[0]),
        **dict(zip(("d_loss", "wasserstein"), critic_loss(scores[0], scores[1], np.float32(0.1), 10.0))),
    }
    assert {name: _np(x).dtype for name, x in outputs.items()} == dict.fromkeys(outputs, np.dtype("float32"))


# --- issue 25: the reference's other losses ------------------------------------------------------------

def _softplus(x):
    return np.logaddexp(0.0, x)


LOSS_FORMULAS = {  # independent numpy versions: (d_loss, g_loss) of scores r = D(real), f = D(fake)
    "wgan": (lambda r, f: f.mean() - r.mean(), lambda f: -f.mean()),
    "dcgan": (lambda r, f: (_softplus(f).mean() + _softplus(-r).mean()) / 2,  # sigmoid cross-entropies
              lambda f: _softplus(-f).mean()),
    "lsgan": (lambda r, f: (((r - 1) ** 2).mean() + (f ** 2).mean()) / 2, lambda f: ((f - 1) ** 2).mean()),
    "hinge": (lambda r, f: np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean(), lambda f: -f.mean()),
}


@pytest.mark.parametrize("loss", sorted(LOSS_FORMULAS))
def test_each_loss_equals_its_formula(rng, loss):
    from beatgan.losses import adversarial_loss, discriminator_loss

    r, f = rng.normal(0, 3, (16, 1)), rng.normal(0, 3, (16, 1))
    d_loss, gap = discriminator_loss(loss, r.astype("float32"), f.astype("float32"), gp=5.0, gp_weight=10.0)
    want_d, want_g = LOSS_FORMULAS[loss]
    assert float(_np(d_loss)) == pytest.approx(want_d(r, f), rel=1e-5, abs=1e-6)  # no penalty in these losses
    assert float(_np(gap)) == pytest.approx(r.mean() - f.mean(), rel=1e-5, abs=1e-6)
    assert float(_np(adversarial_loss(loss, f.astype("float32")))) == pytest.approx(want_g(f), rel=1e-5, abs=1e-6)


def test_wgan_gp_through_the_general_functions_is_the_critic_loss(rng):
    from beatgan.losses import adversarial_loss, discriminator_loss

    r, f = rng.normal(size=(8, 1)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    assert [float(_np(x)) for x in discriminator_loss("wgan-gp", r, f, 0.3, 10.0)] == \
        [float(_np(x)) for x in critic_loss(r, f, 0.3, 10.0)]
    assert float(_np(adversarial_loss("wgan-gp", f))) == float(_np(generator_loss(f)))


def test_dcgan_loss_is_stable_for_large_logits():
    from beatgan.losses import adversarial_loss, discriminator_loss

    big = np.array([[1e4], [-1e4]], "float32")
    assert np.isfinite(float(_np(discriminator_loss("dcgan", big, -big)[0])))
    assert float(_np(adversarial_loss("dcgan", big))) == pytest.approx(5e3)  # softplus(-1e4) = 0, softplus(1e4) = 1e4


def test_unknown_loss_is_an_error(rng):
    from beatgan.losses import adversarial_loss, discriminator_loss

    with pytest.raises(ValueError, match="loss='gan' must be one of"):
        discriminator_loss("gan", np.zeros((2, 1), "float32"), np.zeros((2, 1), "float32"))
    with pytest.raises(ValueError, match="loss='gan' must be one of"):
        adversarial_loss("gan", np.zeros((2, 1), "float32"))
