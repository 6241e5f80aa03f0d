"""Training on several processes (machines): JAX's distributed runtime, one writer, agreed stops and configs.

A run spread over N processes (one per machine, each with its GPUs, or two on
one machine standing in for two hosts) is the data-parallel run of
:mod:`beatgan.backend` over the devices of *all* processes. The engine is
JAX's own: :func:`start` calls ``jax.distributed.initialize``, which connects
every process to the coordinator (process 0 serves it on ``HOST:PORT``), and
XLA's collectives carry the gradient all-reduce (NCCL between GPUs, gloo
between CPUs). Keras' ``DataParallel`` over ``jax.devices()`` (every
process's devices) then shards each global batch; each process feeds only its
own rows of it (:func:`local_rows`), as ``jax.make_array_from_process_local_data``
expects. The step, its losses, noise and phase shifts are those of one process
training the same global batch on as many devices.

Where the processes learn about each other, in this order:

1. explicit options (``--coordinator HOST:PORT --num-processes N --process-id I``);
2. the environment: ``BEATGAN_COORDINATOR``, ``BEATGAN_NUM_PROCESSES``, ``BEATGAN_PROCESS_ID``;
3. a SLURM job step (``SLURM_NTASKS`` > 1) or an Open MPI launch
   (``OMPI_COMM_WORLD_SIZE`` > 1): JAX reads the cluster from the scheduler itself.

The rules that keep N processes one run:

* **one writer**: process 0 writes the run directory (config, checkpoints,
  weights, metrics, previews, TensorBoard); the others write nothing and print
  their own log; every process resumes from the same newest checkpoint, so the
  run directory must be on a filesystem they share (as on a cluster);
* **the same run everywhere**: at the start the processes compare a hash of every
  config field and of the training data (:func:`check_same`); a difference is named
  on every process, which then stops;
* **stopping together**: a signal or a time limit seen by any process stops all of
  them after the same step (:func:`agree`), so no process waits in a collective
  for a peer that left;
* **faults**: a process that dies or never starts is found by JAX's coordination
  service within ``timeout`` seconds (its heartbeats stop, or the start-up waits no
  longer); the others then stop with JAX's error (``Terminating process because the
  JAX distributed service detected fatal errors``) or :class:`DistributedError`.
  Rerunning the same commands resumes from the last checkpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import socket
import sys
import time
from typing import Mapping

import numpy as np

from beatgan.config import check_positive_int
from beatgan.errors import ConfigError, DistributedError

__all__ = ["Cluster", "DEFAULT_TIMEOUT", "resolve", "start", "process_index", "process_count", "is_writer",
           "agree", "check_same", "local_rows", "describe"]

DEFAULT_TIMEOUT = 120  # seconds: start-up wait for every process, and heartbeat silence before a process is dead
ENV = {"coordinator": "BEATGAN_COORDINATOR", "num_processes": "BEATGAN_NUM_PROCESSES",
       "process_id": "BEATGAN_PROCESS_ID"}
_ADDRESS = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")
_STARTED: dict = {}


@dataclasses.dataclass(frozen=True)
class Cluster:
    """Where this process stands among the run's processes.

    Attributes
    ----------
    coordinator : str or None
        ``HOST:PORT`` of process 0's coordination service; None when JAX reads a scheduler.
    num_processes, process_id : int or None
        N and this process's I in ``0..N-1``; None when JAX reads a scheduler.
    source : str
        ``"options"``, ``"environment"``, ``"slurm"`` or ``"openmpi"``.
    """

    coordinator: str | None
    num_processes: int | None
    process_id: int | None
    source: str

    def __post_init__(self) -> None:
        if self.source in ("slurm", "openmpi"):
            return
        if self.coordinator is None or self.num_processes is None or self.process_id is None:
            missing = [f"--{k.replace('_', '-')}" for k in ("coordinator", "num_processes", "process_id")
                       if getattr(self, k) is None]
            raise ConfigError(f"several processes need --coordinator HOST:PORT, --num-processes N and "
                              f"--process-id I together (or {', '.join(ENV.values())}); missing {', '.join(missing)}")
        if not _ADDRESS.match(self.coordinator) or not 0 < int(_ADDRESS.match(self.coordinator)["port"]) < 65536:
            raise ConfigError(f"coordinator={self.coordinator!r} must be HOST:PORT, e.g. 10.0.0.1:1234 or "
                              "node001:1234, with a port in 1..65535")
        check_positive_int("num_processes", self.num_processes)
        if isinstance(self.process_id, bool) or not isinstance(self.process_id, int) or \
                not 0 <= self.process_id < self.num_processes:
            raise ConfigError(f"process_id={self.process_id!r} must be in 0..{self.num_processes - 1} "
                              f"(num_processes={self.num_processes})")


def _int(name: str, text) -> int | None:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={text!r} must be an integer") from None


def resolve(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None,
            environ: Mapping[str, str] | None = None) -> Cluster | None:
    """Find this process's place among the run's processes; None for a run of one process.

    Parameters
    ----------
    coordinator, num_processes, process_id : optional
        The command-line options; any one given makes all three required.
    environ : mapping, optional
        The environment (default ``os.environ``): ``BEATGAN_*``, then SLURM and Open MPI.

    Raises
    ------
    ConfigError
        A missing or malformed value, or a process id outside ``0..N-1``.
    """
    environ = os.environ if environ is None else environ
    given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    if any(v is not None for v in given.values()):
        cluster = Cluster(**given, source="options")
    elif any(environ.get(name) for name in ENV.values()):
        cluster = Cluster(coordinator=environ.get(ENV["coordinator"]) or None,
                          num_processes=_int(ENV["num_processes"], environ.get(ENV["num_processes"])),
                          process_id=_int(ENV["process_id"], environ.get(ENV["process_id"])), source="environment")
    elif (_int("SLURM_NTASKS", environ.get("SLURM_NTASKS")) or 1) > 1 and "SLURM_PROCID" in environ:
        cluster = Cluster(None, None, None, source="slurm")
    elif (_int("OMPI_COMM_WORLD_SIZE", environ.get("OMPI_COMM_WORLD_SIZE")) or 1) > 1:
        cluster = Cluster(None, None, None, source="openmpi")
    else:
        return None
    return None if cluster.num_processes == 1 else cluster


def start(cluster: Cluster, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Connect this process to the others through ``jax.distributed.initialize``; call before Keras is imported.

    Parameters
    ----------
    cluster : Cluster
        From :func:`resolve`.
    timeout : float, optional
        Seconds to wait for every process at the start, and of heartbeat silence after
        which a process counts as dead and the others stop.

    Raises
    ------
    ConfigError
        The backend is not JAX, or ``timeout`` is not positive.
    DistributedError
        The coordinator cannot be reached, or not every process came, within ``timeout``.
    """
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend != "jax":
        raise ConfigError(f"training on several processes needs the JAX backend (--backend jax), not {backend!r}: "
                          "it runs on JAX's distributed runtime; TensorFlow's multi-worker training is not supported")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < 86400:
        raise ConfigError(f"timeout={timeout!r} must be a positive number of seconds")
    if _STARTED:
        return
    import jax  # here: only the JAX backend needs it

    # CPU devices of different processes talk through gloo (no effect on GPUs, which use NCCL); a JAX that no
    # longer has the option chooses its CPU collectives itself
    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except (AttributeError, KeyError, ValueError):
        pass
    options = {"initialization_timeout": max(1, int(timeout)), "heartbeat_timeout_seconds": max(1, int(timeout))}
    if cluster.source in ("options", "environment"):
        options.update(coordinator_address=cluster.coordinator, num_processes=cluster.num_processes,
                       process_id=cluster.process_id)
    where = cluster.coordinator or f"the {cluster.source} job's coordinator"
    print(f"process {'?' if cluster.process_id is None else cluster.process_id} of "
          f"{cluster.num_processes or '?'}: joining the run at {where}, waiting up to {timeout:g} s for every "
          "process (JAX stops this one if they do not all come)", file=sys.stderr, flush=True)
    if cluster.source in ("options", "environment") and cluster.process_id != 0:
        _wait_for(cluster.coordinator, timeout, cluster.process_id)  # JAX would abort the process, not raise
    try:
        jax.distributed.initialize(**options)
    except Exception as error:  # XlaRuntimeError, RuntimeError, ValueError: all mean the same here
        first = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        raise DistributedError(f"process {cluster.process_id} could not join the run at {where} within {timeout:g} s "
                               f"(is process 0 running, and every process started?): {first}") from None
    _STARTED["cluster"] = cluster


