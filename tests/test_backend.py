"""Tests of beatgan.backend: data-parallel training on two host devices equals one device.

The two-device runs need a fresh process (JAX's host device count and
TensorFlow's logical CPUs are fixed when the backend starts), so they run
tests/_distribute_worker.py and ``beatgan train`` in subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from beatgan.checkpoint import CHECKPOINTS_DIR, checkpoint_step, list_checkpoints
from beatgan.config import ModelConfig, TrainConfig
from beatgan.data import save_dataset
from beatgan.backend import available_devices, check_devices, data_parallel
from beatgan.errors import ConfigError
from beatgan.run import train
from beatgan.gan import LoopBatches, WaveGAN

REPO = Path(__file__).resolve().parents[1]
TWO_HOST_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


def environment(backend: str) -> dict:
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
            **TWO_HOST_DEVICES}


@pytest.fixture(scope="module", params=["jax", "tensorflow"])
def worker(request, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp(f"distribute_{request.param}")
    done = subprocess.run([sys.executable, str(REPO / "tests" / "_distribute_worker.py"), str(out)],
                          env=environment(request.param), capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-4000:]
    with np.load(out / "results.npz") as results:
        return {key: results[key] for key in results.files}


@pytest.mark.slow
def test_two_devices_match_one_device_with_fixed_noise(worker):
    assert len(worker["devices"]) == 2
    np.testing.assert_allclose(worker["logs_2"], worker["logs_1"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(worker["epoch_2"], worker["epoch_1"], rtol=1e-5, atol=1e-5)
    assert worker["iterations_1"].tolist() == worker["iterations_2"].tolist() == [6, 3]
    keys = [k.split("/", 1)[1] for k in worker if k.startswith("weights_1/")]
    assert len(keys) == 24
    for key in keys:
        np.testing.assert_allclose(worker[f"weights_2/{key}"], worker[f"weights_1/{key}"], atol=1e-5, err_msg=key)
    assert not np.allclose(worker["logs_1"][0], worker["logs_1"][-1])  # the steps did train


@pytest.mark.slow
def test_two_devices_match_one_device_with_drawn_noise_phase_shuffle_and_adam(worker):
    np.testing.assert_allclose(worker["default_logs_2"], worker["default_logs_1"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(worker["default_weights_2"], worker["default_weights_1"], atol=1e-5)


@pytest.mark.slow
def test_jax_traces_the_whole_step_once(worker):
    if str(worker["backend"]) != "jax":
        pytest.skip("counts JAX traces")
    # two fit calls, steps_per_execution=2, two devices: one trace of the d_steps + 1 updates
    assert int(worker["traces"]) == 1
    assert int(worker["traced_steps"]) == 6


@pytest.mark.slow
def test_train_verb_with_two_devices_and_steps_per_execution(tmp_path):
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (6, 16384, 2)).astype("float32")
    dataset = tmp_path / "loops.npz"
    save_dataset(dataset, audio, [f"loop_{i}" for i in range(6)], sample_rate=14700)
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "beatgan", "train", str(dataset), "--run-dir", str(run_dir),
               "--backend", "jax", "--devices", "2", "--steps-per-execution", "2", "--model-dim", "2",
               "--batch-size", "2", "--d-steps", "1", "--steps", "4", "--checkpoint-every", "3",
               "--preview-every", "4", "--log-every", "2", "--no-tensorboard", "--quiet"]
    done = subprocess.run(command, env=environment("jax"), capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-4000:]
    # chunks 0-2, 2-3 (a remainder of the 2-step executions), 3-4: every callback lands on its step
    assert [checkpoint_step(p) for p in list_checkpoints(run_dir / CHECKPOINTS_DIR)] == [3, 4]
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4]
    assert all(np.isfinite(line["d_loss"]) for line in lines)
    assert (run_dir / "previews" / "step_000004" / "preview_00.wav").is_file()
    stored = json.loads((run_dir / "config.json").read_text())
    assert "devices" not in stored["train"]  # a run option: resuming on another device count is allowed


# --- in this process (one device) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "devices, batch_size, match",
    [(0, 4, "devices=0 must be a positive integer"), (True, 4, "devices=True"), (2.0, 4, "devices=2.0"),
     (10_000, 10_000, "devices=10000 but only"), (1, 3, None)],
)
def test_check_devices(devices, batch_size, match):
    if match is None:
        assert check_devices(devices, batch_size=batch_size) == available_devices()[:1]
        return
    with pytest.raises(ConfigError, match=match):
        check_devices(devices, batch_size=batch_size)


def test_batch_size_must_split_evenly(monkeypatch):
    monkeypatch.setattr("beatgan.backend.available_devices", lambda: ["cpu:0", "cpu:1"])
    with pytest.raises(ConfigError, match="batch_size=3 must be a multiple of devices=2"):
        check_devices(2, batch_size=3)


def test_one_device_changes_nothing():
    with data_parallel(1, batch_size=2) as devices:
        assert len(devices) == 1
        gan = WaveGAN(ModelConfig(model_dim=2), TrainConfig(batch_size=2))
    assert getattr(gan, "distribute_strategy", None) is None or gan.distribute_strategy.num_replicas_in_sync == 1


@pytest.mark.parametrize("batch_size, d_steps", [(2, 5), (4, 2), (3, 1)])
def test_split_real_recovers_each_minibatch_from_the_example_major_batch(batch_size, d_steps):
    audio = np.arange(40, dtype=np.float64)[:, None, None] * np.ones((1, 16384, 1))
    batches = LoopBatches(audio, batch_size=batch_size, d_steps=d_steps, seed=2, steps=1)
    drawn = np.random.default_rng([2, 0]).choice(40, size=batch_size * d_steps, replace=False)
    gan = WaveGAN(ModelConfig(model_dim=2, channels=1), TrainConfig(batch_size=batch_size, d_steps=d_steps))
    real = keras.ops.convert_to_numpy(gan.split_real(batches[0]))  # (d_steps, B, T, 1)
    assert real.shape == (d_steps, batch_size, 16384, 1)
    for i in range(d_steps):  # minibatch i is the i-th run of batch_size draws, as before the layout change
        np.testing.assert_array_equal(real[i, :, 0, 0], drawn[i * batch_size:(i + 1) * batch_size])
    # a device's contiguous share of the rows holds its share of every minibatch
    half = batches[0][: batch_size * d_steps // 2] if batch_size % 2 == 0 else None
    if half is not None:
        share = keras.ops.convert_to_numpy(gan.split_real(half))
        np.testing.assert_array_equal(share, real[:, : batch_size // 2])


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_train_rejects_bad_steps_per_execution(tmp_path, value):
    audio = np.zeros((2, 16384, 2), np.float32)
    with pytest.raises(ConfigError, match="steps_per_execution="):
        train(audio, tmp_path / "run", model_config=ModelConfig(model_dim=2), steps_per_execution=value)


# --- precision ------------------------------------------------------------------------------------

from beatgan import backend  # noqa: E402
from beatgan.backend import resolve_precision  # noqa: E402


@pytest.mark.parametrize("flags, expected", [({"avx512_bf16", "avx512f"}, "bfloat16"), ({"amx_bf16"}, "bfloat16"),
                                             ({"avx2", "avx512f"}, "float32"), (set(), "float32")])
def test_auto_precision_follows_the_cpu(monkeypatch, flags, expected):
    monkeypatch.setattr(backend, "accelerator", lambda: None)
    monkeypatch.setattr(backend, "cpu_flags", lambda: flags)
    resolved, line = resolve_precision("auto")
    assert resolved == expected and line.startswith(f"precision: {expected} (auto:")


def test_auto_precision_on_this_cpu_matches_its_flags():
    native = bool({"avx512_bf16", "amx_bf16"} & backend.cpu_flags())
    assert resolve_precision("auto")[0] == ("bfloat16" if native else "float32")


def test_emulated_bfloat16_says_so_and_how_much_slower(monkeypatch):
    monkeypatch.setattr(backend, "accelerator", lambda: None)
    monkeypatch.setattr(backend, "cpu_flags", lambda: {"avx2"})
    with pytest.warns(UserWarning, match=r"emulated.*slower than float32"):
        assert resolve_precision("bfloat16")[0] == "bfloat16"
    assert resolve_precision("float32") == ("float32", "precision: float32")
    with pytest.raises(ConfigError, match="precision='fp16'"):
        resolve_precision("fp16")


def test_old_mixed_precision_runs_still_load():
    from beatgan.config import TrainConfig

    assert TrainConfig.from_dict({"mixed_precision": True}).precision == "bfloat16"
    assert TrainConfig.from_dict({"mixed_precision": False}).precision == "float32"
