"""Tests of beatgan.model: SPEC.md's parameter counts, shapes, range, phase shuffle."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from beatgan.config import SLICE_LENGTHS, ModelConfig
from beatgan.model import (
    BASE_LENGTH,
    PhaseShuffle,
    build_discriminator,
    build_generator,
    discriminator_plan,
    generator_plan,
)


@pytest.mark.parametrize(
    "channels, generator_params, discriminator_params",
    [(1, 19_065_345, 17_427_969), (2, 19_066_946, 17_429_569)],
)
def test_parameter_counts_match_spec(channels, generator_params, discriminator_params):
    config = ModelConfig(model_dim=64, channels=channels)
    assert build_generator(config).count_params() == generator_params
    assert build_discriminator(config).count_params() == discriminator_params


@pytest.mark.parametrize("slice_len", SLICE_LENGTHS)
def test_plans_reach_the_slice_length(slice_len):
    config = ModelConfig(slice_len=slice_len, model_dim=4, channels=2)
    for plan in (generator_plan(config), discriminator_plan(config)):
        assert BASE_LENGTH * np.prod([stride for _, stride in plan]) == slice_len
    assert generator_plan(config)[-1][0] == 2  # the generator ends at the channel count
    assert discriminator_plan(config)[0][0] == 4  # the critic starts at model_dim filters


# SPEC.md's table (WaveGAN, Donahue et al. 2019, table 3; v2 for 32768 and 65536): widths in units of
# d = model_dim ("c": the channel count) and strides, input first
GENERATOR_TABLE = {  # slice_len: (width of the dense layer's (16, w) output, [(ConvT filters, stride)])
    16384: (16, [(8, 4), (4, 4), (2, 4), (1, 4), ("c", 4)]),
    32768: (32, [(16, 4), (8, 4), (4, 4), (2, 4), (1, 4), ("c", 2)]),
    65536: (32, [(16, 4), (8, 4), (4, 4), (2, 4), (1, 4), ("c", 4)]),
}
DISCRIMINATOR_TABLE = {  # slice_len: [(Conv filters, stride)]
    16384: [(1, 4), (2, 4), (4, 4), (8, 4), (16, 4)],
    32768: [(1, 4), (2, 4), (4, 4), (8, 4), (16, 4), (32, 2)],
    65536: [(1, 4), (2, 4), (4, 4), (8, 4), (16, 4), (32, 4)],
}


def _units(plan, d, c):
    return [(c if f == "c" else f * d, s) for f, s in plan]


def _layers(model):
    """(name, class, per-example output shape) of every layer; the names key the checkpoints' variables."""
    return [(layer.name, type(layer).__name__, tuple(layer.output.shape)[1:]) for layer in model.layers]


@pytest.mark.parametrize("slice_len", SLICE_LENGTHS)
def test_generator_follows_the_wavegan_table(slice_len):
    d, c = 3, 2
    config = ModelConfig(slice_len=slice_len, model_dim=d, channels=c)
    width, plan = GENERATOR_TABLE[slice_len]
    plan = _units(plan, d, c)
    assert generator_plan(config) == plan
    generator = build_generator(config)
    expected = [("z", "InputLayer", (100,)), ("dense", "Dense", (16 * width * d,)),
                ("reshape", "Reshape", (16, width * d)), ("relu", "ReLU", (16, width * d))]
    length = 16
    for i, (filters, stride) in enumerate(plan):
        length *= stride
        expected.append((f"upconv_{i}", "Conv1DTranspose", (length, filters)))
        if i < len(plan) - 1:
            expected.append((f"relu_{i}", "ReLU", (length, filters)))
        layer = generator.get_layer(f"upconv_{i}")
        assert (layer.kernel_size, layer.strides, layer.padding) == ((25,), (stride,), "same")
    expected.append(("tanh", "Activation", (slice_len, c)))
    assert _layers(generator) == expected
    assert generator.name == "generator"  # the first part of its variables' paths


