import numpy as np
import pytest
import soundfile

from beatgan import notebook
from beatgan.errors import DatasetError


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


def test_read_loop_keeps_the_files_rate(tmp_path):
    _write_loop(tmp_path / "a.wav", rate=48000, seconds=1.0)
    rate, audio = notebook.read_loop(tmp_path / "a.wav", seconds=0.25)
    assert rate == 48000 and audio.shape == (12000, 2) and audio.dtype == np.float32
