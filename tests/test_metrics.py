"""Tests of beatgan.metrics, one metric at a time, without TensorFlow.

Each metric runs on tiny inputs against an independent numpy/scipy computation of its
documented formula (the ``*_by_hand`` helpers), or on synthetic drum loops with planted
artifacts. The loops (:func:`synth_loops`: kicks as decaying sine sweeps, snares and hi-hats
as decaying noise bursts, on a 16th grid at 120-125 bpm, 14.7 kHz, 16384 samples, stereo) and
the helpers are shared with tests/test_evaluate.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from beatgan import metrics
from beatgan.errors import AudioError, ConfigError

RATE = 14700
SAMPLES = 16384


# ----------------------------------- synthetic loops and the formulas written out (test_evaluate uses them too)

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


def rms_db_by_hand(mono: np.ndarray) -> np.ndarray:
    """Frame RMS in dB, written out: zero-padded by 512 each side, 1024-sample frames, hop 256, floor -100 dB."""
    padded = np.pad(mono.astype(np.float64), ((0, 0), (512, 512)))
    frames = 1 + (padded.shape[1] - 1024) // 256
    rms = np.sqrt(np.stack([np.mean(padded[:, i * 256: i * 256 + 1024] ** 2, axis=1) for i in range(frames)], 1))
    return 20 * np.log10(np.maximum(rms, 1e-5))


def logmel_by_hand(mono: np.ndarray, rate: int = RATE) -> np.ndarray:
    """(N, 64, frames) dB: librosa's mel power (n_fft 1024, hop 256), 10 log10, floored at 1e-6."""
    import librosa

    mel = librosa.feature.melspectrogram(y=mono, sr=rate, n_fft=1024, hop_length=256, n_mels=64)
    return 10 * np.log10(np.maximum(mel, 1e-6))


def rms_distances_by_hand(flat: np.ndarray) -> np.ndarray:
    """(N, N) Euclidean distances of the rows over sqrt(d), by scipy."""
    from scipy.spatial.distance import cdist

    return cdist(flat, flat) / np.sqrt(flat.shape[1])


def ndb_by_hand(ref_counts, counts, z_crit=1.959963984540054):
    """(NDB/K, JSD in bits, z per bin) of two histograms, written out: pooled two-proportion z-test, KL to the mean."""
    ref_counts, counts = np.asarray(ref_counts, float), np.asarray(counts, float)
    n_ref, n = ref_counts.sum(), counts.sum()
    p_ref, p = ref_counts / n_ref, counts / n
    pooled = (ref_counts + counts) / (n_ref + n)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n))
    z = np.divide(p - p_ref, se, out=np.zeros_like(se), where=se > 0)
    m = (p_ref + p) / 2
    kl = [np.sum(q[q > 0] * np.log2(q[q > 0] / m[q > 0])) for q in (p_ref, p)]  # bits
    return float(np.mean(np.abs(z) > z_crit)), float(np.mean(kl)), z


LINES_HZ = (918.75, 1837.5, 2756.25, 5512.5)  # where the shipped generator's strongest lines sit (14700 / 16 ...)


def with_lines(loops: np.ndarray, level: float = 0.01) -> np.ndarray:
    """``loops`` (N, samples, channels) plus sinusoids of amplitude ``level`` at :data:`LINES_HZ`, float32."""
    t = np.arange(loops.shape[1]) / RATE
    tones = sum(np.sin(2 * np.pi * f * t) for f in LINES_HZ)
    return np.clip(loops + level * tones[None, :, None], -1, 1).astype(np.float32)


def _bursts(times, *, samples=8192, tau=0.01, seed=0) -> np.ndarray:
    """A mono loop of decaying white-noise bursts starting at ``times`` (s), peak 0.9, float32."""
    rng = np.random.default_rng(seed)
    y = np.zeros(samples)
    t = np.arange(samples) / RATE
    for start in times:
        s = int(round(start * RATE))
        y[s:] += rng.standard_normal(samples - s) * np.exp(-t[: samples - s] / tau)
    return (0.9 * y / np.abs(y).max()).astype(np.float32)


