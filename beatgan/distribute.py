"""Data-parallel training over several devices, on the JAX or TensorFlow backend.

:func:`data_parallel` is a context manager around building, compiling and
fitting a :class:`~beatgan.train.WaveGAN`. With ``devices=1`` it does nothing.
With ``devices=N > 1`` every weight is replicated on the first N devices and
each global batch is split along its example axis, N equal shares:

* JAX: ``keras.distribution.DataParallel`` over ``keras.distribution.list_devices()[:N]``
  is set with ``keras.distribution.set_distribution``. Keras' JAX trainer then
  shards each ``fit`` batch along axis 0 and jits the (global) train step once;
  XLA's SPMD partitioner adds the gradient all-reduce. The step sees the global
  batch, so its losses, noise and phase shifts are those of one device.
* TensorFlow: the model is built under ``tf.distribute.MirroredStrategy`` over
  the first N GPUs (or logical CPUs when there is no GPU). Each replica runs the
  train step on its share; the step divides its losses by the number of
  replicas so that the summed (all-reduced) gradients are those of the global
  batch mean, and takes its share of the global noise. Phase shift draws come
  from replicated seed states, so every replica draws the same shift.

A fit batch is laid out **example-major** (row ``b * d_steps + i`` is example
``b`` of discriminator minibatch ``i``, see :meth:`WaveGAN.split_real`), so the
contiguous share of each device holds its part of *every* minibatch and no
data moves between devices inside a step. Either way the result equals a
one-device run of the same global batch up to floating-point summation order
(tested with two host devices on a CPU).

The device count is a run option, not part of the saved configs: a run may be
resumed on another number of devices.
"""

from __future__ import annotations

import contextlib

import keras

from beatgan.errors import ConfigError


def available_devices() -> list[str]:
    """Names of the devices data parallelism can use on the active backend, accelerators first.

    Returns
    -------
    list of str
        JAX: ``keras.distribution.list_devices()`` (``"gpu:0"``, ... or ``"cpu:0"``, ...).
        TensorFlow: logical GPU names, else logical CPU names (``"/device:CPU:0"``, ...).
    """
    if keras.backend.backend() == "jax":
        return list(keras.distribution.list_devices())
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [device.name for device in devices]


def check_devices(devices: int, *, batch_size: int) -> list[str]:
    """Validate a device count and return the devices to use.

    Parameters
    ----------
    devices : int
        Number of devices, >= 1.
    batch_size : int
        Examples per update; must split evenly over the devices.

    Returns
    -------
    list of str
        The first ``devices`` names of :func:`available_devices`.

    Raises
    ------
    ConfigError
        ``devices`` is not a positive integer, exceeds the devices present, or
        does not divide ``batch_size``.
    """
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise ConfigError(f"devices={devices!r} must be a positive integer")
    present = available_devices()
    if devices > len(present):
        hint = ("XLA_FLAGS=--xla_force_host_platform_device_count=N gives N host devices"
                if keras.backend.backend() == "jax" else
                "tf.config.set_logical_device_configuration splits a CPU into logical devices")
        raise ConfigError(f"devices={devices} but only {len(present)} device(s) are present "
                          f"({', '.join(present)}); on a CPU, {hint}")
    if batch_size % devices:
        raise ConfigError(f"batch_size={batch_size} must be a multiple of devices={devices}: "
                          "each device takes an equal share of every batch")
    return present[:devices]


@contextlib.contextmanager
def data_parallel(devices: int = 1, *, batch_size: int):
    """Replicate the model built inside on ``devices`` devices and split its batches.

    Build, compile **and** fit the WaveGAN inside the block (under JAX the
    distribution must be active when ``fit`` makes its train function).

    Parameters
    ----------
    devices : int, optional
        Number of devices; 1 (the default) changes nothing.
    batch_size : int
        Examples per discriminator/generator update, a multiple of ``devices``.

    Yields
    ------
    list of str
        The devices used (one name when ``devices`` is 1).

    Raises
    ------
    ConfigError
        See :func:`check_devices`.
    """
    names = check_devices(devices, batch_size=batch_size)
    if devices == 1:
        yield names
        return
    if keras.backend.backend() == "jax":
        from keras.src.distribution import distribution_lib

        previous = distribution_lib.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=names))
        try:
            yield names
        finally:
            keras.distribution.set_distribution(previous)
        return
    import tensorflow as tf

    with tf.distribute.MirroredStrategy(devices=names).scope():
        yield names
