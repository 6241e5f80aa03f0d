"""One process of a multi-process run for tests/test_distributed.py: ``beatgan`` with its file writes recorded.

    python tests/_process_worker.py WATCH_DIR beatgan-arguments...

An audit hook records every file this process opens for writing, creates, renames or
removes under WATCH_DIR; at exit the list is printed to stderr as one line
``WRITES: [...]``, so a test can check that only process 0 wrote the run directory.
"""

from __future__ import annotations

import atexit
import json
import os
import sys

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
EVENTS = ("os.rename", "os.replace", "os.mkdir", "os.remove", "os.unlink", "os.rmdir", "shutil.rmtree",
          "shutil.move", "os.truncate")


def main(watch: str, argv: list[str]) -> int:
    watch = os.path.realpath(watch)
    writes: list[str] = []

    def under(path) -> bool:
        try:
            return os.path.realpath(os.fsdecode(path)).startswith(watch)
        except (TypeError, ValueError):
            return False

    def hook(event, args):
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            path, mode, flags = (list(args) + [None, None])[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and flags & WRITE_FLAGS)
            if writing and under(path):
                writes.append(f"open {os.fsdecode(path)}")
        elif event in EVENTS and args and under(args[0]):
            writes.append(f"{event} {os.fsdecode(args[0])}")

    sys.addaudithook(hook)
    atexit.register(lambda: print("WRITES: " + json.dumps(writes), file=sys.stderr, flush=True))
    from beatgan.cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
