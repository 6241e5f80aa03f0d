"""Compile librosa's numba-cached kernels once, in one process, at set-up time.

numba writes its on-disk cache without a lock: two processes compiling the same gufunc at once
(two ``beatgan evaluate`` runs on a fresh install, say) can leave a cache that segfaults every later
call (numba#10128; seen here with ``librosa.util.peak_pick``). ``make setup`` runs this script after
installing, so the cache exists before anything runs in parallel and later processes only read it.
"""

import numpy as np
import librosa

rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    y = rng.uniform(-1, 1, (2, 16384)).astype(dtype)
    envelope = librosa.onset.onset_strength(y=y, sr=14700, hop_length=128)
    for row in envelope:
        librosa.onset.onset_detect(onset_envelope=row, sr=14700, hop_length=128, backtrack=True)
    mel = librosa.feature.melspectrogram(y=y, sr=14700, n_fft=1024, hop_length=256)
    librosa.power_to_db(mel, ref=1.0, amin=1e-6, top_db=None)
    librosa.amplitude_to_db(np.abs(librosa.stft(y[0], n_fft=1024, hop_length=256)))
    librosa.util.peak_pick(envelope[0], pre_max=3, post_max=3, pre_avg=3, post_avg=3, delta=0.07, wait=3)
print("librosa's numba kernels compiled and cached")
