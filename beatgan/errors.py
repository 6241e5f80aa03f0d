"""One error hierarchy for the whole package.

Every error a user can cause derives from :class:`BeatGANError`, so a caller
(or the command line) can catch them all in one place. Messages name the bad
value and what is allowed, e.g. ``slice_len=1000 must be one of (16384, 32768, 65536)``.
"""

from __future__ import annotations


class BeatGANError(Exception):
    """Base class of every error raised on purpose by :mod:`beatgan`."""


class ConfigError(BeatGANError, ValueError):
    """A configuration field or command-line option has an invalid value."""


class AudioError(BeatGANError, ValueError):
    """An audio file or array cannot be used (unreadable, wrong shape, silent)."""


class DatasetError(BeatGANError, ValueError):
    """A folder or dataset file holds no usable loops, or a dataset file is malformed."""


class CheckpointError(BeatGANError):
    """A run directory, checkpoint or weights directory is missing or inconsistent."""


class CorpusError(BeatGANError):
    """The open drum-loop corpus cannot be rendered (no kit, bad pattern, bad option)."""


class MissingDependencyError(BeatGANError, ImportError):
    """An optional library a feature needs is not installed; the message names the extra that installs it."""


class DistributedError(BeatGANError):
    """The processes of a run spread over several machines cannot start or go on together."""
