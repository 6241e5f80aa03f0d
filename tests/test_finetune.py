"""`beatgan finetune`: a tiny model trained on from its weights on a tiny rendered pack (CPU)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from beatgan.checkpoint import CHECKPOINTS_DIR, CRITIC_FILE, list_checkpoints, read_checkpoint, read_lineage
from beatgan.cli import main
from beatgan.config import FINETUNE_LR_SCALE, ModelConfig, TrainConfig
from beatgan.corpus import render_corpus
from beatgan.finetune import finetune_configs
from beatgan.run import load_metrics, read_run_config, train

MODEL = ModelConfig(model_dim=2)
QUIET = ["--no-tensorboard", "--no-evaluate", "--log-every", "1", "--batch-size", "2", "--d-steps", "1"]


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    """Twelve loops of the open-corpus renderer, another seed than the corpus: the user's pack."""
    folder = tmp_path_factory.mktemp("pack")
    render_corpus(folder, count=12, seed=77, progress=False)
    return folder


@pytest.fixture(scope="module")
def weights(pack, tmp_path_factory):
    """A tiny model's weights directory (generator, critic, lineage), trained 2 steps."""
    run = tmp_path_factory.mktemp("base")
    result = train(pack, run, model_config=MODEL, train_config=TrainConfig(batch_size=2, d_steps=1, steps=2, seed=1),
                   progress=False, eval_every=0, tensorboard=False, log_every=1)
    return result.weights_dir


def test_finetune_starts_from_the_weights_keeps_frozen_layers_and_reports(pack, weights, tmp_path, capsys):
    run = tmp_path / "mypack"
    status = main(["finetune", str(pack), "--weights", str(weights), "--run-dir", str(run), "--steps", "3",
                   "--freeze-critic", "2", "--eval-every", "2", *QUIET, "--evaluate", "-n", "4"])
    assert status == 0  # a pack too small for `evaluate` says so and keeps the fine-tuned weights
    captured = capsys.readouterr()
    out = captured.out
    assert "note: no evaluation against the pack: 12 reference loops are too few" in captured.err
    assert "started from the weights in" in out and f"beatgan generate --weights {run / 'weights'}" in out
    stored = read_run_config(run)
    assert stored["model"] == MODEL and stored["train"].freeze_critic == 2
    assert stored["init_from"]["lineage"]["step"] == 2  # the weights' own run
    assert read_lineage(run / "weights")["init_from"]["weights"] == str(weights.resolve())
    # the cheap metrics against the pack at the start, every --eval-every steps and at the end
    metrics = load_metrics(run)
    np.testing.assert_array_equal(metrics["eval/step"], [0, 2, 3])
    assert {"eval/diversity", "eval/ndb_k", "eval/tonal_lines", "eval/silence"} <= set(metrics)
    assert (run / "finetune_metrics.png").stat().st_size > 0
    # the frozen layers are the weights' critic's, bit for bit; the next layer trained
    arrays = read_checkpoint(list_checkpoints(run / CHECKPOINTS_DIR)[-1])[0]
    with np.load(weights / CRITIC_FILE) as critic:
        for layer, frozen in (("conv_0", True), ("conv_1", True), ("conv_2", False)):
            given = critic[f"{layer}/kernel"].astype(np.float32)
            saved = [v for k, v in arrays.items() if k.startswith(f"discriminator/{layer}/") and k.endswith("kernel")]
            assert len(saved) == 1 and np.array_equal(saved[0], given) == frozen, layer


def test_finetune_watches_the_diversity_for_collapse_not_the_critic_loss(pack, weights, tmp_path, monkeypatch):
    import beatgan.callbacks

    monkeypatch.setattr(beatgan.callbacks, "COLLAPSE_LOSS", float("inf"))  # every critic loss counts as the floor
    monkeypatch.setattr(beatgan.callbacks, "COLLAPSE_STEPS", 1)
    monkeypatch.setattr(beatgan.callbacks, "COLLAPSE_FALL", float("inf"))  # every evaluation counts as a fall
    with pytest.warns(beatgan.callbacks.CollapseWarning) as caught:
        main(["finetune", str(pack), "--weights", str(weights), "--run-dir", str(tmp_path / "watched"), "--steps", "3",
              "--loss", "dcgan", "--eval-every", "2", *QUIET])
    said = [str(w.message) for w in caught if issubclass(w.category, beatgan.callbacks.CollapseWarning)]
    assert len(said) == 1 and "diversity ratio of the generated loops has fallen from" in said[0]
    assert "(step 0)" in said[0]  # the best so far is the weights' own, scored where fine-tuning starts


