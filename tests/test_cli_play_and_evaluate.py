"""Tests of the ``evaluate``, ``export``, ``variations``, ``morph``, ``recover`` and ``similarity --recovery`` verbs."""

from __future__ import annotations

import json

import numpy as np
import pytest

import wavfile24
from beatgan.checkpoint import export_generator
from beatgan.cli import main
from beatgan.config import ModelConfig
from beatgan.corpus import render_corpus
from beatgan.generate import sample_latents
from beatgan.model import build_generator


@pytest.fixture(autouse=True)
def _private_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A tiny stereo generator (model_dim 2) as a weights directory."""
    directory = tmp_path_factory.mktemp("weights")
    export_generator(build_generator(ModelConfig(model_dim=2)), ModelConfig(model_dim=2), directory)
    return directory


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus") / "loops"
    render_corpus(folder, count=24, seed=0, kits=["synth"], progress=False)
    return folder


def test_evaluate_weights_writes_the_report(weights, corpus, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", "--weights", str(weights), "--reference", str(corpus), "-n", "16", "-o", str(out),
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "metric" in text and "collapsed" in text and "fad" in text
    report = json.loads((out / "evaluation.json").read_text())
    assert set(report["metrics"]) == {"generated", "real", "collapsed", "noise"}
    assert report["embedding"].startswith("FAD-musicnn")
    for name in ("evaluation.txt", "metrics.png", "ndb_bins.png", "pairwise_distances.png", "spectrograms.png"):
        assert (out / name).is_file(), name
    # random weights are no drum loops: worse than the held-out real half on FAD
    assert report["metrics"]["generated"]["fad"] > report["metrics"]["real"]["fad"]


def test_evaluate_generated_folder_is_resampled_and_says_so(corpus, tmp_path, capsys):
    folder = tmp_path / "pack"
    folder.mkdir()
    for path in sorted(corpus.glob("loop_*.wav"))[:12]:  # 44.1 kHz files: resampled like training data
        rate, audio, _ = wavfile24.read(path)
        wavfile24.write(folder / path.name, rate, audio, bits=24)
    assert main(["evaluate", "--generated", str(folder), "--reference", str(corpus), "-o", str(tmp_path / "e"),
                 "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "resampled to 14700 Hz" in captured.err


def test_evaluate_empty_folder_is_a_clear_error(corpus, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", "--generated", str(tmp_path / "empty"), "--reference", str(corpus), "--quiet"]) == 2
    assert "error" in capsys.readouterr().err


def test_variations_and_latents(weights, tmp_path, capsys):
    out = tmp_path / "var"
    assert main(["variations", "--weights", str(weights), "--seed", "3@0", "-n", "3", "--spread", "0.05",
                 "-o", str(out), "--quiet"]) == 0
    wavs, latents = sorted(out.glob("*.wav")), sorted(out.glob("*.npy"))
    assert len(wavs) == 3 and len(latents) == 3
    source = sample_latents(4, 100, seed=0)[3]
    for path in latents:
        z = np.load(path)
        assert z.shape == (100,) and np.all(np.abs(z) <= 1) and np.max(np.abs(z - source)) < 0.5
    # a saved latent is a valid source again
    assert main(["variations", "--weights", str(weights), "--seed", str(latents[0]), "-n", "1",
                 "-o", str(tmp_path / "again"), "--quiet"]) == 0


def test_variations_bad_latent_file(weights, tmp_path, capsys):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.full(7, 0.5, dtype=np.float32))
    assert main(["variations", "--weights", str(weights), "--seed", str(bad), "-o", str(tmp_path / "v"),
                 "--quiet"]) == 2
    assert "bad.npy" in capsys.readouterr().err


def test_morph_raw_and_loop(weights, tmp_path):
    assert main(["morph", "--weights", str(weights), "--from", "0", "--to", "1", "--steps", "3",
                 "-o", str(tmp_path / "m"), "--quiet"]) == 0
    assert len(list((tmp_path / "m").glob("morph_*.wav"))) == 3
    assert main(["morph", "--weights", str(weights), "--from", "0", "--to", "2@0", "--steps", "2", "--format",
                 "loop", "--bpm", "120", "-o", str(tmp_path / "l"), "--quiet"]) == 0
    (path,) = (tmp_path / "l").glob("*.wav")
    info = wavfile24.info(path)
    assert info.rate == 44100 and info.frames == round(2 * 4 * 60 / 120 * 44100)


def test_morph_negative_steps_is_an_error(weights, tmp_path, capsys):
    assert main(["morph", "--weights", str(weights), "--from", "0", "--to", "1", "--steps", "-2",
                 "-o", str(tmp_path / "m"), "--quiet"]) == 2
    assert "steps" in capsys.readouterr().err


def test_recover_writes_reconstruction_and_latent(weights, corpus, tmp_path, capsys):
    loop = sorted(corpus.glob("loop_*.wav"))[0]
    assert main(["recover", "--weights", str(weights), str(loop), "--steps", "3", "--restarts", "2",
                 "-o", str(tmp_path / "r"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "dB" in captured.out and "note:" in captured.err  # 44.1 kHz input: resampled, and said so
    assert len(list((tmp_path / "r").glob("*.wav"))) == 1 and len(list((tmp_path / "r").glob("*.npy"))) == 1


def test_similarity_recovery_report(weights, corpus, tmp_path, capsys):
    heldout = tmp_path / "heldout"
    render_corpus(heldout, count=3, seed=7, kits=["synth"], progress=False)
    out = tmp_path / "sim"
    assert main(["similarity", "--weights", str(weights), "--training", str(corpus), "-n", "4", "-o", str(out),
                 "--recovery", "3", "--heldout", str(heldout), "--recovery-steps", "2", "--quiet"]) == 0
    record = json.loads((out / "recovery.json").read_text())
    assert "verdict" in json.dumps(record) and (out / "recovery.png").is_file()


def test_evaluate_against_a_prepared_dataset_uses_one_copy_per_loop(weights, corpus, tmp_path, capsys):
    dataset = tmp_path / "data.npz"
    assert main(["prepare", str(corpus), "-o", str(dataset), "--copies", "3", "--quiet"]) == 0
    out = tmp_path / "eval"
    assert main(["evaluate", "--weights", str(weights), "--reference", str(dataset), "-n", "12", "-o", str(out),
                 "--quiet"]) == 0
    assert "72 rows of 24 loops (noisy copies); one copy of each is used" in capsys.readouterr().err
    assert json.loads((out / "evaluation.json").read_text())["n_reference"] == 12  # half of 24, not of 72


@pytest.fixture(scope="module")
def run_dir(corpus, tmp_path_factory):
    """A tiny training run (model_dim 2) of 4 generator steps that keeps checkpoints 2 and 4."""
    from beatgan.config import TrainConfig
    from beatgan.run import train

    folder = tmp_path_factory.mktemp("run")
    dataset = folder / "data.npz"
    assert main(["prepare", str(corpus), "-o", str(dataset), "--copies", "1", "--quiet"]) == 0
    train(dataset, folder / "run", model_config=ModelConfig(model_dim=2),
          train_config=TrainConfig(batch_size=2, d_steps=1, steps=4, checkpoint_every=2, preview_every=4),
          progress=False, eval_every=0, tensorboard=False)
    return folder / "run"


def test_evaluate_run_dir_scores_every_kept_checkpoint(run_dir, corpus, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", "--run-dir", str(run_dir), "--reference", str(corpus), "-n", "12", "-o", str(out),
                 "--quiet"]) == 0
    steps = json.loads((out / "steps.json").read_text())["steps"]
    assert [row["step"] for row in steps] == [2, 4]
    assert (out / "steps.png").is_file() and (out / "steps.txt").read_text().startswith("step | fad")
    assert (out / "step_000002" / "evaluation.json").is_file() and (out / "step_000004" / "evaluation.txt").is_file()
    # the checkpoints' generators differ, so do their scores
    assert steps[0]["fad"] != steps[1]["fad"]


def _loops(generator, n=3):
    from beatgan.backend import keras

    z = sample_latents(n, generator.input_shape[-1], seed=5)
    return keras.ops.convert_to_numpy(generator(z, training=False))


def test_export_writes_the_chosen_checkpoint_as_weights(run_dir, tmp_path, capsys):
    from beatgan.checkpoint import CHECKPOINTS_DIR, checkpoint_step, list_checkpoints, load_checkpoint_generator, \
        load_generator
    from beatgan.run import read_run_config

    config = read_run_config(run_dir)["model"]
    checkpoints = {checkpoint_step(p): p for p in list_checkpoints(run_dir / CHECKPOINTS_DIR)}
    step2 = load_checkpoint_generator(checkpoints[2], config)
    assert main(["export", "--run-dir", str(run_dir), "--step", "2", "-o", str(tmp_path / "w2"), "--dtype",
                 "float32", "--quiet"]) == 0
    assert "exported step 2 of" in capsys.readouterr().out
    exported, exported_config = load_generator(tmp_path / "w2")
    assert exported_config == config
    np.testing.assert_array_equal(_loops(exported), _loops(step2))
    # the default is the newest kept step, stored in half precision: step 4's weights rounded to float16
    assert main(["export", "--run-dir", str(run_dir), "-o", str(tmp_path / "w4"), "--quiet"]) == 0
    assert "exported step 4 of" in capsys.readouterr().out
    step4 = load_checkpoint_generator(checkpoints[4], config)
    with np.load(tmp_path / "w4" / "generator.npz") as arrays:
        assert sorted(arrays.files) == sorted(v.path for v in step4.weights)
        for v, v2 in zip(step4.weights, step2.weights):
            assert arrays[v.path].dtype == np.float16
            np.testing.assert_array_equal(arrays[v.path], v.numpy().astype(np.float16))
        assert any(not np.array_equal(v.numpy(), v2.numpy()) for v, v2 in zip(step4.weights, step2.weights))


def test_export_names_the_kept_steps_for_a_missing_one(run_dir, tmp_path, capsys):
    assert main(["export", "--run-dir", str(run_dir), "--step", "3", "-o", str(tmp_path / "w"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--step 3" in err and "kept steps: 2, 4" in err
    assert not (tmp_path / "w").exists()
    assert main(["export", "--run-dir", str(tmp_path / "nothing"), "-o", str(tmp_path / "w"), "--quiet"]) == 2
    assert "holds no run" in capsys.readouterr().err


def test_export_writes_the_checkpoints_critic_unless_told_not_to(run_dir, tmp_path, capsys):
    from beatgan.checkpoint import CHECKPOINTS_DIR, checkpoint_step, list_checkpoints, load_critic, read_checkpoint
    from beatgan.run import read_run_config

    config = read_run_config(run_dir)["model"]
    checkpoint = {checkpoint_step(p): p for p in list_checkpoints(run_dir / CHECKPOINTS_DIR)}[2]
    assert main(["export", "--run-dir", str(run_dir), "--step", "2", "-o", str(tmp_path / "w"), "--dtype",
                 "float32", "--quiet"]) == 0
    assert "and its critic to" in capsys.readouterr().out
    critic, critic_config = load_critic(tmp_path / "w")
    assert critic_config == config
    arrays, _ = read_checkpoint(checkpoint)
    for layer in critic.layers:
        for v in layer.weights:
            np.testing.assert_array_equal(v.numpy(), arrays[f"discriminator/{layer.name}/{v.name}"])
    assert main(["export", "--run-dir", str(run_dir), "-o", str(tmp_path / "g"), "--no-critic", "--quiet"]) == 0
    assert not (tmp_path / "g" / "critic.npz").exists() and (tmp_path / "g" / "generator.npz").is_file()
