"""Tests of beatgan.gan and beatgan.losses: the gradient penalty, the WGAN-GP step on both backends, LoopBatches.

Backend-specific checks run tests/_backend_worker.py in subprocesses (a Keras
backend is fixed per process): once with TensorFlow, then with JAX starting
from TensorFlow's weights. Everything else runs in this process's backend.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from beatgan.config import ModelConfig, TrainConfig
from beatgan.errors import ConfigError, DatasetError
from beatgan.model import build_discriminator
from beatgan.gan import LoopBatches, WaveGAN, gradient_penalty, make_optimizers
from beatgan.losses import EPSILON
from beatgan.checkpoint import load_generator

TINY = ModelConfig(model_dim=2)


def _input_gradient(model, x):
    """d model(x).sum() / dx, computed directly with the backend's autodiff (training=False)."""
    if keras.backend.backend() == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        state = [v.value for v in model.non_trainable_variables]
        return np.asarray(jax.grad(lambda v: model.stateless_call(trainable, state, v)[0].sum())(x))
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_sum(model(x, training=False))
    return tape.gradient(score, x).numpy()


def _batch(rng, shape=(3, 16384, 2)):
    return rng.uniform(-1, 1, shape).astype("float32")


def test_make_optimizers_use_the_paper_settings():
    d_opt, g_opt = make_optimizers(TrainConfig())
    for optimizer in (d_opt, g_opt):
        assert isinstance(optimizer, keras.optimizers.Adam)
        assert float(optimizer.learning_rate) == pytest.approx(1e-4)
        assert (optimizer.beta_1, optimizer.beta_2) == (0.5, 0.9)
    d_opt, g_opt = make_optimizers(TrainConfig(d_learning_rate=3e-4, g_learning_rate=2e-4))
    assert float(d_opt.learning_rate) == pytest.approx(3e-4)
    assert float(g_opt.learning_rate) == pytest.approx(2e-4)


def test_gradient_penalty_equals_per_example_computation():
    rng = np.random.default_rng(0)
    discriminator = build_discriminator(TINY, seed=0)
    real, fake = _batch(rng), _batch(rng)
    alpha = rng.uniform(0, 1, (3, 1, 1)).astype("float32")
    gp = float(gradient_penalty(discriminator, real, fake, alpha, training=False))

    x_hat = real + alpha * (fake - real)
    norms = [np.sqrt(np.sum(_input_gradient(discriminator, x_hat[b : b + 1]) ** 2) + EPSILON) for b in range(3)]
    expected = np.mean((np.array(norms) - 1) ** 2)
    assert gp == pytest.approx(expected, rel=1e-4)
    # the original BeatGAN's one norm over the whole batch gives another value
    whole_batch = (np.sqrt(np.sum(np.array(norms) ** 2)) - 1) ** 2
    assert not np.isclose(gp, whole_batch, rtol=1e-2)


@pytest.mark.parametrize("scale", [0.0, 0.5, 1.0, 3.0])
def test_gradient_penalty_of_a_linear_critic(scale):
    """A linear critic's input gradient is its weight vector w: gp = (sqrt(|w|^2 + eps) - 1)^2."""
    rng = np.random.default_rng(1)
    critic = keras.Sequential([keras.Input((16384, 2)), keras.layers.Flatten(), keras.layers.Dense(1)])
    w = rng.normal(size=(16384 * 2, 1)).astype("float32")
    w *= scale / max(np.linalg.norm(w), 1e-30)
    critic.layers[-1].set_weights([w, np.zeros(1, "float32")])
    alpha = rng.uniform(0, 1, (4, 1, 1)).astype("float32")
    gp = float(gradient_penalty(critic, _batch(rng, (4, 16384, 2)), _batch(rng, (4, 16384, 2)), alpha))
    assert gp == pytest.approx((np.sqrt(scale**2 + EPSILON) - 1) ** 2, abs=1e-5)
    assert np.isfinite(gp)


class _DoubledInTraining(keras.layers.Layer):
    """x * 2 in training, x otherwise: a critic layer whose gradient shows which mode it ran in."""

    def call(self, x, training=None):
        return x * 2.0 if training else x


@pytest.mark.parametrize("training", [True, False])
def test_gradient_penalty_runs_the_critic_in_the_mode_asked(training):
    """The penalty's critic sees ``training`` (phase shuffle active in training): a linear critic w behind a
    layer that doubles its input in training has input gradient 2w there, w otherwise."""
    rng = np.random.default_rng(2)
    critic = keras.Sequential([keras.Input((16384, 2)), _DoubledInTraining(), keras.layers.Flatten(),
                               keras.layers.Dense(1)])
    w = rng.normal(size=(16384 * 2, 1)).astype("float32")
    critic.layers[-1].set_weights([0.75 * w / np.linalg.norm(w), np.zeros(1, "float32")])  # |w| = 0.75
    alpha = rng.uniform(0, 1, (2, 1, 1)).astype("float32")
    gp = float(gradient_penalty(critic, _batch(rng, (2, 16384, 2)), _batch(rng, (2, 16384, 2)), alpha,
                                training=training))
    norm = 1.5 if training else 0.75
    assert gp == pytest.approx((np.sqrt(norm**2 + EPSILON) - 1) ** 2, abs=1e-5)


