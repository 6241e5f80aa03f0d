"""Training over several processes: two processes on 127.0.0.1 stand in for two hosts (JAX, gloo).

The two-process run must equal one process training the same global batch on two host
devices, only process 0 may write the run directory, a dead process must stop the other
within the timeout, and rerunning both must resume from the last checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from beatgan import distributed
from beatgan.data import save_dataset
from beatgan.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "_process_worker.py"
TINY = ["--backend", "jax", "--model-dim", "2", "--batch-size", "4", "--d-steps", "1", "--checkpoint-every", "2",
        "--eval-every", "0", "--no-tensorboard", "--log-every", "1"]
TIMEOUT = 5  # --distributed-timeout of the fault tests, seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FAST_COMPILE = "--xla_backend_optimization_level=0"  # a quarter less CPU per tiny run; the same for every run compared


def environment(xla_flags: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BEATGAN_", "SLURM_", "OMPI_", "XLA_FLAGS"))}
    env.update(KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1",
               XLA_FLAGS=f"{FAST_COMPILE} {xla_flags}".strip())
    return env


def launch(dataset, run_dir, watch, *options, port: int, count: int = 2, ids=None, timeout: int = 30):
    """Start the processes of one run; return the Popen objects (stdout and stderr captured)."""
    processes = []
    for i in (range(count) if ids is None else ids):
        argv = ["train", str(dataset), "--run-dir", str(run_dir), *TINY, "--coordinator", f"127.0.0.1:{port}",
                "--num-processes", str(count), "--process-id", str(i), "--distributed-timeout", str(timeout),
                *options]
        processes.append(subprocess.Popen([sys.executable, str(WORKER), str(watch), *argv], cwd=REPO,
                                          env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
    return processes


def finish(processes, limit: float = 240) -> list[tuple[int, str, str]]:
    results = []
    for p in processes:
        out, err = p.communicate(timeout=limit)
        results.append((p.returncode, out, err))
    return results


def writes(stderr: str) -> list[str]:
    line = [l for l in stderr.splitlines() if l.startswith("WRITES: ")]
    assert line, stderr[-2000:]
    return json.loads(line[-1][len("WRITES: "):])


def step_lines(stdout: str) -> list[str]:
    return [l.split("  ")[0:5] for l in stdout.splitlines() if l.startswith("step ")]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (8, 16384, 2)).astype(np.float32)
    path = tmp_path_factory.mktemp("data") / "data.npz"
    save_dataset(path, audio, [f"loop_{i}" for i in range(8)], sample_rate=14700)
    return path


@pytest.fixture(scope="module")
def two_runs(dataset, tmp_path_factory):
    """The same 4 steps by two processes (one device each) and by one process on two host devices."""
    root = tmp_path_factory.mktemp("distributed")
    results = finish(launch(dataset, root / "run", root, "--steps", "4", port=free_port()))
    reference = subprocess.run([sys.executable, "-m", "beatgan", "train", str(dataset), "--run-dir",
                                str(root / "reference"), *TINY, "--steps", "4", "--devices", "2"], cwd=REPO,
                               env=environment("--xla_force_host_platform_device_count=2"),
                               capture_output=True, text=True, timeout=240)
    return root, results, reference


def test_two_processes_train_and_say_who_they_are(two_runs):
    _, results, reference = two_runs
    assert reference.returncode == 0, reference.stderr
    for i, (status, out, err) in enumerate(results):
        assert status == 0, err[-3000:]
        assert f"process {i} of 2: 2 global device(s)" in out and "done: step 4" in out


def test_two_processes_equal_one_process_on_two_devices(two_runs):
    root, results, reference = two_runs
    assert step_lines(results[0][1]) == step_lines(results[1][1]) == step_lines(reference.stdout)
    ours = np.load(root / "run" / "checkpoints" / "step_000004" / "variables.npz")
    theirs = np.load(root / "reference" / "checkpoints" / "step_000004" / "variables.npz")
    assert sorted(ours.files) == sorted(theirs.files)
    for key in ours.files:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_only_process_zero_writes_the_run_directory(two_runs):
    root, results, _ = two_runs
    assert writes(results[1][2]) == []
    written = writes(results[0][2])
    assert any("checkpoints" in w for w in written) and any("metrics.jsonl" in w for w in written)
    assert json.loads((root / "run" / "config.json").read_text())["processes"] == 2
    steps = [json.loads(l)["step"] for l in (root / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # one line per step: one writer


def test_a_run_of_two_processes_refuses_one(two_runs, dataset):
    root, _, _ = two_runs
    done = subprocess.run([sys.executable, "-m", "beatgan", "train", str(dataset), "--run-dir", str(root / "run"),
                           *TINY, "--steps", "8"], cwd=REPO, env=environment(), capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 2
    assert "was started with 2 process(es), this run has 1: resume with --num-processes 2" in done.stderr


@pytest.mark.parametrize("differ, named", [
    (["--seed", "1"], "train.seed (process 1 differ from process 0)"),
    (["DATA"], "training data (process 1 differ from process 0)"),
])
def test_processes_given_different_options_or_data_refuse_to_start(dataset, tmp_path, differ, named):
    other = tmp_path / "other.npz"
    audio = np.random.default_rng(1).uniform(-0.5, 0.5, (8, 16384, 2)).astype(np.float32)
    save_dataset(other, audio, [f"loop_{i}" for i in range(8)], sample_rate=14700)
    port = free_port()
    first = launch(dataset, tmp_path / "run", tmp_path, "--steps", "2", port=port, ids=[0])
    extra = [] if differ == ["DATA"] else differ
    second = launch(other if differ == ["DATA"] else dataset, tmp_path / "run", tmp_path, "--steps", "2", *extra,
                    port=port, ids=[1])
    for status, _, err in finish(first + second):
        assert status == 2
        assert f"the processes of this run disagree on {named}" in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_killed_process_stops_the_other_within_the_timeout_and_both_resume(dataset, tmp_path):
    port = free_port()
    processes = launch(dataset, tmp_path / "run", tmp_path, "--steps", "100000", port=port, timeout=TIMEOUT)
    deadline = time.monotonic() + 180
    while not list((tmp_path / "run" / "checkpoints").glob("step_*")) and time.monotonic() < deadline:
        assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
        time.sleep(0.5)
    processes[1].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    survivor = processes[0]
    out, err = survivor.communicate(timeout=TIMEOUT * 6)
    waited = time.monotonic() - killed_at
    processes[1].communicate()
    assert survivor.returncode != 0
    assert waited < TIMEOUT * 6
    assert "another task died" in err or "lost the run's other processes" in err, err[-3000:]
    kept = sorted((tmp_path / "run" / "checkpoints").glob("step_*"))
    last = int(kept[-1].name.split("_")[1])
    results = finish(launch(dataset, tmp_path / "run", tmp_path, "--steps", str(last + 2), port=free_port()))
    for status, out, err in results:
        assert status == 0, err[-3000:]
        assert f"from step {last}" in out and f"done: step {last + 2}" in out


def test_process_zero_alone_stops_within_the_timeout(dataset, tmp_path):
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "beatgan", "train", str(dataset), "--run-dir", str(tmp_path / "r"),
                           *TINY, "--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2",
                           "--process-id", "0", "--distributed-timeout", "3"], cwd=REPO, env=environment(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and time.monotonic() - began < 60
    assert "process 0 of 2: joining the run at 127.0.0.1:" in done.stderr and "waiting up to 3 s" in done.stderr
    assert "Deadline Exceeded" in done.stderr or "could not join" in done.stderr
    assert not (tmp_path / "r").exists()


# --- one clear line for each bad start ------------------------------------------------------------


def one_line(*argv, env=None) -> str:
    done = subprocess.run([sys.executable, "-m", "beatgan", "train", *map(str, argv)], cwd=REPO,
                          env=env or environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = [l for l in done.stderr.splitlines() if l.strip() and not l.startswith(("WARNING", "E0000", "I0000"))
             and ": joining the run at " not in l]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_tensorflow_backend_with_several_processes_points_to_jax(dataset, tmp_path):
    line = one_line(dataset, "--run-dir", tmp_path / "r", "--backend", "tensorflow", "--coordinator",
                    "127.0.0.1:1234", "--num-processes", "2", "--process-id", "0")
    assert "needs the JAX backend (--backend jax), not 'tensorflow'" in line


def test_an_unreachable_coordinator_is_one_line_within_the_timeout(dataset, tmp_path):
    began = time.monotonic()
    line = one_line(dataset, "--run-dir", tmp_path / "r", "--backend", "jax", "--coordinator",
                    f"127.0.0.1:{free_port()}", "--num-processes", "2", "--process-id", "1",
                    "--distributed-timeout", "3")
    assert "process 1 could not join the run at 127.0.0.1:" in line and "within 3 s" in line
    assert time.monotonic() - began < 60


@pytest.mark.parametrize("process_id", ["2", "-1"])
def test_a_process_id_outside_the_range_is_one_line(dataset, tmp_path, process_id):
    line = one_line(dataset, "--run-dir", tmp_path / "r", "--backend", "jax", "--coordinator", "127.0.0.1:1234",
                    "--num-processes", "2", "--process-id", process_id)
    assert f"process_id={process_id} must be in 0..1 (num_processes=2)" in line


# --- resolve: options, environment, schedulers ----------------------------------------------------


def test_resolve_reads_options_then_environment_then_schedulers():
    assert distributed.resolve(environ={}) is None
    cluster = distributed.resolve("h:1", 2, 1, environ={"BEATGAN_PROCESS_ID": "0"})
    assert (cluster.coordinator, cluster.num_processes, cluster.process_id, cluster.source) == ("h:1", 2, 1, "options")
    env = {"BEATGAN_COORDINATOR": "node001:1234", "BEATGAN_NUM_PROCESSES": "4", "BEATGAN_PROCESS_ID": "3"}
    assert distributed.resolve(environ=env) == distributed.Cluster("node001:1234", 4, 3, "environment")
    assert distributed.resolve(environ={"SLURM_NTASKS": "2", "SLURM_PROCID": "1"}).source == "slurm"
    assert distributed.resolve(environ={"SLURM_NTASKS": "1", "SLURM_PROCID": "0"}) is None
    assert distributed.resolve(environ={"OMPI_COMM_WORLD_SIZE": "8"}).source == "openmpi"
    assert distributed.resolve("h:1", 1, 0, environ={}) is None  # one process: an ordinary run


@pytest.mark.parametrize("options, message", [
    (("h:1", 2, None), "missing --process-id"),
    (("h", 2, 0), "coordinator='h' must be HOST:PORT"),
    (("h:70000", 2, 0), "with a port in 1..65535"),
    (("h:1", 0, 0), "num_processes=0"),
    (("h:1", 2, 2), "process_id=2 must be in 0..1"),
])
def test_resolve_names_a_bad_value(options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("..", r"\.\.")):
        distributed.resolve(*options, environ={})


def test_resolve_names_a_non_integer_environment_value():
    with pytest.raises(ConfigError, match="BEATGAN_NUM_PROCESSES='two' must be an integer"):
        distributed.resolve(environ={"BEATGAN_COORDINATOR": "h:1", "BEATGAN_NUM_PROCESSES": "two",
                                     "BEATGAN_PROCESS_ID": "0"})


def test_one_process_needs_no_collective():
    assert distributed.process_count() == 1 and distributed.is_writer()
    assert distributed.agree(3) == 3 and distributed.local_rows(10) == slice(0, 10)
    distributed.check_same({"anything": object()})  # nothing to compare with
