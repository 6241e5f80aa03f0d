"""Mutation testing of BeatGAN's core modules with mutmut 3, one module at a time, against its fast tests.

    python scripts/mutation.py [MODULE ...] [--jobs N]      # MODULE: a key of MODULES; default all

For each module it copies the tracked working tree to ``build/mutation/<module>/``, writes a
``[tool.mutmut]`` section there (the file to mutate, its fast test files, ``-m "not slow"``)
and runs ``mutmut run`` (mutmut resumes an interrupted run in the same folder). Then it
writes ``benchmarks/mutation/REPORT.md``: per module the mutants, killed (tests failed or
timed out), survivors, and the kill rate, with every survivor's file:line and diff. A
survivor named in ``benchmarks/mutation/equivalent*.txt`` (``mutant_name  reason`` per line)
is listed as equivalent and left out of the rate's denominator. Modules not run are
reported as not run, not as passing.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "mutation"
WORK = REPO / "build" / "mutation"
MUTMUT = Path(sys.executable).with_name("mutmut")

# module key: (file to mutate, fast tests that guard it, mutant-name globs or None for all)
# Modules whose tests never import TensorFlow (or JAX) run in mutmut's own fork mode: each mutant's
# worker is forked from a session that has imported the package already (well under a second per
# mutant). TensorFlow's threads deadlock a forked child, so the others use a bare fork server.
FORK_SAFE = {"wavfile24", "novelty", "data"}
MODULES = {
    "wavfile24": ("wavfile24.py", ["tests/test_wavfile24.py"], None),
    "losses": ("beatgan/losses.py", ["tests/test_losses.py", "tests/test_gan.py"], None),
    "model": ("beatgan/model.py", ["tests/test_model.py"], None),
    "novelty": ("beatgan/novelty.py", ["tests/test_novelty.py"],
                ["beatgan.novelty.x_similarity_score*", "beatgan.novelty.x_top_k*", "beatgan.novelty.x_nearest*",
                 "beatgan.novelty.x__search*", "beatgan.novelty.x__column_terms*", "beatgan.novelty.x__exact*",
                 "beatgan.novelty.x__dots*", "beatgan.novelty.x__energy32*", "beatgan.novelty.x__sum_squares*",
                 "beatgan.novelty.x__check_pair*", "beatgan.novelty.x__flatten*"]),
    "data": ("beatgan/data.py", ["tests/test_data.py"], ["beatgan.data.x_augment*"]),
    "generate": ("beatgan/generate.py", ["tests/test_generate.py"], ["beatgan.generate.x_*loop*"]),
    "evaluate": ("beatgan/evaluate.py", ["tests/test_evaluate.py"], None),
}
KILLED = {"killed", "timeout"}
SURVIVED = {"survived"}


def _copy_tree(target: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        source = REPO / name
        if source.is_file() and not name.startswith(("benchmarks/", "data/", "ULTIMATE")):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _configure(target: Path, path: str, tests: list[str], fork: bool) -> None:
    isolation = (
        'process_isolation = "fork"\n' if fork else
        # TensorFlow's threads deadlock a process forked after importing it: each mutant's worker
        # comes from a fork server that has imported nothing (slower, but no false timeouts)
        'process_isolation = "forkserver"\nforkserver_warmup = "none"\n'
    )
    section = (
        "\n[tool.mutmut]\n"
        f'source_paths = ["{path}"]\n'
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        'pytest_add_cli_args = ["-m", "not slow", "-q", "-p", "no:cacheprovider", "-x"]\n'
        'also_copy = ["beatgan", "wavfile24.py", "tests", "scripts"]\n'
        + isolation
    )
    pyproject = target / "pyproject.toml"
    text = pyproject.read_text()
    text = text.split("\n[tool.mutmut]\n")[0]
    pyproject.write_text(text + section)


def run_module(key: str, jobs: int) -> None:
    path, tests, names = MODULES[key]
    target = WORK / key
    target.mkdir(parents=True, exist_ok=True)
    _copy_tree(target)
    _configure(target, path, tests, fork=key in FORK_SAFE)
    command = [str(MUTMUT), "run", "--max-children", str(jobs), *(names or [])]
    print(f"[{key}] {' '.join(command)}  (in {target})", flush=True)
    subprocess.run(command, cwd=target, stdout=subprocess.DEVNULL, check=False)


def _results(target: Path) -> dict[str, str]:
    out = subprocess.run([str(MUTMUT), "results", "--all", "true"], cwd=target, capture_output=True, text=True).stdout
    return {m[1]: m[2] for m in re.finditer(r"^\s*(\S+): (\w[\w ]*)$", out, re.M)}


def _diff(target: Path, name: str) -> tuple[str, str]:
    """The mutant's diff and its first changed line as file:line in the original file."""
    shown = subprocess.run([str(MUTMUT), "show", name], cwd=target, capture_output=True, text=True).stdout
    removed = [line[1:] for line in shown.splitlines() if line.startswith("-") and not line.startswith("---")]
    file = MODULES[target.name][0]
    line_no = "?"
    if removed:
        source = (REPO / file).read_text().splitlines()
        for i, text in enumerate(source, 1):
            if text.strip() and text.strip() == removed[0].strip():
                line_no = str(i)
                break
    changes = [line for line in shown.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    return f"{file}:{line_no}", "\n".join(changes)


def _equivalent() -> dict[str, str]:
    """Equivalent survivors from ``equivalent.txt`` and ``equivalent-<module>.txt``: ``name reason`` a line."""
    table = {}
    for path in sorted(OUT.glob("equivalent*.txt")):
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, reason = line.strip().partition(" ")
                table[name] = reason.strip()
    return table


def _selected(name: str, globs) -> bool:
    import fnmatch

    return globs is None or any(fnmatch.fnmatch(name, g) for g in globs)


def write_report() -> None:
    equivalent = _equivalent()
    lines = ["# Mutation testing (mutmut 3)", "",
             "Generated by `make mutation` (`scripts/mutation.py`). Killed = a fast test failed or timed out;",
             "equivalent survivors (`equivalent.txt`) are left out of the kill rate.", "",
             "| module | tests | mutants | killed | equivalent | survived | kill rate |",
             "|---|---|---|---|---|---|---|"]
    details = []
    for key, (path, tests, globs) in MODULES.items():
        target = WORK / key
        results = _results(target) if (target / "mutants").is_dir() else {}
        results = {n: s for n, s in results.items() if _selected(n, globs)}
        done = {n: s for n, s in results.items() if s in KILLED | SURVIVED}
        if not done:
            lines.append(f"| {path} | {', '.join(tests)} | not run | | | | |")
            continue
        killed = sum(s in KILLED for s in done.values())
        survivors = sorted(n for n, s in done.items() if s in SURVIVED)
        equiv = [n for n in survivors if n in equivalent]
        alive = [n for n in survivors if n not in equivalent]
        rate = killed / max(1, len(done) - len(equiv))
        scope = "" if globs is None else " (functions: " + ", ".join(g.split(".x_")[-1] for g in globs) + ")"
        pending = len(results) - len(done)
        note = f", {pending} not finished" if pending else ""
        lines.append(f"| {path}{scope} | {', '.join(tests)} | {len(done)}{note} | {killed} | {len(equiv)} | "
                     f"{len(alive)} | {100 * rate:.1f} % |")
        for title, names in (("Survivors", alive), ("Equivalent survivors", equiv)):
            if names:
                details += ["", f"## {path}: {title.lower()}", ""]
                for name in names:
                    where, diff = _diff(target, name)
                    reason = f" — {equivalent[name]}" if name in equivalent else ""
                    details += [f"- `{name}` at {where}{reason}", "", "```diff", diff, "```"]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "REPORT.md").write_text("\n".join(lines + details) + "\n")
    print(f"wrote {OUT / 'REPORT.md'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", choices=[*MODULES, []], help="modules to run (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="mutmut --max-children (default 1)")
    parser.add_argument("--report-only", action="store_true", help="only rewrite REPORT.md from earlier runs")
    args = parser.parse_args(argv)
    if not MUTMUT.is_file():
        parser.error(f"{MUTMUT} not found: pip install -e '.[dev]'")
    if not args.report_only:
        for key in args.modules or MODULES:
            run_module(key, args.jobs)
    write_report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