@pytest.mark.parametrize("phase_shuffle", [0, 2])
@pytest.mark.parametrize("slice_len", SLICE_LENGTHS)
def test_discriminator_follows_the_wavegan_table(slice_len, phase_shuffle):
    d, c = 3, 2
    config = ModelConfig(slice_len=slice_len, model_dim=d, channels=c, phase_shuffle=phase_shuffle)
    plan = _units(DISCRIMINATOR_TABLE[slice_len], d, c)
    assert discriminator_plan(config) == plan
    critic = build_discriminator(config, seed=0)
    expected, length = [("audio", "InputLayer", (slice_len, c))], slice_len
    for i, (filters, stride) in enumerate(plan):
        length //= stride
        expected += [(f"conv_{i}", "Conv1D", (length, filters)), (f"lrelu_{i}", "LeakyReLU", (length, filters))]
        if i < len(plan) - 1 and phase_shuffle:
            expected.append((f"phase_shuffle_{i}", "PhaseShuffle", (length, filters)))
        layer = critic.get_layer(f"conv_{i}")
        assert (layer.kernel_size, layer.strides, layer.padding) == ((25,), (stride,), "same")
        assert critic.get_layer(f"lrelu_{i}").negative_slope == pytest.approx(0.2)
    assert length == 16
    expected += [("flatten", "Flatten", (16 * plan[-1][0],)), ("score", "Dense", (1,))]
    assert _layers(critic) == expected
    assert critic.name == "discriminator"


def test_networks_return_float32_under_mixed_precision():
    config = ModelConfig(model_dim=2)
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        generator, critic = build_generator(config), build_discriminator(config, seed=0)
    finally:
        keras.config.set_dtype_policy(before)
    assert generator.get_layer("upconv_0").compute_dtype == critic.get_layer("conv_0").compute_dtype == "bfloat16"
    audio = generator(np.zeros((2, 100), "float32"))
    assert keras.ops.convert_to_numpy(audio).dtype == np.float32  # the tanh computes in float32
    assert keras.ops.convert_to_numpy(critic(audio)).dtype == np.float32  # and so does the score


def test_phase_shuffle_default_radius_and_config_round_trip():
    assert PhaseShuffle().radius == 2  # WaveGAN's n = 2
    again = PhaseShuffle.from_config(PhaseShuffle(3, seed=7, name="shuffle").get_config())
    assert (again.radius, again.seed, again.name) == (3, 7, "shuffle")
    assert keras.saving.get_registered_name(PhaseShuffle) == "beatgan>PhaseShuffle"  # what saved models name it


def test_generator_is_the_same_function_in_training_and_inference():
    """No dropout, batch norm or shuffle in the generator: its training flag changes nothing (the train
    steps' generator calls rely on it; mutation testing lists flipped flags there as equivalent)."""
    generator = build_generator(ModelConfig(model_dim=2))
    z = np.random.default_rng(0).uniform(-1, 1, (3, 100)).astype("float32")
    outputs = [keras.ops.convert_to_numpy(generator(z, training=t)) for t in (True, False, None, True)]
    for out in outputs[1:]:
        np.testing.assert_array_equal(out, outputs[0])
    assert not generator.non_trainable_weights  # nor state a training call could update


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("slice_len", SLICE_LENGTHS)
def test_generator_shape_and_range(slice_len, channels):
    config = ModelConfig(slice_len=slice_len, channels=channels, model_dim=2)
    # Seeded: with random initial weights the saturated share below ranged 0.5-0.85 over 40 seeds at
    # 65536 samples, stereo (dead ReLU regions give exact zeros), and fell under 0.5 once in a full run.
    keras.utils.set_random_seed(0)
    generator = build_generator(config)
    z = np.random.default_rng(0).uniform(-1, 1, (2, config.latent_dim)).astype("float32")
    audio = keras.ops.convert_to_numpy(generator(z))
    assert audio.shape == (2, slice_len, channels) and audio.dtype == np.float32
    assert np.all(np.abs(audio) <= 1) and np.std(audio) > 0 and audio.min() < 0 < audio.max()
    # blow up the last layer: tanh saturates at +/-1 and never goes beyond
    last = generator.get_layer(f"upconv_{len(generator_plan(config)) - 1}")
    last.kernel.assign(last.kernel * 1e4)
    loud = keras.ops.convert_to_numpy(generator(z))
    assert np.all(np.abs(loud) <= 1) and np.mean(np.abs(loud) > 0.99) > 0.5


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("slice_len", SLICE_LENGTHS)
def test_discriminator_output_shape(slice_len, channels):
    config = ModelConfig(slice_len=slice_len, channels=channels, model_dim=2)
    discriminator = build_discriminator(config, seed=0)
    audio = np.random.default_rng(0).uniform(-1, 1, (3, slice_len, channels)).astype("float32")
    for training in (False, True):
        score = keras.ops.convert_to_numpy(discriminator(audio, training=training))
        assert score.shape == (3, 1) and score.dtype == np.float32 and np.all(np.isfinite(score))