def test_finetune_learns_at_a_fraction_of_the_recipe_rates_unless_given(pack, weights, tmp_path, capsys):
    recipe = read_lineage(weights)["train"]  # the weights' run: wgan-gp at the reference's 1e-4
    model, config = finetune_configs(pack, weights, tmp_path / "scaled")
    assert config.g_learning_rate == pytest.approx(recipe["g_learning_rate"] * FINETUNE_LR_SCALE)
    assert config.d_learning_rate == pytest.approx(recipe["d_learning_rate"] * FINETUNE_LR_SCALE)
    assert config.loss == recipe["loss"] and model == MODEL
    rate = f"{recipe['g_learning_rate'] * FINETUNE_LR_SCALE:.3g}"
    assert f"{FINETUNE_LR_SCALE:g} x the recipe's learning rates: g_learning_rate {rate}, d_learning_rate {rate}" \
        in capsys.readouterr().out
    _, given = finetune_configs(pack, weights, tmp_path / "given", train_options={"g_learning_rate": 3e-4})
    assert given.g_learning_rate == 3e-4 and given.d_learning_rate == pytest.approx(recipe["d_learning_rate"] * FINETUNE_LR_SCALE)
    _, other = finetune_configs(pack, weights, tmp_path / "other", train_options={"loss": "dcgan"}, progress=False)
    assert other.g_learning_rate == pytest.approx(2e-4 * FINETUNE_LR_SCALE)  # the new loss's reference rate


def test_finetune_minutes_stops_checkpoints_exports_and_the_same_command_resumes(pack, weights, tmp_path, capsys):
    run = tmp_path / "timed"
    command = ["finetune", str(pack), "--weights", str(weights), "--run-dir", str(run), "--minutes", "0.02",
               "--eval-every", "0", *QUIET]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "time limit reached at step" in out and " left" in out  # the step lines count down
    first = list_checkpoints(run / CHECKPOINTS_DIR)[-1]
    assert (run / "weights" / "generator.npz").is_file() and (run / "weights" / CRITIC_FILE).is_file()
    assert main(command) == 0
    out = capsys.readouterr().out
    assert f"resumed {run} from step {int(first.name.split('_')[1])}" in out
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 1_000_000  # the clock stops it


def _write_pack(folder, count, *, rate, channels, seconds):
    """``count`` decaying noise hits as PCM_16 WAVs: a user's pack in another format than the weights'."""
    import soundfile

    folder.mkdir()
    rng = np.random.default_rng(count)
    frames = int(rate * seconds)
    for i in range(count):
        hit = rng.uniform(-0.5, 0.5, (frames, channels)) * np.exp(-np.arange(frames) / (0.05 * rate))[:, None]
        soundfile.write(folder / f"hit_{i}.wav", hit, rate, subtype="PCM_16")
    return folder


def test_finetune_says_how_it_adapts_a_small_mono_pack_of_another_rate(weights, tmp_path, capsys):
    pack = _write_pack(tmp_path / "mono", 3, rate=22050, channels=1, seconds=0.5)  # stereo weights, 1.11 s slices
    run = tmp_path / "run"
    assert main(["finetune", str(pack), "--weights", str(weights), "--run-dir", str(run), "--steps", "1",
                 "--batch-size", "16", "--eval-every", "0", "--no-evaluate", "--no-tensorboard"]) == 0
    out = capsys.readouterr().out
    assert "the pack gives 15 examples (3 loops x 5 noisy copies), fewer than the batch of 16: the batch shrinks to 15" in out
    assert "resampled to 14700 Hz (soxr HQ): 3 loops from 22050 Hz" in out
    assert "mono duplicated to stereo: 3 loops" in out
    assert "zero-padded to 16384 samples (1.11 s): 3 loops shorter than that" in out
    assert read_run_config(run)["train"].batch_size == 15


@pytest.mark.parametrize("case, message", [
    ("empty", "no audio files (.aif"),
    ("text", "no audio files (.aif"),
    ("one loop", "holds 1 usable loop(s); fine-tuning needs at least 2"),
    ("no critic", "has no critic.npz: training on needs the critic too"),
    ("freeze", "freeze_critic=9 must be at most 5, the critic's convolution layers"),
])
def test_finetune_bad_input_is_one_error_line(case, message, pack, weights, tmp_path, capsys):
    folder, given, options = tmp_path / "pack", weights, []
    folder.mkdir()
    if case == "text":
        (folder / "notes.txt").write_text("not audio")
    elif case == "one loop":
        folder.rmdir()
        _write_pack(folder, 1, rate=44100, channels=2, seconds=2)
    elif case in ("no critic", "freeze"):
        folder = pack
        options = ["--freeze-critic", "9"] if case == "freeze" else []
    if case == "no critic":
        given = tmp_path / "weights"
        given.mkdir()
        for name in ("config.json", "generator.npz", "lineage.json"):
            (given / name).write_bytes((weights / name).read_bytes())
    status = main(["finetune", str(folder), "--weights", str(given), "--run-dir", str(tmp_path / "run"), "--steps", "1",
                   *options, *QUIET])
    err = capsys.readouterr().err
    last = err.splitlines()[-1]
    assert status == 2 and last.startswith("beatgan finetune: error: ") and message in last and "Traceback" not in err
    assert not (tmp_path / "run" / "weights").exists()
