"""`beatgan finetune`: a tiny model trained on from its weights on a tiny rendered pack (CPU)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from beatgan.checkpoint import CHECKPOINTS_DIR, CRITIC_FILE, list_checkpoints, read_checkpoint, read_lineage
from beatgan.cli import main
from beatgan.config import ModelConfig, TrainConfig
from beatgan.corpus import render_corpus
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