def _train(bpm: float, steps: int = 200) -> np.ndarray:
    """Onsets on every 16th at ``bpm``: long enough that only that grid (0.5 bpm apart) fits them all."""
    return np.arange(steps) * 15.0 / bpm


def _sparse_loops(n: int) -> np.ndarray:
    """Kicks on the beat that die away before the next: mono (n, 16384), real silence between hits."""
    t = np.arange(SAMPLES) / RATE
    out = np.zeros((n, SAMPLES), np.float32)
    for i in range(n):
        for start in (0.0, 0.25, 0.5, 0.75):
            s = int(start * SAMPLES)
            tt = t[: SAMPLES - s]
            out[i, s:] += 0.9 * np.sin(2 * np.pi * (50 + i) * tt) * np.exp(-tt / 0.02)
    return out


# ----------------------------------------------------------------- validation

@pytest.mark.parametrize("audio, match", [
    (np.zeros((2, 8)), r"^reference must have shape \(N, samples, channels\), got \(2, 8\)$"),
    (np.zeros((0, 8, 2)), r"^reference holds no audio \(shape \(0, 8, 2\)\)$"),
    (np.zeros((2, 0, 2)), r"^reference holds no audio \(shape \(2, 0, 2\)\)$"),
    (np.zeros((2, 8, 0)), r"^reference holds no audio \(shape \(2, 8, 0\)\)$"),
    (np.zeros((2, 8, 2), np.int16), r"^reference must be float audio in \[-1, 1\], got dtype int16$"),
    (np.array([0.0, np.nan, 0.0, np.inf])[:, None, None] * np.ones((4, 8, 2)),
     r"^reference holds NaN or infinite samples \(first in loop 1\)$"),
    (np.where((np.arange(4)[:, None, None] == 2) & (np.arange(8)[None, :, None] == 7), np.inf, 0.0)
     * np.ones((4, 8, 2)), r"first in loop 2\)$"),
    (np.full((2, 8, 2), -1.5), r"^reference must lie in \[-1, 1\], got a peak of 1\.5$"),
    (np.full((2, 8, 2), 1 + 2e-6), r"got a peak of 1$"),
])
def test_check_set_names_the_bad_value(audio, match):
    with pytest.raises(AudioError, match=match):
        metrics.checked_mono("reference", audio)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_check_set_mixes_to_float32_mono_and_allows_a_peak_of_one(dtype):
    audio = np.array([[[1.0, -1.0], [0.5, 0.25]], [[-1.0 - 5e-7, 0.0], [0.0, 1.0 + 1e-6]]])  # up to 1e-6 over 1
    mono = metrics.checked_mono("generated", audio.astype(dtype))
    assert mono.dtype == np.float32 and mono.shape == (2, 2)
    np.testing.assert_allclose(mono, [[0.0, 0.375], [-0.5, 0.5]], atol=1e-3)


@pytest.mark.parametrize("options, match", [
    ((7999, 0, 2), r"^sample_rate=7999 must be an integer >= 8000 \(Hz\)$"),
    ((True, 0, 2), r"^sample_rate=True must"),
    ((14700.0, 0, 2), r"^sample_rate=14700\.0 must"),
    ((8000, -1, 2), r"^seed=-1 must be an integer >= 0$"),
    ((8000, False, 2), r"^seed=False must"),
    ((8000, 0.0, 2), r"^seed=0\.0 must"),
    ((8000, 0, 1), r"^n_bins=1 must be an integer >= 2$"),
    ((8000, 0, True), r"^n_bins=True must"),
    ((8000, 0, 2.0), r"^n_bins=2\.0 must"),
])
def test_check_options_names_the_bad_value(options, match):
    with pytest.raises(ConfigError, match=match):
        metrics.check_options(*options)


@pytest.mark.parametrize("options", [(8000, 0, 2), (np.int64(8000), np.int32(0), np.int16(2)), (44100, 7, 20)])
def test_check_options_accepts_the_boundaries_and_numpy_integers(options):
    assert metrics.check_options(*options) is None


