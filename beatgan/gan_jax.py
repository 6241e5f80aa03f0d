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

from beatgan import critic_augment
from beatgan.backend import keras, ops  # Keras imported quietly, after the backend is chosen
from beatgan.losses import WGAN_CLIP, ema_decay_at, interpolate, penalty_from_gradients


def positions(subset, full) -> list[int]:
    """Indices in ``full`` of the variables of ``subset`` (matched by identity)."""
    where = {id(v): i for i, v in enumerate(full)}
    return [where[id(v)] for v in subset]


def take(values, index) -> list:
    """``[values[i] for i in index]``: the state values of some variables, by their positions."""
    return [values[i] for i in index]


def put(values, index, new_values) -> list:
    """A copy of ``values`` with ``new_values`` at the positions ``index`` (the state passed in is left alone)."""
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


def _draw_noise(gan, non_trainable, batch_size, *, draw=None, seed_generator=None):
    """Call ``gan.draw_step_noise`` (or ``draw``) with the seed state taken from (and returned to) ``non_trainable``."""
    draw = draw or gan.draw_step_noise
    seed_generator = seed_generator or gan.seed_generator
    (seed_index,) = positions([seed_generator.state], gan.non_trainable_variables)
    with keras.StatelessScope(state_mapping=[(seed_generator.state, non_trainable[seed_index])]) as scope:
        noise = draw(batch_size)
    new_seed = scope.get_current_value(seed_generator.state)
    if new_seed is not None:  # None when an override drew nothing from the seed generator
        non_trainable = put(non_trainable, [seed_index], [new_seed])
    return noise, non_trainable


def train_step_jax(gan, state, data):
    """One generator step (``d_steps`` critic updates, then one generator update), stateless.

    Long because it is one traced function: the critic and generator updates share the variable
    positions and closures set up at its top, and splitting them would pass a dozen of them around.

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
    g_index = positions(G.trainable_variables, gan.trainable_variables)
    d_index = positions(D.trainable_variables, gan.trainable_variables)
    gn_index = positions(G.non_trainable_variables, gan.non_trainable_variables)
    dn_index = positions(D.non_trainable_variables, gan.non_trainable_variables)
    go_index = positions(gan.g_optimizer.variables, gan.optimizer.variables)
    do_index = positions(gan.d_optimizer.variables, gan.optimizer.variables)

    tc = gan.train_config
    real = gan.split_real(data)  # (d_steps, B, T, C)
    (z_d, alpha, z_g), non_trainable = _draw_noise(gan, non_trainable, real.shape[1])
    augment = {}
    if tc.augmentations:
        augment, non_trainable = _draw_noise(gan, non_trainable, real.shape[1], draw=gan.draw_augment,
                                             seed_generator=gan.augment_seed_generator)
    d_augment = {key: value[: tc.d_steps] for key, value in augment.items()}  # scanned with the updates
    g_augment = critic_augment.select(augment, tc.d_steps)
    g_vars, g_state = take(trainable, g_index), take(non_trainable, gn_index)
    (iteration_index,) = positions([gan.d_optimizer.iterations], gan.d_optimizer.variables)

    def penalty(d_vars, d_state, real_i, fake, alpha_i, iteration):
        if tc.loss != "wgan-gp":
            return ops.zeros((), "float32"), d_state
        x_hat = interpolate(real_i, fake, alpha_i)  # (B, T, C)
        if tc.gp_every == 1:
            return stateless_gradient_penalty(D, d_vars, d_state, x_hat)

        def due(state):  # lazy regularisation: k * gp on every k-th critic update of the run
            gp, state = stateless_gradient_penalty(D, d_vars, state, x_hat)
            return gp * float(tc.gp_every), state

        return jax.lax.cond(iteration % tc.gp_every == 0, due, lambda state: (ops.zeros((), "float32"), state),
                            d_state)

    def d_loss_fn(d_vars, d_state, iteration, real_i, z_i, alpha_i, augment_i):
        fake, _ = G.stateless_call(g_vars, g_state, z_i, training=True)  # (B, T, C)
        real_i, fake = critic_augment.apply(real_i, augment_i), critic_augment.apply(fake, augment_i)
        d_real, d_state = D.stateless_call(d_vars, d_state, real_i, training=True)
        d_fake, d_state = D.stateless_call(d_vars, d_state, fake, training=True)
        gp, d_state = penalty(d_vars, d_state, real_i, fake, alpha_i, iteration)
        d_loss, wasserstein = gan.critic_loss(d_real, d_fake, gp)
        return d_loss, (d_state, gp, wasserstein)

    def d_update(carry, inputs):
        d_vars, d_state, d_opt = carry
        (d_loss, (d_state, gp, wasserstein)), grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
            d_vars, d_state, d_opt[iteration_index], *inputs
        )
        d_vars, d_opt = gan.d_optimizer.stateless_apply(d_opt, grads, d_vars)
        if tc.loss == "wgan":  # the original WGAN's Lipschitz constraint
            d_vars = [ops.clip(v, -WGAN_CLIP, WGAN_CLIP) for v in d_vars]
        return (d_vars, d_state, d_opt), (d_loss, gp, wasserstein)

    carry = (take(trainable, d_index), take(non_trainable, dn_index), take(optimizer_vars, do_index))
    (d_vars, d_state, d_opt), d_logs = jax.lax.scan(d_update, carry, (real, z_d, alpha, d_augment))

    def g_loss_fn(g_vars, g_state, d_state):
        fake, g_state = G.stateless_call(g_vars, g_state, z_g, training=True)
        fake = critic_augment.apply(fake, g_augment)
        score, d_state = D.stateless_call(d_vars, d_state, fake, training=True)
        return gan.generator_loss(score), (g_state, d_state)

    (g_loss, (g_state, d_state)), grads = jax.value_and_grad(g_loss_fn, has_aux=True)(g_vars, g_state, d_state)
    g_vars, g_opt = gan.g_optimizer.stateless_apply(take(optimizer_vars, go_index), grads, g_vars)

    trainable = put(put(trainable, d_index, d_vars), g_index, g_vars)
    non_trainable = put(put(non_trainable, dn_index, d_state), gn_index, g_state)
    pairs = gan.ema_pairs()
    if pairs:  # the generator's average: weights averaged, batch-norm statistics copied
        new_value = {id(v): x for v, x in zip(G.trainable_variables, g_vars)}
        new_value.update({id(v): x for v, x in zip(G.non_trainable_variables, g_state)})
        averages = positions([a for a, _ in pairs], gan.non_trainable_variables)
        trained = {id(v) for v in G.trainable_variables}
        (g_iterations,) = positions([gan.g_optimizer.iterations], gan.g_optimizer.variables)
        warm = ema_decay_at(tc.ema_decay, g_opt[g_iterations])  # the step just taken counts
        updated = []
        for position, (_, variable) in zip(averages, pairs):
            decay = warm if id(variable) in trained else 0.0
            updated.append(decay * non_trainable[position] + (1.0 - decay) * new_value[id(variable)])
        non_trainable = put(non_trainable, averages, updated)
    optimizer_vars = put(put(optimizer_vars, do_index, d_opt), go_index, g_opt)

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