def _wait_for(coordinator: str, timeout: float, process_id: int) -> None:
    """Wait until ``HOST:PORT`` accepts a connection; DistributedError after ``timeout`` seconds."""
    match = _ADDRESS.match(coordinator)
    host, port = match["host"].strip("[]"), int(match["port"])
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(5.0, timeout)):
                return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise DistributedError(f"process {process_id} could not join the run at {coordinator} within "
                                       f"{timeout:g} s (is process 0 running there?): {error.strerror or error}") \
                    from None
            time.sleep(0.25)


def process_count() -> int:
    """Processes of the run: 1 unless :func:`start` connected this one to others."""
    if not _STARTED:
        return 1
    import jax  # here: only the JAX backend needs it

    return jax.process_count()


def process_index() -> int:
    """This process's index in ``0..process_count()-1``; 0 for a run of one process."""
    if not _STARTED:
        return 0
    import jax  # here: only the JAX backend needs it

    return jax.process_index()


def is_writer() -> bool:
    """True for the one process that writes the run directory (process 0)."""
    return process_index() == 0


def describe(timeout: float) -> str:
    """One line for the start of a run: this process, the process count and the global devices."""
    import jax  # here: only the JAX backend needs it

    devices = jax.devices()
    names = ", ".join(f"{d.platform}:{d.id}" for d in devices[:8]) + (" ..." if len(devices) > 8 else "")
    return (f"process {jax.process_index()} of {jax.process_count()}: {len(devices)} global device(s) ({names}), "
            f"{jax.local_device_count()} here; a process silent for {timeout:g} s stops the others")


