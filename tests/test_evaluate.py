"""Tests of beatgan.evaluate and beatgan.musicnn on drum loops rendered here (no corpus files).

Planted failures: a collapsed set, white noise, loops shifted off the grid. The loops are
synthesised: kicks as decaying sine sweeps, snares and hi-hats as decaying noise bursts, on
a 16th grid at 120-125 bpm with varied patterns, 14.7 kHz, 16384 samples, stereo.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from beatgan import evaluate as ev
from beatgan.errors import AudioError, ConfigError, DatasetError

RATE = 14700
SAMPLES = 16384

pytestmark = pytest.mark.skipif(importlib.util.find_spec("musicnn") is None,
                                reason="musicnn weights not installed (pip install --no-deps musicnn==0.1.0)")


def synth_loops(n: int, *, seed: int, samples: int = SAMPLES, rate: int = RATE, shift: float = 0.0) -> np.ndarray:
    """``n`` stereo drum loops, float32 (n, samples, 2), peak 0.9.

    ``shift`` delays every hit by that many beats (0.125: an eighth of a beat off the grid).
    """
    rng = np.random.default_rng(seed)
    out = np.zeros((n, samples, 2), np.float32)
    t = np.arange(samples) / rate
    for i in range(n):
        beat = 60.0 / rng.uniform(120, 125)  # s
        sixteenth = beat / 4
        kick_steps = {0} | {s for s in range(1, 16) if rng.random() < 0.25}
        snare_steps = {s for s in (4, 12) if rng.random() < 0.9} | {s for s in range(16) if rng.random() < 0.08}
        hat_density = rng.uniform(0.3, 1.0)
        kick_f, snare_tau = rng.uniform(40, 70), rng.uniform(0.03, 0.09)
        y = np.zeros((samples, 2))
        for step in range(16):
            start = (step * sixteenth + shift * beat)
            s = int(round(start * rate))
            if s >= samples:
                break
            tt = t[: samples - s]
            hit = np.zeros(samples - s)
            if step in kick_steps:
                hit += np.sin(2 * np.pi * (kick_f * tt + 3.0 * (1 - np.exp(-tt / 0.03)))) * np.exp(-tt / 0.12)
            if step in snare_steps:
                hit += 0.6 * rng.standard_normal(len(tt)) * np.exp(-tt / snare_tau)
            if rng.random() < hat_density:
                hit += 0.25 * np.diff(rng.standard_normal(len(tt) + 1)) * np.exp(-tt / 0.015)
            pan = rng.uniform(0.6, 1.0, size=2)
            y[s:] += hit[:, None] * pan
        out[i] = 0.9 * y / np.abs(y).max()
    return out


@pytest.fixture(scope="module")
def loops():
    """96 reference loops and 48 generated stand-ins from another seed (a good model)."""
    return synth_loops(96, seed=1), synth_loops(48, seed=2)


@pytest.fixture(scope="module")
def report(loops):
    reference, generated = loops
    return ev.evaluate(generated, reference, seed=0)


def test_anchors_order(report):
    m = report.metrics
    # total collapse is clearly worse than a held-out real half
    assert m["collapsed"]["diversity"] < 0.3 < 0.8 < m["real"]["diversity"] < 1.25
    assert m["collapsed"]["ndb_k"] > m["real"]["ndb_k"] + 0.3
    assert m["collapsed"]["fad"] > 2 * m["real"]["fad"]
    assert m["collapsed"]["close_pairs"] > 0.9
    # a good model (same distribution) sits near real
    assert 0.8 < m["generated"]["diversity"] < 1.25
    assert report.position("diversity") < 0.3
    assert m["real"]["on_grid"] > 0.8 and m["real"]["downbeat"] > 0.9


def test_small_sets_warn(report):
    assert report.n_loops == 48 and report.n_reference == 48
    assert "shrunk" in report.fad_method
    assert any("FAD" in w and "biased" in w for w in report.warnings)
    assert any("NDB uses K=9" in w for w in report.warnings)
    assert report.embedding == "FAD-musicnn (MSD_musicnn, 200-d)"


def test_white_noise_worst(loops):
    reference, _ = loops
    rng = np.random.default_rng(5)
    noise = rng.uniform(-0.5, 0.5, (48, SAMPLES, 2)).astype(np.float32)
    rep = ev.evaluate(noise, reference, seed=0)
    m = rep.metrics
    assert m["generated"]["fad"] > max(m[s]["fad"] for s in ("real", "collapsed", "noise"))
    assert m["generated"]["on_grid"] < min(m[s]["on_grid"] for s in ("real", "collapsed", "noise")) - 0.2


def test_off_grid_loses_rhythm(loops, report):
    reference, _ = loops
    shifted = synth_loops(48, seed=2, shift=0.125)
    rep = ev.evaluate(shifted, reference, seed=0)
    assert rep.metrics["generated"]["on_grid"] < report.metrics["generated"]["on_grid"] - 0.3
    assert rep.metrics["generated"]["downbeat"] < 0.2 < 0.9 < report.metrics["generated"]["downbeat"]


def test_same_seed_same_report(loops, report):
    reference, generated = loops
    again = ev.evaluate(generated, reference, seed=0)
    assert again.to_json() == report.to_json()


def test_table_json_and_save(report, tmp_path):
    table = report.table()
    assert table.splitlines()[0].split(" | ")[0].strip() == "metric"
    for name in ev.METRICS:
        assert name in table
    data = json.loads(report.to_json())
    assert set(data["metrics"]) == set(ev.SETS)
    report.save(tmp_path / "eval")
    for name in ("evaluation.json", "evaluation.txt", "metrics.png", "ndb_bins.png",
                 "pairwise_distances.png", "spectrograms.png"):
        assert (tmp_path / "eval" / name).stat().st_size > 0
    with pytest.raises(ConfigError, match="metric='nope'"):
        report.position("nope")


def test_cheap_metrics(loops):
    reference, generated = loops
    ref = ev.reference_features(reference, seed=0)
    good = ev.cheap_metrics(generated, ref)
    collapsed = ev.cheap_metrics(np.repeat(generated[:1], 48, axis=0), ref)
    assert set(good) == {"diversity", "close_pairs", "ndb_k", "jsd", "noise_floor_db"}
    assert 0.8 < good["diversity"] < 1.25 and collapsed["diversity"] < 0.1
    assert collapsed["ndb_k"] > good["ndb_k"]
    assert good == ev.cheap_metrics(generated, reference, seed=0)


def test_frechet_identity():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 8))
    mu, s = x.mean(0), np.cov(x, rowvar=False)
    assert ev.frechet_distance(mu, s, mu, s)[0] == pytest.approx(0, abs=1e-6)
    assert ev.frechet_distance(mu, s, mu + 1, s)[0] == pytest.approx(8, rel=1e-6)


def test_musicnn_embedding_shape_and_loudness():
    from beatgan import musicnn

    loud = synth_loops(3, seed=9) / 0.9  # peak 1.0: float16 would overflow on the kick
    emb = musicnn.embed(loud, sample_rate=RATE)
    assert emb.shape == (3, 200) and emb.dtype == np.float32 and np.all(np.isfinite(emb))


_GOOD = synth_loops(24, seed=3)


@pytest.mark.parametrize("generated, reference, error, match", [
    (np.zeros((0, SAMPLES, 2), np.float32), _GOOD, AudioError, "no audio"),
    (_GOOD[:, :, 0], _GOOD, AudioError, "must have shape"),
    (np.where(np.arange(SAMPLES)[None, :, None] == 5, np.nan, _GOOD).astype(np.float32), _GOOD, AudioError, "NaN"),
    (_GOOD * 2, _GOOD, AudioError, "peak"),
    (_GOOD.astype(np.int16), _GOOD, AudioError, "dtype"),
    (_GOOD[:, :8192], _GOOD, AudioError, "8192 samples"),
    (_GOOD, _GOOD[:12], DatasetError, "12 reference loops"),
    (_GOOD[:1], _GOOD, DatasetError, "1 generated loop"),
])
def test_bad_input(generated, reference, error, match):
    with pytest.raises(error, match=match):
        ev.evaluate(generated, reference)


def test_bad_options():
    with pytest.raises(ConfigError, match="seed=-1"):
        ev.evaluate(_GOOD, _GOOD, seed=-1)
    with pytest.raises(ConfigError, match="n_bins=1"):
        ev.evaluate(_GOOD, _GOOD, n_bins=1)


def test_mono_against_stereo(loops):
    reference, generated = loops
    mono = generated.mean(axis=2, keepdims=True)
    rep = ev.evaluate(mono, reference, seed=0)
    assert 0.8 < rep.metrics["generated"]["diversity"] < 1.25


@pytest.mark.slow
def test_musicnn_parity_with_tf1_graph():
    """The eager port against the package's TF1 graph, to 1e-4 (needs tf-keras; see the script)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "musicnn_parity.py"
    cmd = [sys.executable, str(script)]
    if os.environ.get("BEATGAN_TF_KERAS_PATH"):
        cmd += ["--tf-keras-path", os.environ["BEATGAN_TF_KERAS_PATH"]]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if result.returncode == 2:
        pytest.skip("tf-keras is not installed (set BEATGAN_TF_KERAS_PATH to a pip --target folder holding it)")
    assert result.returncode == 0, result.stdout + result.stderr


def test_frechet_distance_matches_the_closed_form_and_survives_singular_covariances():
    from beatgan.evaluate import frechet_distance

    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 2.0, 50), rng.uniform(0.1, 2.0, 50)
    mu1, mu2 = rng.normal(size=50), rng.normal(size=50)
    value, notes = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # diagonal closed form
    assert value == pytest.approx(expected, rel=1e-9) and notes == []
    low_rank = rng.normal(size=(120, 200)) @ rng.normal(size=(200, 200)) * 0.1  # 120 samples in 200-d
    sigma = np.cov(low_rank, rowvar=False)  # singular
    same, _ = frechet_distance(low_rank.mean(0), sigma, low_rank.mean(0), sigma)
    assert 0.0 <= same <= 1e-3 * np.trace(sigma)  # a set against itself: (about) zero, never NaN