# ------------------------------------------------------------------- features

def test_mel_db_and_frame_db_match_their_formulas():
    rng = np.random.default_rng(0)
    mono = (rng.uniform(-1, 1, (3, 2048)) * np.array([[1.0], [0.01], [0.0]])).astype(np.float32)
    mel = metrics.mel_db(mono, RATE)
    assert mel.shape == (3, 64, 9)
    np.testing.assert_allclose(mel, logmel_by_hand(mono), atol=1e-3)
    db = metrics.frame_db(mono)
    assert db.shape == (3, 9)
    np.testing.assert_allclose(db, rms_db_by_hand(mono), atol=1e-3)
    np.testing.assert_allclose(db[2], -100.0, atol=1e-4)  # digital silence sits on the floor


def test_pairwise_is_the_rms_distance_with_an_exact_zero_diagonal():
    rng = np.random.default_rng(1)
    flat = rng.normal(0, 20, (5, 7))
    flat[3] = flat[1]  # a duplicate: distance 0, never NaN from round-off
    d = metrics.pairwise_distances(flat.astype(np.float32))
    want = rms_distances_by_hand(flat.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(d, want, rtol=1e-9, atol=1e-6)
    assert d.dtype == np.float64 and np.all(np.diag(d) == 0.0) and d[1, 3] < 1e-5
    np.testing.assert_array_equal(metrics.upper_triangle(np.arange(16.0).reshape(4, 4)), [1, 2, 3, 6, 7, 11])


# ------------------------------------------------------------------------ FAD

def test_gaussian_fits_mean_and_covariance_with_optional_shrinkage():
    rng = np.random.default_rng(2)
    emb = rng.normal(size=(6, 3)).astype(np.float32)
    mu, sigma = metrics.fit_gaussian(emb, 0.0)
    np.testing.assert_allclose(mu, emb.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(emb.astype(np.float64).T), rtol=1e-12)
    _, shrunk = metrics.fit_gaussian(emb, 0.5)
    np.testing.assert_allclose(shrunk, sigma + 0.5 * np.trace(sigma) / 3 * np.eye(3), rtol=1e-12)


def test_frechet_identity():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 8))
    mu, s = x.mean(0), np.cov(x, rowvar=False)
    assert metrics.frechet_distance(mu, s, mu, s)[0] == pytest.approx(0, abs=1e-6)
    assert metrics.frechet_distance(mu, s, mu + 1, s)[0] == pytest.approx(8, rel=1e-6)


def test_frechet_distance_matches_the_closed_form_and_survives_singular_covariances():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 2.0, 50), rng.uniform(0.1, 2.0, 50)
    mu1, mu2 = rng.normal(size=50), rng.normal(size=50)
    value, notes = metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # diagonal closed form
    assert value == pytest.approx(expected, rel=1e-9) and notes == []
    low_rank = rng.normal(size=(120, 200)) @ rng.normal(size=(200, 200)) * 0.1  # 120 samples in 200-d
    sigma = np.cov(low_rank, rowvar=False)  # singular
    same, _ = metrics.frechet_distance(low_rank.mean(0), sigma, low_rank.mean(0), sigma)
    assert 0.0 <= same <= 1e-3 * np.trace(sigma)  # a set against itself: (about) zero, never NaN


@pytest.mark.parametrize("x, eps, note", [
    # sqrtm(diag(1, -x)) is complex; the offsets are eps, eps * 1e2 * scale, eps * 1e4 * scale
    # (scale: mean variance (2 + 1 - x) / 4), the first that makes the product positive is used
    (8e-7, None, "1e-06"),  # the default eps, 1e-6
    (5e-3, 1e-2, "0.01"),
    (5e-3, 1e-4, "0.00749"),
    (0.5, 1e-4, "0.625"),
])
def test_frechet_distance_adds_the_first_offset_that_works(x, eps, note):
    s1, s2 = np.eye(2), np.diag([1.0, -x])
    scale = (3.0 - x) / 4
    kwargs = {} if eps is None else {"eps": eps}
    eps = 1e-6 if eps is None else eps
    offset = next(o for o in (eps, eps * 1e2 * scale, eps * 1e4 * scale) if o > x)
    value, notes = metrics.frechet_distance(np.zeros(2), s1, np.ones(2), s2, **kwargs)
    expected = 2 + (3 - x) - 2 * ((1 + offset) + np.sqrt((1 + offset) * (offset - x)))
    assert value == pytest.approx(expected, rel=1e-9)
    assert notes == [f"sqrtm ill-conditioned: {note} * I added to both covariances"]