def test_same_seed_builds_same_weights_and_different_seed_does_not():
    def weights(seed):
        gan = WaveGAN(TINY, TrainConfig(seed=seed))
        return [np.array(v.numpy()) for v in gan.trainable_variables]

    first, again, other = weights(4), weights(4), weights(5)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_compile_builds_both_optimizers_before_the_first_step():
    gan = WaveGAN(TINY, TrainConfig())
    gan.compile()
    for optimizer, network in ((gan.d_optimizer, gan.discriminator), (gan.g_optimizer, gan.generator)):
        assert optimizer.built
        assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 0
        # Adam: one momentum and one velocity per weight
        assert sum(int(np.prod(v.shape)) for v in optimizer.variables) >= 2 * network.count_params()
    joint = {id(v) for v in gan.optimizer.variables}
    assert all(id(v) in joint for v in gan.d_optimizer.variables + gan.g_optimizer.variables)
    assert [m.name for m in gan.metrics] == ["d_loss", "g_loss", "gp", "wasserstein"]


@pytest.mark.parametrize("name", ["optimizer", "loss", "metrics"])
def test_compile_rejects_single_model_arguments(name):
    gan = WaveGAN(TINY, TrainConfig())
    with pytest.raises(ConfigError, match=name):
        gan.compile(**{name: None})


def test_mixed_precision_builds_bfloat16_networks_and_restores_the_policy():
    before = keras.config.dtype_policy().name
    gan = WaveGAN(TINY, TrainConfig(precision="bfloat16"))
    assert gan.discriminator.get_layer("conv_0").compute_dtype == "bfloat16"
    assert gan.discriminator.get_layer("conv_0").kernel.dtype == "float32"
    assert keras.config.dtype_policy().name == before