def _ramp(batch=3, length=40, channels=2):
    """x[b, t, c] = 1000 b + t + 0.25 c: every row, step and channel has its own value."""
    b, t, c = np.meshgrid(np.arange(batch), np.arange(length), np.arange(channels), indexing="ij")
    return (1000.0 * b + t + 0.25 * c).astype("float32")


def _shifted(x, shift, radius):
    """Reference: out[:, t] = x[:, t - shift], reflected at both ends."""
    padded = np.pad(x, ((0, 0), (radius, radius), (0, 0)), mode="reflect")
    return padded[:, radius - shift : radius - shift + x.shape[1]]


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_phase_shuffle_shifts_time_by_one_amount_per_batch(radius):
    layer = PhaseShuffle(radius, seed=0)
    x = _ramp()
    shifts = []
    for _ in range(60):
        out = keras.ops.convert_to_numpy(layer(x, training=True))
        shift = int(round(x[0, 10, 0] - out[0, 10, 0]))  # out[t] = x[t - shift]
        assert -radius <= shift <= radius
        # the same shift for every row, the gap reflected, rows and channels never mixed
        np.testing.assert_array_equal(out, _shifted(x, shift, radius))
        shifts.append(shift)
    assert set(shifts) == set(range(-radius, radius + 1))


def test_phase_shuffle_shift_is_the_draw_of_its_seeded_stream():
    """Every call shifts by the next draw of the layer's own seeded stream, out[t] = x[t - s] (WaveGAN pads
    left by a positive phase): a mirrored shift has the same distribution but makes another run of a seed."""
    radius = 2
    layer, stream = PhaseShuffle(radius, seed=3), keras.random.SeedGenerator(3)
    x = _ramp()
    drawn = []
    for _ in range(20):
        s = int(keras.ops.convert_to_numpy(keras.random.randint((), -radius, radius + 1, seed=stream, dtype="int32")))
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=True)), _shifted(x, s, radius))
        drawn.append(s)
    assert {s for s in drawn if s} >= {-2, 2}