def test_frechet_distance_keeps_the_real_part_when_no_offset_helps():
    # variances sum to < 0: the scale floor 1e-12 makes every offset negligible; sqrtm(diag(1, -4)) = diag(1, 2i)
    value, notes = metrics.frechet_distance([3.0, 0.0], np.eye(2), [0.0, 0.0], np.diag([1.0, -4.0]))
    assert value == pytest.approx(9 + 2 - 3 - 2 * 1.0, rel=1e-6)
    assert notes == ["sqrtm had an imaginary part up to 2 even with an offset; real part used"]
    assert metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), -np.eye(2))[0] == 0.0  # clipped at 0


def test_frechet_distance_accepts_an_imaginary_part_at_the_tolerance(monkeypatch):
    """sqrtm's imaginary part exactly 1e-3 of the mean variance is accepted (no offset); just above is not."""
    real_sqrtm = metrics.linalg.sqrtm
    for imag, offsets in ((1e-3, 0), (np.nextafter(1e-3, 1), 1)):
        calls = []

        def sqrtm(m, imag=imag, calls=calls):
            calls.append(m)
            return real_sqrtm(m) + (1j * imag if len(calls) == 1 else 0)  # complex on the first try only

        monkeypatch.setattr(metrics.linalg, "sqrtm", sqrtm)
        value, notes = metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2))  # mean variance 1
        assert len(calls) == 1 + offsets and value == pytest.approx(0.0, abs=1e-5)
        assert notes == ([] if offsets == 0 else ["sqrtm ill-conditioned: 1e-06 * I added to both covariances"])


_NUDGED = np.longdouble(1) + np.longdouble(2.0) ** -60  # 1.0 once rounded to float64


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps, reason="long double is float64 here")
@pytest.mark.parametrize("wide", range(4))
def test_frechet_distance_is_computed_in_float64(wide):
    """Inputs wider than float64 are rounded to float64 first: Gaussians equal in float64 are 0 apart."""
    sigma = np.eye(2) if wide in (1, 3) else np.zeros((2, 2))  # zero covariances leave |mu1 - mu2|^2 alone
    args = [np.ones(2), sigma, np.ones(2), sigma]
    args[wide] = args[wide] * _NUDGED
    assert metrics.frechet_distance(*args) == (0.0, [])


def test_frechet_distance_silences_only_the_singular_sqrtm_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        singular = np.diag([1.0, 0.0])
        assert metrics.frechet_distance(np.zeros(2), singular, np.zeros(2), singular) == (0.0, [])
    with pytest.warns(RuntimeWarning, match="overflow"):  # anything else still reaches the caller
        metrics.frechet_distance(np.zeros(2), 1e200 * np.eye(2), np.zeros(2), 1e200 * np.eye(2))


# ------------------------------------------------- distribution and diversity

@pytest.mark.parametrize("ref_counts, counts", [
    ([50, 30, 20, 0], [20, 30, 50, 0]),  # an empty bin in both: no test, not different
    ([100, 100], [100, 100]),  # same histogram: NDB 0, JSD 0
    ([10, 0], [0, 10]),  # disjoint: JSD 1 bit
    ([400, 600], [357, 643]),  # |z| 1.97 (just above 1.96): different
    ([400, 600], [362, 638]),  # |z| 1.75 (above 1.645, below 1.96): not different at alpha 0.05
    ([50, 60, 40, 50], [70, 45, 40, 45]),
])
def test_ndb_and_jsd_match_the_two_proportion_z_test(ref_counts, counts):
    ndb, jsd = metrics.ndb(np.array(ref_counts), np.array(counts))
    want_ndb, want_jsd, z = ndb_by_hand(ref_counts, counts)
    assert ndb == want_ndb and jsd == pytest.approx(want_jsd, abs=1e-12)
    if ref_counts == [400, 600]:
        assert 1.645 < abs(z[0]) < 2.05 and ndb == (abs(z[0]) > 1.96)  # on either side of the alpha-0.05 line


