"""Training on JAX in an environment without TensorFlow, librosa, soundfile or matplotlib (`pip install '.[jax]'`).

Each command runs in a subprocess where importing those packages raises
ImportError (tests/_jax_only.py), as on a GPU box that holds JAX alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import wavfile24
from beatgan.data import load_dataset, save_dataset
from conftest import synth_drums

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "_jax_only.py"
TINY = ["--model-dim", "2", "--batch-size", "2", "--d-steps", "1", "--checkpoint-every", "1"]


def blocked(*argv, backend: str | None = "jax", cwd=REPO) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if backend:
        env["KERAS_BACKEND"] = backend
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1",
               XLA_FLAGS="--xla_backend_optimization_level=0")  # tiny models: compile fast
    return subprocess.run([sys.executable, str(WORKER), *map(str, argv)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="module")
def loops_file(tmp_path_factory) -> Path:
    """Six stereo loops of synthetic drums at 14.7 kHz, stored as int16 without augmentation."""
    audio = np.stack([synth_drums(14700, 16384 / 14700, seed=s)[:16384] for s in range(6)]).astype(np.float32)
    path = tmp_path_factory.mktemp("loops") / "loops.npz"
    save_dataset(path, audio, [f"loop_{i}.wav" for i in range(6)], sample_rate=14700,
                 settings={"copies": 1, "amplitude": 0.0}, dtype="int16")
    return path


@pytest.fixture(scope="module")
def trained(loops_file, tmp_path_factory):
    """prepare, train 2 steps, resume to 4, export, generate: in one blocked process, one command after another."""
    folder = tmp_path_factory.mktemp("jax_only")
    commands = {
        "prepare": ["prepare", loops_file, "-o", folder / "dataset.npz", "--copies", "2", "--quiet"],
        "train": ["train", folder / "dataset.npz", "--run-dir", folder / "run", "--backend", "jax", "--steps", "2",
                  *TINY],
        "resume": ["train", folder / "dataset.npz", "--run-dir", folder / "run", "--backend", "jax", "--steps", "4",
                   *TINY],
        "export": ["export", "--run-dir", folder / "run", "-o", folder / "weights", "--quiet"],
        "generate": ["generate", "--weights", folder / "weights", "-n", "2", "-o", folder / "loops", "--quiet"],
    }
    done = blocked("--sequence", json.dumps([[str(a) for a in argv] for argv in commands.values()]))
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    steps = {name: subprocess.CompletedProcess(result["argv"], result["status"], result["stdout"], result["stderr"])
             for name, result in zip(commands, results)}
    return folder, steps


def test_the_blocker_refuses_what_it_names():
    done = blocked("-c", "x", backend=None)  # not a verb: argparse's usage error, after the blocker is in
    assert done.returncode == 2
    probe = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'tests'); import _jax_only; "
                            "sys.meta_path.insert(0, _jax_only.RefuseImports()); import soundfile"],
                           capture_output=True, text=True, cwd=REPO)
    assert probe.returncode == 1 and "refused by tests/_jax_only.py" in probe.stderr


@pytest.mark.parametrize("step", ["prepare", "train", "resume", "export", "generate"])
def test_each_step_succeeds_without_tensorflow_librosa_or_soundfile(trained, step):
    _, steps = trained
    done = steps[step]
    assert done.returncode == 0, f"{step} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr


def test_prepare_augments_a_loops_file(trained, loops_file):
    folder, _ = trained
    dataset = load_dataset(folder / "dataset.npz")
    assert dataset.audio.shape == (12, 16384, 2)  # 6 loops x 2 copies
    assert dataset.settings["copies"] == 2


def test_training_checkpoints_resumes_and_says_evaluation_is_off(trained):
    folder, steps = trained
    assert "new run" in steps["train"].stdout and "done: step 2" in steps["train"].stdout
    assert "cheap evaluation off: it needs librosa" in steps["train"].stderr
    assert "resumed" in steps["resume"].stdout and "from step 2" in steps["resume"].stdout
    assert "done: step 4" in steps["resume"].stdout
    kept = sorted(p.name for p in (folder / "run" / "checkpoints").iterdir())
    assert kept[-1] == "step_000004"


def test_export_writes_generator_and_critic_and_generate_writes_wavs(trained):
    folder, _ = trained
    assert {"config.json", "generator.npz", "critic.npz"} <= {p.name for p in (folder / "weights").iterdir()}
    wavs = sorted((folder / "loops").glob("*.wav"))
    assert len(wavs) == 2
    rate, audio, _ = wavfile24.read(wavs[0], dtype="float32")
    assert rate == 14700 and audio.shape == (16384, 2)


def test_tensorflow_backend_without_tensorflow_is_one_clear_line(loops_file, tmp_path):
    done = blocked("train", loops_file, "--run-dir", tmp_path / "run", *TINY, backend=None)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "tensorflow" in lines[0] and "pip install 'beatgan[tensorflow]'" in lines[0]
    assert "--backend jax" in lines[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv, package, extra", [
    (["evaluate", "--weights", "weights", "--reference", "REF", "-n", "2"], "librosa", "eval"),
    (["similarity", "--weights", "weights", "--training", "REF", "-n", "2"], "librosa", "eval"),
])
def test_features_that_need_an_extra_name_it(argv, package, extra, loops_file):
    done = blocked(*[str(loops_file) if a == "REF" else a for a in argv])
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"'{package}'" in lines[-1] and f"pip install 'beatgan[{extra}]'" in lines[-1], done.stderr


def test_a_flac_file_without_soundfile_names_the_audio_extra(tmp_path):
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "loop.flac").write_bytes(b"fLaC" + bytes(100))
    done = blocked("prepare", tmp_path / "pack", "-o", tmp_path / "d.npz", "--quiet")
    assert done.returncode == 2
    assert "'soundfile'" in done.stderr and "pip install 'beatgan[audio]'" in done.stderr
