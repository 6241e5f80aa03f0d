"""scripts/device_train.py: pack here, run where only JAX is installed, unpack the shards into weights.

The run half goes in a subprocess that refuses TensorFlow, librosa, soundfile and
matplotlib (tests/_jax_only.py) and installs the carried wheel of this package
offline, as on the accelerator; a tiny model trains three steps in seconds.
Shards are made tiny so that the files need several shards and two batches.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import wavfile24
from beatgan.checkpoint import load_critic, load_generator
from beatgan.config import ModelConfig
from beatgan.generate import generate
from conftest import synth_drums

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "device_train.py"
spec = importlib.util.spec_from_file_location("device_train", SCRIPT)
device_train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(device_train)
TINY = ["--set", "model.model_dim=2", "--set", "train.batch_size=2", "--set", "train.d_steps=1",
        "--set", "train.steps=3", "--set", "train.checkpoint_every=2", "--set", "augment.copies=2"]


def script(*argv, blocked: bool = False, cwd=REPO) -> subprocess.CompletedProcess:
    prefix = [str(REPO / "tests" / "_jax_only.py")] if blocked else []
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "PYTHONUNBUFFERED": "1",
           "XLA_FLAGS": "--xla_backend_optimization_level=0"}  # a tiny model: compile fast
    env.pop("KERAS_BACKEND", None)
    return subprocess.run([sys.executable, *prefix, str(SCRIPT), *map(str, argv)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


@pytest.fixture(scope="module")
def device_run(tmp_path_factory):
    """pack (this package's wheel only), run (blocked imports, tiny shards), collect, unpack."""
    root = tmp_path_factory.mktemp("device")
    pack_folder = root / "pack"
    pack_folder.mkdir()
    for i in range(4):
        wavfile24.write(pack_folder / f"loop_{i}.wav", 14700, synth_drums(14700, 1.2, seed=i), bits=24)
    carry = root / "carry"
    packed = script("pack", "--loops", pack_folder, "-o", carry, "--wheels", "package", *TINY)
    assert packed.returncode == 0, packed.stderr
    out1, out2 = root / "out1", root / "out2"
    ran = script("run", "--carry", carry, "--out", out1, "--minutes", "5", "--margin", "5", "--run-dir",
                 root / "run", "--staging", root / "staging", "--site", root / "site", "--shard-mib", "0.03",
                 "--log-every", "1", blocked=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert device_train.main(["collect", "--out", str(out2), "--staging", str(root / "staging")]) == 0
    assert device_train.main(["unpack", str(out1), str(out2), "-o", str(root / "weights")]) == 0
    return {"root": root, "carry": carry, "out": [out1, out2], "ran": ran,
            "manifest": json.loads((out1 / "manifest.json").read_text())}


def test_pack_writes_loops_recipe_and_the_wheel_with_checksums(device_run):
    carry = device_run["carry"]
    info = json.loads((carry / "PACK.json").read_text())
    assert info["loops"] == 4 and [w.split("-")[0] for w in info["wheels"]] == ["beatgan"]
    for name, entry in info["files"].items():
        assert (carry / name).stat().st_size == entry["size"]
        assert device_train.sha256(carry / name) == entry["sha256"]
    with np.load(carry / "loops.npz") as loops:
        assert loops["audio"].dtype == np.int16 and loops["audio"].shape == (4, 16384, 2)
    recipe = json.loads((carry / "recipe.json").read_text())
    assert recipe["model"]["model_dim"] == 2 and recipe["train"]["precision"] == "bfloat16"
    assert recipe["augment"] == {"copies": 2, "amplitude": 0.0011, "seed": 0}


def test_run_installs_the_carried_wheel_and_trains_on_jax(device_run):
    manifest, ran = device_run["manifest"], device_run["ran"]
    assert manifest["wheels"] == json.loads((device_run["carry"] / "PACK.json").read_text())["wheels"]
    assert "backend: jax" in ran.stdout and "8 examples (2 noisy copies per loop)" in ran.stdout
    assert manifest["steps"] == 3 and manifest["stopped_by"] is None and manifest["backend"] == "jax"
    assert manifest["steps_per_second"] > 0 and manifest["device"].startswith("cpu")
    assert f"beatgan from {device_run['root'] / 'site' / 'beatgan'}," in ran.stdout  # the wheel, not the checkout


def test_shards_keep_within_what_one_call_returns(device_run):
    manifest = device_run["manifest"]
    assert manifest["batches"] == 2
    for out in device_run["out"]:
        files = list(out.iterdir())
        assert len(files) <= device_train.RETURN_FILES
        assert sum(f.stat().st_size for f in files) <= device_train.RETURN_BYTES
        assert all(f.stat().st_size <= device_train.RETURN_FILE_BYTES for f in files)
    names = {entry["name"]: len(entry["shards"]) for entry in manifest["files"]}
    assert names["generator.npz"] > 1 and names["critic.npz"] > 1


def test_unpacked_files_match_the_manifest_checksums(device_run):
    weights = device_run["root"] / "weights"
    for entry in device_run["manifest"]["files"]:
        assert device_train.sha256(weights / entry["name"]) == entry["sha256"]
    training = json.loads((weights / "training.json").read_text())
    assert training["steps"] == 3 and training["recipe"] == device_run["manifest"]["recipe"]


def test_unpacked_weights_generate_what_the_run_exported(device_run):
    unpacked, config = load_generator(device_run["root"] / "weights")
    exported, _ = load_generator(device_run["root"] / "run" / "weights")  # the run's own export at its end
    assert config == ModelConfig(model_dim=2)
    np.testing.assert_array_equal(generate(unpacked, 3, seed=7), generate(exported, 3, seed=7))
    critic, _ = load_critic(device_run["root"] / "weights")
    assert critic.output_shape == (None, 1)


def _copies(device_run, tmp_path) -> list[Path]:
    copies = []
    for i, out in enumerate(device_run["out"]):
        shutil.copytree(out, tmp_path / f"out{i}")
        copies.append(tmp_path / f"out{i}")
    return copies


def test_a_missing_shard_is_named(device_run, tmp_path):
    folders = _copies(device_run, tmp_path)
    shard = device_run["manifest"]["files"][2]["shards"][1]["name"]  # generator.npz.001
    (folders[shard_batch(device_run, shard) - 1] / shard).unlink()
    with pytest.raises(device_train.DeviceTrainError, match=rf"shard {shard} of generator.npz is missing"):
        device_train.unpack(folders, tmp_path / "w")


def test_a_corrupted_shard_is_named(device_run, tmp_path):
    folders = _copies(device_run, tmp_path)
    shard = device_run["manifest"]["files"][3]["shards"][0]["name"]  # critic.npz.000
    path = folders[shard_batch(device_run, shard) - 1] / shard
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    done = script("unpack", *folders, "-o", tmp_path / "w")
    assert done.returncode == 2 and f"shard {path} is damaged" in done.stderr
    assert not (tmp_path / "w" / "critic.npz").exists()


def test_the_first_batch_alone_unpacks_without_the_critic_when_asked(device_run, tmp_path):
    first = device_run["out"][0]
    with pytest.raises(device_train.DeviceTrainError, match="critic.npz is missing .*unpack --without-critic"):
        device_train.unpack([first], tmp_path / "w")
    device_train.unpack([first], tmp_path / "w", without_critic=True)
    assert not (tmp_path / "w" / "critic.npz").exists()
    load_generator(tmp_path / "w")


def shard_batch(device_run, name: str) -> int:
    return next(s["batch"] for e in device_run["manifest"]["files"] for s in e["shards"] if s["name"] == name)


def test_batches_respect_the_file_count_and_size_limits():
    entries = [{"shards": [{"size": 15 * device_train.MIB} for _ in range(5)]},
               {"shards": [{"size": 10} for _ in range(9)]}]
    batches = device_train._plan_batches(entries)
    by_batch: dict[int, list[int]] = {}
    for entry in entries:
        for shard in entry["shards"]:
            by_batch.setdefault(shard["batch"], []).append(shard["size"])
    assert batches == len(by_batch) == 3
    for sizes in by_batch.values():
        assert len(sizes) + 1 <= device_train.RETURN_FILES  # the manifest travels in each
        assert sum(sizes) <= device_train.RETURN_BYTES - device_train.MIB


@pytest.mark.parametrize("override, message", [
    ("model.model_dim=0", "model_dim=0"),
    ("train.precision=float64", "precision='float64' must be one of"),
    ("model.width=3", "width"),
    ("augment.noise=1", "augment fields \\['noise'\\] are unknown"),
    ("batch_size=3", "must look like model.FIELD=VALUE"),
])
def test_a_bad_recipe_field_is_named(override, message):
    with pytest.raises(device_train.DeviceTrainError, match=message):
        device_train.make_recipe([override])


def test_run_without_a_pack_says_what_to_do(tmp_path):
    done = script("run", "--carry", tmp_path / "nothing", "--out", tmp_path / "out", "--minutes", "1")
    assert done.returncode == 2 and "loops.npz is missing: run `python scripts/device_train.py pack`" in done.stderr


def test_full_size_weights_come_back_in_two_calls_within_the_limits(tmp_path):
    """The paper-size stereo generator (38 MB) and critic (35 MB) in float16: shards and batches as on the GPU."""
    from beatgan.checkpoint import export_critic, export_generator
    from beatgan.model import build_discriminator, build_generator

    config = ModelConfig()  # model_dim 64, stereo, 16384
    export = tmp_path / "export"
    export_generator(build_generator(config), config, export)
    export_critic(build_discriminator(config), config, export)
    (export / "metrics.jsonl").write_text('{"step": 1}\n')
    names = ["config.json", "metrics.jsonl", "generator.npz", "critic.npz"]
    entries = device_train.shard_files([export / n for n in names], tmp_path / "staging")
    assert 36 * device_train.MIB < entries[2]["size"] < 37 * device_train.MIB  # 19.1 M parameters x 2 bytes
    manifest = {"files": entries, "batches": device_train._plan_batches(entries)}
    assert manifest["batches"] == 2
    (tmp_path / "staging" / "manifest.json").write_text(json.dumps(manifest))
    outs = [tmp_path / "out1", tmp_path / "out2"]
    for out in outs:
        device_train.emit_batch(tmp_path / "staging", out)
        sizes = [f.stat().st_size for f in out.iterdir()]
        assert len(sizes) <= device_train.RETURN_FILES and max(sizes) <= device_train.RETURN_FILE_BYTES
        assert sum(sizes) <= device_train.RETURN_BYTES
    first = {f.name for f in outs[0].iterdir()}
    assert {"config.json", "metrics.jsonl", "generator.npz.000", "generator.npz.002"} <= first  # a generator at once
    device_train.unpack(outs, tmp_path / "weights")
    for name in ("generator.npz", "critic.npz"):
        assert device_train.sha256(tmp_path / "weights" / name) == device_train.sha256(export / name)