def test_ndb_alpha_sets_the_threshold():
    ref_counts, counts = np.array([400, 600]), np.array([362, 638])  # |z| = 1.75
    assert metrics.ndb(ref_counts, counts)[0] == 0.0
    assert metrics.ndb(ref_counts, counts, alpha=0.1)[0] == 1.0  # 1.75 > 1.645


def test_ndb_counts_a_bin_different_only_above_the_critical_value(monkeypatch):
    """The z-test's boundary: a bin whose |z| equals the critical value exactly is not different."""
    ref_counts, counts = np.array([400, 600]), np.array([357, 643])
    _, _, z = ndb_by_hand(ref_counts, counts)
    at = float(np.abs(z).max())

    class Critical:  # norm.ppf(1 - alpha / 2) replaced by a critical value equal to |z| itself
        @staticmethod
        def ppf(q):
            assert q == pytest.approx(0.975)
            return at

    monkeypatch.setattr(metrics, "norm", Critical)
    assert metrics.ndb(ref_counts, counts)[0] == 0.0
    monkeypatch.setattr(Critical, "ppf", staticmethod(lambda q: np.nextafter(at, 0)))
    assert metrics.ndb(ref_counts, counts)[0] == 1.0


def test_ndb_empty_bins_are_never_different():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0/0 in an empty bin is no warning for the caller
        ndb, _ = metrics.ndb(np.array([10, 10, 0]), np.array([10, 10, 0]), alpha=0.5)
    assert ndb == 0.0  # z of the empty bin is 0, below even alpha 0.5's 0.67


def test_diversity_and_close_pairs_follow_their_definitions():
    pairs = np.array([1.0, 2.0, 4.0, 8.0])
    assert metrics.diversity(pairs, 2.0) == 1.5  # median 3 over the reference's 2
    assert metrics.diversity(np.array([]), 2.0) == 0.0  # a single loop has no pairs
    nearest = np.array([0.5, 1.0, 1.5, 3.0])
    assert metrics.close_pairs(nearest, 1.0) == 0.25  # strictly closer than the reference's closest pair
    assert metrics.close_pairs(nearest, 10.0) == 1.0


def test_spectrum_noise_floor_and_near_copies_follow_their_definitions():
    mel = np.arange(2 * 64 * 3, dtype=np.float32).reshape(2, 64, 3)
    spectrum = metrics.mean_spectrum(mel)
    assert spectrum.dtype == np.float64 and spectrum.shape == (64,)
    np.testing.assert_array_equal(spectrum, mel.mean(axis=(0, 2), dtype=np.float64))
    shifted = spectrum + np.r_[np.full(32, 2.0), np.full(32, -4.0)]
    assert metrics.spectrum_db(spectrum, shifted) == 3.0  # mean of |2| and |-4| over the bands
    frames = np.arange(-100.0, 0.0).reshape(4, 25)  # 100 levels, any shape
    assert metrics.noise_floor(frames) == pytest.approx(-100 + 0.1 * 99)  # the 10th percentile
    assert metrics.near_copies(np.array([0.0, 0.1, np.nextafter(0.1, 1), 2.0])) == 0.5  # <= 0.1 is a copy


# --------------------------------------------------------------------- rhythm

def test_onsets_use_the_loops_sample_rate(monkeypatch):
    """The onset envelope's mel bands are placed by the loop's own rate, not librosa's default 22050 Hz."""
    seen = []
    real = metrics.librosa.onset.onset_strength
    monkeypatch.setattr(metrics.librosa.onset, "onset_strength", lambda **kw: seen.append(kw.get("sr")) or real(**kw))
    metrics.onset_times(_bursts([0.1, 0.3])[None], RATE)
    assert seen == [RATE]


