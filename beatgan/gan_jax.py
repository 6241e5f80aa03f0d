"""The stateless WGAN-GP step of :class:`beatgan.gan.WaveGAN` on the JAX backend.

Keras' JAX trainer calls ``train_step(state, data)`` inside ``jax.jit`` with
``state = (trainable, non_trainable, optimizer, metrics)`` value lists of the
whole WaveGAN; this module picks each network's and each optimizer's slice
out of them by variable identity, runs the ``d_steps`` discriminator updates
as a ``jax.lax.scan`` (one traced update instead of ``d_steps`` copies), then
the generator update, and hands back the new state. The penalty's input
gradient is a ``jax.grad`` nested in the ``jax.value_and_grad`` of the loss.
Imported only under ``KERAS_BACKEND=jax``.
"""

from __future__ import annotations

import jax

from beatgan.backend import keras, ops  # Keras imported quietly, after the backend is chosen
from beatgan.losses import generator_loss, interpolate, penalty_from_gradients


def _positions(subset, full) -> list[int]:
    """Indices in ``full`` of the variables of ``subset`` (matched by identity)."""
    where = {id(v): i for i, v in enumerate(full)}
    return [where[id(v)] for v in subset]


def _take(values, index):
    return [values[i] for i in index]


def _put(values, index, new_values) -> list:
    values = list(values)
    for i, value in zip(index, new_values):
        values[i] = value
    return values


def stateless_gradient_penalty(discriminator, trainable, non_trainable, x_hat, *, training=True):
    """Per-example gradient penalty at ``x_hat`` with given critic variable values.

    Parameters
    ----------
    discriminator : keras.Model
        The critic.
    trainable, non_trainable : list of jax.Array
        Values of ``discriminator.trainable_variables`` / ``non_trainable_variables``.
    x_hat : jax.Array
        float32 (B, T, C) interpolates.
    training : bool, optional
        True keeps phase shuffle active.

    Returns
    -------
    gp : jax.Array
        float32 scalar, see :func:`beatgan.losses.penalty_from_gradients`.
    non_trainable : list of jax.Array
        The critic's state after the call (phase-shuffle seeds advanced).
    """
    def summed_score(x):
        score, state = discriminator.stateless_call(trainable, non_trainable, x, training=training)
        return ops.sum(ops.cast(score, "float32")), state

    gradients, non_trainable = jax.grad(summed_score, has_aux=True)(x_hat)
    return penalty_from_gradients(gradients), non_trainable


def _draw_noise(gan, non_trainable, batch_size):
    """Call ``gan.draw_step_noise`` with the seed state taken from (and returned to) ``non_trainable``."""
    (seed_index,) = _positions([gan.seed_generator.state], gan.non_trainable_variables)
    with keras.StatelessScope(state_mapping=[(gan.seed_generator.state, non_trainable[seed_index])]) as scope:
        noise = gan.draw_step_noise(batch_size)
    new_seed = scope.get_current_value(gan.seed_generator.state)
    if new_seed is not None:  # None when an override drew nothing from the seed generator
        non_trainable = _put(non_trainable, [seed_index], [new_seed])
    return noise, non_trainable


def train_step_jax(gan, state, data):
    """One generator step (``d_steps`` critic updates, then one generator update), stateless.

    Parameters
    ----------
    gan : beatgan.gan.WaveGAN
        A compiled model.
    state : tuple of lists
        ``(trainable, non_trainable, optimizer, metrics)`` variable values of ``gan``.
    data : jax.Array
        float32 (B * d_steps, slice_len, channels) real audio, example-major (see ``WaveGAN.split_real``).

    Returns
    -------
    logs : dict
        Running means ``d_loss``, ``g_loss``, ``gp``, ``wasserstein``.
    state : tuple of lists
        The updated state, same structure.
    """
    trainable, non_trainable, optimizer_vars, metrics_vars = state
    G, D = gan.generator, gan.discriminator
    g_index = _positions(G.trainable_variables, gan.trainable_variables)
    d_index = _positions(D.trainable_variables, gan.trainable_variables)
    gn_index = _positions(G.non_trainable_variables, gan.non_trainable_variables)
    dn_index = _positions(D.non_trainable_variables, gan.non_trainable_variables)
    go_index = _positions(gan.g_optimizer.variables, gan.optimizer.variables)
    do_index = _positions(gan.d_optimizer.variables, gan.optimizer.variables)

    real = gan.split_real(data)  # (d_steps, B, T, C)
    (z_d, alpha, z_g), non_trainable = _draw_noise(gan, non_trainable, real.shape[1])
    g_vars, g_state = _take(trainable, g_index), _take(non_trainable, gn_index)

    def d_loss_fn(d_vars, d_state, real_i, z_i, alpha_i):
        fake, _ = G.stateless_call(g_vars, g_state, z_i, training=True)  # (B, T, C)
        d_real, d_state = D.stateless_call(d_vars, d_state, real_i, training=True)
        d_fake, d_state = D.stateless_call(d_vars, d_state, fake, training=True)
        x_hat = interpolate(real_i, fake, alpha_i)  # (B, T, C)
        gp, d_state = stateless_gradient_penalty(D, d_vars, d_state, x_hat)
        d_loss, wasserstein = gan.critic_loss(d_real, d_fake, gp)
        return d_loss, (d_state, gp, wasserstein)

    def d_update(carry, inputs):
        d_vars, d_state, d_opt = carry
        (d_loss, (d_state, gp, wasserstein)), grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
            d_vars, d_state, *inputs
        )
        d_vars, d_opt = gan.d_optimizer.stateless_apply(d_opt, grads, d_vars)
        return (d_vars, d_state, d_opt), (d_loss, gp, wasserstein)

    carry = (_take(trainable, d_index), _take(non_trainable, dn_index), _take(optimizer_vars, do_index))
    (d_vars, d_state, d_opt), d_logs = jax.lax.scan(d_update, carry, (real, z_d, alpha))

    def g_loss_fn(g_vars, g_state, d_state):
        fake, g_state = G.stateless_call(g_vars, g_state, z_g, training=True)
        score, d_state = D.stateless_call(d_vars, d_state, fake, training=True)
        return generator_loss(score), (g_state, d_state)

    (g_loss, (g_state, d_state)), grads = jax.value_and_grad(g_loss_fn, has_aux=True)(g_vars, g_state, d_state)
    g_vars, g_opt = gan.g_optimizer.stateless_apply(_take(optimizer_vars, go_index), grads, g_vars)

    trainable = _put(_put(trainable, d_index, d_vars), g_index, g_vars)
    non_trainable = _put(_put(non_trainable, dn_index, d_state), gn_index, g_state)
    optimizer_vars = _put(_put(optimizer_vars, do_index, d_opt), go_index, g_opt)

    d_loss, gp, wasserstein = (ops.mean(x) for x in d_logs)
    values = {"d_loss": d_loss, "g_loss": g_loss, "gp": gp, "wasserstein": wasserstein}
    logs, new_metrics_vars, start = {}, [], 0
    for tracker in gan.metrics:
        own = metrics_vars[start : start + len(tracker.variables)]
        own = tracker.stateless_update_state(own, values[tracker.name])
        logs[tracker.name] = tracker.stateless_result(own)
        new_metrics_vars += own
        start += len(tracker.variables)
    return logs, (trainable, non_trainable, optimizer_vars, new_metrics_vars)
