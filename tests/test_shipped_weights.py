"""The weights in weights/ load, generate, and their model card's numbers reproduce."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from beatgan.cli import main
from beatgan.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_generator

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
NOVELTY = WEIGHTS / "novelty.json"  # the numbers MODEL_CARD.md quotes, as measured


def test_shipped_weights_load_and_stay_small():
    generator, config = load_generator(WEIGHTS)
    assert (WEIGHTS / WEIGHTS_FILE).stat().st_size < 40 * 1024 * 1024
    assert generator.count_params() > 0
    card = (WEIGHTS / "MODEL_CARD.md").read_text()
    assert f"model_dim {config.model_dim}" in card
    novelty = json.loads(NOVELTY.read_text())
    assert novelty["command"] in card  # the card gives the command that reproduces its numbers
    assert f"{novelty['n_similar']} of {novelty['n_generated']}" in card


def test_generate_cli_loads_the_shipped_weights(tmp_path):
    assert main(["generate", "--weights", str(WEIGHTS), "-n", "2", "-o", str(tmp_path), "--seed", "1"]) == 0
    files = sorted(tmp_path.glob("*.wav"))
    assert len(files) == 2
    config = json.loads((WEIGHTS / CONFIG_FILE).read_text())
    info = soundfile.info(str(files[0]))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (
        config["sample_rate"], config["channels"], config["slice_len"], "PCM_24")
    audio, _ = soundfile.read(str(files[0]))
    assert np.abs(audio).max() > 1e-3  # a trained generator does not output silence


@pytest.mark.slow
def test_model_card_numbers_reproduce(tmp_path):
    from beatgan.corpus import find_kits, render_corpus

    novelty = json.loads(NOVELTY.read_text())
    if len(find_kits()) < novelty["corpus_kits"]:
        pytest.skip("the open corpus the weights were trained on needs the Debian drum kits (make test installs them)")
    corpus = render_corpus(tmp_path / "open_loops", count=novelty["corpus_count"], seed=0, progress=False)
    assert not corpus.fallback
    out = tmp_path / "report"
    args = novelty["command"].split()[1:]  # "beatgan similarity ..."
    args = [str(corpus.output) if a == "data/open_loops" else str(out) if a == "outputs/weights_novelty" else a
            for a in args]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["n_generated"] == novelty["n_generated"]
    assert report["n_similar"] == novelty["n_similar"]
    for key, value in novelty["score_quantiles"].items():
        assert report["score_quantiles"][key] == pytest.approx(value, rel=1e-3)


EVALUATION = WEIGHTS / "evaluation.json"  # the evaluation table MODEL_CARD.md prints, as measured


def test_model_card_prints_the_evaluation_and_recovery_numbers():
    card = (WEIGHTS / "MODEL_CARD.md").read_text()
    evaluation = json.loads(EVALUATION.read_text())
    assert evaluation["command"] in card and evaluation["embedding"] in card
    rows = {line.split("|")[1].strip().split(" ")[0]: line for line in card.splitlines() if line.startswith("| ")}
    for metric in evaluation["metrics"]["generated"]:
        cells = [c.strip() for c in rows[metric].split("|")[2:6]]
        expected = [f"{evaluation['metrics'][s][metric]:.4g}" for s in ("generated", "real", "collapsed", "noise")]
        assert cells == expected, metric
    novelty = json.loads(NOVELTY.read_text())
    recovery = novelty["recovery"]
    assert novelty["recovery_command"] in card
    assert f"median **{recovery['training_db']['median']:.2f} dB**" in card
    assert f"median **{recovery['heldout_db']['median']:.2f} dB**" in card
    assert f"p = {recovery['p_value']:.3f}" in card and recovery["verdict"] in card


@pytest.mark.slow
def test_model_card_evaluation_reproduces(tmp_path):
    from beatgan.corpus import find_kits, render_corpus

    novelty = json.loads(NOVELTY.read_text())
    if len(find_kits()) < novelty["corpus_kits"]:
        pytest.skip("the open corpus the weights were evaluated on needs the Debian drum kits (make test installs them)")
    corpus = render_corpus(tmp_path / "open_loops", count=novelty["corpus_count"], seed=0, progress=False)
    evaluation = json.loads(EVALUATION.read_text())
    out = tmp_path / "evaluation"
    args = [str(corpus.output) if a == "data/open_loops" else str(out) if a == "outputs/weights_evaluation" else a
            for a in evaluation["command"].split()[1:]]
    assert main([*args, "--quiet"]) == 0
    report = json.loads((out / "evaluation.json").read_text())
    for kind, metrics in evaluation["metrics"].items():
        for metric, value in metrics.items():
            assert report["metrics"][kind][metric] == pytest.approx(value, rel=1e-3, abs=1e-6), (kind, metric)


def test_model_card_prints_the_measured_numbers():
    """Fast part of the card check: every number the card prints equals novelty.json / the files.

    The slow test above re-measures novelty.json on a rendered 434-loop corpus; this one only checks
    that the card quotes what was measured (rounded as printed) and describes the shipped files.
    """
    card = (WEIGHTS / "MODEL_CARD.md").read_text()
    novelty = json.loads(NOVELTY.read_text())
    config = json.loads((WEIGHTS / CONFIG_FILE).read_text())
    q = novelty["score_quantiles"]
    assert (f"min {q['q00']:.3f}, 5 % {q['q05']:.3f}, median {q['q50']:.3f}, 95 % {q['q95']:.3f}, "
            f"max {q['q100']:.3f}") in card
    m = novelty["logmel_distance_quantiles_db"]
    assert f"min {m['q00']:.2f} dB, median {m['q50']:.2f} dB, max {m['q100']:.2f} dB" in card
    assert f"({100 * novelty['fraction_similar']:.1f} %)" in card
    assert f"{novelty['n_generated']} loops generated with seed 0" in card
    assert f"with the {novelty['n_training']} loops" in card and f"--count {novelty['corpus_count']}" in card
    assert f"{novelty['corpus_kits']} kits" in card and f"**{novelty['step']} generator steps**" in card
    assert f"generator.npz` (float16, {(WEIGHTS / WEIGHTS_FILE).stat().st_size:,} bytes)" in card
    assert (f"model_dim {config['model_dim']}, {config['slice_len']} samples x {config['channels']} channels at "
            f"{config['sample_rate']} Hz") in card
    assert f"phase shuffle {config['phase_shuffle']}" in card and f"kernel {config['kernel_len']}" in card


def _mean_logmel(audio, rate):
    import librosa

    mono = np.asarray(audio, dtype=np.float32).mean(axis=-1)  # (N, T)
    mel = librosa.feature.melspectrogram(y=mono, sr=rate, n_fft=1024, hop_length=256, n_mels=40)
    return librosa.power_to_db(mel + 1e-10).mean(axis=(0, 2))  # (n_mels,) dB


def test_shipped_weights_sound_closer_to_the_corpus_than_random_weights(tmp_path):
    """The shipped generator's mean log-mel spectrum is far nearer a rendered corpus sample's than an
    untrained generator's of the same config (a weights file swapped for random init fails this)."""
    import librosa

    from beatgan.backend import keras
    from beatgan.corpus import render_corpus
    from beatgan.model import build_generator

    generator, config = load_generator(WEIGHTS)
    corpus = render_corpus(tmp_path / "loops", count=6, seed=0, progress=False)
    loops = []
    for path in corpus.files:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        audio = librosa.resample(audio.T, orig_sr=rate, target_sr=config.sample_rate).T[: config.slice_len]
        loops.append(audio)
    real = _mean_logmel(np.stack(loops), config.sample_rate)
    z = np.random.default_rng(0).uniform(-1, 1, (8, config.latent_dim)).astype("float32")
    shipped = _mean_logmel(keras.ops.convert_to_numpy(generator(z, training=False)), config.sample_rate)
    keras.utils.set_random_seed(0)
    untrained = build_generator(config)
    random = _mean_logmel(keras.ops.convert_to_numpy(untrained(z, training=False)), config.sample_rate)
    shipped_db = float(np.sqrt(np.mean((shipped - real) ** 2)))
    random_db = float(np.sqrt(np.mean((random - real) ** 2)))
    assert shipped_db < 0.5 * random_db, (shipped_db, random_db)


