import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from beatgan import plots
from beatgan.errors import AudioError


def test_waveform_and_spectrogram_one_column_per_clip():
    rng = np.random.default_rng(0)
    clips = [("44.1 kHz", rng.uniform(-1, 1, (4410, 2)), 44100), ("14.7 kHz", rng.uniform(-1, 1, 1470), 14700)]
    fig = plots.waveform_and_spectrogram(clips)
    assert len(fig.axes) >= 4
    assert fig.axes[0].get_title().startswith("44.1 kHz")


def test_loss_curves_plot_every_metric():
    metrics = {"step": np.arange(1, 6), "d_loss": np.zeros(5), "g_loss": np.ones(5), "gp": np.ones(5), "wasserstein": np.ones(5)}
    fig = plots.loss_curves(metrics)
    labels = {line.get_label() for axis in fig.axes for line in axis.get_lines()}
    assert labels == {"d_loss", "g_loss", "gp", "wasserstein"}


def test_players_embed_clipped_16_bit_wav():
    html = plots.players([("loud", np.full((100, 2), 3.0), 14700), ("quiet", np.zeros(100), 14700)], columns=1)
    text = html.data
    assert text.count("<audio controls") == 2
    assert "loud" in text and "quiet" in text
    import base64, io, soundfile

    encoded = text.split("base64,")[1].split("'")[0]
    data, rate = soundfile.read(io.BytesIO(base64.b64decode(encoded)), dtype="int16")
    assert rate == 14700 and data.max() == 32767  # clipped to full scale, not wrapped


def test_bad_audio_shape_is_a_clear_error():
    with pytest.raises(AudioError, match=r"\(2, 2, 2\)"):
        plots.audio_html(np.zeros((2, 2, 2)), 14700)
