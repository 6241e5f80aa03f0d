"""Checkpoints: exact round trip, keep-last-K, atomic writes, damaged checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from beatgan.checkpoint import (
    STATE_FILE,
    VARIABLES_FILE,
    checkpoint_step,
    list_checkpoints,
    named_variables,
    read_checkpoint,
    restore_checkpoint,
    restore_latest,
    save_checkpoint,
)
from beatgan.config import ModelConfig, TrainConfig
from beatgan.errors import CheckpointError, ConfigError

keras = pytest.importorskip("keras")
from beatgan.callbacks import generator_step  # noqa: E402  (needs keras)
from beatgan.gan import LoopBatches, WaveGAN  # noqa: E402

MODEL = ModelConfig(model_dim=2)
TRAIN = TrainConfig(batch_size=2, d_steps=1, steps=4, seed=3)  # d_steps=1: one trace costs ~5 s, not ~12
SLICE = MODEL.slice_len


def make_gan(model_config: ModelConfig = MODEL, train_config: TrainConfig = TRAIN) -> WaveGAN:
    gan = WaveGAN(model_config, train_config)
    gan.compile()
    return gan


def values(gan) -> dict[str, np.ndarray]:
    return {key: np.array(v.numpy()) for key, v in named_variables(gan).items()}


def fit(gan, audio, start: int, end: int) -> dict:
    batches = LoopBatches(audio, batch_size=TRAIN.batch_size, d_steps=TRAIN.d_steps, seed=TRAIN.seed,
                          steps=end, start_step=start)
    return gan.fit(batches, epochs=1, verbose=0, shuffle=False).history


@pytest.fixture(scope="module")
def audio(drum_recording) -> np.ndarray:
    """Eight overlapping stereo windows of a real drum recording, decimated to about 14.7 kHz."""
    rate, data = drum_recording
    decimated = np.asarray(data[:: max(1, rate // 14700)], dtype=np.float32)
    if len(decimated) < SLICE + 7000:
        decimated = np.concatenate([decimated, decimated])
    return np.stack([decimated[i * 1000:i * 1000 + SLICE] for i in range(8)])  # (8, 16384, 2)


@pytest.fixture(scope="module")
def gan() -> WaveGAN:
    """An untrained, compiled tiny GAN for the tests that only write and read files."""
    return make_gan()


def test_named_variables_cover_everything_with_stable_keys(gan):
    named = named_variables(gan)
    optimizer_variables = {id(v) for v in gan.d_optimizer.variables + gan.g_optimizer.variables}
    assert {id(v) for v in gan.variables} | optimizer_variables <= {id(v) for v in named.values()}
    # keys must not depend on what else the process built (Keras numbers paths: adam_1, seed_generator_4)
    assert set(named_variables(make_gan())) == set(named)
    assert "gan/seed_generator/seed_generator_state" in named
    assert "discriminator/phase_shuffle_0/seed_generator_state" in named
    assert {"d_optimizer/iteration", "g_optimizer/iteration"} <= set(named)


def test_restore_continues_exactly_like_an_uninterrupted_run(audio, tmp_path):
    first = make_gan()
    fit(first, audio, 0, 2)
    path = save_checkpoint(first, tmp_path, step=2)
    saved = values(first)
    uninterrupted = fit(first, audio, 2, 4)

    # another seed: different initial weights and random streams, so all of it must come from the checkpoint
    second = make_gan(train_config=TRAIN.replace(seed=TRAIN.seed + 1))
    before = values(second)
    assert not np.array_equal(before["gan/seed_generator/seed_generator_state"],
                              saved["gan/seed_generator/seed_generator_state"])
    state = restore_checkpoint(second, path)
    assert state["step"] == state["data_step"] == 2
    assert generator_step(second) == 2
    assert int(second.d_optimizer.iterations.numpy()) == 2 * TRAIN.d_steps
    for key, value in values(second).items():
        np.testing.assert_array_equal(value, saved[key], err_msg=key)

    resumed = fit(second, audio, 2, 4)
    assert resumed == uninterrupted  # the same losses, bit for bit
    after = values(first)
    for key, value in values(second).items():
        np.testing.assert_array_equal(value, after[key], err_msg=key)


def test_keeps_only_the_newest_checkpoints(gan, tmp_path):
    for step in range(1, 6):
        save_checkpoint(gan, tmp_path, step=step, keep=2)
    assert [checkpoint_step(p) for p in list_checkpoints(tmp_path)] == [4, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_000004", "step_000005"]


def test_leftover_temporary_folder_is_ignored_and_cleaned(gan, tmp_path):
    leftover = tmp_path / ".tmp-step_000009-crashed"
    leftover.mkdir()
    (leftover / VARIABLES_FILE).write_bytes(b"half a file")
    assert list_checkpoints(tmp_path) == []
    assert restore_latest(gan, tmp_path) is None
    assert not leftover.exists()
    leftover.mkdir()
    save_checkpoint(gan, tmp_path, step=1)
    assert [p.name for p in tmp_path.iterdir()] == ["step_000001"]


def test_failed_write_leaves_no_checkpoint(gan, tmp_path, monkeypatch):
    save_checkpoint(gan, tmp_path, step=1)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(gan, tmp_path, step=2)
    assert [p.name for p in tmp_path.iterdir()] == ["step_000001"]


def _truncate(path):
    data = (path / VARIABLES_FILE).read_bytes()
    (path / VARIABLES_FILE).write_bytes(data[: len(data) // 2])


def _flip_bytes(path):
    data = bytearray((path / VARIABLES_FILE).read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(255 - b for b in data[middle:middle + 8])
    (path / VARIABLES_FILE).write_bytes(bytes(data))


def _drop_state(path):
    (path / STATE_FILE).unlink()


def _garble_state(path):
    (path / STATE_FILE).write_text('{"step": ')


@pytest.mark.parametrize("damage", [_truncate, _flip_bytes, _drop_state, _garble_state])
def test_damaged_newest_checkpoint_falls_back_to_the_previous(gan, tmp_path, damage):
    save_checkpoint(gan, tmp_path, step=1)
    newest = save_checkpoint(gan, tmp_path, step=2)
    damage(newest)
    with pytest.raises(CheckpointError, match="step_000002"):
        read_checkpoint(newest)
    with pytest.warns(UserWarning, match="step_000002"):
        state = restore_latest(gan, tmp_path)
    assert state["step"] == 1 and state["path"].endswith("step_000001")


def test_no_restorable_checkpoint_names_every_file(gan, tmp_path):
    for step in (1, 2):
        _truncate(save_checkpoint(gan, tmp_path, step=step))
    with pytest.warns(UserWarning), pytest.raises(CheckpointError) as error:
        restore_latest(gan, tmp_path)
    assert "step_000001" in str(error.value) and "step_000002" in str(error.value)


def test_mismatched_model_is_refused_and_left_untouched(gan, tmp_path):
    path = save_checkpoint(gan, tmp_path, step=1)
    wider = make_gan(MODEL.replace(model_dim=4))
    before = values(wider)
    with pytest.raises(CheckpointError, match=r"variables\.npz.*shape"):
        restore_checkpoint(wider, path)
    for key, value in values(wider).items():
        np.testing.assert_array_equal(value, before[key])


def test_other_backend_integer_dtypes_are_cast(gan, tmp_path):
    """JAX keeps counters as int32 and seeds as uint32, TensorFlow as int64: either loads into either."""
    path = save_checkpoint(gan, tmp_path, step=1)
    arrays, _ = read_checkpoint(path)
    other = {k: (v.astype(np.uint32) if "seed" in k else v.astype(np.int32)) if v.dtype.kind in "iu" else v
             for k, v in arrays.items()}
    np.savez(path / VARIABLES_FILE, **other)
    assert restore_checkpoint(gan, path)["step"] == 1
    state = json.loads((path / STATE_FILE).read_text())
    assert state["backend"] == keras.backend.backend() and state["variables"] == len(arrays)


# --- exported generator weights -----------------------------------------------------------------

from beatgan.checkpoint import CONFIG_FILE, WEIGHTS_FILE, export_generator, load_generator  # noqa: E402
from beatgan.model import build_generator  # noqa: E402

TINY_G = ModelConfig(model_dim=2)


def _z(config=TINY_G, n=3):
    return np.random.default_rng(7).uniform(-1, 1, (n, config.latent_dim)).astype("float32")


@pytest.fixture
def exported(tmp_path):
    keras.utils.set_random_seed(1)
    generator = build_generator(TINY_G)
    export_generator(generator, TINY_G, tmp_path / "w", dtype="float16")
    return generator, tmp_path / "w"


def test_float16_export_round_trips_within_its_precision(exported):
    generator, directory = exported
    with np.load(directory / WEIGHTS_FILE) as stored:
        assert {stored[k].dtype for k in stored.files} == {np.dtype("float16")}
    loaded, config = load_generator(directory)
    assert config == TINY_G
    for original, restored in zip(generator.weights, loaded.weights):
        want = np.asarray(original.numpy())
        got = np.asarray(restored.numpy())
        assert got.dtype == np.float32
        # float16 keeps 11 significant bits: relative error <= 2**-11 (plus subnormals near 0)
        np.testing.assert_allclose(got, want, rtol=2.0**-11, atol=2.0**-24, err_msg=original.path)
        np.testing.assert_array_equal(got, want.astype(np.float16).astype(np.float32))
    out = keras.ops.convert_to_numpy(loaded(_z(), training=False))
    ref = keras.ops.convert_to_numpy(generator(_z(), training=False))
    np.testing.assert_allclose(out, ref, atol=1e-2)
    assert np.abs(out - ref).max() > 0  # it did go through float16


def test_float32_export_round_trips_exactly(tmp_path):
    keras.utils.set_random_seed(2)
    generator = build_generator(TINY_G)
    export_generator(generator, TINY_G, tmp_path / "w", dtype="float32")
    loaded, _ = load_generator(tmp_path / "w")
    for original, restored in zip(generator.weights, loaded.weights):
        np.testing.assert_array_equal(restored.numpy(), original.numpy())


def test_generator_arrays_that_do_not_match_the_config_are_refused(exported):
    _, directory = exported
    ModelConfig(model_dim=4).save(directory / CONFIG_FILE)  # the config now asks for wider layers
    with pytest.raises(CheckpointError, match=r"shape .*the config needs"):
        load_generator(directory)


def test_generator_arrays_with_a_missing_weight_are_refused(exported):
    _, directory = exported
    with np.load(directory / WEIGHTS_FILE) as stored:
        arrays = {k: stored[k] for k in stored.files}
    dropped = sorted(arrays)[0]
    del arrays[dropped]
    np.savez(directory / WEIGHTS_FILE, **arrays)
    with pytest.raises(CheckpointError, match="does not match .*missing"):
        load_generator(directory)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.0])
def test_generator_file_cut_short_is_refused(exported, keep):
    _, directory = exported
    path = directory / WEIGHTS_FILE
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="not a readable weights file"):
        load_generator(directory)


def test_generator_directory_without_config_or_weights_is_refused(exported, tmp_path):
    _, directory = exported
    with pytest.raises(CheckpointError, match="does not exist"):
        load_generator(tmp_path / "nowhere")
    (directory / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match="has no"):
        load_generator(directory)
    (directory / CONFIG_FILE).unlink()
    with pytest.raises(CheckpointError, match="needs the model config"):
        load_generator(directory)


# --- exported critic weights --------------------------------------------------------------------

from beatgan.checkpoint import CRITIC_FILE, export_critic, load_checkpoint_critic, load_critic  # noqa: E402
from beatgan.model import build_discriminator  # noqa: E402


def test_critic_export_round_trips_and_scores_the_same(tmp_path):
    keras.utils.set_random_seed(2)
    critic = build_discriminator(TINY_G)
    export_critic(critic, TINY_G, tmp_path / "w", dtype="float32")
    loaded, config = load_critic(tmp_path / "w")
    assert config == TINY_G
    audio = np.random.default_rng(3).uniform(-1, 1, (2, TINY_G.slice_len, TINY_G.channels)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(audio, training=False)),
                                  keras.ops.convert_to_numpy(critic(audio, training=False)))
    with np.load(tmp_path / "w" / CRITIC_FILE) as arrays:
        assert sorted(arrays.files) == sorted(v.path for v in critic.weights)


def test_weights_without_a_critic_say_so(exported):
    _, directory = exported
    with pytest.raises(CheckpointError, match=r"has no critic.npz \(it holds a generator only"):
        load_critic(directory)


def test_critic_of_another_config_is_refused(tmp_path):
    export_critic(build_discriminator(ModelConfig(model_dim=4)), ModelConfig(model_dim=4), tmp_path / "w")
    ModelConfig(model_dim=2).save(tmp_path / "w" / CONFIG_FILE)
    with pytest.raises(CheckpointError, match=r"critic.npz: conv_0/kernel has shape \(25, 2, 4\), the config "
                                              r"needs \(25, 2, 2\)"):
        load_critic(tmp_path / "w")


def test_checkpoint_critic_is_the_gans_discriminator(gan, tmp_path):
    path = save_checkpoint(gan, tmp_path, step=1)
    critic = load_checkpoint_critic(path, MODEL)
    for live, loaded in zip(gan.discriminator.weights, critic.weights):
        np.testing.assert_array_equal(loaded.numpy(), live.numpy())


# --- a new run from a weights directory (train --init-from) -------------------------------------

from beatgan.checkpoint import (  # noqa: E402
    LINEAGE_FILE, RAW_WEIGHTS_FILE, check_init_from, export_networks, init_from_weights, read_lineage,
    total_steps,
)


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_a_new_run_starts_exactly_from_the_weights_generator_average_and_critic(audio, tmp_path, ema):
    """The first batch of the new run is the weights' generator's; the critic is theirs; Adam and steps start at 0."""
    source = make_gan(train_config=TRAIN.replace(ema_decay=ema))
    fit(source, audio, 0, 2)  # trained weights (and an average that differs from them)
    lineage = {"run_dir": "/runs/a", "step": 2, "train": TRAIN.to_dict(), "init_from": None}
    export_networks(source, MODEL, tmp_path / "w", dtype="float32", critic=True, lineage=lineage)
    assert (tmp_path / "w" / RAW_WEIGHTS_FILE).is_file() == (ema > 0)
    target = make_gan(train_config=TRAIN.replace(ema_decay=ema, seed=9))
    entry = init_from_weights(target, tmp_path / "w", MODEL)
    assert entry["lineage"] == lineage and entry["model"] == MODEL.to_dict() and read_lineage(tmp_path / "w") == lineage
    z = np.random.default_rng(0).uniform(-1, 1, (3, MODEL.latent_dim)).astype("float32")
    shipped, _ = load_generator(tmp_path / "w")  # what `generate` uses: the average when there is one
    average = target.ema_generator if ema else target.generator
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(average(z, training=False)),
                                  keras.ops.convert_to_numpy(shipped(z, training=False)))
    for live, trained in zip(target.generator.weights, source.generator.weights):
        np.testing.assert_array_equal(live.numpy(), trained.numpy())
    for live, trained in zip(target.discriminator.trainable_weights, source.discriminator.trainable_weights):
        np.testing.assert_array_equal(live.numpy(), trained.numpy())
    assert generator_step(target) == 0 and int(target.d_optimizer.iterations.numpy()) == 0


def test_init_from_refuses_another_architecture_and_a_missing_critic(tmp_path):
    export_networks(make_gan(ModelConfig(model_dim=4)), ModelConfig(model_dim=4), tmp_path / "w4", critic=True)
    with pytest.raises(ConfigError, match=r"^--init-from \S+w4 holds another architecture \(model_dim: weights have 4, "
                                          r"run has 2\); weights: \{.*\}; this run: \{.*\}$"):
        check_init_from(tmp_path / "w4", MODEL)
    export_networks(make_gan(), MODEL, tmp_path / "g")  # a generator only
    with pytest.raises(CheckpointError, match=r"has no critic.npz: training on needs the critic too"):
        check_init_from(tmp_path / "g", MODEL)


def test_lineage_steps_add_up_across_runs():
    first = {"run_dir": "a", "step": 3000, "train": {}, "init_from": None}
    second = {"run_dir": "b", "step": 500, "train": {}, "init_from": {"weights": "w", "lineage": first}}
    assert total_steps(second) == 3500 and total_steps(first) == 3000
    assert total_steps({"run_dir": "c", "step": 10, "init_from": {"weights": "old", "lineage": None}}) is None
    assert total_steps({"step": "?"}) is None and total_steps(None) is None
    assert LINEAGE_FILE == "lineage.json"
