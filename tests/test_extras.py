"""beatgan.extras: importing an optional library, or one line naming the extra that installs it."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from beatgan.errors import BeatGANError, MissingDependencyError
from beatgan.extras import EXTRAS, missing, require

ROOT = Path(__file__).resolve().parents[1]


def test_require_returns_an_installed_module():
    assert require("numpy", "anything") is np
    assert require("os.path", "anything") is sys.modules["os.path"]


def test_require_names_the_package_and_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "librosa", None)  # as if not installed: import raises ImportError
    with pytest.raises(MissingDependencyError, match=r"^the evaluation needs the Python package 'librosa', which is "
                                                     r"not installed: pip install 'beatgan\[eval\]'$"):
        require("librosa", "the evaluation")
    assert missing("numpy", "librosa") == ["librosa"]


def test_a_core_dependency_is_named_without_an_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "soxr", None)
    with pytest.raises(MissingDependencyError, match=r"needs the Python package 'soxr', which is not installed: "
                                                     r"pip install soxr$"):
        require("soxr", "resampling")


def test_require_tells_a_broken_dependency_from_a_missing_package(monkeypatch, tmp_path):
    (tmp_path / "half_installed").mkdir()
    (tmp_path / "half_installed" / "__init__.py").write_text("import a_dependency_that_is_not_there\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingDependencyError, match="needs 'half_installed', which is installed but does not "
                                                     "import .*a_dependency_that_is_not_there"):
        require("half_installed", "the evaluation")


def test_the_error_is_one_of_the_package_and_an_import_error():
    assert issubclass(MissingDependencyError, BeatGANError) and issubclass(MissingDependencyError, ImportError)


def test_every_extra_named_installs_its_package():
    """The extra a message names really lists the package (pyproject.toml), and the core has no heavy library."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]

    def names(requirements):
        return {r.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower() for r in requirements}

    core = names(project["dependencies"])
    for module, (package, extra) in EXTRAS.items():
        if extra:
            assert package in names(extras[extra]), f"{module}: extra {extra!r} does not install {package}"
            assert package not in core
        else:
            assert package in core, f"{module} is said to be a core dependency"
    assert not core & {"tensorflow", "librosa", "soundfile", "matplotlib", "jax"}
    assert names(extras["all"]) == {"beatgan"} and set(extras) >= {"tensorflow", "jax", "audio", "eval", "all"}