def test_training_on_starts_from_the_shipped_generator_its_average_and_critic():
    """`beatgan train DATA --init-from weights`: the new run's first batch is the shipped generator's."""
    from beatgan.backend import keras
    from beatgan.checkpoint import init_from_weights, load_critic, read_lineage, read_weights_config
    from beatgan.config import TrainConfig
    from beatgan.gan import WaveGAN

    config = read_weights_config(WEIGHTS)
    recipe = {k: v for k, v in read_lineage(WEIGHTS)["train"].items() if k != "steps"}
    gan = WaveGAN(config, TrainConfig(**{**recipe, "precision": "float32"}))  # the batch as `generate` computes it
    gan.compile()
    entry = init_from_weights(gan, WEIGHTS, config)
    assert entry["lineage"]["step"] > 0
    z = np.random.default_rng(0).uniform(-1, 1, (4, config.latent_dim)).astype("float32")
    shipped, _ = load_generator(WEIGHTS)
    average = gan.ema_generator if gan.train_config.ema_decay else gan.generator
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(average(z, training=False)),
                                  keras.ops.convert_to_numpy(shipped(z, training=False)))
    critic, _ = load_critic(WEIGHTS)
    for live, stored in zip(gan.discriminator.weights, critic.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(live), keras.ops.convert_to_numpy(stored))
