"""Tests of beatgan.callbacks' pure parts: the collapse watch (loss and diversity rules) and the clock
(the callbacks in a run: test_run.py)."""

from __future__ import annotations

import warnings

import pytest

from beatgan.callbacks import COLLAPSE_FALL, COLLAPSE_LOSS, COLLAPSE_STEPS, CollapseWarning, CollapseWatch, format_clock


def feed(watch: CollapseWatch, losses, every: int = 25) -> list[str]:
    """Feed chunk means of ``every`` steps each; return the messages of the warnings raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, d_loss in enumerate(losses):
            watch.observe(i * every, (i + 1) * every, d_loss)
    return [str(w.message) for w in caught if issubclass(w.category, CollapseWarning)]


def test_a_critic_loss_at_its_floor_for_the_stated_steps_warns_once_naming_when_it_began():
    low = COLLAPSE_STEPS // 25
    said = feed(CollapseWatch("dcgan"), [0.5, 0.3] + [COLLAPSE_LOSS / 10] * (3 * low))
    assert len(said) == 1
    assert f"since step 50 ({COLLAPSE_STEPS} steps)" in said[0] and "--seed" in said[0] and "wgan-gp" in said[0]


def test_a_shorter_dip_does_not_warn():
    low = COLLAPSE_STEPS // 25 - 1
    assert feed(CollapseWatch("dcgan"), ([0.5] + [0.0] * low) * 5) == []


def test_a_recovered_loss_rearms_the_watch():
    low = COLLAPSE_STEPS // 25
    assert len(feed(CollapseWatch("lsgan"), [0.0] * low + [0.4] + [0.0] * low)) == 2


@pytest.mark.parametrize("loss", ["wgan-gp", "wgan"])
def test_losses_without_a_floor_are_not_watched(loss):
    assert feed(CollapseWatch(loss), [0.0] * 100) == []


def test_nan_and_empty_chunks_are_not_signs_of_collapse():
    watch = CollapseWatch("hinge", steps=50)
    assert feed(watch, [0.0, float("nan"), 0.0, float("nan")]) == []
    watch.observe(100, 100, 0.0)  # no steps
    assert watch.low_since is None


def diversities(watch: CollapseWatch, values, every: int = 100) -> list[str]:
    """Feed the diversity ratios of evaluations ``every`` steps apart, the first at step 0; return the warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, value in enumerate(values):
            watch.observe_diversity(i * every, value)
    return [str(w.message) for w in caught if issubclass(w.category, CollapseWarning)]


def test_a_run_from_weights_ignores_a_critic_loss_at_its_floor():
    # fine-tuning starts with a critic that wins (FINETUNE.md: dcgan loss 0.002-0.01 in runs that kept their variety)
    assert feed(CollapseWatch("dcgan", from_weights=True), [COLLAPSE_LOSS / 10] * 100) == []


def test_a_run_from_weights_warns_once_when_its_diversity_falls_under_the_share_of_its_best():
    said = diversities(CollapseWatch("dcgan", from_weights=True), [0.62, 0.64, 0.5, 0.33, 0.31, 0.2, 0.1])
    assert len(said) == 1  # 0.31 < 0.5 x 0.64 at step 400, said once
    assert "from 0.64 (step 100) to 0.31 (step 400)" in said[0] and "--step 100" in said[0]
    assert f"under {COLLAPSE_FALL:g}" in said[0] and "--g-learning-rate" in said[0]


def test_the_diversity_watch_keeps_quiet_while_it_holds_and_rearms_after_a_recovery():
    assert diversities(CollapseWatch("dcgan", from_weights=True), [0.62, 0.55, 0.53, 0.5, 0.45]) == []
    assert len(diversities(CollapseWatch("wgan-gp", from_weights=True), [0.6, 0.2, 0.5, 0.2, float("nan")])) == 2


def test_a_resumed_run_remembers_its_best_diversity_and_a_run_from_scratch_has_no_diversity_rule():
    assert len(diversities(CollapseWatch("dcgan", from_weights=True, best=(0.8, 300)), [0.35])) == 1
    assert diversities(CollapseWatch("dcgan"), [1.5, 0.6, 0.1]) == []  # noise early on, then loops: not a fall


@pytest.mark.parametrize("seconds, shown", [(0, "0:00"), (59.4, "0:59"), (61, "1:01"), (3600, "60:00"), (-5, "0:00")])
def test_format_clock(seconds, shown):
    assert format_clock(seconds) == shown
