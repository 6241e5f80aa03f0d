"""Tests of beatgan.novelty: the score, the chunked nearest search and the log-mel distance."""

from __future__ import annotations

import re
import shutil
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

from beatgan.data import augment, load_loops
from beatgan.search import block_shape
from beatgan.errors import AudioError, ConfigError
from beatgan.novelty import (
    logmel_features, logmel_nearest, nearest, similarity_score, top_k,
)

SONIC_PI = Path("/usr/share/sonic-pi/samples")
REAL_LOOPS = ("loop_amen", "loop_breakbeat", "loop_compus", "loop_industrial", "loop_mika", "loop_safari",
              "loop_tabla", "loop_garzul")


def pairwise(generated, training):
    """The definition: for each generated loop, a strict-< loop over every training loop."""
    index, score = [], []
    for b in generated:
        best, best_j = np.inf, -1
        for j, a in enumerate(training):
            if not np.any(a):
                continue  # silent: undefined score, skipped
            s = similarity_score(a, b)
            if s < best:
                best, best_j = s, j
        index.append(best_j)
        score.append(best)
    return np.array(index), np.array(score)


def loops(rng, n, length, channels, *, dtype=np.float32):
    """Loud-varying random loops: uniform noise times a per-loop gain and a decaying envelope."""
    shape = (n, length) if channels is None else (n, length, channels)
    x = rng.uniform(-1, 1, shape) * rng.uniform(0.05, 1, (n,) + (1,) * (len(shape) - 1))
    env = np.exp(-np.arange(length) / (length / 3)).reshape((1, length) + (1,) * (len(shape) - 2))
    return (x * env).astype(dtype)


# --- similarity_score ------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(64,), (64, 2), (16, 4, 2)])
def test_score_known_values(shape):
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, shape)
    assert similarity_score(a, a) == 0.0
    assert similarity_score(a, np.zeros(shape)) == pytest.approx(1.0)
    assert similarity_score(a, -a) == pytest.approx(4.0)
    assert similarity_score(a, 0.5 * a) == pytest.approx(0.25)
    b = rng.uniform(-1, 1, shape)
    expected = np.sum((a - b) ** 2) / np.sum(a**2)
    assert similarity_score(a, b) == pytest.approx(expected, rel=1e-12)


def test_score_is_not_symmetric():
    a, b = np.ones(8), 2 * np.ones(8)
    assert similarity_score(a, b) == pytest.approx(1.0)
    assert similarity_score(b, a) == pytest.approx(0.25)


def test_score_errors():
    with pytest.raises(AudioError, match="silent"):
        similarity_score(np.zeros((16, 2)), np.ones((16, 2)))
    with pytest.raises(AudioError, match=r"\(16, 2\).*\(16, 1\)"):
        similarity_score(np.ones((16, 2)), np.ones((16, 1)))
    with pytest.raises(AudioError, match="NaN"):
        similarity_score(np.ones(4), np.array([1, np.nan, 1, 1]))


# --- nearest / top_k equal the pair-by-pair definition ----------------------------------------

@pytest.mark.parametrize(
    "channels, chunk, dtype",
    [(2, 7, np.float32), (2, None, np.float32), (None, 16, np.float32), (1, 5, np.float64), (2, 1000, np.float64)],
)
def test_nearest_equals_pairwise(channels, chunk, dtype):
    rng = np.random.default_rng(1)
    training = loops(rng, 60, 96, channels, dtype=dtype)
    generated = loops(rng, 25, 96, channels, dtype=dtype)
    sources = rng.integers(0, 60, 8)
    generated[:8] = training[sources] + rng.uniform(-0.0011, 0.0011, training[sources].shape)  # near-copies
    training[10] = training[11]  # an exact tie: the lower index must win
    generated[8] = training[11]
    training[3] = 0  # silent: skipped
    index, score = nearest(generated, training, chunk=chunk)
    want_index, want_score = pairwise(generated, training)
    np.testing.assert_array_equal(index, want_index)
    np.testing.assert_array_equal(score, want_score)  # the same float64 arithmetic, bit for bit
    assert index[8] == 10 and score[8] == 0.0
    assert np.all(index[:8] == sources) or np.all(score[:8] < 1e-4)
    assert index.dtype == np.int64 and score.dtype == np.float64