def test_one_generator_step_in_this_process():
    config = TrainConfig(batch_size=3, d_steps=2, seed=1)  # batch != d_steps: the step must tell them apart
    gan = WaveGAN(TINY, config)
    gan.compile()
    audio = _batch(np.random.default_rng(2), (5, 16384, 2)) * 0.5
    history = gan.fit(LoopBatches(audio, batch_size=3, d_steps=2, seed=0, steps=2), epochs=1, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss", "gp", "wasserstein"}
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    iterations = [int(keras.ops.convert_to_numpy(o.iterations)) for o in (gan.d_optimizer, gan.g_optimizer)]
    assert iterations == [4, 2]  # d_steps critic updates per generator update
    # each step drew its noise from the model's own stream, as draw_step_noise does, and moved it on
    fresh = WaveGAN(TINY, config)
    for _ in range(2):
        fresh.draw_step_noise(3)
    state = keras.ops.convert_to_numpy
    np.testing.assert_array_equal(state(gan.seed_generator.state), state(fresh.seed_generator.state))
    # every critic call (real, fake and penalty per update, one for the generator) drew one shift per layer
    shuffles = [layer for layer in gan.discriminator.layers if "phase_shuffle" in layer.name]
    assert [state(layer.seed_generator.state).tolist() for layer in shuffles] == [
        [config.seed + i, 2 * (3 * 2 + 1)] for i in range(len(shuffles))]


def test_draw_step_noise_shapes_ranges_and_stream():
    gan = WaveGAN(ModelConfig(model_dim=2, latent_dim=16), TrainConfig(d_steps=3, seed=2))
    start = keras.ops.convert_to_numpy(gan.seed_generator.state)

    def draw():
        return [keras.ops.convert_to_numpy(x) for x in gan.draw_step_noise(400)]

    z_d, alpha, z_g = first = draw()
    assert (z_d.shape, alpha.shape, z_g.shape) == ((3, 400, 16), (3, 400, 1, 1), (400, 16))
    assert {x.dtype for x in first} == {np.dtype("float32")}
    for z in (z_d, z_g):  # latents ~ U(-1, 1)
        assert -1 <= z.min() < -0.99 and 0.99 < z.max() < 1 and abs(z.mean()) < 0.05
    assert 0 <= alpha.min() < 0.01 and 0.99 < alpha.max() < 1  # interpolation weights ~ U(0, 1)
    assert abs(alpha.mean() - 0.5) < 0.05
    assert len({float(x[0, 0]) for x in (z_d[0], z_d[1], z_d[2], z_g)}) == 4  # every minibatch its own draw
    second = draw()
    assert not any(np.array_equal(a, b) for a, b in zip(first, second))  # the stream moves on
    gan.seed_generator.state.assign(start)  # as a resumed run restores it from its checkpoint
    for a, b in zip(first, draw()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("wrap", [lambda x: x, lambda x: (x,), lambda x: [x]])
def test_split_real_takes_example_major_rows(wrap):
    gan = WaveGAN(ModelConfig(model_dim=2, channels=1), TrainConfig(d_steps=3, seed=0))
    batch = np.random.default_rng(5).uniform(-1, 1, (6, 16384, 1))  # 2 examples x 3 minibatches, float64
    real = keras.ops.convert_to_numpy(gan.split_real(wrap(batch)))
    assert real.shape == (3, 2, 16384, 1) and real.dtype == np.float32
    for i in range(3):  # row b * d_steps + i is example b of minibatch i
        np.testing.assert_array_equal(real[i], batch[i::3].astype("float32"))


def test_train_step_refuses_a_third_backend(monkeypatch):
    gan = WaveGAN(TINY, TrainConfig(batch_size=1, d_steps=1))
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(ConfigError, match=r"KERAS_BACKEND='torch' must be 'tensorflow' or 'jax'"):
        gan.train_step(np.zeros((1, 16384, 2), "float32"))


def test_jax_step_picks_variables_by_identity():
    """The JAX step's bookkeeping: positions of a subset by identity, and copies with some values taken or replaced."""
    from beatgan.gan_jax import positions, put, take

    a, b, c = np.zeros(2), np.zeros(2), np.ones(2)  # a and b are equal but distinct
    assert positions([c, b], [a, b, c]) == [2, 1]
    assert positions([], [a]) == []
    values = ("v0", "v1", "v2", "v3")
    assert take(values, [3, 0]) == ["v3", "v0"]
    assert put(values, [3, 0], ["x", "y"]) == ["y", "v1", "v2", "x"]
    assert values == ("v0", "v1", "v2", "v3")  # a copy: the state passed in is left as it was


# --- backend subprocesses -----------------------------------------------------------------------


def _worker_env(backend: str) -> dict:
    """The environment of a worker subprocess: ``backend``, and the same ``beatgan`` as this process imports."""
    import beatgan

    package_root = str(Path(beatgan.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path}


def _run_worker(backend: str, out: Path, peer: Path | None = None) -> dict:
    out.mkdir()
    worker = Path(__file__).with_name("_backend_worker.py")
    env = _worker_env(backend)
    command = [sys.executable, str(worker), str(out)] + ([str(peer)] if peer else [])
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    with np.load(out / "results.npz") as results:
        return {key: results[key] for key in results.files}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("backends")
    tf_results = _run_worker("tensorflow", root / "tensorflow")
    jax_results = _run_worker("jax", root / "jax", peer=root / "tensorflow")
    return {"tensorflow": tf_results, "jax": jax_results, "root": root}


@pytest.mark.slow
def test_backends_agree_given_the_same_weights_batches_and_noise(runs):
    tf_run, jax_run = runs["tensorflow"], runs["jax"]
    assert (tf_run["backend"], jax_run["backend"]) == ("tensorflow", "jax")
    np.testing.assert_allclose(jax_run["fixed_logs"], tf_run["fixed_logs"], atol=1e-4, rtol=1e-4)
    keys = [k for k in tf_run if k.startswith("fixed_weights/")]
    assert len(keys) == 24
    for key in keys:
        np.testing.assert_allclose(jax_run[key], tf_run[key], atol=1e-4, err_msg=key)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_training_is_finite_and_updates_both_networks(runs, backend):
    run = runs[backend]
    assert np.isfinite(run["random_a_logs"]).all()
    assert run["random_a_iterations"].tolist() == [15, 3]  # 3 generator steps of 5 critic updates
    unchanged = run["random_keys"][~run["random_changed"]].tolist()
    # the critic's output bias cancels in mean D(fake) - mean D(real) and the penalty ignores it
    assert unchanged == ["discriminator/score/bias"]
    assert any(k.startswith("generator/") for k in run["random_keys"])


@pytest.mark.slow
def test_tensorflow_training_is_repeatable_for_a_seed(runs):
    run = runs["tensorflow"]
    np.testing.assert_array_equal(run["random_a_init"], run["random_b_init"])
    np.testing.assert_array_equal(run["random_a_logs"], run["random_b_logs"])
    np.testing.assert_array_equal(run["random_a_final"], run["random_b_final"])


@pytest.mark.slow
def test_generator_weights_load_under_the_other_backend(runs):
    tf_run, jax_run = runs["tensorflow"], runs["jax"]
    np.testing.assert_allclose(jax_run["peer_generator_out"], tf_run["generator_out"], atol=1e-5)
    # and JAX's export loads in this process
    generator, config = load_generator(runs["root"] / "jax" / "generator")
    z = np.random.default_rng(2).uniform(-1, 1, (3, config.latent_dim)).astype("float32")
    out = keras.ops.convert_to_numpy(generator(z, training=False))
    np.testing.assert_allclose(out, jax_run["generator_out"], atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_mixed_precision_step_gives_finite_losses(runs, backend):
    run = runs[backend]
    assert str(run["mixed_compute_dtype"]) == "bfloat16"
    assert np.isfinite(run["mixed_logs"]).all()
    assert run["mixed_variable_dtypes"].tolist() == ["float32"]  # weights and Adam moments
    assert run["mixed_log_dtypes"].tolist() == ["float32"]  # losses and penalty


# --- LoopBatches ----------------------------------------------------------------------------------


def _audio(n=10, length=16384):
    return np.arange(n, dtype=np.float64)[:, None, None] * np.ones((1, length, 1))


@pytest.mark.parametrize("n, batch_size, d_steps", [(10, 2, 5), (50, 4, 5), (3, 2, 5)])
def test_loop_batches_shape_dtype_and_rows(n, batch_size, d_steps):
    batches = LoopBatches(_audio(n), batch_size=batch_size, d_steps=d_steps, seed=0, steps=4)
    assert len(batches) == 4
    batch = batches[0]
    assert batch.shape == (batch_size * d_steps, 16384, 1) and batch.dtype == np.float32
    rows = batch[:, 0, 0].astype(int)
    np.testing.assert_array_equal(rows, batches.indices(0))
    if n >= batch_size * d_steps:  # distinct examples within a step when there are enough
        assert len(set(rows)) == len(rows)


def test_loop_batches_are_deterministic_and_resume_exactly():
    audio = _audio(40)
    full = LoopBatches(audio, batch_size=2, d_steps=5, seed=3, steps=8)
    again = LoopBatches(audio, batch_size=2, d_steps=5, seed=3, steps=8)
    resumed = LoopBatches(audio, batch_size=2, d_steps=5, seed=3, steps=8, start_step=5)
    other_seed = LoopBatches(audio, batch_size=2, d_steps=5, seed=4, steps=8)
    assert len(resumed) == 3
    for i in range(8):
        np.testing.assert_array_equal(full[i], again[i])
    for i in range(3):
        np.testing.assert_array_equal(resumed[i], full[5 + i])
    assert not np.array_equal(full[0], other_seed[0])
    assert not np.array_equal(full[0], full[1])
    with pytest.raises(IndexError):
        resumed[3]


@pytest.mark.parametrize(
    "changes, error, match",
    [
        ({"batch_size": 0}, ConfigError, "batch_size=0"),
        ({"d_steps": -1}, ConfigError, "d_steps=-1"),
        ({"steps": 2.5}, ConfigError, "steps=2.5"),
        ({"seed": -1}, ConfigError, "seed=-1"),
        ({"start_step": 11}, ConfigError, r"start_step=11 .*\[0, steps=10\]"),
        ({"audio": np.zeros((4, 16384))}, DatasetError, r"\(4, 16384\)"),
        ({"audio": np.zeros((0, 16384, 2))}, DatasetError, "N > 0"),
    ],
)
def test_loop_batches_reject_bad_arguments(changes, error, match):
    arguments = {"audio": _audio(4), "batch_size": 2, "d_steps": 5, "seed": 0, "steps": 10, **changes}
    with pytest.raises(error, match=match):
        LoopBatches(arguments.pop("audio"), **arguments)


# --- generator steps (either backend) against the formulas, computed independently ---------------


def _tf_only():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the independent computation uses tf.GradientTape")


def _value_and_grad(f, x, *args):
    """``((value, aux), d value / d x)`` of ``f(x, *args) -> (scalar, aux)``, by this backend's own autodiff."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.value_and_grad(f, has_aux=True)(x, *args)
    import tensorflow as tf

    x = tf.nest.map_structure(tf.convert_to_tensor, x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value, aux = f(x, *args)
    return (value, aux), tape.gradient(value, x)


def _reference_steps(gan, batches, noise, lr, replicas=1, replica=0):
    """Per-step losses and the final weights of SGD(lr) generator steps on ``batches``, written out here.

    Only the networks' forward passes (``stateless_call``) are the package's; the minibatch layout,
    the interpolates, the penalty (the backend's autodiff, per-example norms), both losses, the
    update order and SGD are spelled out from the WGAN-GP algorithm. With ``replicas > 1`` this is
    replica ``replica`` of a data-parallel step: its rows of the global noise, and a gradient that
    the other replicas' (here: zero) gradients are summed to, so its loss is divided by ``replicas``.
    """
    ops = keras.ops
    generator, critic = gan.generator, gan.discriminator
    d_steps, gp_weight = gan.train_config.d_steps, gan.train_config.gp_weight
    g_vars = [ops.convert_to_tensor(ops.convert_to_numpy(v)) for v in generator.trainable_variables]
    d_vars = [ops.convert_to_tensor(ops.convert_to_numpy(v)) for v in critic.trainable_variables]
    d_state = [ops.convert_to_tensor(ops.convert_to_numpy(v)) for v in critic.non_trainable_variables]
    z_d, alpha, z_g = noise

    def score(d_vars, d_state, x):
        return critic.stateless_call(d_vars, d_state, x, training=True)  # (B, 1), new seed states

    def critic_loss(d_vars, d_state, real, fake, alpha):
        d_real, d_state = score(d_vars, d_state, real)
        d_fake, d_state = score(d_vars, d_state, fake)
        x_hat = real + alpha * (fake - real)

        def summed(x, state):
            out, state = score(d_vars, state, x)
            return ops.sum(out), state

        (_, d_state), grad = _value_and_grad(summed, x_hat, d_state)
        gp = ops.mean((ops.sqrt(ops.sum(grad**2, axis=(1, 2)) + 1e-12) - 1.0) ** 2)
        wasserstein = ops.mean(d_real) - ops.mean(d_fake)
        return -wasserstein + gp_weight * gp, (d_state, gp, wasserstein)

    def generator_loss(g_vars, d_vars, d_state, z):
        fake, _ = generator.stateless_call(g_vars, [], z, training=True)
        out, d_state = score(d_vars, d_state, fake)
        return -ops.mean(out), d_state

    def sgd(values, grads):
        return [v - lr * g / replicas for v, g in zip(values, grads)]

    local = len(batches[0]) // d_steps
    rows = slice(replica * local, (replica + 1) * local)
    logs = []
    for step, batch in enumerate(batches):
        updates = []
        for i in range(d_steps):
            real = ops.convert_to_tensor(batch[i::d_steps])  # example-major: row b * d_steps + i
            fake, _ = generator.stateless_call(g_vars, [], z_d[i, rows], training=True)
            (d_loss, (d_state, gp, wasserstein)), grads = _value_and_grad(
                critic_loss, d_vars, d_state, real, fake, alpha[i, rows])
            d_vars = sgd(d_vars, grads)
            updates.append([float(d_loss), float(gp), float(wasserstein)])
        (g_loss, d_state), grads = _value_and_grad(generator_loss, g_vars, d_vars, d_state, z_g[rows])
        g_vars = sgd(g_vars, grads)
        d_loss, gp, wasserstein = np.mean(updates, axis=0)
        logs.append([d_loss, float(g_loss), gp, wasserstein])
    as_numpy = ops.convert_to_numpy
    return np.array(logs), [as_numpy(v) for v in g_vars], [as_numpy(v) for v in d_vars], [as_numpy(v) for v in d_state]


class _ReplicaShare:
    """TensorFlow's default replica context, seen as replica ``replica`` of ``replicas`` (the others idle)."""

    def __init__(self, context, replicas, replica):
        self._context, self.num_replicas_in_sync, self.replica_id_in_sync_group = context, replicas, replica

    def __getattr__(self, name):
        return getattr(self._context, name)


class _StepLogs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        self.rows.append([float(logs[k]) for k in ("d_loss", "g_loss", "gp", "wasserstein")])


@pytest.mark.parametrize("replicas, replica", [(1, 0), (2, 1), (None, 0)])
def test_steps_with_fixed_noise_and_shifts_equal_the_formulas(monkeypatch, replicas, replica):
    """Two generator steps of two critic updates, phase shuffle on, SGD: logs and weights as written out here.

    ``replicas=2``: the step as replica 1 of 2; None: called where TensorFlow has no replica context
    (a strategy's cross-replica context), which counts as one replica.
    """
    if replicas != 1:
        _tf_only()  # a TensorFlow replica runs the step on its share; JAX's step always sees the global batch
    outside = replicas is None
    replicas = replicas or 1
    worker = _adam_worker_module()
    monkeypatch.setattr(keras.random, "randint", worker.fixed_randint)  # shifts from the layers' seed states
    local, d_steps, steps, lr = 3, 2, 2, 1e-3  # local != d_steps: the step must tell them apart
    train = TrainConfig(batch_size=local, d_steps=d_steps, seed=worker.SEED, gp_weight=7.0)
    rng = np.random.default_rng(8)
    noise = (rng.uniform(-1, 1, (d_steps, replicas * local, 100)).astype("float32"),
             rng.uniform(0, 1, (d_steps, replicas * local, 1, 1)).astype("float32"),
             rng.uniform(-1, 1, (replicas * local, 100)).astype("float32"))

    class FixedNoise(WaveGAN):
        def draw_step_noise(self, batch_size):  # the first batch_size rows: the step must ask for the global batch
            z_d, alpha, z_g = (keras.ops.convert_to_tensor(x) for x in noise)
            return z_d[:, :batch_size], alpha[:, :batch_size], z_g[:batch_size]

    gan = FixedNoise(ModelConfig(model_dim=2, channels=1, phase_shuffle=2), train)
    # TensorFlow: eagerly, as tracing this step takes tens of seconds on a busy CPU (the graph step
    # runs in test_one_generator_step_in_this_process and in the Adam check); JAX: jitted, as always
    gan.compile(d_optimizer=keras.optimizers.SGD(lr), g_optimizer=keras.optimizers.SGD(lr),
                run_eagerly=keras.backend.backend() == "tensorflow")
    batches = LoopBatches(_batch(rng, (8, 16384, 1)) * 0.5, batch_size=local, d_steps=d_steps, seed=0, steps=steps)
    logs, g_after, d_after, seeds_after = _reference_steps(gan, [batches[k] for k in range(steps)], noise, lr,
                                                            replicas=replicas, replica=replica)
    if replicas > 1 or outside:
        import tensorflow as tf

        context = tf.distribute.get_replica_context
        monkeypatch.setattr(tf.distribute, "get_replica_context",
                            lambda: None if outside else _ReplicaShare(context(), replicas, replica))
    record = _StepLogs()
    gan.fit(batches, epochs=1, shuffle=False, verbose=0, callbacks=[record])

    # fit logs running means over the epoch
    means = np.cumsum(logs, axis=0) / np.arange(1, steps + 1)[:, None]
    np.testing.assert_allclose(record.rows, means, rtol=1e-4, atol=1e-5)
    assert logs[0, 2] > 0 and not np.allclose(logs[0], logs[1])
    for network, expected in ((gan.generator, g_after), (gan.discriminator, d_after)):
        for variable, want in zip(network.trainable_variables, expected):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), want, atol=2e-6, err_msg=variable.path)
    seeds = [keras.ops.convert_to_numpy(v) for v in gan.discriminator.non_trainable_variables]
    np.testing.assert_array_equal(seeds, seeds_after)
    # each critic call (real, fake, penalty per update; one in the generator update) drew one shift per layer
    assert [s.tolist() for s in seeds] == [[worker.SEED + i, steps * (3 * d_steps + 1)] for i in range(len(seeds))]


# --- Adam, phase shuffle on, several steps: both backends against a computation written here ------


def _adam_worker_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_adam_worker", Path(__file__).with_name("_adam_worker.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_adam_worker(backend: str, out: Path, shape: tuple[int, int, int, int], init: Path | None = None) -> dict:
    out.mkdir()
    env = _worker_env(backend)
    command = [sys.executable, str(Path(__file__).with_name("_adam_worker.py")), str(out), *map(str, shape)]
    done = subprocess.run(command + ([str(init)] if init else []), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    with np.load(out / "results.npz") as results:
        return {key: results[key] for key in results.files}


def _adam(weights, grads, moments, t, lr=1e-4, beta_1=0.5, beta_2=0.9, epsilon=1e-7):
    """WGAN-GP's Adam (Gulrajani et al.: lr 1e-4, betas 0.5 / 0.9; Keras' epsilon), update ``t`` (1-based), float64."""
    new = []
    for i, (w, g) in enumerate(zip(weights, grads)):
        m, v = moments.get(i, (0.0, 0.0))
        m, v = beta_1 * m + (1 - beta_1) * g, beta_2 * v + (1 - beta_2) * g * g
        moments[i] = (m, v)
        new.append(w - lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (np.sqrt(v) + epsilon))
    return new


def _recompute_adam_run(run, shape, worker, tf):
    """Each step's losses, and the weights after it, from the weights recorded before it.

    Written out here with ``tf.GradientTape`` and numpy: the minibatches, the penalty, the
    losses and Adam; only the two networks' forward passes are the package's.
    """
    from beatgan.model import build_generator

    model_dim, batch, d_steps, steps = shape
    config = ModelConfig(model_dim=model_dim, phase_shuffle=2)
    generator, critic = build_generator(config), build_discriminator(config, seed=worker.SEED)
    shuffles = [layer for layer in critic.layers if "phase_shuffle" in layer.name]
    assert [layer.name for layer in shuffles] == run["shuffle_layers"].tolist()
    z_d, alpha, z_g = worker.fixed_noise(d_steps, batch)
    examples = worker.audio_examples()

    def weights_at(step, net):
        return [run[f"w{step}/{net.name}/{v.path}"].astype(np.float64) for v in net.trainable_variables]

    def load(net, values):
        for variable, value in zip(net.trainable_variables, values):
            variable.assign(value.astype(np.float32))

    losses, after, d_moments, g_moments = [], [], {}, {}
    for step in range(steps):
        rows = np.random.default_rng([5, step]).choice(len(examples), size=batch * d_steps,
                                                          replace=len(examples) < batch * d_steps)
        minibatches = examples[rows].reshape(d_steps, batch, 16384, 2)  # the i-th run of draws is minibatch i
        d_weights, g_weights = weights_at(step, critic), weights_at(step, generator)
        load(generator, g_weights)
        d_logs = []
        for i in range(d_steps):
            load(critic, d_weights)
            real = tf.constant(minibatches[i])
            fake = generator(z_d[i], training=True)
            with tf.GradientTape() as tape:
                d_real, d_fake = critic(real, training=True), critic(fake, training=True)  # order: as the step
                x_hat = real + alpha[i] * (fake - real)
                with tf.GradientTape() as inner:
                    inner.watch(x_hat)
                    total = tf.reduce_sum(critic(x_hat, training=True))
                norms = tf.sqrt(tf.reduce_sum(inner.gradient(total, x_hat) ** 2, axis=[1, 2]) + 1e-12)
                gp = tf.reduce_mean((norms - 1.0) ** 2)
                wasserstein = tf.reduce_mean(d_real) - tf.reduce_mean(d_fake)
                d_loss = -wasserstein + 10.0 * gp
            grads = [g.numpy().astype(np.float64) for g in tape.gradient(d_loss, critic.trainable_variables)]
            d_weights = _adam(d_weights, grads, d_moments, step * d_steps + i + 1)
            d_logs.append([float(d_loss), float(gp), float(wasserstein)])
        load(critic, d_weights)
        with tf.GradientTape() as tape:
            g_loss = -tf.reduce_mean(critic(generator(z_g, training=True), training=True))
        grads = [g.numpy().astype(np.float64) for g in tape.gradient(g_loss, generator.trainable_variables)]
        g_weights = _adam(g_weights, grads, g_moments, step + 1)
        d_loss, gp, wasserstein = np.mean(d_logs, axis=0)
        losses.append([d_loss, float(g_loss), gp, wasserstein])
        after.append({"generator": g_weights, "discriminator": d_weights})
        calls = (step + 1) * (3 * d_steps + 1)  # critic calls so far: real, fake, penalty per update; one for G
        for i, layer in enumerate(shuffles):
            assert keras.ops.convert_to_numpy(layer.seed_generator.state).tolist() == [worker.SEED + i, calls]
    return np.array(losses), after, generator, critic


def _check_adam_runs(tmp_path, monkeypatch, shape):
    _tf_only()
    import tensorflow as tf

    worker = _adam_worker_module()
    tf_run = _run_adam_worker("tensorflow", tmp_path / "tensorflow", shape)
    jax_run = _run_adam_worker("jax", tmp_path / "jax", shape, init=tmp_path / "tensorflow" / "results.npz")
    assert (str(tf_run["backend"]), str(jax_run["backend"])) == ("tensorflow", "jax")
    monkeypatch.setattr(keras.random, "randint", worker.fixed_randint)  # the workers' phase shifts
    losses, after, generator, critic = _recompute_adam_run(tf_run, shape, worker, tf)

    # the shifts are not all zero: in training the critic scores a batch differently than outside it
    x = worker.audio_examples()[:2]
    assert not np.allclose(critic(x, training=True).numpy(), critic(x, training=False).numpy(), atol=1e-7)
    steps = shape[3]
    for run in (tf_run, jax_run):
        backend = str(run["backend"])
        assert run["logs"].shape == (steps, 4)
        np.testing.assert_allclose(run["logs"], losses, rtol=1e-4, atol=1e-5, err_msg=backend)
        for step in range(steps):
            for net in (generator, critic):
                for variable, expected in zip(net.trainable_variables, after[step][net.name]):
                    key = f"w{step + 1}/{net.name}/{variable.path}"
                    changed = np.abs(run[key] - run[f"w{step}/{net.name}/{variable.path}"]).max()
                    assert changed > 0 or variable.path == "score/bias", key  # the bias gets no gradient
                    # Adam divides by the gradient's running RMS: where a gradient is ~0 (cancellation) the
                    # backends' float32 round-off moves an element by up to about one step (lr = 1e-4). A wrong
                    # rate, beta, epsilon or sign moves most elements by about a step, so the bulk is held to a
                    # fifth of one and the mean to a twentieth (99 % measured within 2e-6 on an AVX-512 CPU, 6.8e-6
                    # for XLA's JAX on an AVX2 one, mean up to 1.1e-6, whose float32 sums run in another order).
                    diff = np.abs(run[key] - expected)
                    assert diff.max() < 3e-4, f"{backend} {key}: {diff.max():.3g}"
                    assert np.quantile(diff, 0.99) < 2e-5, f"{backend} {key}: {np.quantile(diff, 0.99):.3g}"
                    assert diff.mean() < 5e-6, f"{backend} {key}: {diff.mean():.3g}"
    np.testing.assert_allclose(jax_run["logs"], tf_run["logs"], rtol=1e-5, atol=1e-6)


def test_adam_steps_with_phase_shuffle_agree_across_backends_and_with_the_formulas(tmp_path, monkeypatch):
    """TensorFlow and JAX: 3 generator steps of 2 critic updates, Adam, phase shuffle on; tiny networks."""
    _check_adam_runs(tmp_path, monkeypatch, (2, 2, 2, 3))


@pytest.mark.slow
def test_adam_steps_with_phase_shuffle_agree_at_the_default_critic_updates(tmp_path, monkeypatch):
    """As above with WaveGAN's 5 critic updates per generator step, batch 3, model_dim 4."""
    _check_adam_runs(tmp_path, monkeypatch, (4, 3, 5, 3))


# --- issue 25: WaveGAN's option set and the small-data levers --------------------------------------------

def test_the_paper_defaults_give_the_losses_of_before_the_options():
    """Golden losses of three steps of a tiny default run, recorded with the code before issue 25 (5e296d2)."""
    from beatgan.run import train

    audio = np.random.default_rng(11).uniform(-0.8, 0.8, (12, 16384, 2)).astype(np.float32)
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as run_dir:
        train(audio, run_dir, model_config=TINY, train_config=TrainConfig(batch_size=2, d_steps=2, steps=3, seed=4),
              progress=False, eval_every=0, tensorboard=False, log_every=1)
        rows = [json.loads(x) for x in Path(run_dir, "metrics.jsonl").read_text().splitlines()]
    got = np.array([[r[k] for k in ("d_loss", "g_loss", "gp", "wasserstein")] for r in rows if "d_loss" in r])
    before = {  # d_loss, g_loss, gp, wasserstein per step
        "tensorflow": [[8.211912155151367, 0.00010722813749453053, 0.8209919929504395, -0.001992927398532629],
                       [8.082080841064453, -0.0002537498949095607, 0.8090347051620483, 0.008265954442322254],
                       [8.158482551574707, 0.0001676268584560603, 0.815596342086792, -0.0025190645828843117]],
        "jax": [[7.711806297302246, -0.00035029082209803164, 0.7706780433654785, -0.005025844089686871],
                [7.48851203918457, -9.28231020225212e-05, 0.7517278790473938, 0.028767088428139687],
                [7.48030948638916, 0.0003302613040432334, 0.7523864507675171, 0.04355473816394806]],
    }[keras.backend.backend()]
    # the same on this machine bit for bit; other CPUs round differently, so a small tolerance
    np.testing.assert_allclose(got, before, rtol=1e-4, atol=1e-6)


def test_ema_decay_warms_up_as_tensorflows():
    from beatgan.gan import ema_decay_at

    got = [float(keras.ops.convert_to_numpy(ema_decay_at(0.999, step))) for step in (1, 10, 100, 10_000, 10**6)]
    np.testing.assert_allclose(got, [2 / 11, 11 / 20, 101 / 110, 0.999, 0.999], rtol=1e-6)
    assert float(keras.ops.convert_to_numpy(ema_decay_at(0.5, 30))) == pytest.approx(0.5)  # 31/40 > 0.5


def test_make_optimizers_follow_the_loss():
    d_opt, g_opt = make_optimizers(TrainConfig(loss="wgan"))
    assert isinstance(d_opt, keras.optimizers.RMSprop) and isinstance(g_opt, keras.optimizers.RMSprop)
    assert float(d_opt.learning_rate) == pytest.approx(5e-5) and d_opt.rho == 0.9 and d_opt.epsilon == 1e-10
    d_opt, _ = make_optimizers(TrainConfig(loss="dcgan"))
    assert isinstance(d_opt, keras.optimizers.Adam) and (d_opt.beta_1, d_opt.beta_2) == (0.5, 0.999)
    assert float(d_opt.learning_rate) == pytest.approx(2e-4)


def test_minibatch_std_needs_a_batch_of_whole_groups():
    with pytest.raises(ConfigError, match="batch_size=6 must be a multiple of minibatch_std=4"):
        WaveGAN(ModelConfig(model_dim=2, minibatch_std=4), TrainConfig(batch_size=6))


def test_one_draw_of_augmentations_transforms_real_and_fake_alike(monkeypatch):
    from beatgan import critic_augment

    calls = []
    original = critic_augment.apply

    def spy(audio, params):
        calls.append((id(params), sorted(params)))
        return original(audio, params)

    monkeypatch.setattr(critic_augment, "apply", spy)
    config = TrainConfig(batch_size=2, d_steps=3, seed=1, critic_augment="all")
    gan = WaveGAN(TINY, config)
    gan.compile()
    audio = _batch(np.random.default_rng(2), (6, 16384, 2)) * 0.5
    history = gan.fit(LoopBatches(audio, batch_size=2, d_steps=3, seed=0, steps=1), epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"][-1])
    # traced once: per critic update real and generated through the same draw, then the generator's own
    pairs = [calls[i:i + 2] for i in range(0, len(calls) - 1, 2)]
    assert all(a[0] == b[0] and a[1] == list(sorted(["sign", "swap", "gain", "shift", "noise"])) for a, b in pairs)
    assert len(calls) in (2 * 3 + 1, 2 + 1)  # unrolled (TensorFlow) or one scanned update (JAX)
    assert calls[-1][0] != calls[-2][0]


def test_lazy_penalty_is_k_times_the_penalty_on_every_kth_critic_update():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the TensorFlow step's penalty term; the JAX one is compared with it in the options worker")
    gan = WaveGAN(ModelConfig(model_dim=2, phase_shuffle=0), TrainConfig(batch_size=2, gp_every=3))
    gan.compile()
    rng = np.random.default_rng(5)
    real, fake = _batch(rng, (2, 16384, 2)), _batch(rng, (2, 16384, 2)) * 0.1
    alpha = rng.uniform(0, 1, (2, 1, 1)).astype("float32")
    full = float(gradient_penalty(gan.discriminator, real, fake, alpha))
    terms = []
    for iteration in range(4):
        gan.d_optimizer.iterations.assign(iteration)
        terms.append(float(gan._penalty_tensorflow(real, fake, alpha)))
    np.testing.assert_allclose(terms, [3 * full, 0.0, 0.0, 3 * full], rtol=1e-6)


@pytest.fixture(scope="module")
def option_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("options")
    worker = Path(__file__).with_name("_options_worker.py")
    out = {}
    for backend, peer in (("tensorflow", None), ("jax", root / "tensorflow")):
        (root / backend).mkdir()
        command = [sys.executable, str(worker), str(root / backend)] + ([str(peer)] if peer else [])
        done = subprocess.run(command, env=_worker_env(backend), capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-4000:]
        with np.load(root / backend / "results.npz") as results:
            out[backend] = {key: results[key] for key in results.files}
    return out


OPTION_CASES = ("nearest", "post_filter", "batchnorm", "minibatch_std", "wgan", "dcgan", "lsgan", "hinge",
                "gp_every", "ema", "critic_augment")


@pytest.mark.slow
@pytest.mark.parametrize("case", OPTION_CASES)
def test_each_option_agrees_across_backends(option_runs, case):
    tf_run, jax_run = option_runs["tensorflow"], option_runs["jax"]
    logs = tf_run[f"{case}/logs"]
    assert logs.shape == (2, 4) and np.isfinite(logs).all()
    # nearest's generator starts six times louder, which amplifies float32 rounding in the critic's updates
    # (the penalty's gradients themselves agree to 4e-6, relative); every other case agrees to about 1e-7
    tolerance = 1e-3 if case == "nearest" else 1e-5
    np.testing.assert_allclose(jax_run[f"{case}/logs"], logs, rtol=tolerance, atol=tolerance)
    keys = [k for k in tf_run if k.startswith(f"{case}/weights/")]
    assert keys
    for key in keys:
        np.testing.assert_allclose(jax_run[key], tf_run[key], atol=tolerance, err_msg=key)
    if case in ("wgan",):  # every critic weight clipped to 0.01
        critic = [k for k in keys if "/discriminator/" in k]
        assert max(np.abs(tf_run[k]).max() for k in critic) <= 0.01 + 1e-7
    if case in ("dcgan", "lsgan", "hinge", "wgan"):
        assert (logs[:, 2] == 0).all()  # no penalty outside wgan-gp


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_ema_follows_its_recurrence(option_runs, backend):
    run = option_runs[backend]
    generators, averages = run["ema/generators"], run["ema/averages"]  # after each step; the start first
    assert len(averages) == len(generators) + 1
    np.testing.assert_array_equal(averages[0], option_runs["tensorflow"]["ema/averages"][0])
    want = averages[0]
    for step, weights in enumerate(generators, start=1):
        decay = min(0.75, (1 + step) / (10 + step))  # ema_decay 0.75 with TensorFlow's warm-up
        want = decay * want + (1 - decay) * weights  # ema = d * ema + (1 - d) * weights
        np.testing.assert_allclose(averages[step], want, atol=1e-7)
    assert not np.allclose(averages[-1], generators[-1])


def test_frozen_critic_layers_do_not_change_and_the_rest_trains():
    """freeze_critic=N (Freeze-D): the critic's first N convolutions keep their weights through training."""
    config = TrainConfig(batch_size=2, d_steps=1, seed=4, freeze_critic=2)
    gan = WaveGAN(TINY, config)
    gan.compile()
    convs = {layer.name: [np.array(keras.ops.convert_to_numpy(v.value)) for v in layer.weights]
             for layer in gan.discriminator.layers if layer.name.startswith("conv_")}
    assert not any(v.path.startswith(("discriminator/conv_0/", "discriminator/conv_1/"))
                   for v in gan.discriminator.trainable_variables)
    audio = _batch(np.random.default_rng(5), (4, 16384, 2)) * 0.5
    gan.fit(LoopBatches(audio, batch_size=2, d_steps=1, seed=0, steps=2), epochs=1, verbose=0)
    after = {layer.name: [np.array(keras.ops.convert_to_numpy(v.value)) for v in layer.weights]
             for layer in gan.discriminator.layers if layer.name.startswith("conv_")}
    for name in convs:
        same = all(np.array_equal(a, b) for a, b in zip(convs[name], after[name]))
        assert same == (name in ("conv_0", "conv_1")), name
    with pytest.raises(ConfigError, match=r"freeze_critic=6 must be at most 5, the critic's convolution layers"):
        WaveGAN(TINY, config.replace(freeze_critic=6))
    with pytest.raises(ConfigError, match=r"freeze_critic=-1 must be an integer >= 0"):
        TrainConfig(freeze_critic=-1)
