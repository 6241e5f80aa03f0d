"""Tests of beatgan.config: paper defaults, validation messages, JSON round trip."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from beatgan.config import ModelConfig, TrainConfig, load_recipe
from beatgan.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_model_defaults_are_wavegan_and_beatgan_values():
    config = ModelConfig()
    assert (config.slice_len, config.channels, config.model_dim, config.latent_dim) == (16384, 2, 64, 100)
    assert (config.kernel_len, config.phase_shuffle, config.sample_rate) == (25, 2, 14700)
    assert config.seconds == pytest.approx(16384 / 14700)


def test_train_defaults_are_wgan_gp_values():
    config = TrainConfig()
    assert (config.batch_size, config.d_steps, config.gp_weight) == (64, 5, 10.0)
    assert (config.d_learning_rate, config.g_learning_rate) == (1e-4, 1e-4)
    assert (config.beta_1, config.beta_2) == (0.5, 0.9)
    assert config.steps == 40_000  # generator steps: the original's ~200k discriminator steps / 5
    assert config.precision == "float32"  # the paper's; auto and bfloat16 are options


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("slice_len", 1000, r"one of \(16384, 32768, 65536\)"),
        ("slice_len", "16384", r"one of \(16384, 32768, 65536\)"),
        ("channels", 3, "1 or 2"),
        ("model_dim", 0, "positive integer"),
        ("model_dim", 2.5, "positive integer"),
        ("model_dim", True, "positive integer"),
        ("latent_dim", -1, "positive integer"),
        ("kernel_len", 0, "positive integer"),
        ("sample_rate", 0, "positive integer"),
        ("phase_shuffle", -1, r"integer in \[0, 16\]"),
        ("phase_shuffle", 17, r"integer in \[0, 16\]"),
    ],
)
def test_invalid_model_values_name_the_field_and_what_is_allowed(field, value, allowed):
    with pytest.raises(ConfigError, match=rf"^{field}={value!r} must be .*{allowed}"):
        ModelConfig(**{field: value})


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("batch_size", 0, "positive integer"),
        ("d_steps", 0, "positive integer"),
        ("steps", -5, "positive integer"),
        ("checkpoint_every", 1.5, "positive integer"),
        ("keep_checkpoints", 0, "positive integer"),
        ("preview_every", 0, "positive integer"),
        ("d_learning_rate", 0, "positive number"),
        ("g_learning_rate", -1e-4, "positive number"),
        ("gp_weight", -1, "number >= 0"),
        ("beta_1", 1.0, r"in \[0, 1\)"),
        ("beta_2", -0.1, r"in \[0, 1\)"),
        ("seed", -1, "integer >= 0"),
        ("seed", True, "integer >= 0"),
        ("precision", "fp16", "one of"),
    ],
)
def test_invalid_train_values_name_the_field_and_what_is_allowed(field, value, allowed):
    with pytest.raises(ConfigError, match=rf"^{field}={value!r} must be .*{allowed}"):
        TrainConfig(**{field: value})


@pytest.mark.parametrize(
    "config",
    [ModelConfig(), ModelConfig(slice_len=65536, channels=1, model_dim=8, phase_shuffle=0),
     TrainConfig(), TrainConfig(batch_size=8, gp_weight=0.0, seed=12, precision="bfloat16")],
)
def test_json_round_trip(config, tmp_path):
    cls = type(config)
    assert cls.from_json(config.to_json()) == config
    assert cls.from_dict(json.loads(config.to_json())) == config
    config.save(tmp_path / "sub" / "config.json")
    assert cls.load(tmp_path / "sub" / "config.json") == config
    assert not list((tmp_path / "sub").glob("*.tmp"))  # atomic write leaves no temp file


@pytest.mark.parametrize("cls, known", [(ModelConfig, "slice_len"), (TrainConfig, "seed")])
def test_unknown_keys_are_rejected_with_the_allowed_names(cls, known):
    data = {**cls().to_dict(), "model_size": 64}
    with pytest.raises(ConfigError, match=rf"unknown {cls.__name__} .*\['model_size'\]; allowed: \[.*'{known}'"):
        cls.from_dict(data)


@pytest.mark.parametrize(
    "text, match",
    [("{not json", "invalid JSON"), ("[1, 2]", "JSON object"), ('{"slice_len": 7}', "slice_len=7")],
)
def test_bad_json_raises_config_error(text, match):
    with pytest.raises(ConfigError, match=match):
        ModelConfig.from_json(text)


def test_missing_file_raises_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read ModelConfig"):
        ModelConfig.load(tmp_path / "absent.json")


def test_configs_are_frozen_and_replace_validates():
    config = ModelConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model_dim = 32
    assert config.replace(model_dim=32).model_dim == 32
    with pytest.raises(ConfigError, match="channels=5"):
        config.replace(channels=5)


# --- issue 25: WaveGAN's option set and the small-data levers -----------------------------------------


def test_new_options_default_to_the_paper():
    model, train = ModelConfig(), TrainConfig()
    assert (model.upsample, model.post_filter, model.batchnorm, model.minibatch_std) == ("transposed", 0, False, 0)
    assert (train.loss, train.optimizer, train.gp_every, train.ema_decay, train.critic_augment) == (
        "wgan-gp", "adam", 1, 0.0, "")
    assert train.augmentations == ()


@pytest.mark.parametrize("loss, optimizer, d_rate, g_rate, beta_2", [
    ("wgan-gp", "adam", 1e-4, 1e-4, 0.9), ("wgan", "rmsprop", 5e-5, 5e-5, 0.9),
    ("dcgan", "adam", 2e-4, 2e-4, 0.999), ("lsgan", "rmsprop", 1e-4, 1e-4, 0.9), ("hinge", "adam", 1e-4, 1e-4, 0.9)])
def test_each_loss_brings_the_reference_optimizer(loss, optimizer, d_rate, g_rate, beta_2):
    for config in (TrainConfig(loss=loss), TrainConfig().replace(loss=loss)):
        assert (config.optimizer, config.d_learning_rate, config.g_learning_rate, config.beta_1, config.beta_2) == (
            optimizer, d_rate, g_rate, 0.5, beta_2)
    # what is given stays, over the loss's value and across a change of loss
    assert TrainConfig(loss=loss, d_learning_rate=3e-4).d_learning_rate == 3e-4
    assert TrainConfig(d_learning_rate=3e-4).replace(loss=loss).d_learning_rate == 3e-4
    assert TrainConfig(loss=loss, optimizer="adam").optimizer == "adam"


def test_a_saved_config_of_another_loss_round_trips(tmp_path):
    config = TrainConfig(loss="wgan", critic_augment="gain,flip", ema_decay=0.999)
    config.save(tmp_path / "c.json")
    assert TrainConfig.load(tmp_path / "c.json") == config
    assert TrainConfig.load(tmp_path / "c.json").augmentations == ("flip", "gain")
    assert TrainConfig(critic_augment="all").augmentations == ("flip", "swap", "gain", "shift", "noise")


@pytest.mark.parametrize("field, value, allowed", [
    ("upsample", "linear", r"upsample='linear' must be one of \('transposed', 'nearest'\)"),
    ("post_filter", -1, r"post_filter=-1 must be an integer in \[0, 4096\]"),
    ("post_filter", 2.5, r"post_filter=2.5 must be an integer"),
    ("batchnorm", 1, "batchnorm=1 must be true or false"),
    ("minibatch_std", 1, r"minibatch_std=1 must be 0 \(off\) or a group size in \[2, 256\]"),
])
def test_invalid_new_model_values_name_the_field(field, value, allowed):
    with pytest.raises(ConfigError, match=allowed):
        ModelConfig(**{field: value})


@pytest.mark.parametrize("changes, allowed", [
    ({"loss": "wasserstein"}, r"loss='wasserstein' must be one of \('wgan-gp', 'wgan', 'dcgan', 'lsgan', 'hinge'\)"),
    ({"optimizer": "sgd"}, r"optimizer='sgd' must be one of \('adam', 'rmsprop'\)"),
    ({"gp_every": 0}, "gp_every=0 must be a positive integer"),
    ({"gp_every": 2, "loss": "hinge"}, "gp_every=2 needs loss='wgan-gp'"),
    ({"ema_decay": 1.0}, r"ema_decay=1.0 must be a number in \[0, 1\)"),
    ({"ema_decay": -0.1}, r"ema_decay=-0.1 must be a number in \[0, 1\)"),
    ({"critic_augment": "flip,blur"}, r"unknown \['blur'\]; allowed: 'all', '' or a comma list of flip, swap"),
    ({"critic_augment": 3}, "critic_augment=3 must be a string"),
    ({"d_learning_rate": 0}, "d_learning_rate=0 must be a positive number"),
])
def test_invalid_new_train_values_name_the_field(changes, allowed):
    with pytest.raises(ConfigError, match=allowed):
        TrainConfig(**changes)



# --- recipe files -------------------------------------------------------------------------------


def test_paper_recipe_reproduces_the_defaults_exactly():
    model, train = load_recipe(REPO / "configs" / "paper.json")
    assert ModelConfig().replace(**model) == ModelConfig() and TrainConfig().replace(**train) == TrainConfig()
    assert model == ModelConfig().to_dict() and train == TrainConfig().to_dict()  # every field written out


def test_cpu_recipe_loads_and_differs_from_the_paper():
    model, train = load_recipe(REPO / "configs" / "cpu.json")
    assert ModelConfig().replace(**model) != ModelConfig() and TrainConfig().replace(**train) != TrainConfig()


@pytest.mark.parametrize("content, message", [
    ('{"model": {"model_dim": 16}, "train": {"batch_siz": 8}}', r"unknown TrainConfig field\(s\) \['batch_siz'\]"),
    ('{"model": {"model_dim": 0}}', r"model_dim=0 must be"),
    ('{"train": {"loss": "wasserstein"}}', r"loss='wasserstein' must be one of"),
    ('{"model": {}, "trian": {}}', r"unknown key\(s\) \['trian'\]"),
    ('{"model": [16]}', r"'model' must be a JSON object"),
    ('{"model": ', r"is not valid JSON"),
    ('[1, 2]', r"must hold a JSON object"),
])
def test_bad_recipe_names_the_file_and_the_field(tmp_path, content, message):
    path = tmp_path / "recipe.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as raised:
        load_recipe(path)
    assert str(path) in str(raised.value)


def test_missing_recipe_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read recipe"):
        load_recipe(tmp_path / "none.json")
