"""Where the computation runs: the Keras backend, its devices, and data parallelism over them.

Keras reads ``KERAS_BACKEND`` once, when it is first imported, so
:func:`select_backend` must run before anything imports ``keras``; the modules
of this package that need Keras take it from here (``from beatgan.backend import
keras, ops``), which imports it on first use and **quietly**: TensorFlow's C++
start-up lines (``oneDNN custom operations are on``, ``Could not find cuda
drivers``, ``failed call to cuInit`` on a machine without a GPU) are written
to the process's standard error before Python can filter them, so the import
and the first device query run with file descriptor 2 pointed at
``/dev/null``. Python exceptions are unaffected. :func:`describe` gives the
one line a command prints instead.

:func:`data_parallel` is a context manager around building, compiling and
fitting a :class:`~beatgan.gan.WaveGAN`. With ``devices=1`` it does nothing.
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
import importlib
import os
import sys
import warnings
from pathlib import Path

from beatgan.config import check_positive_int
from beatgan.errors import ConfigError, MissingDependencyError
from beatgan.extras import require

BACKENDS = ("tensorflow", "jax")


def select_backend(backend: str | None) -> str:
    """Choose the Keras backend; must run before ``keras`` is first imported.

    Parameters
    ----------
    backend : {"tensorflow", "jax"} or None
        None keeps ``KERAS_BACKEND`` (default tensorflow).

    Returns
    -------
    str
        The backend Keras uses.

    Raises
    ------
    ConfigError
        For an unknown backend, or when Keras is already imported with another one.
    """
    if backend is not None and backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r} must be one of {BACKENDS}")
    if "keras" in sys.modules:
        active = sys.modules["keras"].backend.backend()
        if backend is not None and active != backend:
            raise ConfigError(
                f"backend={backend!r} was asked but Keras is already imported with {active!r}; "
                f"set KERAS_BACKEND={backend} before importing keras (restart the kernel)"
            )
        return active
    if backend is not None:
        os.environ["KERAS_BACKEND"] = backend
    return os.environ.get("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def native_stderr_silenced():
    """Point file descriptor 2 at /dev/null for the block (C++ libraries write there directly)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 (a detached process): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_import(name: str, feature: str | None = None):
    """Import a module (``"tensorflow"``) with the process's standard error silenced, and return it.

    With ``feature`` (what needs it, ``"FAD's musicnn embedding"``), a module that is not
    installed raises :class:`~beatgan.errors.MissingDependencyError` naming the extra that installs it.
    """
    if name in sys.modules:
        return sys.modules[name]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_silenced():
        module = require(name, feature) if feature else importlib.import_module(name)
        if name == "tensorflow":
            module.config.list_physical_devices()  # probes CUDA now, while silenced
    return module


@contextlib.contextmanager
def _pyplot_hidden():
    """Hide ``matplotlib.pyplot`` while Keras is imported.

    Keras imports pyplot when it can, for an image gallery (``keras.src.visualization``) this
    package never uses; pyplot picks a GUI backend and costs about a second, and the package
    draws with matplotlib's ``Figure`` objects (:mod:`beatgan.plots`). A ``None`` entry in
    ``sys.modules`` makes that import fail, as Keras allows; it is removed afterwards, so a later
    ``import matplotlib.pyplot`` (a notebook's) works as usual.
    """
    if "matplotlib.pyplot" in sys.modules:
        yield
        return
    sys.modules["matplotlib.pyplot"] = None
    try:
        yield
    finally:
        if sys.modules.get("matplotlib.pyplot", False) is None:
            del sys.modules["matplotlib.pyplot"]


def load_keras():
    """Import Keras with the selected backend, quietly, and return the module.

    A backend whose library is not installed (TensorFlow in an environment that
    holds JAX alone) raises :class:`~beatgan.errors.MissingDependencyError`
    naming the package, the extra that installs it and the other backend.

    The backend library's import and its first device query (where CUDA is
    probed) run with the process's standard error silenced, so a CPU-only
    machine prints none of TensorFlow's or JAX's start-up lines. Later calls
    return the imported module at once.
    """
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # later TensorFlow log lines: warnings and errors only
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    with native_stderr_silenced(), _pyplot_hidden():
        if backend in BACKENDS:  # its library first, so a missing one is named, not a traceback from inside Keras
            other = next(b for b in BACKENDS if b != backend)
            try:
                require(backend, f"the {backend} backend")
            except MissingDependencyError as error:
                raise MissingDependencyError(f"{error}; or choose the {other} backend "
                                             f"(--backend {other}, or KERAS_BACKEND={other})") from None
        require("keras", "BeatGAN's models")
        import keras  # here: only after select_backend, and silenced

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf  # here: only the TensorFlow backend needs it

            tf.config.list_physical_devices()  # probes CUDA now, while silenced
        elif keras.backend.backend() == "jax":
            import jax  # here: only the JAX backend needs it

            jax.devices()
    return keras


def host_array(value):
    """A tensor or variable as a numpy array on this host, also when it spans several processes' devices.

    A replicated JAX array of a run over several processes is not *fully addressable*:
    each process holds only its own copies, so ``keras.ops.convert_to_numpy`` cannot
    fetch it; its local copy is the whole value. Everything else goes through
    ``convert_to_numpy``.
    """
    value = getattr(value, "value", value)  # a keras.Variable's backend array
    if getattr(value, "is_fully_addressable", True) is False:
        if not value.is_fully_replicated:
            raise ConfigError(f"an array of shape {value.shape} is split over other processes' devices; "
                              "only replicated values can be read on one process")
        import numpy as np  # here: keeps this module light

        return np.asarray(value.addressable_data(0))
    return load_keras().ops.convert_to_numpy(value)


