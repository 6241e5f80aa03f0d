"""The GAN: WaveGAN's two networks trained with WGAN-GP as one Keras model, and its TensorFlow step.

:class:`WaveGAN` holds both networks and their two Adam optimizers; one call of
``train_step`` (one ``fit`` batch) is one **generator** step: ``d_steps``
discriminator updates, each on its own real minibatch, then one generator
update, as WaveGAN counts steps. The losses and the penalty are the pure
functions of :mod:`beatgan.losses`; phase shuffle is active (``training=True``)
in every discriminator call, the penalty's included.

The TensorFlow step (``tf.GradientTape``, graph mode) lives here and the
stateless JAX step in :mod:`beatgan.gan_jax`, chosen by ``keras.backend.backend()``;
:class:`LoopBatches` feeds both. Both run data-parallel over several devices
under :func:`beatgan.backend.data_parallel`.

Repeatability: the same seed gives the same weights, noise, phase shifts and
batches. On a TensorFlow CPU two runs then give bit-identical losses (tested)
without ``tf.config.experimental.enable_op_determinism()``; GPU kernels may need it.

Examples
--------
>>> gan = WaveGAN(ModelConfig(model_dim=4), TrainConfig(batch_size=2, steps=3))  # doctest: +SKIP
>>> gan.compile()  # doctest: +SKIP
>>> gan.fit(LoopBatches(audio, batch_size=2, d_steps=5, seed=0, steps=3), epochs=1)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from beatgan import critic_augment
from beatgan.backend import keras, ops, resolve_precision  # Keras imported quietly, after the backend is chosen
from beatgan.config import ModelConfig, TrainConfig, check_positive_int, check_seed
from beatgan.errors import ConfigError, DatasetError
from beatgan.losses import (METRIC_NAMES, WGAN_CLIP, adversarial_loss, discriminator_loss, ema_decay_at,
                            interpolate, penalty_from_gradients)
from beatgan.model import build_discriminator, build_generator


def make_optimizers(train_config: TrainConfig) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """Return the two optimizers, ``(discriminator, generator)``.

    Parameters
    ----------
    train_config : TrainConfig
        Supplies ``optimizer`` (adam, or rmsprop), the learning rates and Adam's ``beta_1`` /
        ``beta_2``; for the default wgan-gp loss WGAN-GP's Adam(1e-4, 0.5, 0.9).

    Returns
    -------
    tuple of keras.optimizers.Optimizer
        Unbuilt optimizers named ``d_optimizer`` and ``g_optimizer``. RMSProp as TensorFlow 1's
        (the reference's): decay 0.9, no momentum, epsilon 1e-10.
    """
    def make(rate: float, name: str) -> keras.optimizers.Optimizer:
        if train_config.optimizer == "rmsprop":
            return keras.optimizers.RMSprop(rate, rho=0.9, momentum=0.0, epsilon=1e-10, name=name)
        return keras.optimizers.Adam(rate, beta_1=train_config.beta_1, beta_2=train_config.beta_2, name=name)

    return make(train_config.d_learning_rate, "d_optimizer"), make(train_config.g_learning_rate, "g_optimizer")


def gradient_penalty(discriminator: keras.Model, real, fake, alpha, *, training: bool = True):
    """WGAN-GP gradient penalty with a per-example gradient norm.

    Parameters
    ----------
    discriminator : keras.Model
        The critic, float32 (B, T, C) -> (B, 1).
    real, fake : array-like
        float32 (B, T, C) audio in [-1, 1]: a real minibatch and generator output.
    alpha : array-like
        float32 (B, 1, 1) interpolation weights in [0, 1].
    training : bool, optional
        Passed to the critic; True keeps phase shuffle active, as in training.

    Returns
    -------
    scalar tensor
        float32 ``mean_b (||dD(x_hat)/dx_hat [b]||_2 - 1)^2``, the norm over time and
        channels with 1e-12 inside the square root. Differentiable with respect to
        the critic's weights on TensorFlow (under an outer ``GradientTape``); on JAX
        it uses the critic's current weights (the training step has its own
        stateless version in :mod:`beatgan.gan_jax`).
    """
    x_hat = interpolate(real, fake, alpha)  # (B, T, C)
    if keras.backend.backend() == "jax":
        from beatgan.gan_jax import stateless_gradient_penalty  # here: jax is imported only under its backend

        variables = (
            [v.value for v in discriminator.trainable_variables],
            [v.value for v in discriminator.non_trainable_variables],
        )
        gp, _ = stateless_gradient_penalty(discriminator, *variables, x_hat, training=training)
        return gp
    import tensorflow as tf  # here: only the TensorFlow backend needs it

    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        # the examples are independent (no batch norm), so d(sum of scores)/dx_hat holds each one's gradient
        score = ops.sum(ops.cast(discriminator(x_hat, training=training), "float32"))
    return penalty_from_gradients(tape.gradient(score, x_hat))


def default_jit_compile() -> bool:
    """XLA for JAX (its trainer always compiles) and for TensorFlow on GPU; plain graphs on a TF CPU, where they are faster."""
    if keras.backend.backend() == "jax":
        return True
    import tensorflow as tf  # here: only the TensorFlow backend needs it

    return bool(tf.config.list_physical_devices("GPU"))


class WaveGAN(keras.Model):
    """WaveGAN's generator and discriminator trained together with WGAN-GP.

    Building seeds every random source from ``train_config.seed``: it calls
    ``keras.utils.set_random_seed(seed)`` (Python, NumPy, TensorFlow and Keras'
    global generator) before creating the networks, so the initial weights are
    the same for the same seed and backend; latents and interpolation weights
    come from ``self.seed_generator``, phase shifts from the critic's layers
    (seeded ``seed + i``). With ``train_config.precision`` bfloat16 (or auto, where the
    device computes it natively) the networks are built under the ``"mixed_bfloat16"`` policy (float32 weights, bfloat16
    compute), which is restored afterwards; losses and the penalty stay float32.

    Parameters
    ----------
    model_config : ModelConfig
        Shape of both networks.
    train_config : TrainConfig
        Batch size, ``d_steps``, ``gp_weight``, optimizer settings, seed.
    **kwargs
        Passed to :class:`keras.Model`.

    Attributes
    ----------
    generator, discriminator : keras.Model
        The two networks (see :mod:`beatgan.model`).
    ema_generator : keras.Model or None
        With ``ema_decay`` > 0: the exponential moving average of the generator's weights
        (``ema = d * ema + (1 - d) * weights`` after every generator update, ``d`` =
        :func:`ema_decay_at`; batch-norm statistics copied), not trained itself; None otherwise.
    d_optimizer, g_optimizer : keras.optimizers.Adam
        Set by :meth:`compile`; ``g_optimizer.iterations`` counts generator steps.
    """

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, **kwargs):
        super().__init__(**kwargs)
        self.model_config = model_config
        self.train_config = train_config
        keras.utils.set_random_seed(train_config.seed)
        previous_policy = keras.config.dtype_policy()
        if train_config.precision == "auto":  # a run resolves it first; a bare WaveGAN decides here
            train_config = self.train_config = train_config.replace(precision=resolve_precision("auto")[0])
        if train_config.precision == "bfloat16":
            keras.config.set_dtype_policy("mixed_bfloat16")
        group = model_config.minibatch_std
        if group and train_config.batch_size % group:
            raise ConfigError(f"batch_size={train_config.batch_size} must be a multiple of minibatch_std={group}")
        try:
            self.generator = build_generator(model_config)
            self.discriminator = build_discriminator(model_config, seed=train_config.seed)
            self.ema_generator = None
            if train_config.ema_decay:  # the average starts as the generator and is never trained
                self.ema_generator = build_generator(model_config, name="ema_generator")
                self.ema_generator.set_weights(self.generator.get_weights())
                self.ema_generator.trainable = False
        finally:
            keras.config.set_dtype_policy(previous_policy)
        self._freeze_critic(train_config.freeze_critic)
        self.seed_generator = keras.random.SeedGenerator(train_config.seed)
        if train_config.augmentations:  # a stream of its own: without augmentation nothing else moves
            self.augment_seed_generator = keras.random.SeedGenerator(train_config.seed + 1_000_003)
        self.trackers = [keras.metrics.Mean(name=name) for name in METRIC_NAMES]
        self.d_optimizer = self.g_optimizer = None
        self.built = True  # both networks are built; nothing is left for fit() to infer

    def _freeze_critic(self, count: int) -> None:
        """Leave the critic's first ``count`` convolution layers out of training (their variables non-trainable)."""
        convs = [layer for layer in self.discriminator.layers if layer.name.startswith("conv_")]
        if count > len(convs):
            raise ConfigError(f"freeze_critic={count} must be at most {len(convs)}, the critic's convolution layers "
                              f"at slice_len={self.model_config.slice_len}")
        for layer in convs[:count]:
            layer.trainable = False

    @property
    def metrics(self) -> list[keras.metrics.Mean]:
        """Running means of ``d_loss``, ``g_loss``, ``gp`` and ``wasserstein`` (reset by fit each epoch)."""
        return self.trackers

    def call(self, z, training=False):
        """Generate audio: float32 (B, latent_dim) -> (B, slice_len, channels) in [-1, 1]."""
        return self.generator(z, training=training)

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Set both optimizers and build their state on the networks' variables.

        Parameters
        ----------
        d_optimizer, g_optimizer : keras.optimizers.Optimizer, optional
            Default :func:`make_optimizers` of ``train_config``. Built here, so their
            variables exist (and can be restored from a checkpoint) before the first step.
        **kwargs
            Passed to :meth:`keras.Model.compile` (no ``optimizer``, ``loss`` or
            ``metrics``); ``jit_compile`` defaults to :func:`default_jit_compile`.
        """
        for name in ("optimizer", "loss", "metrics"):
            if name in kwargs:
                raise ConfigError(f"WaveGAN.compile() got {name}=; pass d_optimizer= and g_optimizer= instead")
        defaults = make_optimizers(self.train_config)
        self.d_optimizer = d_optimizer or defaults[0]
        self.g_optimizer = g_optimizer or defaults[1]
        discriminator_ids = {id(v) for v in self.discriminator.trainable_variables}

        def select(variable):
            return self.d_optimizer if id(variable) in discriminator_ids else self.g_optimizer

        # Keras' JAX trainer carries one optimizer's variables through its stateless step;
        # a MultiOptimizer exposes both. The steps below apply d_ and g_optimizer themselves.
        joint = keras.optimizers.MultiOptimizer(select, name="wgan_gp_optimizers")
        kwargs.setdefault("jit_compile", default_jit_compile())
        super().compile(optimizer=joint, **kwargs)
        for optimizer, network in ((self.d_optimizer, self.discriminator), (self.g_optimizer, self.generator)):
            optimizer.build(network.trainable_variables)
        joint.build(self.trainable_variables)  # the inner optimizers are built already: their state is kept

    def draw_step_noise(self, batch_size: int):
        """Draw the random inputs of one generator step from ``self.seed_generator``.

        Subclasses may override it to feed fixed noise (the tests do, to compare backends).

        Returns
        -------
        z_d : tensor
            float32 (d_steps, B, latent_dim) in [-1, 1): latents of each discriminator update.
        alpha : tensor
            float32 (d_steps, B, 1, 1) in [0, 1): interpolation weights of each penalty.
        z_g : tensor
            float32 (B, latent_dim) in [-1, 1): latents of the generator update.
        """
        n, latent = self.train_config.d_steps, self.model_config.latent_dim
        z_d = keras.random.uniform((n, batch_size, latent), -1.0, 1.0, seed=self.seed_generator)
        alpha = keras.random.uniform((n, batch_size, 1, 1), 0.0, 1.0, seed=self.seed_generator)
        z_g = keras.random.uniform((batch_size, latent), -1.0, 1.0, seed=self.seed_generator)
        return z_d, alpha, z_g

    def draw_augment(self, batch_size: int) -> dict:
        """Draw the critic augmentations of one generator step (``d_steps`` + 1 critic calls).

        Returns
        -------
        dict
            :func:`beatgan.critic_augment.draw` of ``train_config.augmentations``, from
            ``self.augment_seed_generator``; empty when augmentation is off.
        """
        names = self.train_config.augmentations
        if not names:
            return {}
        c = self.model_config
        return critic_augment.draw(names, self.augment_seed_generator, self.train_config.d_steps + 1, batch_size,
                                   c.slice_len, c.channels)

    def ema_pairs(self) -> list:
        """``(average variable, generator variable)`` pairs, in ``ema_generator.weights`` order; [] without EMA."""
        if self.ema_generator is None:
            return []
        return list(zip(self.ema_generator.weights, self.generator.weights))

    def split_real(self, data):
        """Split a ``fit`` batch (B * d_steps, T, C) into float32 (d_steps, B, T, C) minibatches.

        The batch is example-major: row ``b * d_steps + i`` is example ``b`` of
        minibatch ``i`` (:class:`LoopBatches` lays its rows out so). A contiguous
        share of the rows, as data parallelism gives each device, thus holds a
        share of every minibatch.
        """
        if isinstance(data, (tuple, list)):
            data = data[0]
        c = self.model_config
        real = ops.reshape(ops.cast(data, "float32"), (-1, self.train_config.d_steps, c.slice_len, c.channels))
        return ops.transpose(real, (1, 0, 2, 3))  # (B, d_steps, T, C) -> (d_steps, B, T, C)

    def critic_loss(self, d_real, d_fake, gp):
        """Return ``(d_loss, wasserstein)`` in float32 (:func:`beatgan.losses.discriminator_loss` of this run's loss)."""
        return discriminator_loss(self.train_config.loss, d_real, d_fake, gp, self.train_config.gp_weight)

    def generator_loss(self, d_fake):
        """Return the generator's float32 loss (:func:`beatgan.losses.adversarial_loss` of this run's loss)."""
        return adversarial_loss(self.train_config.loss, d_fake)

    def train_step(self, *args):
        """One generator step; ``fit`` calls it with ``data`` (TF) or ``(state, data)`` (JAX)."""
        if keras.backend.backend() == "jax":
            from beatgan.gan_jax import train_step_jax  # here: jax is imported only under its backend

            return train_step_jax(self, *args)
        if keras.backend.backend() != "tensorflow":
            raise ConfigError(f"KERAS_BACKEND={keras.backend.backend()!r} must be 'tensorflow' or 'jax'")
        return self._train_step_tensorflow(*args)

    def _penalty_tensorflow(self, real, fake, alpha):
        """The step's float32 penalty term: 0 without wgan-gp; with ``gp_every`` k, k * gp on every k-th update."""
        import tensorflow as tf  # here: only the TensorFlow backend needs it

        tc = self.train_config
        if tc.loss != "wgan-gp":
            return tf.zeros((), "float32")
        if tc.gp_every == 1:
            return gradient_penalty(self.discriminator, real, fake, alpha)
        due = tf.equal(self.d_optimizer.iterations % tc.gp_every, 0)  # counts every critic update of the run
        return tf.cond(due, lambda: float(tc.gp_every) * gradient_penalty(self.discriminator, real, fake, alpha),
                       lambda: tf.zeros((), "float32"))

    def _train_step_tensorflow(self, data):
        import tensorflow as tf  # here: only the TensorFlow backend needs it

        real = self.split_real(data)  # (d_steps, b, T, C): this replica's share b of the global batch B
        # Under tf.distribute each replica runs this step on its share; the optimizers sum the
        # replicas' gradients, so each loss is divided by the replica count (global-batch mean).
        replica = tf.distribute.get_replica_context()
        replicas = replica.num_replicas_in_sync if replica is not None else 1
        local = real.shape[1] if real.shape[1] is not None else ops.shape(real)[1]
        tc = self.train_config
        z_d, alpha, z_g = self.draw_step_noise(local * replicas)  # the global batch's noise
        augment = self.draw_augment(local * replicas)  # {} when off
        if replicas > 1:  # this replica's rows of it, the same ones as its rows of the data
            first = replica.replica_id_in_sync_group * local
            z_d, alpha, z_g = (tf.convert_to_tensor(x) for x in (z_d, alpha, z_g))
            z_d, alpha, z_g = z_d[:, first:first + local], alpha[:, first:first + local], z_g[first:first + local]
            augment = critic_augment.rows(augment, first, local)
        d_variables, g_variables = self.discriminator.trainable_variables, self.generator.trainable_variables
        d_logs = []
        for i in range(tc.d_steps):  # unrolled: d_steps is a small constant
            fake = self.generator(z_d[i], training=True)  # (B, T, C); not differentiated here
            seen = critic_augment.select(augment, i)  # one draw for real, fake and their interpolates
            real_i, fake = critic_augment.apply(real[i], seen), critic_augment.apply(fake, seen)  # (B, T, C)
            with tf.GradientTape() as tape:
                d_real = self.discriminator(real_i, training=True)
                d_fake = self.discriminator(fake, training=True)
                gp = self._penalty_tensorflow(real_i, fake, alpha[i])
                d_loss, wasserstein = self.critic_loss(d_real, d_fake, gp)
                share = d_loss / replicas
            gradients = tape.gradient(share, d_variables)
            self.d_optimizer.apply_gradients(zip(gradients, d_variables))
            if tc.loss == "wgan":  # the original WGAN's Lipschitz constraint
                for variable in d_variables:
                    variable.assign(ops.clip(variable, -WGAN_CLIP, WGAN_CLIP))
            d_logs.append((d_loss, gp, wasserstein))
        with tf.GradientTape() as tape:
            fake = critic_augment.apply(self.generator(z_g, training=True), critic_augment.select(augment, tc.d_steps))
            score = self.discriminator(fake, training=True)
            g_loss = self.generator_loss(score)
            share = g_loss / replicas
        self.g_optimizer.apply_gradients(zip(tape.gradient(share, g_variables), g_variables))
        trainable = {id(v) for v in g_variables}
        warm = ema_decay_at(tc.ema_decay, self.g_optimizer.iterations)  # the step just taken counts
        for average, variable in self.ema_pairs():  # batch-norm statistics are copied, weights averaged
            decay = warm if id(variable) in trainable else 0.0
            average.assign(decay * average + (1.0 - decay) * ops.cast(variable, average.dtype))
        d_loss, gp, wasserstein = (ops.mean(ops.stack(values)) for values in zip(*d_logs))
        values = {"d_loss": d_loss, "g_loss": g_loss, "gp": gp, "wasserstein": wasserstein}
        for tracker in self.trackers:  # per replica; fit averages the replicas' (equal-share) means
            tracker.update_state(values[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.trackers}


class LoopBatches(keras.utils.PyDataset):
    """Deterministic, resumable stream of real batches for :meth:`WaveGAN.fit`.

    Batch ``i`` is global step ``start_step + i``: ``d_steps * batch_size`` rows of
    ``audio`` drawn with ``np.random.default_rng([seed, global_step])`` (distinct
    rows within a batch when the dataset is large enough). It depends only on the
    seed and the step, so a run resumed at step ``s`` sees exactly the batches an
    uninterrupted run would have seen.

    Parameters
    ----------
    audio : numpy.ndarray
        (N, slice_len, channels) examples in [-1, 1]; a memory map is fine.
    batch_size : int
        Examples per discriminator (and generator) update.
    d_steps : int
        Discriminator updates per generator step; each gets its own minibatch.
    seed : int
        Seed of the draws, >= 0.
    steps : int
        Generator steps of the whole run.
    start_step : int, optional
        First global step to serve, in [0, steps]; ``len(self) = steps - start_step``.
    share : slice, optional
        The rows of every batch this process serves (default all): in a run over several
        processes each feeds its own contiguous share (:func:`beatgan.distributed.local_rows`).
    **kwargs
        Passed to :class:`keras.utils.PyDataset` (``workers``, ``max_queue_size``, ...).

    Raises
    ------
    DatasetError
        ``audio`` is not a non-empty 3-D array.
    ConfigError
        A count is not a positive integer, or ``start_step`` is outside [0, steps].
    """

    def __init__(self, audio: np.ndarray, *, batch_size: int, d_steps: int, seed: int, steps: int,
                 start_step: int = 0, share: slice = slice(None), **kwargs):
        super().__init__(**kwargs)
        if getattr(audio, "ndim", None) != 3 or audio.shape[0] == 0:
            raise DatasetError(f"audio of shape {getattr(audio, 'shape', None)} must be (N > 0, slice_len, channels)")
        for name, value in (("batch_size", batch_size), ("d_steps", d_steps), ("steps", steps)):
            check_positive_int(name, value)
        check_seed(seed)
        if not isinstance(start_step, (int, np.integer)) or not 0 <= start_step <= steps:
            raise ConfigError(f"start_step={start_step!r} must be an integer in [0, steps={steps}]")
        self.audio = audio
        self.rows, self.d_steps = int(batch_size) * int(d_steps), int(d_steps)
        self.seed, self.steps, self.start_step = int(seed), int(steps), int(start_step)
        self.share = share

    def __len__(self) -> int:
        return self.steps - self.start_step

    def indices(self, global_step: int) -> np.ndarray:
        """Rows of ``audio`` (int64, batch_size * d_steps) used at ``global_step``, example-major.

        The ``i``-th run of ``batch_size`` draws is minibatch ``i``; they are laid
        out as ``(batch_size, d_steps)`` (row ``b * d_steps + i``), the layout
        :meth:`WaveGAN.split_real` expects.
        """
        rng = np.random.default_rng([self.seed, int(global_step)])
        n = len(self.audio)
        drawn = rng.choice(n, size=self.rows, replace=n < self.rows)  # (d_steps * batch_size,) minibatch-major
        return drawn.reshape(self.d_steps, -1).T.ravel()

    def __getitem__(self, index: int) -> np.ndarray:
        """float32 (batch_size * d_steps, slice_len, channels) of batch ``index``, example-major."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} is outside [0, {len(self)})")
        return np.asarray(self.audio[self.indices(self.start_step + index)[self.share]], dtype=np.float32)
