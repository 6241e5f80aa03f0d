"""The GAN losses as pure functions of tensors (a leaf: both training steps import it), and the EMA's decay.

The formulas (SPEC.md, "Training"; Gulrajani et al. 2017, algorithm 1)::

    x_hat  = real + alpha * (fake - real),  alpha ~ U(0, 1) of shape (B, 1, 1)
    gp     = mean_b (sqrt(sum_{t,c} (dD(x_hat)/dx_hat)[b]^2 + 1e-12) - 1)^2
    d_loss = mean D(fake) - mean D(real) + gp_weight * gp
    g_loss = -mean D(G(z))

The other losses of the reference implementation (``--wavegan_loss``), plus hinge, with
``r = D(real)``, ``f = D(fake)`` the critic's raw scores (logits) and ``softplus(x) = log(1 + e^x)``::

    wgan   d = mean f - mean r                          g = -mean f   (weights clipped to 0.01)
    dcgan  d = (mean softplus(f) + mean softplus(-r))/2 g = mean softplus(-f)
    lsgan  d = (mean (r - 1)^2 + mean f^2) / 2          g = mean (f - 1)^2
    hinge  d = mean relu(1 - r) + mean relu(1 + f)      g = -mean f

The norm is taken **per example** (the original BeatGAN took one norm over the
whole batch, a known bug) with the epsilon inside the square root so its
gradient is finite at zero. Every function is backend-neutral :mod:`keras.ops`
and computes in float32, whatever the networks' compute dtype.
"""

from __future__ import annotations

from beatgan.backend import ops  # Keras imported quietly, after the backend is chosen

EPSILON = 1e-12  # inside the square root of the penalty's norm: finite gradient at a zero gradient
METRIC_NAMES = ("d_loss", "g_loss", "gp", "wasserstein")  # what a training step logs
WGAN_CLIP = 0.01  # loss "wgan": every critic weight is clipped to [-0.01, 0.01] after each update


def interpolate(real, fake, alpha):
    """Return ``x_hat = real + alpha * (fake - real)``, float32 (B, T, C); alpha is (B, 1, 1) in [0, 1]."""
    real, fake, alpha = (ops.cast(x, "float32") for x in (real, fake, alpha))
    return real + alpha * (fake - real)


def penalty_from_gradients(gradients):
    """Return ``mean_b (sqrt(sum_{t,c} g[b]^2 + 1e-12) - 1)^2`` for gradients of shape (B, T, C); float32 scalar."""
    gradients = ops.cast(gradients, "float32")
    norms = ops.sqrt(ops.sum(ops.square(gradients), axis=(1, 2)) + EPSILON)  # (B,)
    return ops.mean(ops.square(norms - 1.0))


def critic_loss(d_real, d_fake, gp, gp_weight: float):
    """Return ``(d_loss, wasserstein)``, float32 scalars.

    Parameters
    ----------
    d_real, d_fake : tensor
        Critic scores (B, 1) of a real minibatch and of generator output.
    gp : tensor
        float32 scalar penalty (:func:`penalty_from_gradients`).
    gp_weight : float
        lambda, 10 in WGAN-GP.

    Returns
    -------
    d_loss : tensor
        ``mean D(fake) - mean D(real) + gp_weight * gp``, what the critic minimises.
    wasserstein : tensor
        ``mean D(real) - mean D(fake)``, the critic's estimate of the Wasserstein distance.
    """
    d_real, d_fake = ops.mean(ops.cast(d_real, "float32")), ops.mean(ops.cast(d_fake, "float32"))
    return d_fake - d_real + gp_weight * gp, d_real - d_fake


def generator_loss(d_fake):
    """Return ``-mean D(G(z))``, float32 scalar, from the critic's scores (B, 1) of generator output."""
    return -ops.mean(ops.cast(d_fake, "float32"))


def discriminator_loss(loss: str, d_real, d_fake, gp=0.0, gp_weight: float = 0.0):
    """Return ``(d_loss, wasserstein)`` of any of the losses, float32 scalars.

    Parameters
    ----------
    loss : {"wgan-gp", "wgan", "dcgan", "lsgan", "hinge"}
        See the module's formulas; "wgan-gp" is :func:`critic_loss`.
    d_real, d_fake : tensor
        Critic scores (B, 1), raw (logits for dcgan).
    gp : tensor or float, optional
        The penalty (wgan-gp only).
    gp_weight : float, optional
        Its lambda (wgan-gp only).

    Returns
    -------
    d_loss : tensor
        What the critic minimises.
    wasserstein : tensor
        ``mean D(real) - mean D(fake)``: the score gap, logged for every loss.
    """
    if loss == "wgan-gp":
        return critic_loss(d_real, d_fake, gp, gp_weight)
    real, fake = ops.cast(d_real, "float32"), ops.cast(d_fake, "float32")
    gap = ops.mean(real) - ops.mean(fake)
    if loss == "wgan":
        return -gap, gap
    if loss == "dcgan":
        return (ops.mean(ops.softplus(fake)) + ops.mean(ops.softplus(-real))) / 2.0, gap
    if loss == "lsgan":
        return (ops.mean(ops.square(real - 1.0)) + ops.mean(ops.square(fake))) / 2.0, gap
    if loss == "hinge":
        return ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake)), gap
    raise ValueError(f"loss={loss!r} must be one of wgan-gp, wgan, dcgan, lsgan, hinge")


def adversarial_loss(loss: str, d_fake):
    """Return the generator's loss for ``loss`` from the critic's scores (B, 1) of its output, float32 scalar."""
    fake = ops.cast(d_fake, "float32")
    if loss in ("wgan-gp", "wgan", "hinge"):
        return generator_loss(fake)
    if loss == "dcgan":
        return ops.mean(ops.softplus(-fake))
    if loss == "lsgan":
        return ops.mean(ops.square(fake - 1.0))
    raise ValueError(f"loss={loss!r} must be one of wgan-gp, wgan, dcgan, lsgan, hinge")


def ema_decay_at(decay: float, step):
    """The EMA's decay after generator update ``step`` (1, 2, ...): ``min(decay, (1 + step) / (10 + step))``.

    TensorFlow's ``ExponentialMovingAverage`` warm-up (its ``num_updates``): the average forgets its
    random start within tens of steps instead of ``1 / (1 - decay)`` (1000 at 0.999), then settles at
    ``decay``. ``step`` may be a tensor (the optimizer's counter); returns float32.
    """
    step = ops.cast(step, "float32")
    return ops.minimum(ops.cast(decay, "float32"), (1.0 + step) / (10.0 + step))