def __getattr__(name: str):
    """``from beatgan.backend import keras, ops`` imports Keras through :func:`load_keras`."""
    if name == "keras":
        return load_keras()
    if name == "ops":
        return load_keras().ops
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs that compute bfloat16 natively
EMULATED_BF16_SLOWDOWN = "about 1.5-3x"  # bfloat16 against float32 where it is emulated (see benchmarks/RESULTS.md)


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them in ``/proc/cpuinfo`` (empty where that file is absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def native_bfloat16() -> tuple[bool, str]:
    """Whether the device Keras computes on has native bfloat16 arithmetic, and why.

    Returns
    -------
    native : bool
        True on a GPU of compute capability 8.0 or newer (Ampere, Hopper), a TPU, or a CPU
        with AVX512_BF16 or AMX; False elsewhere.
    reason : str
        What decided it, for the line a run prints (``"CPU flags avx512_bf16"``).
    """
    kind = accelerator()
    if kind == "tpu":
        return True, "TPU"
    if kind == "gpu":
        keras = load_keras()
        if keras.backend.backend() == "jax":
            import jax  # here: only the JAX backend needs it

            capability = getattr(jax.devices()[0], "compute_capability", "0")
            major = int(str(capability).split(".")[0] or 0)
        else:
            import tensorflow as tf  # here: only the TensorFlow backend needs it

            details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
            major = int((details.get("compute_capability") or (0, 0))[0])
        return major >= 8, f"GPU compute capability {major}.x"
    found = sorted(set(BF16_CPU_FLAGS) & cpu_flags())
    if found:
        return True, f"CPU flags {', '.join(found)}"
    return False, f"the CPU has none of {', '.join(BF16_CPU_FLAGS)}"


def resolve_precision(precision: str) -> tuple[str, str]:
    """Turn ``TrainConfig.precision`` into the precision a run computes in, and say why.

    Parameters
    ----------
    precision : {"auto", "float32", "bfloat16"}
        ``auto`` is bfloat16 compute (float32 weights, optimizer and penalty) where the
        device computes bfloat16 natively, float32 elsewhere.

    Returns
    -------
    resolved : {"float32", "bfloat16"}
    message : str
        One line for the start of a run, e.g. ``"precision: bfloat16 (auto: CPU flags avx512_bf16)"``.

    Warns
    -----
    UserWarning
        ``bfloat16`` asked for where it is emulated: it runs, but slower than float32.
    """
    if precision not in ("auto", "float32", "bfloat16"):
        raise ConfigError(f"precision={precision!r} must be one of ('auto', 'float32', 'bfloat16')")
    if precision == "float32":
        return "float32", "precision: float32"
    native, reason = native_bfloat16()
    if precision == "auto":
        resolved = "bfloat16" if native else "float32"
        return resolved, f"precision: {resolved} (auto: {reason})"
    if not native:
        warnings.warn(f"precision='bfloat16' is emulated here ({reason}): expect training {EMULATED_BF16_SLOWDOWN} "
                      "slower than float32; --precision auto picks float32 on this machine", stacklevel=2)
        return "bfloat16", f"precision: bfloat16 (emulated: {reason})"
    return "bfloat16", f"precision: bfloat16 ({reason})"


def accelerator() -> str | None:
    """Name the accelerator Keras' backend sees (``"gpu"``/``"tpu"``), or None on a CPU."""
    keras = load_keras()
    if keras.backend.backend() == "jax":
        import jax  # here: only the JAX backend needs it

        kinds = {device.platform for device in jax.devices()}
        return next((kind for kind in ("gpu", "tpu") if kind in kinds), None)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # here: only the TensorFlow backend needs it

        return "gpu" if tf.config.list_physical_devices("GPU") else None
    return None


def describe() -> str:
    """One line naming the backend, its version and the device it computes on.

    Returns
    -------
    str
        For example ``"backend: tensorflow 2.21.0 on CPU (2 cores)"`` or
        ``"backend: jax 0.7.1 on GPU (NVIDIA H200)"``.
    """
    keras = load_keras()
    name = keras.backend.backend()
    version = sys.modules[name].__version__ if name in sys.modules else "?"
    kind = accelerator()
    if kind is None:
        where = f"CPU ({os.cpu_count()} cores)"
    elif name == "jax":
        import jax  # here: only the JAX backend needs it

        where = f"{kind.upper()} ({jax.devices()[0].device_kind})"
    else:
        where = kind.upper()
    return f"backend: {name} {version} on {where}"


def available_devices() -> list[str]:
    """Names of the devices data parallelism can use on the active backend, accelerators first.

    Returns
    -------
    list of str
        JAX: ``keras.distribution.list_devices()`` (``"gpu:0"``, ... or ``"cpu:0"``, ...).
        TensorFlow: logical GPU names, else logical CPU names (``"/device:CPU:0"``, ...).
    """
    keras = load_keras()
    if keras.backend.backend() == "jax":
        return list(keras.distribution.list_devices())
    import tensorflow as tf  # here: only the TensorFlow backend needs it

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
    check_positive_int("devices", devices)
    present = available_devices()
    keras = load_keras()
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
    keras = load_keras()
    if devices == 1:
        yield names
        return
    if keras.backend.backend() == "jax":
        from keras.src.distribution import distribution_lib  # here: JAX only; the active distribution

        previous = distribution_lib.distribution()
        parallel = keras.distribution.DataParallel(devices=names)
        # several processes: each feeds its own rows of the global batch (beatgan.distributed.local_rows)
        parallel.auto_shard_dataset = False
        keras.distribution.set_distribution(parallel)
        try:
            yield names
        finally:
            keras.distribution.set_distribution(previous)
        return
    import tensorflow as tf  # here: only the TensorFlow backend needs it

    with tf.distribute.MirroredStrategy(devices=names).scope():
        yield names
