"""WaveGAN's generator and discriminator as Keras 3 models.

Written with Keras layers and :mod:`keras.ops` only, so the same code runs on
the TensorFlow and JAX backends. Layer stacks are built in loops from the plan
returned by :func:`generator_plan` / :func:`discriminator_plan`; with
``d = model_dim`` and ``c = channels`` the default 16384-sample plan is::

    generator                              discriminator
    z (B, 100)                             x (B, 16384, c)
    Dense+reshape (B, 16, 16d), ReLU       Conv s4 (B, 4096, d)    LReLU, shuffle
    ConvT s4 (B, 64, 8d)      ReLU         Conv s4 (B, 1024, 2d)   LReLU, shuffle
    ConvT s4 (B, 256, 4d)     ReLU         Conv s4 (B, 256, 4d)    LReLU, shuffle
    ConvT s4 (B, 1024, 2d)    ReLU         Conv s4 (B, 64, 8d)     LReLU, shuffle
    ConvT s4 (B, 4096, d)     ReLU         Conv s4 (B, 16, 16d)    LReLU
    ConvT s4 (B, 16384, c)    tanh         Flatten (B, 256d) -> Dense (B, 1)

32768 and 65536 samples (WaveGAN v2) start the generator from (B, 16, 32d) and
add one layer of stride 2 or 4 at the generator's output and at the
discriminator's top (B, 16, 32d). No batch norm, as in the paper's WGAN-GP
setting.

The reference implementation's options (``ModelConfig``; defaults off, the paper's):

* ``upsample="nearest"``: each ConvT becomes UpSampling1D(stride) then Conv1D of the same
  kernel and width (the reference's ``nn`` mode), the same parameter count; it avoids the
  transposed convolution's checkerboard imaging at multiples of the input rate.
* ``post_filter=L``: a depthwise (one filter per channel) FIR of L taps without bias after
  the tanh (the reference's ``--wavegan_genr_pp``, 512 taps, mono), clipped to [-1, 1]:
  ``L * c`` parameters.
* ``batchnorm``: BatchNormalization after the generator's dense layer and every ConvT
  but the last, and after every critic convolution but the first (the reference's
  placement): ``4 * width`` parameters each (scale, offset; moving mean, variance).
* ``minibatch_std=G``: ProGAN's minibatch standard deviation (:class:`MinibatchStd`) as one
  extra channel at the critic's top, (B, 16, 16d + 1): ``16`` more weights in the dense layer.
"""

from __future__ import annotations

from beatgan.backend import keras, ops  # Keras imported quietly, after the backend is chosen
from beatgan.config import ModelConfig

layers = keras.layers

BASE_LENGTH = 16  # time steps after the generator's dense layer / before the critic's dense layer


def _widths(config: ModelConfig) -> list[int]:
    """Channel multipliers of the feature maps, widest first: [16, 8, 4, 2, 1] (or from 32)."""
    top = 16 if config.slice_len == 16384 else 32
    return [top >> i for i in range(top.bit_length())]


def _last_stride(config: ModelConfig) -> int:
    return {16384: 4, 32768: 2, 65536: 4}[config.slice_len]


def generator_plan(config: ModelConfig) -> list[tuple[int, int]]:
    """Return ``(filters, stride)`` of each transposed convolution of the generator.

    Parameters
    ----------
    config : ModelConfig
        The model's shape.

    Returns
    -------
    list of (int, int)
        One entry per layer, input to output; the last has ``config.channels`` filters.
    """
    d = config.model_dim
    outputs = [m * d for m in _widths(config)[1:]] + [config.channels]
    strides = [4] * (len(outputs) - 1) + [_last_stride(config)]
    return list(zip(outputs, strides))


def discriminator_plan(config: ModelConfig) -> list[tuple[int, int]]:
    """Return ``(filters, stride)`` of each convolution of the discriminator, input first."""
    d = config.model_dim
    filters = [m * d for m in reversed(_widths(config))]
    strides = [4] * (len(filters) - 1) + [_last_stride(config)]
    return list(zip(filters, strides))


