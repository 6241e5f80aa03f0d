"""BeatGAN: WaveGAN for drum loops.

One module per stage, in the order a loop travels (the README's "How the code is
laid out" lists them all): :mod:`beatgan.audio` and :mod:`beatgan.data` (read,
resample, slice, augment and store loops), :mod:`beatgan.model` (the networks),
:mod:`beatgan.losses`, :mod:`beatgan.gan` and :mod:`beatgan.gan_jax` (WGAN-GP),
:mod:`beatgan.run` and :mod:`beatgan.checkpoint` (the training run),
:mod:`beatgan.generate` (new loops), :mod:`beatgan.novelty` (are they copies?),
:mod:`beatgan.plots` (figures and players), :mod:`beatgan.cli` (the command line)
and :mod:`beatgan.corpus` (the open default corpus). Nothing heavy is imported
here, so ``import beatgan`` stays fast.
"""

__version__ = "0.1.0"
