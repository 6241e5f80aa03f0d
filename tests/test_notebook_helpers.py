import dataclasses
import re

import numpy as np
import pytest
import soundfile

from beatgan import notebook
from beatgan.config import ModelConfig, TrainConfig
from beatgan.errors import ConfigError, DatasetError


def _write_loop(path, rate=44100, seconds=0.5):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.zeros((int(rate * seconds), 2)), rate, subtype="PCM_24")


def test_user_folder_wins_when_it_holds_loops(tmp_path):
    user, corpus = tmp_path / "user", tmp_path / "corpus"
    _write_loop(user / "a.wav")
    folder, source = notebook.choose_loop_folder(user_folder=user, corpus_folder=corpus)
    assert (folder, source) == (user, "user")
    assert not corpus.exists()


def test_empty_user_folder_falls_back_to_an_existing_corpus(tmp_path):
    user, corpus = tmp_path / "user", tmp_path / "corpus"
    user.mkdir()
    (user / "README.md").write_text("put loops here")
    _write_loop(corpus / "loop_124bpm.wav")
    (corpus / "CREDITS").write_text("kits")
    folder, source = notebook.choose_loop_folder(user_folder=user, corpus_folder=corpus)
    assert (folder, source) == (corpus, "open corpus")


def test_given_folder_without_loops_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="holds no audio"):
        notebook.choose_loop_folder(tmp_path)


def test_pack_is_the_given_one_else_the_users_else_the_demo_pack(tmp_path):
    from beatgan.corpus import DEMO_BPM, parse_loop_name

    user, demo = tmp_path / "user", tmp_path / "demo"
    user.mkdir()
    with pytest.raises(DatasetError, match="own_loops=.* holds no audio"):
        notebook.choose_pack(tmp_path / "nothing", user_folder=user, demo_folder=demo)
    folder, source = notebook.choose_pack(user_folder=user, demo_folder=demo, progress=False)
    assert (folder, source) == (demo, "demo pack")
    tempos = [parse_loop_name(p.name)["bpm"] for p in sorted(demo.glob("*.wav"))]
    assert len(tempos) == 24 and all(DEMO_BPM[0] <= t <= DEMO_BPM[1] for t in tempos)  # not the corpus's 120-125
    stamp = sorted(demo.glob("*.wav"))[0].stat().st_mtime_ns
    assert notebook.choose_pack(user_folder=user, demo_folder=demo, progress=False) == (demo, "demo pack")
    assert sorted(demo.glob("*.wav"))[0].stat().st_mtime_ns == stamp  # rendered once
    _write_loop(user / "mine.wav")
    assert notebook.choose_pack(user_folder=user, demo_folder=demo) == (user, "user")
    assert notebook.choose_pack(demo, user_folder=user) == (demo, "given")


def test_read_loop_keeps_the_files_rate(tmp_path):
    _write_loop(tmp_path / "a.wav", rate=48000, seconds=1.0)
    rate, audio = notebook.read_loop(tmp_path / "a.wav", seconds=0.25)
    assert rate == 48000 and audio.shape == (12000, 2) and audio.dtype == np.float32


def test_ensure_corpus_renders_with_the_renderers_default_count_unless_given(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(notebook, "render_corpus", lambda folder, **options: calls.append(options))
    notebook.ensure_corpus(tmp_path / "a", seed=3, progress=False)
    notebook.ensure_corpus(tmp_path / "b", count=20, seed=3, progress=False)
    assert calls == [{"seed": 3, "progress": False}, {"count": 20, "seed": 3, "progress": False}]


def test_training_settings_on_a_cpu_use_the_demonstration_size():
    settings = notebook.training_settings(None, steps=20, cpu_model_dim=8, cpu_batch_size=16, slice_len=32768,
                                          channels=1, seed=5, model_dim=32, batch_size=128)
    assert settings.device is None
    model = settings.model_config
    assert (model.model_dim, model.slice_len, model.channels) == (8, 32768, 1)
    train = settings.train_config
    assert (train.batch_size, train.steps, train.seed) == (16, 20, 5)
    assert (train.checkpoint_every, train.preview_every) == (10, 10)
    assert settings.log_every == 2
    assert settings.describe() == "training on **CPU**: model_dim 8, batch 16, 20 generator steps"


def test_training_settings_on_an_accelerator_default_to_wavegans_size():
    settings = notebook.training_settings("gpu", steps=3, cpu_model_dim=8, cpu_batch_size=16)
    assert settings.model_config == ModelConfig()  # model_dim 64, the default format
    assert settings.train_config.batch_size == TrainConfig().batch_size
    train = settings.train_config
    assert (train.checkpoint_every, train.preview_every, settings.log_every) == (1, 1, 1)
    assert settings.describe().startswith("training on **gpu**: model_dim 64, batch 64, 3 generator steps")
    chosen = notebook.training_settings("tpu", steps=3, cpu_model_dim=8, cpu_batch_size=16, model_dim=32, batch_size=8)
    assert (chosen.model_config.model_dim, chosen.train_config.batch_size) == (32, 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        chosen.log_every = 5


@pytest.mark.parametrize("device, options, message", [
    (1, {}, "device=1 must name the accelerator"),
    ("", {}, "device='' must name the accelerator"),
    (None, {"steps": 0}, "steps=0 must be a positive integer"),
    (None, {"steps": 2.5}, "steps=2.5 must be a positive integer"),
    (None, {"cpu_model_dim": 0}, "model_dim=0"),
    (None, {"cpu_batch_size": -1}, "batch_size=-1"),
    ("gpu", {"slice_len": 1000}, "slice_len=1000 must be one of"),
])
def test_training_settings_name_a_bad_value(device, options, message):
    arguments = {"steps": 4, "cpu_model_dim": 8, "cpu_batch_size": 16, **options}
    with pytest.raises(ConfigError, match=re.escape(message)):
        notebook.training_settings(device, **arguments)


def test_figures_keeps_a_png_displays_and_closes(tmp_path, capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    show = notebook.Figures(tmp_path / "figures", dpi=50)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = show(fig, "losses")
    assert path == tmp_path / "figures" / "losses.png" and path.stat().st_size > 1000
    assert path.read_bytes().startswith(b"\x89PNG")
    assert not plt.fignum_exists(fig.number), "a shown pyplot figure is closed, so the inline backend draws it once"
    assert "Figure" in capsys.readouterr().out  # outside a notebook, display prints the figure's repr


@pytest.mark.parametrize("name", ["", "sub/losses", "..", None])
def test_figures_refuses_a_name_that_is_not_a_plain_file_name(tmp_path, name):
    with pytest.raises(ConfigError, match="must be a plain file name"):
        notebook.Figures(tmp_path)(object(), name)


def test_figures_refuses_a_bad_dpi(tmp_path):
    with pytest.raises(ConfigError, match="dpi=0 must be a positive integer"):
        notebook.Figures(tmp_path, dpi=0)


def test_kernel_config_runs_the_kernel_encrypted(tmp_path, capfd):
    import nbformat
    from nbclient import NotebookClient

    config = notebook.kernel_config()
    if not config:
        pytest.skip("this jupyter_client or pyzmq cannot encrypt a kernel's connection")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    NotebookClient(nb, kernel_name="python3", timeout=120, config=config).execute()
    assert nb.cells[0].outputs[0]["text"] == "42\n"
    assert "without encryption" not in capfd.readouterr().err