@keras.saving.register_keras_serializable(package="beatgan")
class BatchNorm(layers.BatchNormalization):
    """Keras' BatchNormalization with batch moments exact to the second derivative on both backends.

    TensorFlow's ``tf.nn.moments`` (behind ``keras.ops.moments`` there) stops the gradient of
    the mean inside the variance: harmless for a first derivative, where that term is zero,
    but the gradient penalty differentiates the critic's gradient again, and there it is not.
    This layer computes the moments with plain :mod:`keras.ops` (float32), so the penalty's
    second derivative is the same on TensorFlow and JAX (tested). Parameters and behaviour
    are Keras' otherwise: scale, offset, moving mean and variance per channel (``4 * C``).
    """

    def _moments(self, inputs, mask):
        if mask is not None:
            return super()._moments(inputs, mask)
        x = ops.cast(inputs, "float32")
        mean = ops.mean(x, axis=self._reduction_axes, keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=self._reduction_axes)
        mean = ops.squeeze(mean, axis=self._reduction_axes)
        return ops.cast(mean, inputs.dtype), ops.cast(variance, inputs.dtype)


@keras.saving.register_keras_serializable(package="beatgan")
class MinibatchStd(layers.Layer):
    """Append the batch's spread as one feature channel (ProGAN, Karras et al. 2018, section 3).

    The batch is split into groups of ``group`` examples (example ``b`` in group
    ``b mod (B / group)``); the standard deviation of every feature over a group,
    averaged over time and channels, is one number per group, appended to each of
    its examples as a constant channel. A critic that sees it can tell a batch of
    near-identical loops (mode collapse) from a varied real one.

    Parameters
    ----------
    group : int
        Examples per group, >= 2; the batch must be a multiple of it.

    Notes
    -----
    Input (B, T, C), output (B, T, C + 1); computed in float32. The examples of a group are
    no longer independent, so the gradient penalty's per-example gradients (taken from the
    summed scores) include small cross terms.
    """

    def __init__(self, group: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.group = int(group)

    def call(self, inputs):
        batch, length, channels = ops.shape(inputs)
        x = ops.cast(inputs, "float32")
        y = ops.reshape(x, (self.group, -1, length, channels))  # (G, B / G, T, C)
        y = y - ops.mean(y, axis=0, keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(y), axis=0) + 1e-8)  # (B / G, T, C)
        spread = ops.mean(std, axis=(1, 2))  # (B / G,)
        feature = ops.tile(spread[None, :, None, None], (self.group, 1, length, 1))  # (G, B / G, T, 1)
        feature = ops.cast(ops.reshape(feature, (batch, length, 1)), inputs.dtype)  # (B, T, 1)
        return ops.concatenate([inputs, feature], axis=-1)  # (B, T, C + 1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        return {**super().get_config(), "group": self.group}


