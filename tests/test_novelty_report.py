"""Tests of the novelty report (beatgan.novelty), its figures (beatgan.plots) and the ``beatgan similarity`` verb."""

from __future__ import annotations

import json

import numpy as np
import pytest

import wavfile24
from beatgan.cli import main
from beatgan.errors import AudioError, ConfigError
from beatgan.novelty import NoveltyReport, novelty_report
from beatgan.novelty import similarity_score

RATE = 14700


@pytest.fixture(scope="module")
def sets():
    """8 training loops (one silent); 6 generated: 2 noisy copies, 1 at score 0.05, 3 unrelated."""
    rng = np.random.default_rng(0)
    training = (rng.uniform(-0.5, 0.5, (8, 2048, 2)) * np.exp(-np.arange(2048) / 500)[None, :, None]).astype(np.float32)
    training[6] = 0
    generated = (rng.uniform(-0.5, 0.5, (6, 2048, 2))).astype(np.float32)
    generated[0] = training[3] + rng.uniform(-0.0011, 0.0011, (2048, 2))
    generated[1] = training[5] + rng.uniform(-0.0011, 0.0011, (2048, 2))
    noise = rng.standard_normal((2048, 2))
    generated[2] = training[1] + noise * np.sqrt(0.05 * np.sum(training[1] ** 2) / np.sum(noise**2))
    return generated, training


def test_report_numbers(sets):
    generated, training = sets
    report = novelty_report(generated, training, sample_rate=RATE, threshold=0.1)
    assert isinstance(report, NoveltyReport)
    assert report.best_index[:3].tolist() == [3, 5, 1]
    assert report.best_score[2] == pytest.approx(0.05, rel=0.05)
    assert report.similar.tolist() == [True, True, True, False, False, False]
    assert report.fraction_similar == pytest.approx(0.5)
    assert report.n_silent_training == 1
    for i in range(len(generated)):
        assert report.best_score[i] == similarity_score(training[report.best_index[i]], generated[i])
    q = report.quantiles()
    assert q["q00"] == report.best_score.min() and q["q100"] == report.best_score.max()
    assert q["q00"] <= q["q25"] <= q["q50"] <= q["q75"] <= q["q100"]
    closest = report.closest_pairs(3)
    assert [p["generated"] for p in closest] == sorted(range(3), key=lambda i: report.best_score[i])
    assert report.logmel_index[:2].tolist() == [3, 5] and np.all(report.logmel_distance[:2] < 1.0)


def test_report_json_and_text(sets):
    generated, training = sets
    report = novelty_report(generated, training, sample_rate=RATE, generated_names=[f"g{i}.wav" for i in range(6)],
                            training_names=[f"t{j}.wav" for j in range(8)])
    data = json.loads(json.dumps(report.to_dict()))
    assert data["n_generated"] == 6 and data["n_similar"] == 3 and data["fraction_similar"] == 0.5
    assert data["loops"][0] == {"name": "g0.wav", "training": "t3.wav", "score": report.best_score[0],
                                "logmel_training": "t3.wav", "logmel_distance_db": report.logmel_distance[0]}
    text = report.text()
    assert "3 of 6 (50.0 %)" in text and "1 silent, skipped" in text and "g0.wav <- t3.wav" in text


def test_report_without_logmel(sets):
    generated, training = sets
    report = novelty_report(generated, training, sample_rate=RATE, logmel=False)
    assert report.logmel_distance is None
    assert "logmel_distance_quantiles_db" not in report.to_dict() and "log-mel" not in report.text()


def test_report_saves_its_files(tmp_path, sets):
    generated, training = sets
    report = novelty_report(generated, training, sample_rate=RATE)
    paths = report.save(tmp_path / "r", generated=generated, training=training)
    assert json.loads(paths["json"].read_text())["n_generated"] == 6
    assert paths["text"].read_text().startswith("novelty of 6")
    for key in ("histogram", "pairs"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.save(tmp_path / "s")["pairs"] is None


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"threshold": 0}, ConfigError, "threshold"),
        ({"threshold": "0.1"}, ConfigError, "threshold"),
        ({"generated_names": ["a"]}, AudioError, "1 generated names for 6"),
    ],
)
def test_report_rejects(sets, kwargs, error, match):
    generated, training = sets
    with pytest.raises(error, match=match):
        novelty_report(generated, training, sample_rate=RATE, **kwargs)


def write_folder(folder, audio):
    folder.mkdir()
    for i, clip in enumerate(audio):
        wavfile24.write(folder / f"loop_{i}.wav", RATE, clip)


def test_cli_similarity_from_folders(tmp_path, capsys):
    rng = np.random.default_rng(1)
    training = rng.uniform(-0.5, 0.5, (4, 16384, 2)).astype(np.float32)
    write_folder(tmp_path / "train", training)
    write_folder(tmp_path / "gen", np.stack([training[2], rng.uniform(-0.5, 0.5, (16384, 2))]))
    out = tmp_path / "report"
    assert main(["similarity", "--generated", str(tmp_path / "gen"), "--training", str(tmp_path / "train"),
                 "-o", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "1 of 2 (50.0 %)" in printed and "loop_0.wav <- loop_2.wav" in printed
    data = json.loads((out / "report.json").read_text())
    assert data["closest_pairs"][0]["training_name"] == "loop_2.wav" and data["closest_pairs"][0]["score"] < 1e-6
    assert (out / "best_scores.png").is_file() and (out / "closest_pairs.png").is_file()


def test_cli_similarity_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    write_folder(tmp_path / "train", np.zeros((1, 16384, 2), dtype=np.float32) + 0.1)
    assert main(["similarity", "--generated", str(tmp_path / "empty"), "--training", str(tmp_path / "train"),
                 "-o", str(tmp_path / "r"), "--quiet"]) == 2
    assert "no audio files" in capsys.readouterr().err
    assert main(["similarity", "--generated", str(tmp_path / "train"), "--training", str(tmp_path / "nope"),
                 "-o", str(tmp_path / "r"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["similarity", "--weights", str(tmp_path / "empty"), "--training", str(tmp_path / "train"),
                 "-o", str(tmp_path / "r"), "--quiet"]) == 2
    assert "config.json" in capsys.readouterr().err


def test_cli_similarity_mismatched_dataset(tmp_path, capsys):
    """Weights for 16384-sample stereo loops against a dataset of 32768-sample mono loops."""
    from beatgan.config import ModelConfig
    from beatgan.data import save_dataset
    from beatgan.model import build_generator
    from beatgan.checkpoint import export_generator

    config = ModelConfig(model_dim=2)
    export_generator(build_generator(config), config, tmp_path / "w")
    save_dataset(tmp_path / "d.npz", np.zeros((2, 32768, 1), dtype=np.float32) + 0.1, ["a", "b"], sample_rate=RATE)
    assert main(["similarity", "--weights", str(tmp_path / "w"), "--training", str(tmp_path / "d.npz"),
                 "-n", "2", "-o", str(tmp_path / "r"), "--quiet"]) == 2
    assert "32768 samples x 1 channel(s)" in capsys.readouterr().err