def test_onsets_find_every_burst_backtracked_to_its_start():
    starts = [[0.0, 0.15, 0.3, 0.45], [0.05, 0.2, 0.35, 0.5], [0.1, 0.3]]
    mono = np.stack([_bursts(s, seed=i) for i, s in enumerate(starts)] + [np.zeros(8192, np.float32)])
    onsets = metrics.onset_times(mono, RATE)
    assert len(onsets) == 4 and len(onsets[3]) == 0
    for found, want in zip(onsets, starts):
        assert len(found) == len(want) and np.all(np.diff(found) > 0)
        np.testing.assert_allclose(found, want, atol=0.01)  # backtracked: at the rise, not the peak
    assert onsets[0][0] == 0.0  # the downbeat, clipped at the start of the loop


def test_onsets_closer_than_the_wait_merge():
    """librosa's peak picking at this rate and hop: an onset 15 ms after another is the same onset; 104 ms is not."""
    onsets = metrics.onset_times(np.stack([_bursts([0.1, 0.115], seed=1), _bursts([0.0, 0.104], seed=24)]), RATE)
    np.testing.assert_allclose(onsets[0], [0.1], atol=0.01)
    np.testing.assert_allclose(onsets[1], [0.0, 0.104], atol=0.01)


def test_fit_tempo_takes_the_best_grid_over_chance():
    on_120 = np.arange(8) * 0.125  # 16ths at 120 bpm
    assert metrics.fit_tempo(on_120, np.array([100.0, 120.0, 140.0])) == (120.0, 1.0)
    # the 240 bpm grid catches them too, but its chance level (0.64) is twice 120's
    assert metrics.fit_tempo(on_120, np.array([240.0, 120.0])) == (120.0, 1.0)
    # a 600 bpm grid catches anything: its chance level is capped at 1, so it wins only where 120 catches nothing
    off_120 = np.array([0.05, 0.075, 0.175, 0.2])
    assert metrics.fit_tempo(off_120, np.array([120.0, 600.0])) == (600.0, 1.0)
    # 20 ms from a grid line is on it, a hair more is not (grid line 0 keeps the distance exact)
    assert metrics.fit_tempo(np.array([0.02 + 1e-9]), np.array([120.0]))[1] == 1.0
    assert metrics.fit_tempo(np.array([0.02 + 3e-9]), np.array([120.0]))[1] == 0.0
    assert metrics.fit_tempo(np.array([0.1, 0.25]), np.array([120.0]))[1] == 0.5
    assert metrics.fit_tempo(np.array([]), np.array([100.0, 110.0, 120.0, 130.0, 140.0])) == (120.0, 0.0)
    # 6 onsets on 8ths of 120 bpm, 4 between them: 240 catches all (1 - 0.64 = 0.36 over chance), 120 six
    # (0.6 - 0.32 = 0.28): 240 wins by 0.08, as it would not with a chance level of 60 ms over the 16th
    mixed = np.array([0, 2, 4, 6, 8, 10, 1, 3, 5, 7]) * 0.0625
    assert metrics.fit_tempo(mixed, np.array([120.0, 240.0])) == (240.0, 1.0)


@pytest.mark.parametrize("tempi, want", [
    ([100.0] * 9 + [150.0], (98.0, 102.0)),  # 150 = 3/2 of the median: an outlier, dropped
    ([100.0 + i for i in range(11)], (98.5, 111.5)),  # 5th and 95th percentiles, +-2 bpm
    ([180.0] * 3, (178.0, 180.0)),  # the search grid includes 180; the range is clipped to it
    ([60.0] * 3, (60.0, 62.0)),
    ([100.5] * 3, (98.5, 102.5)),  # the search grid is 0.5 bpm fine
    ([], (118.0, 122.0)),  # no onsets anywhere: 120 bpm
])
def test_tempo_range_of_the_reference(tempi, want):
    onsets = [_train(t) for t in tempi] + [np.array([])]  # loops without onsets are skipped
    lo, hi = metrics.fit_tempo_range(onsets)
    assert (lo, hi) == pytest.approx(want, abs=1e-9)