def test_phase_shuffle_reflects_into_the_gap():
    x = _ramp(batch=1, length=8, channels=1)
    np.testing.assert_array_equal(_shifted(x, 2, 2)[0, :, 0], [2, 1, 0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(_shifted(x, -2, 2)[0, :, 0], [2, 3, 4, 5, 6, 7, 6, 5])


@pytest.mark.parametrize("radius, training", [(2, False), (2, None), (0, True)])
def test_phase_shuffle_is_identity_outside_training_or_at_radius_zero(radius, training):
    x = _ramp()
    out = keras.ops.convert_to_numpy(PhaseShuffle(radius, seed=0)(x, training=training))
    np.testing.assert_array_equal(out, x)


def phase_shuffle_second_derivative():
    """Return ``(x, v, y, hvp)``: y = shuffle(x) and the Hessian-vector product of sum(shuffle(x)^3) along v.

    Runs under the current Keras backend; the shuffle is active (training=True).
    """
    layer = PhaseShuffle(2, seed=1)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 32, 3)).astype("float32")
    v = rng.normal(size=x.shape).astype("float32")
    layer.build(x.shape)
    if keras.backend.backend() == "jax":
        import jax

        state = [s.value for s in layer.non_trainable_variables]
        y = layer.stateless_call([], state, x, training=True)[0]

        def f(inputs):
            return jax.numpy.sum(layer.stateless_call([], state, inputs, training=True)[0] ** 3)

        hvp = jax.grad(lambda u: jax.numpy.sum(jax.grad(f)(u) * v))(x)
        return x, v, np.asarray(y), np.asarray(hvp)
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as outer:
        outer.watch(xt)
        with tf.GradientTape() as inner:
            inner.watch(xt)
            y = layer(xt, training=True)
            f = tf.reduce_sum(y**3)
        product = tf.reduce_sum(inner.gradient(f, xt) * v)
    return x, v, y.numpy(), outer.gradient(product, xt).numpy()


def _check_second_derivative(x, v, y, hvp):
    assert hvp is not None and np.all(np.isfinite(hvp))
    # shuffle is a gather P: the Hessian-vector product of sum((Px)^3) is P^T (6 Px * Pv)
    shift = next(s for s in range(-2, 3) if np.allclose(y, _shifted(x, s, 2)))
    index = _shifted(np.arange(x.shape[1], dtype=float)[None, :, None], shift, 2)[0, :, 0].astype(int)
    expected = np.zeros_like(x)
    np.add.at(expected, (slice(None), index), 6 * y * _shifted(v, shift, 2))
    np.testing.assert_allclose(hvp, expected, rtol=1e-4, atol=1e-4)


def test_phase_shuffle_is_twice_differentiable_in_both_backends(tmp_path):
    _check_second_derivative(*phase_shuffle_second_derivative())  # this process's backend
    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    out = tmp_path / "hvp.npz"
    script = (
        f"import sys, numpy as np; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "from test_model import phase_shuffle_second_derivative as f; "
        f"np.savez({str(out)!r}, *f())"
    )
    import beatgan

    package_root = str(Path(beatgan.__file__).resolve().parents[1])  # the same beatgan as this process imports
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "KERAS_BACKEND": other, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    with np.load(out) as arrays:
        _check_second_derivative(*(arrays[f"arr_{i}"] for i in range(4)))


# --- phase shuffle inside the built critic ---------------------------------------------------------


@pytest.mark.parametrize("radius", [1, 2, 3])
@pytest.mark.parametrize("slice_len", [16384, 32768])
def test_critic_holds_phase_shuffle_layers_with_the_configured_radius(radius, slice_len):
    config = ModelConfig(model_dim=2, phase_shuffle=radius, slice_len=slice_len)
    critic = build_discriminator(config, seed=5)
    shuffles = [layer for layer in critic.layers if isinstance(layer, PhaseShuffle)]
    assert len(shuffles) == len(discriminator_plan(config)) - 1  # after every convolution but the last
    assert [layer.radius for layer in shuffles] == [radius] * len(shuffles)
    assert [layer.seed for layer in shuffles] == [5 + i for i in range(len(shuffles))]
    assert not any(isinstance(layer, PhaseShuffle) for layer in
                   build_discriminator(ModelConfig(model_dim=2, phase_shuffle=0), seed=5).layers)


def _critic_pair(radius=2, seed=3):
    """A critic with phase shuffle and one without it holding the same weights."""
    shuffled = build_discriminator(ModelConfig(model_dim=2, phase_shuffle=radius), seed=seed)
    plain = build_discriminator(ModelConfig(model_dim=2, phase_shuffle=0), seed=seed)
    plain.set_weights(shuffled.get_weights())
    return shuffled, plain