def test_ties_go_to_the_lowest_index():
    rng = np.random.default_rng(2)
    base = loops(rng, 4, 32, 2)
    training = np.concatenate([base, base, base])  # every loop three times: rows j, j+4, j+8
    generated = base[[3, 0, 2]] + np.float32(0.01)
    index, _ = nearest(generated, training, chunk=3)
    np.testing.assert_array_equal(index, [3, 0, 2])
    index3, score3 = top_k(generated, training, 3, chunk=5)
    np.testing.assert_array_equal(index3, [[3, 7, 11], [0, 4, 8], [2, 6, 10]])
    assert np.all(score3[:, 0] == score3[:, 2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_near_silent_loops_are_scored_exactly(dtype):
    """Energies that underflow in float32 must not break the bounds: such loops get rescored."""
    rng = np.random.default_rng(6)
    training = loops(rng, 20, 48, 2, dtype=dtype)
    training[2] *= dtype(1e-30)  # squares underflow in float32
    training[5] *= dtype(1e-20)
    training[9] = 0
    generated = loops(rng, 6, 48, 2, dtype=dtype)
    generated[0] = training[2] * dtype(1.01)  # closest to the tiny loop, by the relative score
    generated[1] = 0  # a silent generated loop scores 1 against everything
    generated[2] = training[5]
    for k in (1, 3):
        index, score = top_k(generated, training, k, chunk=8)
        for i, b in enumerate(generated):
            scores = np.array([similarity_score(a, b) if a.any() else np.inf for a in training])
            order = np.lexsort((np.arange(len(scores)), scores))[:k]
            np.testing.assert_array_equal(index[i], order)
            np.testing.assert_array_equal(score[i], scores[order])
    assert index[0, 0] == 2 and index[2, 0] == 5 and np.all(score[1] == 1.0)


@pytest.mark.parametrize("k, chunk", [(1, 4), (3, 9), (5, None)])
def test_top_k_equals_sorted_pairwise(k, chunk):
    rng = np.random.default_rng(3)
    training = loops(rng, 40, 64, 2)
    generated = loops(rng, 12, 64, 2)
    generated[:4] = training[:4] + np.float32(0.001)
    index, score = top_k(generated, training, k, chunk=chunk)
    for i, b in enumerate(generated):
        scores = np.array([similarity_score(a, b) for a in training])
        order = np.lexsort((np.arange(len(scores)), scores))[:k]
        np.testing.assert_array_equal(index[i], order)
        np.testing.assert_array_equal(score[i], scores[order])


def test_k_is_capped_by_usable_training_loops():
    rng = np.random.default_rng(4)
    training = loops(rng, 3, 16, 1)
    training[1] = 0
    index, score = top_k(loops(rng, 2, 16, 1), training, 5)
    assert index.shape == (2, 2) and set(index[0]) == {0, 2}


@pytest.mark.parametrize(
    "generated, training, error, match",
    [
        (np.ones((2, 16, 2)), np.zeros((3, 16, 2)), AudioError, "all 3 training loops are silent"),
        (np.ones((2, 16, 2)), np.ones((3, 16, 1)), AudioError, r"\(2, 16, 2\).*\(3, 16, 1\)"),
        (np.ones((2, 16, 2)), np.ones((3, 8, 2)), AudioError, "same"),
        (np.ones((0, 16, 2)), np.ones((3, 16, 2)), AudioError, "no loops"),
        (np.ones((2, 16, 2)), np.full((3, 16, 2), np.nan), AudioError, "NaN"),
        (np.ones(16), np.ones((3, 16)), AudioError, "shape"),
        (np.ones((2, 16), dtype=np.int16), np.ones((3, 16)), AudioError, "float"),
    ],
)
def test_nearest_bad_input(generated, training, error, match):
    with pytest.raises(error, match=match):
        nearest(generated, training)


@pytest.mark.parametrize("chunk", [0, -1, 2.5, True])
def test_bad_chunk(chunk):
    with pytest.raises(ConfigError, match="chunk"):
        nearest(np.ones((2, 8)), np.ones((2, 8)), chunk=chunk)


# --- bounded memory ---------------------------------------------------------------------------

@pytest.mark.parametrize("n_gen", [1, 100, 10_000])
@pytest.mark.parametrize("width", [256, 16384 * 2, 65536 * 2])
@pytest.mark.parametrize("is_float32", [True, False])
def test_block_shape_bounds_memory(n_gen, width, is_float32):
    gen_rows, train_rows = block_shape(None, n_gen, width, is_float32)
    assert gen_rows * width * 4 <= 64 * 2**20  # a float32 copy of a generated block <= 64 MB
    assert gen_rows * train_rows * 8 <= 8 * 2**20 + 8 * 1024 * 8  # a float64 block of scores ~<= 8 MB
    if not is_float32:
        assert train_rows * width * 4 <= 64 * 2**20  # a float32 copy of a training block <= 64 MB


def test_ten_thousand_squared_in_bounded_memory():
    rng = np.random.default_rng(5)
    n, length = 10_000, 128
    training = rng.standard_normal((n, length), dtype=np.float32)
    generated = rng.standard_normal((n, length), dtype=np.float32)
    generated[::1000] = training[7::1000] + np.float32(1e-3)  # a few near-copies
    tracemalloc.start()
    try:
        index, score = nearest(generated, training)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    full_matrix = n * n * 8  # what a float64 score matrix of all pairs would take: 800 MB
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MB"
    assert peak < full_matrix / 10
    np.testing.assert_array_equal(index[::1000], np.arange(7, n, 1000))
    # a sample of rows against the definition, vectorised over the training set
    t64 = training.astype(np.float64)
    energy = np.sum(t64 * t64, axis=1)
    for i in rng.choice(n, 12, replace=False):
        scores = np.sum((t64 - generated[i].astype(np.float64)) ** 2, axis=1) / energy
        assert index[i] == np.argmin(scores)
        assert score[i] == pytest.approx(scores.min(), rel=1e-12)


# --- real loops ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_loops(tmp_path_factory):
    """(N, 16384, 2) float32 at 14.7 kHz: sonic-pi's drum loops, or synthetic drums where missing."""
    files = [SONIC_PI / f"{name}.flac" for name in REAL_LOOPS if (SONIC_PI / f"{name}.flac").is_file()]
    if len(files) < 4:
        from conftest import synth_drums

        warnings.warn("sonic-pi-samples missing: synthetic drums stand in for real loops", stacklevel=1)
        import soxr

        clips = [soxr.resample(synth_drums(seconds=1.2, seed=s), 44100, 14700)[:16384] for s in range(6)]
        return np.stack(clips).astype(np.float32)
    folder = tmp_path_factory.mktemp("loops")
    for f in files:
        shutil.copy(f, folder / f.name)
    return load_loops(folder, cache=False, progress=False).audio


def test_real_noisy_copy_scores_far_below_threshold(real_loops):
    copies = augment(real_loops, copies=1, amplitude=0.0011, seed=0)
    for i in range(len(real_loops)):
        assert similarity_score(real_loops[i], copies[i]) < 0.01  # far below 0.1
        for j in range(len(real_loops)):
            if j != i:
                assert similarity_score(real_loops[j], copies[i]) > 0.5  # far above 0.1
    index, score = nearest(copies, real_loops)
    np.testing.assert_array_equal(index, np.arange(len(real_loops)))
    assert np.all(score < 0.01)


def test_real_nearest_equals_pairwise(real_loops):
    training = augment(real_loops, copies=3, amplitude=0.0011, seed=1)  # clusters of near-copies
    generated = np.concatenate([augment(real_loops[:3], copies=1, seed=2), 0.5 * real_loops[3:5]])
    index, score = nearest(generated, training, chunk=5)
    want_index, want_score = pairwise(generated, training)
    np.testing.assert_array_equal(index, want_index)
    np.testing.assert_array_equal(score, want_score)


def test_logmel_forgives_a_small_shift(real_loops):
    shifted = np.roll(real_loops, 40, axis=1)  # 2.7 ms later
    index, distance = logmel_nearest(shifted, real_loops, sample_rate=14700)
    np.testing.assert_array_equal(index, np.arange(len(real_loops)))
    assert np.all(distance < 3.0)
    # BeatGAN's score does not: a 2.7 ms shift of a drum loop is "different"
    assert np.median([similarity_score(a, b) for a, b in zip(real_loops, shifted)]) > 0.1


def test_logmel_features_shape():
    x = np.zeros((3, 16384, 2), dtype=np.float32)
    f = logmel_features(x, sample_rate=14700)
    assert f.shape == (3, 64 * 65) and f.dtype == np.float32
    np.testing.assert_allclose(f, -60.0, rtol=1e-6)


# --- near-ties below float32 resolution ---------------------------------------------------------


def _near_ties(length, seed=21, n=24):
    """float64 loops that differ from one base loop by ~1e-7 per sample, below float32 resolution.

    The float32 candidate pass cannot order them (its error is ~1e-4 of the score); only the
    error bounds keep every one of them for the exact float64 pass.
    """
    rng = np.random.default_rng(seed)
    base = rng.uniform(-0.9, 0.9, (length, 2))
    training = base + rng.normal(0, 1e-7, (n, length, 2))
    training[5] = rng.uniform(-0.9, 0.9, (length, 2))  # an unrelated loop
    generated = base[None] + rng.normal(0, 1e-7, (3, length, 2))
    return generated, training


@pytest.mark.parametrize("length", [4097, 8192])
def test_nearest_and_top_k_on_near_ties_below_float32_resolution(length):
    generated, training = _near_ties(length)
    assert np.array_equal(training[0].astype(np.float32), training[1].astype(np.float32)) or \
        np.abs(training[0] - training[1]).max() < 1e-6
    want_index, want_score = pairwise(generated, training)
    index, score = nearest(generated, training)
    np.testing.assert_array_equal(index, want_index)
    np.testing.assert_array_equal(score, want_score)
    index3, score3 = top_k(generated, training, 3, chunk=7)
    for i, b in enumerate(generated):
        scores = np.array([similarity_score(a, b) for a in training])
        order = np.lexsort((np.arange(len(training)), scores))[:3]
        np.testing.assert_array_equal(index3[i], order)
        np.testing.assert_array_equal(score3[i], scores[order])


# --- messages, defaults, progress ---------------------------------------------------------------

@pytest.mark.parametrize("a, b, match", [
    (np.zeros((16, 2)), np.ones((16, 2)),
     r"^the training loop is silent \(all zeros\): its similarity score is undefined$"),
    (np.ones(4), np.array([1, np.nan, 1, 1]), r"^loops hold NaN or infinite samples$"),
    (np.array([1, np.inf, 1, 1]), np.ones(4), r"^loops hold NaN or infinite samples$"),
])
def test_score_error_messages(a, b, match):
    with pytest.raises(AudioError, match=match):
        similarity_score(a, b)


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps, reason="long double is float64 here")
@pytest.mark.parametrize("wide", ["a", "b"])
def test_score_is_computed_in_float64(wide):
    """Inputs wider than float64 are rounded to float64 first: loops equal in float64 score exactly 0."""
    ones = np.ones(8)
    nudged = np.ones(8, dtype=np.longdouble) + np.longdouble(2.0) ** -60  # rounds to 1.0 in float64
    a, b = (nudged, ones) if wide == "a" else (ones, nudged)
    assert similarity_score(a, b) == 0.0


@pytest.mark.parametrize("k, match", [(0, r"^k=0 must be a positive integer$"), (2.5, r"^k=2\.5 must"),
                                      (True, r"^k=True must")])
def test_bad_k(k, match):
    with pytest.raises(ConfigError, match=match):
        top_k(np.ones((2, 8)), np.ones((2, 8)), k)


def test_top_k_defaults_to_three():
    rng = np.random.default_rng(7)
    index, score = top_k(loops(rng, 2, 16, 2), loops(rng, 5, 16, 2))
    assert index.shape == score.shape == (2, 3)


@pytest.mark.parametrize("search", [nearest, top_k])
def test_progress_bar_only_on_request(search, capsys):
    rng = np.random.default_rng(8)
    generated, training = loops(rng, 3, 16, 2), loops(rng, 5, 16, 2)
    search(generated, training, chunk=2)
    assert capsys.readouterr().err == ""
    search(generated, training, chunk=2, progress=True)
    err = capsys.readouterr().err.splitlines()[-1].split("\r")[-1]  # the bar's last state
    assert re.match(r"nearest: 100%\|.*\| 6/6 \[.*(block/s|s/block)\]$", err), err  # 2 x 3 blocks, the last short


@pytest.mark.parametrize("seed, quiet, spread", [(1, 1e-2, 3e-8), (2, 1e-2, 3e-8), (0, 1e-3, 1e-7)])
def test_near_ties_of_quiet_loops_against_loud_ones(seed, quiet, spread):
    """Loud generated loops against quiet near-copies of one training loop, 4 samples each.

    Scores are ~1e5 here and float32 cannot tell the training loops apart (they differ by about
    float32's resolution), so the ordering rests on the whole error bound, the part that grows with
    the generated loop's energy included; only the exact pass gets the best right.
    """
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.5, 1.0, 4) * quiet
    training = base * (1 + rng.normal(0, spread, (200, 4)))
    generated = rng.uniform(0.5, 1.0, (16, 4)) * rng.choice([-1, 1], (16, 4))
    want_index, want_score = pairwise(generated, training)
    index, score = nearest(generated, training)
    np.testing.assert_array_equal(index, want_index)
    np.testing.assert_array_equal(score, want_score)