def test_tempo_range_stays_within_the_search():
    lo, hi = metrics.fit_tempo_range([_train(180.5)] * 3)  # a loop just above 180 bpm fits at most 180
    assert lo <= 178.0 and hi == 180.0


def test_rhythm_counts_onsets_after_the_downbeat():
    onsets = [
        np.array([0.0, 0.125, 0.25, 0.3]),  # downbeat; later: 2 of 3 on the 120 grid
        np.array([0.02, 0.5]),  # 20 ms is still the downbeat, and not counted later; 0.5 on the grid
        np.array([]),  # no downbeat
        np.array([0.03, 0.125]),  # first onset too late for the downbeat; 1 of 2 on the grid
        np.array([0.0]),  # downbeat only
    ]
    on_grid, downbeat, count = metrics.rhythm(onsets, (120.0, 120.0))
    assert (on_grid, downbeat, count) == (pytest.approx(4 / 6), 0.6, 6)
    assert metrics.rhythm([np.array([0.0]), np.array([])], (110.0, 130.0)) == (0.0, 0.5, 0)


def test_rhythm_fits_each_loop_within_the_tempo_range():
    onsets = [_train(bpm, 100) for bpm in (120.0, 121.0, 124.5, 125.0)]
    assert metrics.rhythm(onsets, (120.0, 125.0))[0] == 1.0  # grids 0.25 bpm apart, both ends included
    assert metrics.rhythm(onsets, (120.0, 124.0))[0] < 1.0


def test_rhythm_per_loop_counts_each_loop_and_on_grid_share_sums_them():
    onsets = [np.array([0.0, 0.125, 0.25, 0.3]), np.array([]), np.array([0.03, 0.125])]
    hits, total, downbeat = metrics.rhythm_per_loop(onsets, (120.0, 120.0))
    assert hits.dtype == np.float64 and total.dtype == np.int64 and downbeat.dtype == bool
    np.testing.assert_allclose(hits, [2.0, 0.0, 1.0], rtol=1e-12)  # 0.3 lies 50 ms off the 120 bpm grid
    np.testing.assert_array_equal(total, [3, 0, 2])
    np.testing.assert_array_equal(downbeat, [True, False, False])
    assert metrics.on_grid_share(hits, total) == pytest.approx(3 / 5)
    assert metrics.on_grid_share(np.zeros(2), np.zeros(2, np.int64)) == 0.0  # no onsets: no rhythm to measure


# ------------------------------------------------------------------ artifacts

def test_added_sinusoids_score_worse_on_tonal_lines_and_upsampling():
    reference = synth_loops(32, seed=1)  # the first 32 reference loops of test_evaluate
    mono = reference.mean(axis=2)
    lined = with_lines(reference).mean(axis=2)
    clean_lines, lined_lines = metrics.tonal_lines(mono, RATE), metrics.tonal_lines(lined, RATE)
    assert np.median(clean_lines) <= 2 and np.median(lined_lines) >= np.median(clean_lines) + len(LINES_HZ)
    assert (lined_lines >= clean_lines).all()
    clean_db, lined_db = metrics.upsampling_db(mono, RATE), metrics.upsampling_db(lined, RATE)
    assert clean_db.mean() < 2.5 and lined_db.mean() > clean_db.mean() + 1.0  # 4 of its 31 lines lit
    assert (lined_db > clean_db).all()
    # every tone of an upsampling grid lit: far above real loops
    grid = metrics.upsampling_frequencies(RATE)
    t = np.arange(mono.shape[1]) / RATE
    gridded = mono + 0.01 * sum(np.sin(2 * np.pi * f * t) for f in grid)[None]
    assert metrics.upsampling_db(gridded, RATE).mean() > 10


def test_upsampling_frequencies_are_the_stride_grids():
    grid = metrics.upsampling_frequencies(14700)
    assert grid[0] == pytest.approx(14700 / 64) and len(grid) == 31 and grid.max() < 7350
    for f in (918.75, 1837.5, 2756.25, 3675.0, 5512.5):
        assert np.isclose(grid, f).any()
    assert len(metrics.upsampling_frequencies(14700, levels=1)) == 1  # 3675 Hz; 7350 is Nyquist