def _audio(batch=2):
    return np.random.default_rng(4).uniform(-1, 1, (batch, 16384, 2)).astype("float32")


def test_critic_phase_shuffle_is_active_in_training_and_identity_in_inference():
    shuffled, plain = _critic_pair()
    x = _audio()
    reference = keras.ops.convert_to_numpy(plain(x, training=False))
    for _ in range(3):  # inference: the unshuffled critic, every call
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(shuffled(x, training=False)), reference)
    trained = [keras.ops.convert_to_numpy(shuffled(x, training=True)) for _ in range(8)]
    distinct = {tuple(np.round(t.ravel(), 6)) for t in trained}
    assert len(distinct) >= 3  # new shifts at every call
    assert any(not np.allclose(t, reference, atol=1e-6) for t in trained)


def test_critic_first_shuffle_equals_a_manual_shift():
    shuffled, _ = _critic_pair(radius=2)
    x = _audio()
    before = keras.Model(shuffled.input, shuffled.get_layer("lrelu_0").output)
    after = keras.Model(shuffled.input, shuffled.get_layer("phase_shuffle_0").output)
    features = keras.ops.convert_to_numpy(before(x, training=True))  # (B, 4096, d): no randomness before it
    seen = set()
    for _ in range(30):
        out = keras.ops.convert_to_numpy(after(x, training=True))
        matches = [s for s in range(-2, 3) if np.array_equal(out, _shifted(features, s, 2))]
        assert len(matches) == 1, "the output must be the features shifted by one s in [-2, 2]"
        seen.add(matches[0])
    assert len(seen) >= 3


def test_critic_training_outputs_repeat_for_a_seed_and_differ_for_another():
    def outputs(seed):
        keras.utils.set_random_seed(0)  # the same initial weights
        critic = build_discriminator(ModelConfig(model_dim=2, phase_shuffle=2), seed=seed)
        x = _audio()
        return np.stack([keras.ops.convert_to_numpy(critic(x, training=True)) for _ in range(6)])

    first = outputs(11)
    np.testing.assert_array_equal(outputs(11), first)
    assert not np.array_equal(outputs(12), first)


# --- issue 25: the reference's options -------------------------------------------------------------


def _counts(config):
    return build_generator(config).count_params(), build_discriminator(config).count_params()


def _widths(config):
    """Channels after the generator's dense layer and each ConvT, and after each critic convolution."""
    top = (16 if config.slice_len == 16384 else 32) * config.model_dim
    generator = [top] + [filters for filters, _ in generator_plan(config)]
    critic = [filters for filters, _ in discriminator_plan(config)]
    return generator, critic


@pytest.mark.parametrize("slice_len", SLICE_LENGTHS)
@pytest.mark.parametrize("channels", [1, 2])
def test_option_parameter_counts_follow_their_formulas(slice_len, channels):
    base = ModelConfig(slice_len=slice_len, channels=channels, model_dim=4)
    g0, d0 = _counts(base)
    generator_widths, critic_widths = _widths(base)
    # nearest: UpSampling1D + Conv1D of the same kernel and width has the ConvT's k * in * out + out
    assert _counts(base.replace(upsample="nearest")) == (g0, d0)
    # the post filter: one FIR of L taps per output channel, no bias
    assert _counts(base.replace(post_filter=512)) == (g0 + 512 * channels, d0)
    # batch norm: scale, offset, moving mean and variance per channel, after the dense layer and every ConvT
    # but the last (the generator), after every convolution but the first (the critic)
    assert _counts(base.replace(batchnorm=True)) == (g0 + 4 * sum(generator_widths[:-1]),
                                                     d0 + 4 * sum(critic_widths[1:]))
    # minibatch std: one more channel at the critic's top (16 steps) feeds the dense layer: 16 weights
    assert _counts(base.replace(minibatch_std=4)) == (g0, d0 + BASE_LENGTH)


