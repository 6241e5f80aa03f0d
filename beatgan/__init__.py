"""BeatGAN: WaveGAN for drum loops.

Stages, one module each: :mod:`beatgan.data` (load and augment loops),
:mod:`beatgan.config` and :mod:`beatgan.model` (WaveGAN), :mod:`beatgan.train`
(WGAN-GP), :mod:`beatgan.generate` (new loops), :mod:`beatgan.similarity`
(novelty), :mod:`beatgan.corpus` (the open default corpus). Nothing heavy is
imported here, so ``import beatgan`` stays fast.
"""

__version__ = "0.1.0"
