"""The exact nearest-neighbour search under BeatGAN's score, in bounded memory.

:func:`search` finds, for every generated loop (a row), its ``k`` best training loops under
``sum((a - b)**2) / sum(a**2)`` (``relative=True``, the similarity score) or the squared
Euclidean distance (``relative=False``, for log-mel features), equal to a pair-by-pair loop
(ties to the lowest training index), but with matrix products in bounded memory. The expanded
form ``(|a|^2 + |b|^2 - 2 a.b) / |a|^2`` in float32 cancels badly exactly where it matters
(near-copies score about 1e-5), so it only picks candidates: every pair whose lower bound is not
above the k-th smallest upper bound gets scored again exactly (:func:`exact_scores`) with the
direct formula in float64. The bounds (:func:`column_terms`) are rigorous (Higham, *Accuracy and
Stability of Numerical Algorithms*, 3.1): a sum of ``n`` products is within
``gamma_n = n u / (1 - n u)`` (``u = 2**-24``) of ``sum |a_k b_k| <= |a| |b|``, whatever the
order of the additions, and products lost to underflow add at most ``2**-126`` each. Dot
products (:func:`dots`) are taken over stretches of :data:`K_BLOCK` samples and summed in
float64, so ``n`` is at most 4096; no true best is ever dropped, and few pairs need the exact
pass. Blocks (:func:`block_shape`) keep memory independent of the number of pairs.

:mod:`beatgan.novelty` validates the loops and calls :func:`search`.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from beatgan.config import check_positive_int
from beatgan.errors import AudioError

__all__ = ["BLOCK_ENTRIES", "CHUNK_BYTES", "EXACT_ELEMENTS", "K_BLOCK", "block_shape", "column_terms", "dots",
           "exact_scores", "search", "sum_squares"]

CHUNK_BYTES = 1 << 26  # float32 bytes of one chunk of loops when ``chunk`` is None
BLOCK_ENTRIES = 1 << 20  # scores per block when ``chunk`` is None (8 MB of float64)
K_BLOCK = 4096  # samples per partial dot product: bounds float32 error by gamma_4096, not gamma_n
EXACT_ELEMENTS = 1 << 17  # float64 elements per batch of the exact pass (1 MB stays in cache)
_U32 = 2.0**-24  # unit round-off of float32
_TINY32 = 2.0**-126  # smallest normal float32: bounds the error of an underflowed product


def sum_squares(rows: np.ndarray) -> np.ndarray:
    """Row-wise ``sum(x**2)`` in float64, the one formula every score uses."""
    rows = rows.astype(np.float64, copy=False)
    return np.sum(rows * rows, axis=-1)


def block_shape(chunk, n_gen: int, width: int, train_is_float32: bool) -> tuple[int, int]:
    """Rows of generated and of training loops per block of the matrix product.

    An explicit ``chunk`` sets both. Otherwise a block of generated loops holds at most
    64 MB of float32 and 1024 loops; training blocks are widened so the block of scores
    stays near 2**20 entries (8 MB of float64): one big GEMM runs several times faster
    than many thin ones. A training block is a view when the input is float32, else a
    float32 copy, which is kept to 64 MB too.
    """
    if chunk is not None:
        check_positive_int("chunk (loops per block)", chunk)
        return int(chunk), int(chunk)
    by_bytes = max(8, CHUNK_BYTES // (4 * width))
    gen_rows = int(min(by_bytes, 1024, n_gen))
    train_rows = max(gen_rows, BLOCK_ENTRIES // gen_rows)
    if not train_is_float32:
        train_rows = min(train_rows, by_bytes)
    return gen_rows, int(train_rows)


def _energy32(rows: np.ndarray) -> np.ndarray:
    """Row-wise ``sum(x**2)`` of the float32 rounding: float32 over each stretch of
    :data:`K_BLOCK` samples, float64 across them (fast; error bounded by gamma_4096)."""
    rows32 = rows.astype(np.float32, copy=False)
    out = np.zeros(len(rows32))
    for k0 in range(0, rows32.shape[1], K_BLOCK):
        part = rows32[:, k0 : k0 + K_BLOCK]
        out += np.einsum("ij,ij->i", part, part)
    return out


def dots(g32: np.ndarray, t32: np.ndarray) -> np.ndarray:
    """``g32 @ t32.T`` as float32 GEMMs over stretches of :data:`K_BLOCK` samples, summed in float64."""
    out = np.zeros((len(g32), len(t32)))
    for k0 in range(0, g32.shape[1], K_BLOCK):
        out += g32[:, k0 : k0 + K_BLOCK] @ t32[:, k0 : k0 + K_BLOCK].T
    return out


def _energies(audio: np.ndarray, rows: int) -> np.ndarray:
    return np.concatenate([_energy32(audio[i : i + rows]) for i in range(0, len(audio), rows)])


def _energy_high(energy, gamma, tau):
    """Upper bound of an exact energy from its float32 sum: ``(A + tau) / (1 - gamma)``."""
    return (energy + tau) / (1 - gamma)


def column_terms(train, energy, gamma, tau, slack, relative: bool):
    """Per training loop constants of the approximate score and its error bound.

    With A, B the float32 energies of a training and a generated loop and d the float32
    dot product, the exact ones satisfy ``|A - na| <= gamma na + tau`` (tau: products
    lost to underflow) and ``|d - a.b| <= gamma sqrt(na nb) + tau``. So ``na`` lies in
    ``[Al, Ah] = [(A - tau) / (1 + gamma), (A + tau) / (1 - gamma)]``, and:

    - relative: ``s = 1 + (nb - 2 a.b) / na``, approximated by ``1 + (B - 2d) / A``; the
      error is at most ``(gamma Bh + 3 tau + 2 gamma sqrt(Ah Bh)) / A +
      (Bh + 2 sqrt(Ah Bh)) (gamma Ah + tau) / (A Al)`` (numerator, then denominator);
    - Euclidean: ``s = na + nb - 2 a.b``, approximated by ``A + B - 2d``; the error is at
      most ``gamma (Ah + Bh) + 2 gamma sqrt(Ah Bh) + 4 tau``;

    plus ``slack (Ah + Bh) / Al`` (or ``slack (Ah + Bh)``) for float64 rounding. Written as
    ``approx = d * scale + B * per_b + const`` and ``error = Bh * p + sqrt(Bh) * q + r``.
    Loops whose energy may be 0 (``A <= tau``) get an infinite error (always rescored
    exactly), or, when exactly silent in relative mode, an infinite score (never chosen).
    """
    high = _energy_high(energy, gamma, tau)
    low = np.maximum((energy - tau) / (1 + gamma), 0.0)
    root = np.sqrt(high)
    unsafe = low <= 0
    silent = np.zeros(len(energy), dtype=bool)
    for j in np.flatnonzero(unsafe):  # rare: near-silent loops, decided in float64
        silent[j] = relative and sum_squares(train[j : j + 1])[0] == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if relative:
            c = (gamma * high + tau) / (energy * low)
            terms = {
                "scale": -2.0 / energy, "per_b": 1.0 / energy, "const": np.ones(len(energy)),
                "p": gamma / energy + c + slack / low, "q": 2.0 * root * (gamma / energy + c),
                "r": 3.0 * tau / energy + slack * high / low,
            }
        else:
            terms = {
                "scale": np.full(len(energy), -2.0), "per_b": np.ones(len(energy)), "const": energy.copy(),
                "p": np.full(len(energy), gamma + slack), "q": 2.0 * gamma * root,
                "r": (gamma + slack) * high + 4.0 * tau,
            }
    for name in ("scale", "per_b", "p", "q", "r"):
        terms[name][unsafe] = 0.0
    terms["const"][unsafe] = 0.0
    terms["r"][unsafe & ~silent] = np.inf  # lower bound -inf: always a candidate
    terms["const"][silent] = np.inf  # lower bound +inf: never a candidate
    terms["usable"] = ~silent
    return terms


def search(gen: np.ndarray, train: np.ndarray, k: int, *, relative: bool, chunk, progress: bool):
    """Exact k smallest of ``sum((t - g)**2) / w(t)`` per generated row ``g``.

    ``w(t) = sum(t**2)`` (``relative``, skipping silent ``t``) or 1 (squared Euclidean).
    Returns (indices int64 (G, k), values float64 (G, k)) sorted by value, then index.
    """
    n_gen, width = gen.shape
    gen_rows, train_rows = block_shape(chunk, n_gen, width, train.dtype == np.float32)
    n_terms = min(width, K_BLOCK) + 4  # rigorous float32 bounds, input rounding to float32 included
    gamma = n_terms * _U32 / (1 - n_terms * _U32)
    tau = 2.0 * width * _TINY32
    slack = max(1e-9, 4 * width * 2.0**-53)  # float64 rounding of the approximate and exact scores
    gen_energy = _energies(gen, gen_rows)
    train_energy = _energies(train, train_rows)
    for name, energy in (("generated", gen_energy), ("training", train_energy)):
        if not np.all(np.isfinite(energy)):  # cheaper than isfinite on every sample
            raise AudioError(f"{name} loops hold NaN or infinite samples (or values far outside [-1, 1])")
    col = column_terms(train, train_energy, gamma, tau, slack, relative)
    usable = col["usable"]
    if not usable.any():
        raise AudioError(f"all {len(train)} training loops are silent: no similarity score is defined")
    k = min(k, int(usable.sum()))
    out_index = np.empty((n_gen, k), dtype=np.int64)
    out_value = np.empty((n_gen, k), dtype=np.float64)
    blocks = -(-n_gen // gen_rows) * -(-len(train) // train_rows)
    bar = tqdm(total=blocks, desc="nearest", unit="block", disable=not progress)
    for g0 in range(0, n_gen, gen_rows):
        g32 = gen[g0 : g0 + gen_rows].astype(np.float32, copy=False)  # (gc, D)
        b_energy = gen_energy[g0 : g0 + gen_rows]  # (gc,), float32 accuracy
        b_high = _energy_high(b_energy, gamma, tau)  # upper bound of the exact energy
        b_root = np.sqrt(b_high)
        kth_upper = np.full((len(g32), k), np.inf)  # k smallest upper bounds so far
        cand_rows, cand_cols, cand_lower = [], [], []
        for t0 in range(0, len(train), train_rows):
            cols = slice(t0, t0 + train_rows)
            t32 = train[cols].astype(np.float32, copy=False)  # (tc, D)
            approx = dots(g32, t32)  # (gc, tc): dot products, approximate
            approx *= col["scale"][cols]
            approx += np.multiply.outer(b_energy, col["per_b"][cols])
            approx += col["const"][cols]
            error = np.multiply.outer(b_high, col["p"][cols])
            error += np.multiply.outer(b_root, col["q"][cols])
            error += col["r"][cols]
            upper = approx + error
            if k == 1:
                np.minimum(kth_upper[:, 0], upper.min(axis=1), out=kth_upper[:, 0])
            else:
                block_k = np.partition(upper, min(k, upper.shape[1]) - 1, axis=1)[:, :k]
                kth_upper = np.partition(np.concatenate([kth_upper, block_k], axis=1), k - 1, axis=1)[:, :k]
            bound = kth_upper.max(axis=1)  # (gc,): the k-th smallest upper bound
            lower = np.subtract(approx, error, out=approx)
            r, c = np.nonzero(lower <= bound[:, None])
            cand_rows.append(r)
            cand_cols.append(c + t0)
            cand_lower.append(lower[r, c])
            if len(cand_rows) > 1:  # prune with the tighter bound so the lists stay short
                r, c, low = (np.concatenate(x) for x in (cand_rows, cand_cols, cand_lower))
                keep = low <= bound[r]
                cand_rows, cand_cols, cand_lower = [r[keep]], [c[keep]], [low[keep]]
            bar.update()
        r, c = cand_rows[0], cand_cols[0]
        keep = (cand_lower[0] <= bound[r]) & usable[c]
        r, c = r[keep], c[keep]
        values = exact_scores(gen, train, r + g0, c, relative)
        order = np.lexsort((c, values, r))  # by row, then value, then training index
        r, c, values = r[order], c[order], values[order]
        starts = np.searchsorted(r, np.arange(len(g32)))
        pick = starts[:, None] + np.arange(k)[None, :]  # (gc, k): first k of each row
        out_index[g0 : g0 + gen_rows] = c[pick]
        out_value[g0 : g0 + gen_rows] = values[pick]
    bar.close()
    return out_index, out_value


def exact_scores(gen, train, gen_rows, train_rows, relative: bool) -> np.ndarray:
    """``sum((train[j] - gen[i])**2)`` (``/ sum(train[j]**2)`` if relative) in float64, per pair."""
    out = np.empty(len(gen_rows), dtype=np.float64)
    batch = max(1, EXACT_ELEMENTS // gen.shape[1])
    for s in range(0, len(gen_rows), batch):
        a = train[train_rows[s : s + batch]].astype(np.float64)  # (p, D)
        b = gen[gen_rows[s : s + batch]].astype(np.float64)
        out[s : s + batch] = sum_squares(a - b)
        if relative:
            out[s : s + batch] /= sum_squares(a)
    return out