@pytest.mark.parametrize("search", [nearest, top_k])
def test_silent_training_loops_raise_no_warnings(search):
    rng = np.random.default_rng(9)
    training = loops(rng, 6, 16, 2)
    training[1] = 0  # silent: skipped
    training[4] *= np.float32(1e-30)  # energy underflows in float32: rescored exactly
    generated = loops(rng, 3, 16, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a division by a zero energy must not leak a RuntimeWarning
        index, _ = search(generated, training)
    assert 1 not in index


def test_logmel_nearest_equals_the_brute_force_search():
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(10)
    decay = np.exp(-np.arange(1024) / rng.uniform(50, 800, (40, 1)))
    training = (rng.uniform(-1, 1, (40, 1024)) * rng.uniform(0.001, 1, (40, 1)) * decay).astype(np.float32)[:, :, None]
    generated = (rng.uniform(-1, 1, (10, 1024)) * rng.uniform(0.001, 1, (10, 1))).astype(np.float32)[:, :, None]
    generated[:3] = training[:3] * np.float32(1.001)
    distances = cdist(logmel_features(generated, sample_rate=14700).astype(np.float64),
                      logmel_features(training, sample_rate=14700).astype(np.float64))
    index, distance = logmel_nearest(generated, training, sample_rate=14700, chunk=7)
    np.testing.assert_array_equal(index, np.argmin(distances, axis=1))
    np.testing.assert_allclose(distance, distances.min(axis=1) / np.sqrt(64 * 5), rtol=1e-9)
    assert np.all(index[:3] == [0, 1, 2])


# --- the float32 error bound of the search, term by term ----------------------------------------


@pytest.mark.parametrize("relative", [True, False])
def test_column_terms_equal_the_documented_bound(relative):
    """approx and error rebuilt from column_terms equal the docstring's formulas, computed here from
    scratch with constants large enough that every term (gamma, tau, slack; A, B, d) moves the result."""
    from beatgan.search import column_terms

    gamma, tau, slack = 1e-2, 3e-3, 2e-3
    A = np.array([0.5, 2.0, 7.0])  # training energies (float32 sums)
    B, d = np.array([[0.3], [4.0]]), np.array([[0.2, -0.7, 1.1], [0.05, 1.5, -2.5]])  # generated energies, dots
    terms = column_terms(np.ones((3, 4), np.float32), A, gamma, tau, slack, relative)
    Bh = (B + tau) / (1 - gamma)
    approx = d * terms["scale"] + B * terms["per_b"] + terms["const"]
    error = Bh * terms["p"] + np.sqrt(Bh) * terms["q"] + terms["r"]
    Ah, Al = (A + tau) / (1 - gamma), (A - tau) / (1 + gamma)
    root = np.sqrt(Ah * Bh)
    if relative:
        want_approx = 1 + (B - 2 * d) / A
        want_error = ((gamma * Bh + 3 * tau + 2 * gamma * root) / A + (Bh + 2 * root) * (gamma * Ah + tau) / (A * Al)
                      + slack * (Ah + Bh) / Al)
    else:
        want_approx = A + B - 2 * d
        want_error = gamma * (Ah + Bh) + 2 * gamma * root + 4 * tau + slack * (Ah + Bh)
    np.testing.assert_allclose(approx, want_approx, rtol=1e-12)
    np.testing.assert_allclose(error, want_error, rtol=1e-12)
    assert terms["usable"].all()


def test_search_uses_higham_gamma_for_blocks_of_4096(monkeypatch):
    """The bound's constants: gamma_n = n u / (1 - n u) of float32 (u = 2**-24) with n = min(D, 4096) + 4
    products per partial sum, tau = 2 D * 2**-126 for underflow, slack = max(1e-9, 4 D 2**-53)."""
    from beatgan import search

    seen = []
    real = search.column_terms
    monkeypatch.setattr(search, "column_terms", lambda *a: seen.append(a[2:5]) or real(*a))
    rng = np.random.default_rng(0)
    for width in (300, 5000, 2_500_000):  # slack: its floor 1e-9 below 2.25e6 samples, 4 D 2**-53 above
        nearest(loops(rng, 2, width, None), loops(rng, 3, width, None))
        n = min(width, 4096) + 4
        gamma, tau, slack = seen[-1]
        assert gamma == pytest.approx(n * 2.0**-24 / (1 - n * 2.0**-24), rel=1e-15)
        assert tau == 2 * width * 2.0**-126 and slack == max(1e-9, 4 * width * 2.0**-53)


@pytest.mark.parametrize("dtype, rows", [(np.float32, [40]), (np.float64, [8] * 5)])
def test_training_blocks_bound_the_float32_copy_only_when_one_is_made(monkeypatch, dtype, rows):
    """A float64 training set is copied to float32 a block of at most CHUNK_BYTES at a time; a float32
    one needs no copy, so its blocks are as long as the score budget allows (here: all 40 loops at once)."""
    from beatgan import search

    width = 64
    monkeypatch.setattr(search, "CHUNK_BYTES", 8 * 4 * width)  # 8 loops of float32
    shapes = []
    real = search.dots
    monkeypatch.setattr(search, "dots", lambda g, t: shapes.append(t.shape[0]) or real(g, t))
    rng = np.random.default_rng(1)
    gen, train = loops(rng, 8, width, None), loops(rng, 40, width, None, dtype=dtype)
    index, score = nearest(gen, train)
    assert shapes == rows
    want_index, want_score = pairwise(gen, train)
    np.testing.assert_array_equal(index, want_index)


@pytest.mark.parametrize("which", ["generated", "training"])
def test_energy_overflow_names_the_set(which):
    """Finite float64 samples whose float32 squares overflow: the error says which set holds them."""
    gen, train = np.full((2, 64), 0.1), np.full((3, 64), 0.2)
    (gen if which == "generated" else train)[1, 5] = 1e25
    with pytest.raises(AudioError, match=rf"^{which} loops hold NaN or infinite samples \(or values far outside"):
        nearest(gen, train)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_bounds_prune_the_exact_rescoring(monkeypatch, k):
    """Only pairs the float32 bounds cannot rule out are rescored in float64: for loops of distinct
    loudness, about k per generated loop, not all G x T (a search that loses its k-th bound still finds
    the right answer, slowly: this is what tells it apart)."""
    from beatgan import search

    rescored = []
    real = search.exact_scores
    monkeypatch.setattr(search, "exact_scores", lambda g, t, rows, cols, rel: rescored.append(len(rows)) or real(g, t, rows, cols, rel))
    rng = np.random.default_rng(3)
    gen, train = loops(rng, 20, 256, None), loops(rng, 50, 256, None)
    index, score = top_k(gen, train, k=k)
    assert sum(rescored) <= 20 * (k + 2), rescored
    want = np.array([sorted(similarity_score(a, b) for a in train)[:k] for b in gen])
    np.testing.assert_allclose(score, want, rtol=1e-12)


def test_one_loop_of_one_sample_each():
    index, score = nearest(np.full((1, 1), 0.5), np.full((1, 1), 0.25))
    assert index.tolist() == [0] and score.tolist() == [pytest.approx((0.25 - 0.5) ** 2 / 0.25**2)]


@pytest.mark.parametrize("which", ["generated", "training"])
def test_input_errors_name_the_set(which):
    """Every input error names the set it found in, with the shape or dtype at fault."""
    good = np.zeros((2, 8), np.float32) + 0.1

    def call(bad):
        return nearest(bad, good) if which == "generated" else nearest(good, bad)

    cases = [(np.zeros(8), r"must have shape \(N, samples\) or \(N, samples, channels\), got \(8,\)"),
             (np.zeros((0, 8)), r"holds no loops \(shape \(0, 8\)\)"),
             (np.zeros((2, 8), np.int16), r"must be float audio in \[-1, 1\], got dtype int16")]
    for bad, message in cases:
        with pytest.raises(AudioError, match=rf"^{which} {message}$"):
            call(bad)
    with pytest.raises(AudioError, match=r"^generated loops \(2, 8\) and training loops \(2, 9\) must have the same "
                                         r"\(samples, channels\)$"):
        nearest(good, np.zeros((2, 9)) + 0.1)
