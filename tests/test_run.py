"""Training runs: resume after SIGKILL, checkpoint on Ctrl-C/SIGTERM, config checks, repeatability, JAX."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import wavfile24
from beatgan.checkpoint import CHECKPOINTS_DIR, checkpoint_step, list_checkpoints, restore_checkpoint
from beatgan.cli import build_parser, main
from beatgan.atomic import write_json_atomic
from beatgan.config import UNTIL_STOPPED, ModelConfig, TrainConfig
from beatgan.data import load_dataset, save_dataset
from beatgan.errors import ConfigError
from beatgan.backend import select_backend
from beatgan.losses import METRIC_NAMES
from beatgan.run import load_metrics, read_run_config, resolve_configs, train

MODEL = ModelConfig(model_dim=2)
TINY = ["--model-dim", "2", "--batch-size", "2", "--d-steps", "1"]  # a step takes ~0.1 s on a CPU
TRAIN = TrainConfig(batch_size=2, d_steps=1, steps=6, checkpoint_every=4, preview_every=3, seed=5)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dataset(drum_recording, tmp_path_factory) -> Path:
    """A dataset file of eight stereo windows of a real drum recording at about 14.7 kHz."""
    rate, data = drum_recording
    decimated = np.asarray(data[:: max(1, rate // 14700)], dtype=np.float32)
    if len(decimated) < MODEL.slice_len + 7000:
        decimated = np.concatenate([decimated, decimated])
    audio = np.stack([decimated[i * 1000:i * 1000 + MODEL.slice_len] for i in range(8)])
    path = tmp_path_factory.mktemp("data") / "loops.npz"
    save_dataset(path, audio, [f"loop_{i}" for i in range(8)], sample_rate=MODEL.sample_rate)
    return path


def command(dataset, run_dir, *options) -> list[str]:
    return [sys.executable, "-m", "beatgan", "train", str(dataset), "--run-dir", str(run_dir), *TINY, *options]


def environment(backend: str = "tensorflow") -> dict:
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
            "PYTHONUNBUFFERED": "1"}


def start(cmd, backend: str = "tensorflow") -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                            env=environment(backend))


def wait_for(condition, process: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"training exited early ({process.returncode}):\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("training made no progress in time")
        time.sleep(0.02)


def make_gan(run_dir: Path):
    from beatgan.gan import WaveGAN

    stored = read_run_config(run_dir)
    gan = WaveGAN(stored["model"], stored["train"])
    gan.compile()
    return gan


@pytest.mark.slow
def test_sigkill_then_same_command_resumes_from_the_last_checkpoint(dataset, tmp_path):
    run_dir = tmp_path / "run"
    cmd = command(dataset, run_dir, "--steps", "60", "--checkpoint-every", "4", "--preview-every", "30",
                  "--log-every", "1", "--seed", "5")
    first = start(cmd)
    wait_for(lambda: list_checkpoints(run_dir / CHECKPOINTS_DIR), first)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    assert first.returncode == -signal.SIGKILL
    resume_step = checkpoint_step(list_checkpoints(run_dir / CHECKPOINTS_DIR)[-1])
    assert 4 <= resume_step < 60

    second = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=environment(), timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"resumed {run_dir} from step {resume_step}" in second.stdout
    metrics = load_metrics(run_dir)
    np.testing.assert_array_equal(metrics["step"], np.arange(1, 61))  # nothing lost, nothing twice

    checkpoints = list_checkpoints(run_dir / CHECKPOINTS_DIR)
    assert [checkpoint_step(p) for p in checkpoints] == [52, 56, 60]  # keep_checkpoints=3
    gan = make_gan(run_dir)
    for path in checkpoints:
        assert restore_checkpoint(gan, path)["step"] == checkpoint_step(path)
    from beatgan.checkpoint import load_generator

    generator, config = load_generator(run_dir / "weights")
    assert config == MODEL and generator(np.zeros((1, 100), np.float32)).shape == (1, 16384, 2)

    # the resumed run lost nothing: its losses equal an uninterrupted run's, bit for bit
    reference = train(dataset, tmp_path / "reference", model_config=MODEL,
                      train_config=read_run_config(run_dir)["train"], progress=False, log_every=1)
    assert reference.step == 60
    expected = load_metrics(tmp_path / "reference")
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(metrics[name], expected[name], err_msg=name)


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_writes_a_checkpoint_at_exit(dataset, tmp_path, sig, status):
    run_dir = tmp_path / "run"
    process = start(command(dataset, run_dir, "--steps", "1000", "--checkpoint-every", "1000", "--log-every", "1"))
    metrics = run_dir / "metrics.jsonl"
    wait_for(lambda: metrics.is_file() and metrics.read_text().count("\n") >= 2, process)
    process.send_signal(sig)
    output, _ = process.communicate(timeout=240)
    assert process.returncode == status, output
    stopped = re.search(rf"stopped by {sig.name} at step (\d+)", output)
    assert stopped, output
    step = int(stopped.group(1))
    assert 2 <= step < 1000
    assert [checkpoint_step(p) for p in list_checkpoints(run_dir / CHECKPOINTS_DIR)] == [step]
    assert load_metrics(run_dir)["step"][-1] == step
    assert (run_dir / "weights" / "generator.npz").is_file()


def test_same_seed_gives_the_same_losses_and_a_complete_run_dir(dataset, tmp_path):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("repeatability is checked on the TensorFlow CPU backend")
    results = [train(dataset, tmp_path / name, model_config=MODEL, train_config=TRAIN, progress=False,
                     log_every=2) for name in ("a", "b")]
    first, second = (load_metrics(r.run_dir) for r in results)
    np.testing.assert_array_equal(first["step"], [2, 4, 6])
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
        assert np.all(np.isfinite(first[name]))
    assert np.all(first["steps_per_sec"] > 0)

    result = results[0]
    assert (result.step, result.resumed_from, result.stopped_by) == (6, None, None)
    assert result.metrics["step"] == 6 and result.weights_dir == result.run_dir / "weights"
    stored = json.loads((result.run_dir / "config.json").read_text())
    assert stored["model"] == MODEL.to_dict() and stored["train"] == TRAIN.to_dict()
    assert stored["backend"] == "tensorflow" and stored["data"] == str(dataset.resolve())
    assert [checkpoint_step(p) for p in list_checkpoints(result.run_dir / CHECKPOINTS_DIR)] == [4, 6]
    previews = sorted((result.run_dir / "previews").iterdir())
    assert [p.name for p in previews] == ["step_000003", "step_000006"]
    rate, audio, bits = wavfile24.read(previews[0] / "preview_00.wav")
    assert (rate, audio.shape, bits) == (MODEL.sample_rate, (MODEL.slice_len, 2), 24)

    # the same call again resumes a finished run: nothing to do; more steps continue the count
    again = train(dataset, result.run_dir, progress=False, log_every=2)
    assert (again.step, again.resumed_from) == (6, 6)
    longer = train(dataset, result.run_dir, train_config=TRAIN.replace(steps=8), progress=False, log_every=2)
    assert (longer.step, longer.resumed_from) == (8, 6)
    np.testing.assert_array_equal(load_metrics(result.run_dir)["step"], [2, 4, 6, 8])


def _write_run(run_dir: Path, model: ModelConfig, train_config: TrainConfig) -> None:
    write_json_atomic(run_dir / "config.json", {"model": model.to_dict(), "train": train_config.to_dict(),
                                                "data": None, "backend": "tensorflow"})


def test_resume_with_other_options_names_the_fields(tmp_path, dataset, capsys):
    _write_run(tmp_path, MODEL, TRAIN)
    with pytest.raises(ConfigError, match=r"model_dim: run has 2, given 4.*batch_size: run has 2, given 3"):
        resolve_configs(tmp_path, model_options={"model_dim": 4}, train_options={"batch_size": 3})
    model, train_config = resolve_configs(tmp_path, train_options={"steps": 99})
    assert model == MODEL and train_config == TRAIN.replace(steps=99)  # unset options come from the run
    # bookkeeping may change on resume (keep more checkpoints of a long run); what the step computes may not
    bookkeeping = {"checkpoint_every": 50, "keep_checkpoints": 40, "preview_every": 7}
    assert resolve_configs(tmp_path, train_options=bookkeeping)[1] == TRAIN.replace(**bookkeeping)
    for field, value in (("d_steps", 2), ("d_learning_rate", 3e-4), ("precision", "bfloat16"), ("seed", 1)):
        with pytest.raises(ConfigError, match=f"{field}: run has"):
            resolve_configs(tmp_path, train_options={field: value})
    with pytest.raises(ConfigError, match="seed: run has 5, given 0"):
        train(dataset, tmp_path, model_config=MODEL, train_config=TrainConfig(batch_size=2, d_steps=1, steps=6,
                                                                              checkpoint_every=4, preview_every=3))
    status = main(["train", str(dataset), "--run-dir", str(tmp_path), "--model-dim", "8", "--steps", "50"])
    assert status == 2
    error = capsys.readouterr().err
    assert "model_dim: run has 2, given 8" in error and "steps: run has" not in error



def test_train_config_recipe_with_options_overriding_single_fields(tmp_path, dataset, capsys):
    """--config sets the recipe's fields; a command-line option overrides one; the run's check sees the result."""
    _write_run(tmp_path, MODEL, TRAIN)
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"model": {"model_dim": 8}, "train": {"d_steps": 3, "batch_size": 2}}))
    status = main(["train", str(dataset), "--run-dir", str(tmp_path), "--config", str(recipe), "--model-dim", "2"])
    error = capsys.readouterr().err
    assert status == 2 and "d_steps: run has 1, given 3" in error
    assert "model_dim" not in error and "batch_size" not in error  # overridden by --model-dim; the same as the run
    recipe.write_text(json.dumps({"train": {"d_step": 3}}))
    assert main(["train", str(dataset), "--run-dir", str(tmp_path / "new"), "--config", str(recipe)]) == 2
    assert "unknown TrainConfig field(s) ['d_step']" in capsys.readouterr().err

def test_every_config_field_is_an_option():
    parser = build_parser()
    args = parser.parse_args(["train", "data.npz", "--run-dir", "r", "--model-dim", "8", "--precision", "bfloat16",
                              "--gp-weight", "5"])
    for field in (*ModelConfig.__dataclass_fields__, *TrainConfig.__dataclass_fields__):
        assert hasattr(args, field), field
    assert (args.model_dim, args.precision, args.gp_weight, args.slice_len) == (8, "bfloat16", 5.0, None)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "data.npz", "--run-dir", "r", "--model-dim", "wide"])


def test_invalid_option_value_is_an_error(tmp_path, capsys):
    assert main(["train", "x.npz", "--run-dir", str(tmp_path / "new"), "--slice-len", "1000"]) == 2
    assert "slice_len=1000 must be one of" in capsys.readouterr().err


def test_backend_cannot_change_after_keras_is_imported():
    keras = pytest.importorskip("keras")
    active = keras.backend.backend()
    assert select_backend(None) == active == select_backend(active)
    other = "jax" if active == "tensorflow" else "tensorflow"
    with pytest.raises(ConfigError, match=f"backend='{other}'.*already imported"):
        select_backend(other)
    with pytest.raises(ConfigError, match="must be one of"):
        select_backend("torch")


def test_load_metrics_skips_a_line_cut_short(tmp_path):
    lines = [json.dumps({"step": s, "d_loss": 1.0, "g_loss": 2.0, "gp": 0.1, "wasserstein": 0.5,
                         "steps_per_sec": 3.0, "time": 0.0}) for s in (1, 2)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 3, "d_lo')
    metrics = load_metrics(tmp_path)
    np.testing.assert_array_equal(metrics["step"], [1, 2])
    assert metrics["g_loss"].tolist() == [2.0, 2.0]


@pytest.mark.slow
def test_jax_backend_resumes_a_tensorflow_run(dataset, tmp_path):
    pytest.importorskip("jax")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("this test starts the run on the TensorFlow backend in-process")
    run_dir = tmp_path / "run"
    train(dataset, run_dir, model_config=MODEL, train_config=TRAIN.replace(steps=2), progress=False)
    done = subprocess.run(command(dataset, run_dir, "--steps", "3", "--backend", "jax"), capture_output=True,
                          text=True, cwd=REPO, env=environment("tensorflow"), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resumed {run_dir} from step 2" in done.stdout and "done: step 3" in done.stdout
    assert read_run_config(run_dir)["backend"] == "jax"
    newest = list_checkpoints(run_dir / CHECKPOINTS_DIR)[-1]
    assert json.loads((newest / "state.json").read_text())["backend"] == "jax"
    assert restore_checkpoint(make_gan(run_dir), newest)["step"] == 3  # and back: JAX's checkpoint loads on TF


def test_cheap_evaluation_is_logged_next_to_the_losses(dataset, tmp_path):
    run_dir = tmp_path / "run"
    audio = np.concatenate([load_dataset(dataset).audio] * 2)  # 16 examples: enough for NDB's bins
    result = train(audio, run_dir, model_config=MODEL, train_config=TRAIN, progress=False, log_every=1,
                   eval_every=3, tensorboard=False)
    assert result.step == TRAIN.steps
    metrics = load_metrics(run_dir)
    np.testing.assert_array_equal(metrics["step"], np.arange(1, TRAIN.steps + 1))  # loss lines unchanged
    np.testing.assert_array_equal(metrics["eval/step"], [3, 6])
    for name in ("eval/diversity", "eval/ndb_k", "eval/noise_floor_db", "eval/jsd"):
        assert np.all(np.isfinite(metrics[name])), name
    assert np.all((metrics["eval/ndb_k"] >= 0) & (metrics["eval/ndb_k"] <= 1))


def test_cheap_evaluation_is_skipped_with_a_warning_on_a_tiny_dataset(dataset, tmp_path):
    with pytest.warns(UserWarning, match="cheap evaluation off: 8 training examples"):
        train(dataset, tmp_path / "run", model_config=MODEL, train_config=TRAIN.replace(steps=1), progress=False,
              eval_every=1, tensorboard=False)


def test_a_run_records_its_resolved_precision_and_refuses_another(dataset, tmp_path, capsys, monkeypatch):
    from beatgan import backend

    monkeypatch.setattr(backend, "cpu_flags", lambda: {"avx512_bf16"})  # as this project's CPU
    run_dir = tmp_path / "run"
    train(dataset, run_dir, model_config=MODEL, train_config=TRAIN.replace(steps=1, precision="auto"),
          progress=True, eval_every=0, tensorboard=False)
    assert "precision: bfloat16 (auto: CPU flags avx512_bf16)" in capsys.readouterr().out
    assert read_run_config(run_dir)["train"].precision == "bfloat16"  # what was chosen, not "auto"
    from beatgan.checkpoint import load_generator

    generator, _ = load_generator(run_dir / "weights")  # float32-loadable after a bfloat16 run
    assert all(str(w.dtype) == "float32" for w in generator.weights)
    with pytest.raises(ConfigError, match="precision: run has 'bfloat16', given 'float32'"):
        train(dataset, run_dir, model_config=MODEL, train_config=TRAIN.replace(steps=2, precision="float32"),
              progress=False, eval_every=0)
    resumed = train(dataset, run_dir, model_config=MODEL, train_config=TRAIN.replace(steps=2, precision="auto"),
                    progress=False, eval_every=0, tensorboard=False)  # auto resolves to the same: allowed
    assert resumed.step == 2 and np.isfinite(resumed.metrics["d_loss"])


def test_train_command_resumes_past_a_damaged_newest_checkpoint(dataset, tmp_path, capsys):
    """Fast guard of the SIGKILL resume test: ``beatgan train`` in-process, newest checkpoint cut short."""
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the run starts on the TensorFlow backend in-process")
    run_dir = tmp_path / "run"
    options = ["train", str(dataset), "--run-dir", str(run_dir), *TINY, "--checkpoint-every", "2",
               "--preview-every", "100", "--log-every", "1", "--seed", "5", "--no-tensorboard"]
    assert main([*options, "--steps", "4"]) == 0
    checkpoints = list_checkpoints(run_dir / CHECKPOINTS_DIR)
    assert [checkpoint_step(p) for p in checkpoints] == [2, 4]
    before = load_metrics(run_dir)
    variables = checkpoints[-1] / "variables.npz"
    variables.write_bytes(variables.read_bytes()[:100])  # the newest checkpoint is cut short
    capsys.readouterr()

    with pytest.warns(UserWarning, match="skipping checkpoint step_000004.*damaged"):
        assert main([*options, "--steps", "5"]) == 0
    out = capsys.readouterr()
    assert f"resumed {run_dir} from step 2" in out.out, out.out + out.err
    assert [checkpoint_step(p) for p in list_checkpoints(run_dir / CHECKPOINTS_DIR)][-1] == 5
    metrics = load_metrics(run_dir)
    np.testing.assert_array_equal(metrics["step"], [1, 2, 3, 4, 5])  # steps 3-4 redone, not logged twice
    for name in METRIC_NAMES:  # the redone steps repeat the lost ones: same seed, same batches
        np.testing.assert_allclose(metrics[name][:4], before[name], rtol=1e-5, err_msg=name)


def test_train_with_tensorboard_prints_no_tensorflow_log_lines(dataset, tmp_path):
    """Summaries (scalars and audio) run TensorFlow string kernels that log C++ lines; none reach the user."""
    env = {k: v for k, v in environment().items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(command(dataset, tmp_path / "run", "--steps", "2", "--log-every", "1", "--preview-every", "1",
                                  "--checkpoint-every", "2"), capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list((tmp_path / "run" / "tensorboard").glob("events.*"))
    noisy = [line for line in (done.stdout + done.stderr).splitlines()
             if any(s in line for s in ("I0000", "E0000", "W0000", "cuInit", "oneDNN"))]
    assert not noisy, noisy


def test_a_time_limit_stops_after_a_step_with_a_checkpoint_and_the_same_call_trains_on(dataset, tmp_path):
    run_dir = tmp_path / "timed"
    first = train(dataset, run_dir, model_config=MODEL, train_config=TRAIN, progress=False, eval_every=0,
                  tensorboard=False, time_limit=1e-3)  # passed before the first step ends
    assert first.stopped_by == "time_limit" and 1 <= first.step < TRAIN.steps
    assert checkpoint_step(list_checkpoints(run_dir / CHECKPOINTS_DIR)[-1]) == first.step
    assert (run_dir / "weights" / "generator.npz").is_file()
    rest = train(dataset, run_dir, model_config=MODEL, train_config=TRAIN, progress=False, eval_every=0,
                 tensorboard=False, time_limit=600)
    assert rest.resumed_from == first.step and rest.step == TRAIN.steps and rest.stopped_by is None


def test_a_run_whose_critic_wins_outright_is_warned_of(dataset, tmp_path, monkeypatch):
    import beatgan.callbacks

    monkeypatch.setattr(beatgan.callbacks, "COLLAPSE_LOSS", float("inf"))  # every critic loss counts as the floor
    monkeypatch.setattr(beatgan.callbacks, "COLLAPSE_STEPS", 4)
    dcgan = dataclasses.replace(TRAIN, loss="dcgan")
    with pytest.warns(beatgan.callbacks.CollapseWarning, match=r"since step 0 \(\d+ steps\)"):
        train(dataset, tmp_path / "won", model_config=MODEL, train_config=dcgan, progress=False, eval_every=0,
              tensorboard=False)


def test_a_run_that_only_its_clock_stops_names_no_last_step(dataset, tmp_path, capsys):
    until_stopped = dataclasses.replace(TRAIN, steps=UNTIL_STOPPED)
    result = train(dataset, tmp_path / "clocked", model_config=MODEL, train_config=until_stopped, progress=True,
                   log_every=1, eval_every=0, tensorboard=False, time_limit=1e-3)
    printed = capsys.readouterr().out
    assert result.stopped_by == "time_limit"
    assert "training until the clock stops it, for at most 0:00 (min:s)" in printed
    assert re.search(rf"^step {result.step}  d_loss", printed, re.M), printed
    assert str(UNTIL_STOPPED) not in printed


def test_a_step_goal_and_a_clock_are_both_said(dataset, tmp_path, capsys):
    train(dataset, tmp_path / "both", model_config=MODEL, train_config=TRAIN, progress=True, log_every=1,
          eval_every=0, tensorboard=False, time_limit=600)
    printed = capsys.readouterr().out
    assert re.search(r"training to step 6, for at most (10:00|9:59) \(min:s\)", printed), printed
    assert re.search(r"^step 6/6  d_loss .* left$", printed, re.M), printed


@pytest.mark.parametrize("limit", [0, -1, float("inf"), float("nan"), "10", True])
def test_a_bad_time_limit_is_named(dataset, tmp_path, limit):
    with pytest.raises(ConfigError, match=r"time_limit=.* must be a positive, finite number of seconds"):
        train(dataset, tmp_path / "run", model_config=MODEL, train_config=TRAIN, progress=False, time_limit=limit)
    assert not (tmp_path / "run").exists()


def test_train_minutes_option_stops_with_status_0_and_says_so(dataset, tmp_path, capsys):
    status = main(["train", str(dataset), "--run-dir", str(tmp_path / "run"), *TINY, "--steps", "50",
                   "--minutes", "0.00001", "--eval-every", "0", "--no-tensorboard"])
    out = capsys.readouterr().out
    assert status == 0 and "time limit reached at step 1" in out and "done: step 1" in out
    assert main(["train", str(dataset), "--run-dir", str(tmp_path / "run2"), *TINY, "--minutes", "0"]) == 2
    assert "--minutes 0.0 must be a positive number of minutes" in capsys.readouterr().err


# --- issue 25: the options in a run -------------------------------------------------------------------------

NEW_OPTIONS = [("model", "upsample", "nearest"), ("model", "post_filter", 512), ("model", "batchnorm", True),
               ("model", "minibatch_std", 2), ("train", "loss", "hinge"), ("train", "optimizer", "rmsprop"),
               ("train", "gp_every", 4), ("train", "ema_decay", 0.999), ("train", "critic_augment", "all")]


@pytest.mark.parametrize("part, field, value", NEW_OPTIONS)
def test_a_changed_option_is_refused_on_resume(tmp_path, part, field, value):
    _write_run(tmp_path, MODEL, TRAIN)
    options = {"model_options" if part == "model" else "train_options": {field: value}}
    with pytest.raises(ConfigError, match=f"{field}: run has"):
        resolve_configs(tmp_path, **options)


def test_new_options_are_command_line_options(tmp_path):
    args = build_parser().parse_args(["train", "d.npz", "--run-dir", "r", "--upsample", "nearest", "--post-filter",
                                      "512", "--batchnorm", "--minibatch-std", "4", "--loss", "lsgan", "--gp-every",
                                      "2", "--ema-decay", "0.999", "--critic-augment", "flip,gain"])
    assert (args.upsample, args.post_filter, args.batchnorm, args.minibatch_std) == ("nearest", 512, True, 4)
    assert (args.loss, args.gp_every, args.ema_decay, args.critic_augment) == ("lsgan", 2, 0.999, "flip,gain")
    assert build_parser().parse_args(["train", "d.npz", "--run-dir", "r", "--no-batchnorm"]).batchnorm is False
    assert build_parser().parse_args(["train", "d.npz", "--run-dir", "r"]).d_learning_rate is None  # the loss's


def test_a_bad_option_value_names_the_field_on_the_command_line(tmp_path, dataset, capsys):
    assert main(["train", str(dataset), "--run-dir", str(tmp_path / "r"), "--critic-augment", "blur"]) == 2
    assert "critic_augment='blur': unknown ['blur']" in capsys.readouterr().err
    assert main(["train", str(dataset), "--run-dir", str(tmp_path / "r"), "--loss", "hinge", "--gp-every", "2"]) == 2
    assert "gp_every=2 needs loss='wgan-gp'" in capsys.readouterr().err


@pytest.mark.slow
def test_ema_leaves_training_alone_and_is_what_a_run_exports(tmp_path, dataset, capsys):
    from beatgan.checkpoint import RAW_WEIGHTS_FILE, load_generator

    runs = {}
    for name, decay in (("plain", 0.0), ("ema", 0.9)):
        train(dataset, tmp_path / name, model_config=MODEL, train_config=TRAIN.replace(steps=3, ema_decay=decay),
              progress=False, eval_every=0, tensorboard=False, log_every=1)
        runs[name] = load_metrics(tmp_path / name)
    for key in ("d_loss", "g_loss", "gp", "wasserstein"):  # the average never feeds back into training
        np.testing.assert_array_equal(runs["plain"][key], runs["ema"][key])
    weights = tmp_path / "ema" / "weights"
    assert (weights / RAW_WEIGHTS_FILE).is_file() and not (tmp_path / "plain" / "weights" / RAW_WEIGHTS_FILE).exists()
    average, _ = load_generator(weights)
    plain, _ = load_generator(tmp_path / "plain" / "weights")
    raw = np.load(weights / RAW_WEIGHTS_FILE)
    for variable, trained in zip(average.weights, plain.weights):  # generator_raw.npz = the plain run's generator
        np.testing.assert_array_equal(raw[variable.path], np.asarray(trained.numpy(), "float16"))
    assert any(not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(average.weights, plain.weights))
    # beatgan export and evaluate --run-dir use the average, and say so
    assert main(["export", "--run-dir", str(tmp_path / "ema"), "-o", str(tmp_path / "exported"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "holds the moving average of the generator's weights (EMA)" in out
    exported, _ = load_generator(tmp_path / "exported")
    for a, b in zip(exported.weights, average.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    lineage = json.loads((tmp_path / "exported" / "lineage.json").read_text())  # where the weights come from
    assert lineage["step"] == 3 and lineage["train"]["ema_decay"] == 0.9 and lineage["init_from"] is None
    assert lineage["run_dir"] == str((tmp_path / "ema").resolve())



def test_train_init_from_continues_exported_weights_and_records_their_lineage(tmp_path, dataset, capsys):
    from beatgan.checkpoint import CRITIC_FILE, read_lineage, total_steps

    first = train(dataset, tmp_path / "a", model_config=MODEL, train_config=TRAIN.replace(steps=3), progress=False,
                  eval_every=0, tensorboard=False, log_every=1)
    weights = first.weights_dir  # a run's own weights carry the critic and the lineage
    assert (weights / CRITIC_FILE).is_file()
    assert read_lineage(weights)["step"] == 3 and read_lineage(weights)["init_from"] is None
    options = ["--batch-size", "2", "--d-steps", "1", "--seed", "5", "--eval-every", "0", "--no-tensorboard",
               "--log-every", "1"]
    assert main(["train", str(dataset), "--run-dir", str(tmp_path / "b"), "--init-from", str(weights),
                 "--steps", "2", *options]) == 0
    assert "started from the weights in" in capsys.readouterr().out
    stored = json.loads((tmp_path / "b" / "config.json").read_text())
    assert stored["model"] == MODEL.to_dict()  # the weights' architecture, not given on the command line
    assert stored["init_from"]["weights"] == str(weights.resolve()) and stored["init_from"]["lineage"]["step"] == 3
    np.testing.assert_array_equal(load_metrics(tmp_path / "b")["step"], [1, 2])  # the run counts its own steps
    assert total_steps(read_lineage(tmp_path / "b" / "weights")) == 5  # 3 steps, then 2 more

    (weights / CRITIC_FILE).unlink()
    for extra, message in (([], "has no critic.npz: training on needs the critic too"),
                           (["--model-dim", "4"], "holds another architecture (model_dim: weights have 2, run has 4)")):
        assert main(["train", str(dataset), "--run-dir", str(tmp_path / "c"), "--init-from", str(weights),
                     "--steps", "2", *options, *extra]) == 2
        error = capsys.readouterr().err
        lines = [line for line in error.splitlines() if not line.startswith("backend:")]
        assert len(lines) == 1 and message in lines[0] and lines[0].startswith("beatgan train: error:"), error

@pytest.fixture(scope="module")
def resume_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    worker = Path(__file__).with_name("_options_worker.py")
    out = {}
    import beatgan

    package_root = str(Path(beatgan.__file__).resolve().parents[1])
    running = {}
    for backend in ("tensorflow", "jax"):  # both at once: the suite's longest fixture, one backend per process
        (root / backend).mkdir()
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
        running[backend] = subprocess.Popen([sys.executable, str(worker), "--resume", str(root / backend)], env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for backend, proc in running.items():
        _, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, stderr[-4000:]
        with np.load(root / backend / "resume.npz") as results:
            out[backend] = {key: results[key] for key in results.files}
    return out


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
@pytest.mark.parametrize("case", ["all_options", "wgan"])
def test_every_option_trains_finite_and_resumes_where_it_stopped(resume_runs, backend, case):
    run = resume_runs[backend]
    straight, resumed = run[f"{case}/straight/logs"], run[f"{case}/resumed/logs"]
    assert straight.shape == (3, 4) and np.isfinite(straight).all()
    # two steps, a checkpoint, a new process's worth of state, one more: the same as three in one go
    np.testing.assert_allclose(resumed, straight, rtol=1e-6, atol=1e-7)
    keys = [k.split("/variables/")[1] for k in run if k.startswith(f"{case}/straight/variables/")]
    assert keys == [k.split("/variables/")[1] for k in run if k.startswith(f"{case}/resumed/variables/")]
    for key in keys:
        np.testing.assert_allclose(run[f"{case}/resumed/variables/{key}"], run[f"{case}/straight/variables/{key}"],
                                   rtol=1e-6, atol=1e-7, err_msg=key)
    assert any(k.startswith("ema_generator/") for k in keys)  # EMA on in both: its average is in the checkpoint
    if case == "wgan":  # RMSProp's state
        assert any(k.startswith("d_optimizer/") and "velocit" in k for k in keys), keys
    if case == "all_options":
        assert any(k.startswith("gan/augment_seed_generator/") for k in keys)