@pytest.mark.parametrize("slice_len", SLICE_LENGTHS)
@pytest.mark.parametrize("options", [{"upsample": "nearest"}, {"post_filter": 32}, {"batchnorm": True},
                                     {"minibatch_std": 2}])
def test_option_output_shapes(slice_len, options):
    config = ModelConfig(slice_len=slice_len, model_dim=2, **options)
    z = np.random.default_rng(0).uniform(-1, 1, (4, config.latent_dim)).astype("float32")
    for training in (False, True):
        audio = keras.ops.convert_to_numpy(build_generator(config)(z, training=training))
        assert audio.shape == (4, slice_len, 2) and audio.dtype == np.float32
        assert np.all(np.abs(audio) <= 1) and np.std(audio) > 0
        score = keras.ops.convert_to_numpy(build_discriminator(config, seed=0)(audio, training=training))
        assert score.shape == (4, 1) and np.isfinite(score).all()


def test_post_filter_is_a_fir_per_channel_clipped_to_unit_range():
    config = ModelConfig(model_dim=2, post_filter=3)
    with_filter = build_generator(config)
    plain = build_generator(config.replace(post_filter=0))
    plain.set_weights(with_filter.get_weights()[:-1])
    taps = np.array([[[0.5, -2.0]], [[0.25, 0.0]], [[1.0, 1.0]]], "float32")  # (3 taps, 1, 2 channels)
    with_filter.get_layer("post_filter").set_weights([taps.reshape(3, 2, 1)])
    z = np.random.default_rng(1).uniform(-1, 1, (2, 100)).astype("float32")
    x = keras.ops.convert_to_numpy(plain(z))  # (2, T, 2), the tanh output
    padded = np.pad(x, ((0, 0), (1, 1), (0, 0)))
    want = sum(padded[:, k:k + x.shape[1]] * taps[k, 0] for k in range(3))  # correlation, 'same' padding
    np.testing.assert_allclose(keras.ops.convert_to_numpy(with_filter(z)), np.clip(want, -1, 1), atol=1e-6)


def test_nearest_upsampling_repeats_then_convolves():
    config = ModelConfig(model_dim=2, upsample="nearest")
    generator = build_generator(config)
    layer = generator.get_layer("upsample_0")
    x = np.arange(6, dtype="float32").reshape(1, 3, 2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), np.repeat(x, 4, axis=1))
    assert generator.get_layer("upconv_0").strides == (1,)


def test_minibatch_std_appends_the_spread_of_each_group():
    from beatgan.model import MinibatchStd

    x = np.random.default_rng(2).normal(size=(6, 5, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(MinibatchStd(3)(x))
    assert out.shape == (6, 5, 4)
    np.testing.assert_array_equal(out[..., :3], x)
    groups = x.reshape(3, 2, 5, 3)  # example b in group b mod 2, as ProGAN
    spread = np.sqrt(groups.var(axis=0) + 1e-8).mean(axis=(1, 2))  # (2,)
    want = np.tile(spread, 3)  # examples 0..5 -> groups 0, 1, 0, 1, 0, 1
    np.testing.assert_allclose(out[:, :, 3], np.repeat(want[:, None], 5, axis=1), rtol=1e-5)
    # identical examples have no spread: the feature a collapsed batch shows the critic
    same = keras.ops.convert_to_numpy(MinibatchStd(3)(np.repeat(x[:1], 6, axis=0)))
    np.testing.assert_allclose(same[..., 3], 1e-4, rtol=1e-3)


def test_batch_norm_moments_are_exact():
    from beatgan.model import BatchNorm

    x = np.random.default_rng(3).normal(2.0, 3.0, size=(4, 7, 3)).astype("float32")
    layer = BatchNorm()
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    want = (x - x.mean(axis=(0, 1))) / np.sqrt(x.var(axis=(0, 1)) + layer.epsilon)
    np.testing.assert_allclose(out, want, atol=1e-5)
