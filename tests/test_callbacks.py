"""Tests of beatgan.callbacks' pure parts: the collapse watch and the clock (the callbacks in a run: test_run.py)."""

from __future__ import annotations

import warnings

import pytest

from beatgan.callbacks import COLLAPSE_LOSS, COLLAPSE_STEPS, CollapseWarning, CollapseWatch, format_clock


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


@pytest.mark.parametrize("seconds, shown", [(0, "0:00"), (59.4, "0:59"), (61, "1:01"), (3600, "60:00"), (-5, "0:00")])
def test_format_clock(seconds, shown):
    assert format_clock(seconds) == shown