def test_a_noise_bed_lowers_silence():
    mono = _sparse_loops(8)
    assert metrics.silence(mono).mean() > 0.4
    bed = mono + np.random.default_rng(0).uniform(-0.02, 0.02, mono.shape).astype(np.float32)  # -39 dBFS RMS
    assert metrics.silence(bed).mean() < 0.05
    quiet_bed = mono + np.random.default_rng(0).uniform(-0.0011, 0.0011, mono.shape).astype(np.float32)
    # the seed's noise (-64 dBFS RMS) lies more than 40 dB below the hits: still silence
    assert metrics.silence(quiet_bed).mean() == metrics.silence(mono).mean()
    gaps = mono.copy()
    gaps[:, mono.shape[1] // 2:] = 0  # digital silence in the second half
    assert metrics.silence(gaps).mean() > 0.4
    silent = np.zeros((2, 4096), np.float32)
    assert metrics.silence(silent).tolist() == [0.0, 0.0]  # a silent loop has no peak to fall from


def test_line_spectrum_is_flat_for_noise_and_peaks_at_a_tone():
    noise = np.random.default_rng(1).uniform(-0.5, 0.5, (4, 16384)).astype(np.float32)
    freqs, excess = metrics.line_spectrum(noise, RATE)
    assert freqs[1] == pytest.approx(RATE / metrics.LINE_WINDOW)
    assert excess.shape == (4, metrics.LINE_WINDOW // 2 + 1)
    assert np.abs(np.median(excess)) < 1 and (excess > metrics.LINE_THRESHOLD_DB).sum() == 0
    tone = noise + 0.05 * np.sin(2 * np.pi * 1000 * np.arange(16384) / RATE)
    freqs, excess = metrics.line_spectrum(tone, RATE)
    assert abs(freqs[np.argmax(excess[0])] - 1000) < 2 * RATE / metrics.LINE_WINDOW


def test_artifacts_are_the_three_measures_of_one_spectrum():
    mono = with_lines(synth_loops(4, seed=5, samples=8192)).mean(axis=2)
    got = metrics.artifacts(mono, RATE)
    assert set(got) == {"tonal_lines", "upsampling_db", "silence"} and got["tonal_lines"].dtype == np.int64
    np.testing.assert_array_equal(got["tonal_lines"], metrics.tonal_lines(mono, RATE))
    np.testing.assert_array_equal(got["upsampling_db"], metrics.upsampling_db(mono, RATE))
    np.testing.assert_array_equal(got["silence"], metrics.silence(mono))


# ------------------------------------------------------------------ intervals

def test_bootstrap_interval_is_shifted_by_the_bias_and_clipped():
    draws = np.linspace(0, 10, 1001)  # median 5
    assert metrics.bootstrap_interval(5.0, draws) == pytest.approx((0.25, 9.75))
    assert metrics.bootstrap_interval(4.0, draws) == pytest.approx((-0.75, 8.75))  # resamples biased up by 1
    assert metrics.bootstrap_interval(4.0, draws, bounds=(0, 1)) == (0.0, 1.0)
    assert metrics.intervals_overlap((0, 1), (1, 2)) and not metrics.intervals_overlap((0, 1), (1.1, 2))


def test_metric_bounds_follow_the_units():
    for name, (_, unit, _) in metrics.METRICS.items():
        low, high = metrics.metric_bounds(name)
        assert (low, high) == ((0.0, 1.0) if unit == "share" else (low, math.inf)), name
    assert metrics.metric_bounds("fad") == (0.0, math.inf)
    assert metrics.metric_bounds("noise_floor_db") == metrics.metric_bounds("upsampling_db") == (-math.inf, math.inf)
    with pytest.raises(ConfigError, match=r"^metric='nope' must be one of \('fad', 'ndb_k'"):
        metrics.metric_bounds("nope")