def _allgather(values: np.ndarray) -> np.ndarray:
    """(process_count, *values.shape): every process's ``values``, on every process."""
    from jax.experimental import multihost_utils  # here: only the JAX backend needs it

    return np.asarray(multihost_utils.process_allgather(values, tiled=False))


def agree(code: int) -> int:
    """The largest ``code`` of all processes (0: go on), on every process: a collective, so all must call it."""
    if process_count() == 1:
        return int(code)
    return int(_allgather(np.asarray([code], dtype=np.int32)).max())


def _digest(value) -> int:
    digest = hashlib.blake2b(digest_size=7)  # fits an int64
    if isinstance(value, np.ndarray):
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value))  # its bytes, without a copy when contiguous
    else:
        digest.update(repr(value).encode())
    return int.from_bytes(digest.digest(), "little")


def check_same(fields: Mapping[str, object]) -> None:
    """Stop every process when the processes disagree on any field (configs, data); name the fields.

    Parameters
    ----------
    fields : mapping of str to object
        The same names, in the same order, on every process; values are compared through a
        hash of their ``repr`` (bytes and numpy arrays through their contents).

    Raises
    ------
    ConfigError
        On every process, naming each differing field and the processes that hold another
        value than process 0.
    """
    if process_count() == 1:
        return
    names = list(fields)
    local = np.asarray([_digest(v) for v in fields.values()], dtype=np.int64)
    everyone = _allgather(local)  # (processes, fields)
    differing = {name: [p for p in range(len(everyone)) if everyone[p, i] != everyone[0, i]]
                 for i, name in enumerate(names)}
    differing = {name: procs for name, procs in differing.items() if procs}
    if differing:
        listed = "; ".join(f"{name} (process {', '.join(map(str, procs))} differ from process 0)"
                           for name, procs in differing.items())
        raise ConfigError(f"the processes of this run disagree on {listed}: give every process the same "
                          "dataset file and options")


def local_rows(rows: int) -> slice:
    """This process's contiguous share of a global batch of ``rows`` rows (the rows its devices hold).

    Raises
    ------
    ConfigError
        ``rows`` does not split evenly over the processes.
    """
    count, index = process_count(), process_index()
    if rows % count:
        raise ConfigError(f"a global batch of {rows} rows does not split over {count} processes")
    share = rows // count
    return slice(index * share, (index + 1) * share)
