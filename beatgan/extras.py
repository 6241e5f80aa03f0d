"""Optional dependencies: which extra of the package installs which library, and the import that says so.

Training and generating on JAX from a dataset file need only the core (numpy,
scipy, keras, tqdm) and ``jax``: ``pip install 'beatgan[jax]'``. Everything else
is imported where a feature needs it, through :func:`require`, so that an
environment without it (a GPU box that holds JAX alone) still trains, and the
feature that does need it fails with one line naming the package and the
extra that installs it:

==============  =============================================================  ==============
extra           what it adds                                                    libraries
==============  =============================================================  ==============
``tensorflow``  the TensorFlow backend, TensorBoard summaries, FAD's embedding  tensorflow
``jax``         the JAX backend                                                 jax
``audio``       decoding FLAC, AIFF, OGG and MP3 (WAV needs nothing)            soundfile
``eval``        evaluation, similarity, exploring, figures                      librosa, matplotlib
``all``         all of the above
``lab``         the loop lab's browser test (``beatgan lab`` needs nothing)     playwright
==============  =============================================================  ==============
"""

from __future__ import annotations

import importlib
from types import ModuleType

from beatgan.errors import MissingDependencyError

__all__ = ["EXTRAS", "require", "missing"]

# top-level module -> (what pip installs, the extra of beatgan that brings it)
EXTRAS: dict[str, tuple[str, str]] = {
    "tensorflow": ("tensorflow", "tensorflow"),
    "tensorboard": ("tensorboard", "tensorflow"),
    "jax": ("jax", "jax"),
    "soundfile": ("soundfile", "audio"),
    "librosa": ("librosa", "eval"),
    "matplotlib": ("matplotlib", "eval"),
    "playwright": ("playwright", "lab"),
    "soxr": ("soxr", ""),  # a core dependency: missing only where beatgan was installed without its dependencies
}


def _install_hint(module: str) -> str:
    package, extra = EXTRAS.get(module.split(".")[0], (module.split(".")[0], ""))
    return f"pip install 'beatgan[{extra}]'" if extra else f"pip install {package}"


def require(module: str, feature: str) -> ModuleType:
    """Import an optional library, or say in one line which extra installs it.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``"librosa"`` or ``"matplotlib.pyplot"``.
    feature : str
        What needs it, for the message: ``"the evaluation"``.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingDependencyError
        ``"the evaluation needs the Python package 'librosa', which is not installed:
        pip install 'beatgan[eval]'"``; or, when the package is there but one of its own
        dependencies is not, the import error it gave.
    """
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        if getattr(error, "name", None) and error.name.split(".")[0] == top:
            raise MissingDependencyError(
                f"{feature} needs the Python package {EXTRAS.get(top, (top,))[0]!r}, which is not installed: "
                f"{_install_hint(top)}") from None
        raise MissingDependencyError(f"{feature} needs {top!r}, which is installed but does not import "
                                     f"({error}): {_install_hint(top)}") from error


def missing(*modules: str) -> list[str]:
    """Return the top-level names among ``modules`` that cannot be imported (importing the others)."""
    absent = []
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            absent.append(module.split(".")[0])
    return absent
