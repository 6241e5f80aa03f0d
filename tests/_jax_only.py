"""Run the command line, or a script, where TensorFlow, librosa, soundfile and matplotlib cannot be imported.

A GPU user's environment often holds JAX alone (`pip install 'beatgan[jax]'`);
the tests stand in for it by refusing those imports in a subprocess::

    python tests/_jax_only.py train DATA --run-dir R --backend jax ...   # beatgan's command line
    python tests/_jax_only.py scripts/device_train.py run ...            # a script, as `python SCRIPT`
    python tests/_jax_only.py --sequence '[["prepare", ...], ["train", ...]]'   # several commands, one process

``--sequence`` runs the commands one after the other in this process (one import of JAX
and Keras for all) and prints one JSON line: each command's status, stdout and stderr.
"""

from __future__ import annotations

import runpy
import sys

BLOCKED = ("tensorflow", "tensorboard", "librosa", "soundfile", "matplotlib")


class RefuseImports:
    """A meta-path finder that answers every import of a blocked package with ModuleNotFoundError."""

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in BLOCKED:
            raise ModuleNotFoundError(f"No module named {top!r} (refused by tests/_jax_only.py)", name=top)
        return None


def sequence(commands: list[list[str]]) -> int:
    import contextlib
    import io
    import json

    from beatgan.cli import main as cli

    results = []
    for argv in commands:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = cli(argv)
            except SystemExit as done:
                status = int(done.code or 0)
        results.append({"argv": argv, "status": status, "stdout": out.getvalue(), "stderr": err.getvalue()})
    print(json.dumps(results))
    return 0


def main(argv: list[str]) -> int:
    sys.meta_path.insert(0, RefuseImports())
    if argv and argv[0] == "--sequence":
        import json

        return sequence(json.loads(argv[1]))
    if argv and argv[0].endswith(".py"):
        sys.argv = argv
        try:
            runpy.run_path(argv[0], run_name="__main__")
        except SystemExit as done:
            return int(done.code or 0)
        return 0
    from beatgan.cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
