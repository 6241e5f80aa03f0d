"""Tests of beatgan.similarity_examples and the ``beatgan similarity-examples`` verb."""

from __future__ import annotations

import json

import numpy as np
import pytest

import wavfile24
from beatgan.cli import main
from beatgan.errors import AudioError, ConfigError
from beatgan.similarity_examples import describe_score, pick_examples, write_similarity_examples
from beatgan.novelty import similarity_score

RATE = 14700


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(0)
    training = rng.uniform(-0.5, 0.5, (10, 4096, 2)).astype(np.float32)
    generated = rng.uniform(-0.5, 0.5, (7, 4096, 2)).astype(np.float32)
    generated[0] = training[4] + rng.uniform(-0.0011, 0.0011, (4096, 2))  # a near-copy
    generated[1] = 0.7 * training[2] + 0.3 * generated[1]  # related
    return generated, training


@pytest.mark.parametrize(
    "score, words", [(0.0, "identical"), (0.005, "identical"), (0.05, "near-copy"), (0.1, "near-copy"),
                     (0.3, "related"), (0.9, "different"), (2.0, "unrelated")],
)
def test_describe_score(score, words):
    assert words in describe_score(score)


def test_pick_examples_spans_the_scores():
    scores = np.array([0.5, 0.01, 2.0, 0.3, 1.0, 0.2])
    assert pick_examples(scores, 3).tolist() == [1, 3, 2]  # lowest, middle, highest
    assert pick_examples(scores, 1).tolist() == [1]
    assert sorted(pick_examples(scores, 10).tolist()) == list(range(6))


def test_write_examples(tmp_path, sets):
    generated, training = sets
    (tmp_path / "README.md").write_text("mine")
    folders = write_similarity_examples(
        generated, training, tmp_path, sample_rate=RATE, n=3, k=3,
        generated_names=[f"g{i}.wav" for i in range(7)], training_names=[f"kit/t{j}.wav" for j in range(10)],
    )
    assert [f.name for f in folders] == ["example_1", "example_2", "example_3"]
    assert (tmp_path / "README.md").read_text() == "mine"  # left alone
    first = folders[0]
    files = sorted(p.name for p in first.iterdir())
    assert "nearest_1_kit_t4.wav" in files and len([f for f in files if f.startswith("nearest_")]) == 3
    rate, data, bits = wavfile24.read(first / "generated.wav")
    assert (rate, bits, data.shape) == (RATE, 24, (4096, 2))
    readme = (first / "README.md").read_text()
    score = similarity_score(training[4], generated[0])
    assert f"{score:.4g}" in readme and "near-copy (memorised)" in readme and "g0.wav" in readme
    record = json.loads((tmp_path / "examples.json").read_text())["examples"][0]
    assert record["generated"] == "g0.wav" and record["nearest"][0]["training"] == "kit/t4.wav"
    scores = [m["score"] for m in record["nearest"]]
    assert scores == sorted(scores)
    assert "novel" in (folders[-1] / "README.md").read_text()
    assert "example_3/README.md" in (tmp_path / "INDEX.md").read_text()
    # a second run with fewer examples leaves no stale example folder behind
    write_similarity_examples(generated, training, tmp_path, sample_rate=RATE, n=1)
    assert sorted(p.name for p in tmp_path.glob("example_*")) == ["example_1"]


def test_write_examples_without_training_audio(tmp_path, sets):
    generated, training = sets
    folders = write_similarity_examples(generated, training, tmp_path, sample_rate=RATE, n=2, k=2,
                                        training_names=[f"t{j}.wav" for j in range(10)], training_audio=False)
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == ["README.md", "generated.wav"]
        assert "not included" in (folder / "README.md").read_text()
    record = json.loads((tmp_path / "examples.json").read_text())["examples"][0]
    assert record["nearest"][0]["training"] == "t4.wav"  # still named, with its score


@pytest.mark.parametrize("kwargs, error", [({"n": 0}, ConfigError), ({"k": 0}, ConfigError)])
def test_write_examples_rejects(tmp_path, sets, kwargs, error):
    generated, training = sets
    with pytest.raises(error):
        write_similarity_examples(generated, training, tmp_path, sample_rate=RATE, **kwargs)


def test_write_examples_shape_mismatch(tmp_path, sets):
    generated, training = sets
    with pytest.raises(AudioError, match=r"\(7, 4096, 2\).*\(10, 4096, 1\)"):
        write_similarity_examples(generated, training[..., :1], tmp_path, sample_rate=RATE)


def test_cli_similarity_examples(tmp_path, capsys):
    rng = np.random.default_rng(2)
    (tmp_path / "train").mkdir()
    (tmp_path / "gen").mkdir()
    training = rng.uniform(-0.5, 0.5, (4, 16384, 2)).astype(np.float32)
    for j, clip in enumerate(training):
        wavfile24.write(tmp_path / "train" / f"t{j}.wav", RATE, clip)
    wavfile24.write(tmp_path / "gen" / "copy.wav", RATE, training[1])
    wavfile24.write(tmp_path / "gen" / "new.wav", RATE, rng.uniform(-0.5, 0.5, (16384, 2)))
    out = tmp_path / "examples"
    assert main(["similarity-examples", "--generated", str(tmp_path / "gen"), "--training", str(tmp_path / "train"),
                 "-o", str(out), "-n", "2", "-k", "2", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "copy.wav <- t1.wav" in printed
    files = sorted(p.name for p in (out / "example_1").iterdir())
    assert files[:3] == ["README.md", "generated.wav", "nearest_1_t1.wav"]
    assert len(files) == 4 and files[3].startswith("nearest_2_t")
    assert main(["similarity-examples", "--generated", str(tmp_path / "nope"), "--training", str(tmp_path / "train"),
                 "-o", str(out), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