@keras.saving.register_keras_serializable(package="beatgan")
class PhaseShuffle(layers.Layer):
    """Shift a batch of feature maps in time by one random integer in [-radius, radius].

    WaveGAN's phase shuffle: the whole batch moves by the same shift along the
    time axis and the gap is filled by reflection, so the critic cannot rely on
    the phase of periodic artefacts. The original BeatGAN rolled the batch axis
    with a shift fixed when the graph was built, which did nothing; this layer
    draws a new shift at every call in training. The window is a dynamic slice
    of the padded maps: twice differentiable on both backends (the gradient
    penalty differentiates the critic's gradient; tested), and cheaper than a
    gather, whose gradient along time is a transpose, a scatter-add and a
    transpose back (8 % of a TensorFlow CPU step at d=32, see
    ``benchmarks/RESULTS.md``). Identity outside training.

    Parameters
    ----------
    radius : int
        Largest shift in samples (2 in WaveGAN); 0 makes the layer the identity.
    seed : int or None
        Seed of the layer's own random stream.
    """

    def __init__(self, radius: int = 2, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.radius = int(radius)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        r = self.radius
        if not training or r == 0:
            return inputs
        batch, length, channels = ops.shape(inputs)
        shift = keras.random.randint((), -r, r + 1, seed=self.seed_generator, dtype="int32")
        padded = ops.pad(inputs, [[0, 0], [r, r], [0, 0]], mode="reflect")  # (B, T + 2r, C)
        # out[t] = x[t - shift]; x[t] sits at padded[t + r]: the window of T samples from r - shift
        return ops.slice(padded, [0, r - shift, 0], [batch, length, channels])  # (B, T, C)

    def get_config(self):
        return {**super().get_config(), "radius": self.radius, "seed": self.seed}


def build_generator(config: ModelConfig, *, name: str = "generator") -> keras.Model:
    """Build WaveGAN's generator: z ~ U(-1, 1) to audio in [-1, 1].

    Parameters
    ----------
    config : ModelConfig
        The model's shape (slice length, channels, width ``model_dim``, ...).
    name : str, optional
        Keras model name.

    Returns
    -------
    keras.Model
        Maps float32 (B, latent_dim) to float32 (B, slice_len, channels) in [-1, 1].
        19,066,946 parameters for the stereo default (19,065,345 mono).
    """
    width = _widths(config)[0] * config.model_dim
    z = keras.Input((config.latent_dim,), name="z")  # (B, 100)
    x = layers.Dense(BASE_LENGTH * width, name="dense")(z)  # (B, 16 * 16d)
    x = layers.Reshape((BASE_LENGTH, width), name="reshape")(x)  # (B, 16, 16d)
    if config.batchnorm:
        x = BatchNorm(name="batchnorm")(x)  # (B, 16, 16d)
    x = layers.ReLU(name="relu")(x)
    plan = generator_plan(config)
    for i, (filters, stride) in enumerate(plan):
        if config.upsample == "nearest":
            x = layers.UpSampling1D(stride, name=f"upsample_{i}")(x)  # (B, length * stride, width)
            x = layers.Conv1D(filters, config.kernel_len, padding="same", name=f"upconv_{i}")(x)
        else:
            x = layers.Conv1DTranspose(
                filters, config.kernel_len, strides=stride, padding="same", name=f"upconv_{i}"
            )(x)  # (B, length * stride, filters): 16 -> 64 -> ... -> slice_len
        if i < len(plan) - 1:
            if config.batchnorm:
                x = BatchNorm(name=f"batchnorm_{i}")(x)  # (B, length * stride, filters)
            x = layers.ReLU(name=f"relu_{i}")(x)
    # tanh in float32 so a mixed-precision generator still returns float32 audio
    audio = layers.Activation("tanh", dtype="float32", name="tanh")(x)  # (B, slice_len, c)
    if config.post_filter:
        audio = layers.DepthwiseConv1D(config.post_filter, padding="same", use_bias=False, dtype="float32",
                                       name="post_filter")(audio)  # (B, slice_len, c): one FIR per channel
        audio = layers.Activation(_clip_unit, dtype="float32", name="clip")(audio)  # (B, slice_len, c) in [-1, 1]
    return keras.Model(z, audio, name=name)


def _clip_unit(x):
    return ops.clip(x, -1.0, 1.0)


def build_discriminator(config: ModelConfig, *, name: str = "discriminator", seed: int | None = None) -> keras.Model:
    """Build WaveGAN's discriminator (the WGAN critic): audio to an unbounded score.

    Parameters
    ----------
    config : ModelConfig
        The model's shape.
    name : str, optional
        Keras model name.
    seed : int or None, optional
        Seeds the phase-shuffle layers (layer ``i`` uses ``seed + i``).

    Returns
    -------
    keras.Model
        Maps float32 (B, slice_len, channels) to float32 (B, 1), linear output.
        17,429,569 parameters for the stereo default (17,427,969 mono).
    """
    audio = keras.Input((config.slice_len, config.channels), name="audio")  # (B, 16384, c)
    x = audio
    plan = discriminator_plan(config)
    for i, (filters, stride) in enumerate(plan):
        x = layers.Conv1D(filters, config.kernel_len, strides=stride, padding="same", name=f"conv_{i}")(
            x
        )  # (B, length / stride, filters): 16384 -> 4096 -> ... -> 16
        if config.batchnorm and i > 0:
            x = BatchNorm(name=f"batchnorm_{i}")(x)  # (B, length / stride, filters)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"lrelu_{i}")(x)
        if i < len(plan) - 1 and config.phase_shuffle > 0:
            shuffle_seed = None if seed is None else seed + i
            x = PhaseShuffle(config.phase_shuffle, seed=shuffle_seed, name=f"phase_shuffle_{i}")(x)
    if config.minibatch_std:
        x = MinibatchStd(config.minibatch_std, name="minibatch_std")(x)  # (B, 16, 16d + 1)
    x = layers.Flatten(name="flatten")(x)  # (B, 16 * 16d), or 16 * (16d + 1)
    score = layers.Dense(1, dtype="float32", name="score")(x)  # (B, 1)
    return keras.Model(audio, score, name=name)
