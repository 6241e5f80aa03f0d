"""Mutation testing of BeatGAN's core modules with mutmut 3, one module at a time, against its fast tests.

    python scripts/mutation.py [MODULE ...] [--jobs N]      # MODULE: a key of MODULES; default all

For each module it copies the tracked working tree to ``build/mutation/<module>/``, writes a
``[tool.mutmut]`` section there (the file to mutate, its fast test files, ``-m "not slow"``)
and runs ``mutmut run`` (mutmut resumes an interrupted run in the same folder; a run whose saved
results below were made on the files as they are now runs only the mutants those left unfinished,
so a run cut off on one machine resumes on another). Then it
writes ``benchmarks/mutation/REPORT.md``: per module the mutants, killed (tests failed or
timed out), survivors, and the kill rate, with every survivor's file:line and diff. A
survivor named in ``benchmarks/mutation/equivalent*.txt`` (``mutant_name  reason`` per line)
is listed as equivalent and left out of the rate's denominator. Modules not run are
reported as not run, not as passing. A module listed in ``BACKENDS`` with a second Keras
backend is re-run under it for the mutants the first left alive (``build/mutation/<module>@jax/``).

Each module's outcome is also saved in ``benchmarks/mutation/results-<module>.json`` (every mutant's
status, the survivors' diffs, and SHA-256 of the mutated file and its tests), so the report can be
rebuilt on a machine without ``build/``: a module run there is taken from ``build/``, any other from
its saved results, marked *stale* in the report when the file or its tests have changed since.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
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
# mutmut runs, for each mutant, only the tests that called the mutated function (it records that in
# one first run of the selection), so a module's cost per mutant is that of the tests covering it.
# Modules whose tests never import TensorFlow (or JAX) run in mutmut's own fork mode: each mutant's
# worker is forked from a session that has imported the package already (well under a second per
# mutant). TensorFlow's threads deadlock a child forked after TensorFlow has *run* something (mutmut's
# fork mode forks from the process that ran the whole selection), so the others use a fork server
# that only collects the tests, which imports TensorFlow, Keras and the package but runs no op, and
# forks each mutant's worker from there: no TF import per mutant (about 1 s instead of 30-60 s).
FORK_SAFE = {"wavfile24", "novelty", "search", "data", "metrics", "evaluate"}
# Keras backends per module (default tensorflow only). The fast tests run in one backend per process;
# code for the other backend (the JAX step, JAX branches of gan.py) runs in the test process only
# under that backend. After the first, each backend re-runs only the mutants no earlier one killed,
# in build/mutation/<module>@<backend>/; a mutant killed under any backend counts as killed.
BACKENDS = {"gan": ("tensorflow", "jax"), "gan_jax": ("jax",)}
_GAN = "beatgan.gan.xǁWaveGANǁ"
MODULES = {
    "wavfile24": ("wavfile24.py", ["tests/test_wavfile24.py"], None),
    "losses": ("beatgan/losses.py", ["tests/test_losses.py", "tests/test_gan.py"], None),
    "model": ("beatgan/model.py", ["tests/test_model.py"], None),
    "novelty": ("beatgan/novelty.py", ["tests/test_novelty.py"],
                ["beatgan.novelty.x_similarity_score*", "beatgan.novelty.x_top_k*", "beatgan.novelty.x_nearest*",
                 "beatgan.novelty.x__check_pair*", "beatgan.novelty.x__flatten*"]),
    # the exact search under its float32 bounds, through novelty's tests (nearest, top_k, the bound checks)
    "search": ("beatgan/search.py", ["tests/test_novelty.py"],
               ["beatgan.search.x_search*", "beatgan.search.x_column_terms*", "beatgan.search.x_exact_scores*",
                "beatgan.search.x_dots*", "beatgan.search.x__energy32*", "beatgan.search.x_sum_squares*",
                "beatgan.search.x_block_shape*", "beatgan.search.x__energies*", "beatgan.search.x__energy_high*"]),
    "data": ("beatgan/data.py", ["tests/test_data.py"], ["beatgan.data.x_augment*"]),
    "generate": ("beatgan/generate.py", ["tests/test_generate.py"], ["beatgan.generate.x_*loop*"]),
    # the metric functions (input checks, features, FAD, NDB/JSD, diversity, rhythm, noise floor, artifacts,
    # intervals) against their fast tests on tiny inputs, none of which imports TensorFlow (hence fork mode)
    "metrics": ("beatgan/metrics.py", ["tests/test_metrics.py"], None),
    # the evaluation's own parts (reference features, cheap metrics, anchors, position) against their fast
    # tests; not evaluate() and the report's text/JSON/figures, whose tests run musicnn on TensorFlow (~20 s
    # each): -k leaves those out, so no tested path imports TensorFlow (hence fork mode), and
    # test_cheap_metrics (144 full-length loops, seconds per mutant)
    "evaluate": ("beatgan/evaluate.py",
                 ["tests/test_evaluate.py", "-k", "not (anchors_order or small_sets_warn or white_noise_worst or "
                  "off_grid or same_seed or text_json or bad_input or bad_options or mono_against_stereo or musicnn "
                  "or test_cheap_metrics)"],
                 [f"beatgan.evaluate.x_{name}*" for name in (
                     "_reference_from_mono", "reference_features", "score_set", "cheap_metrics", "collapsed_anchor",
                     "noise_anchor", "position_between")]),
    "gan": ("beatgan/gan.py", ["tests/test_gan.py"],
            [f"{_GAN}train_step__*", f"{_GAN}_train_step_tensorflow*", f"{_GAN}critic_loss*",
             f"{_GAN}draw_step_noise*", f"{_GAN}split_real*", "beatgan.gan.x_gradient_penalty*"]),
    "gan_jax": ("beatgan/gan_jax.py", ["tests/test_gan.py"], None),
}
# Keras builds a layer's default config from its __init__'s argument names (inspect.getfullargspec in
# Operation.__new__), which a mutmut trampoline hides: constructing such a layer then raises IndexError
# and every test fails. These classes' __init__ are left unmutated (a "no mutate block" pragma is added
# to the copy that mutmut reads; the source is untouched). keras.Model subclasses are not affected.
KERAS_LAYER_INITS = {"model": ("PhaseShuffle",)}
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


def _keep_layer_inits(target: Path, path: str, classes) -> None:
    """Append ``# pragma: no mutate block`` to the ``__init__`` header of each class in ``classes`` in the copy."""
    lines = (target / path).read_text().splitlines(keepends=True)
    for name in classes:
        start = next(i for i, line in enumerate(lines) if re.match(rf"class {name}\b", line))
        first = next(i for i in range(start, len(lines)) if re.match(r"\s+def __init__\(", lines[i]))
        header = next(i for i in range(first, len(lines)) if lines[i].rstrip().endswith(":"))
        if "no mutate" not in lines[header]:
            lines[header] = lines[header].rstrip("\n") + "  # pragma: no mutate block\n"
    (target / path).write_text("".join(lines))


TQDM_LOCK = """

# added by scripts/mutation.py in its copy of the tree: every mutant runs in a process forked from one
# session, and tqdm's default lock is a multiprocessing semaphore that all of them share; a worker
# stopped while holding it would leave every later worker waiting on it until its time limit (each
# then counted as a timeout, not as the mutant it is). A lock of each process's own:
import threading as _threading  # noqa: E402

from tqdm import tqdm as _tqdm  # noqa: E402

_tqdm.set_lock(_threading.RLock())
"""


def _own_tqdm_lock(target: Path) -> None:
    conftest = target / "tests" / "conftest.py"
    if "_tqdm.set_lock" not in conftest.read_text():
        conftest.write_text(conftest.read_text() + TQDM_LOCK)


def _configure(target: Path, path: str, tests: list[str], fork: bool) -> None:
    isolation = (
        'process_isolation = "fork"\n' if fork else
        # TensorFlow's threads deadlock a process forked after it has run ops: each mutant's worker
        # comes from a fork server that has collected the tests (imported TF, Keras, the package) only
        'process_isolation = "forkserver"\nforkserver_warmup = "collect"\n'
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


def _targets(key: str) -> list[tuple[str, Path]]:
    """``(backend, folder)`` of each of the module's runs, in order."""
    backends = BACKENDS.get(key, ("tensorflow",))
    return [(b, WORK / (key if i == 0 else f"{key}@{b}")) for i, b in enumerate(backends)]


def run_module(key: str, jobs: int) -> None:
    path, tests, names = MODULES[key]
    for i, (backend, target) in enumerate(_targets(key)):
        if i:  # only what the earlier backends left alive (mutmut re-runs mutants it is given by name)
            done = _merged_results(key, upto=i)
            names = sorted(n for n, s in done.items() if s in SURVIVED and _selected(n, MODULES[key][2]))
            if not names:
                continue
        elif (resumed := _resumable(key)) is not None:  # a run cut off here or on another machine
            names = sorted(n for n, s in resumed.items() if s not in KILLED | SURVIVED and _selected(n, names))
            print(f"[{key}] resuming: {len(resumed) - len(names)} mutants done, {len(names)} to run", flush=True)
            if not names:
                continue
        target.mkdir(parents=True, exist_ok=True)
        _copy_tree(target)
        _keep_layer_inits(target, path, KERAS_LAYER_INITS.get(key, ()))
        _own_tqdm_lock(target)
        _configure(target, path, tests, fork=key in FORK_SAFE)
        # what this run tests: the report compares it with the files as they are then
        (target / "fingerprint.json").write_text(json.dumps(
            {"date": datetime.date.today().isoformat(), "fingerprint": _fingerprint(key)}, indent=1) + "\n")
        command = [str(MUTMUT), "run", "--max-children", str(jobs), *(names or [])]
        shown = " ".join(command) if len(command) < 12 else " ".join(command[:11]) + f" ... ({len(command) - 4} names)"
        print(f"[{key}] KERAS_BACKEND={backend} {shown}  (in {target})", flush=True)
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        subprocess.run(command, cwd=target, stdout=subprocess.DEVNULL, check=False, env=env)


def _saved_fresh(key: str) -> dict | None:
    """The module's saved outcome if it was run on the files as they are now, else None."""
    if not _saved(key).is_file():
        return None
    outcome = json.loads(_saved(key).read_text())
    return outcome if outcome["fingerprint"] == _fingerprint(key) else None


def _first_results(key: str) -> dict[str, str]:
    """Status of each mutant in the module's first run here, with the mutants it has not finished taken
    from the saved outcome where that was run on the same files (mutmut names mutants by function and
    index, the same for the same source and mutmut version), so a run cut off resumes on another machine."""
    target = _targets(key)[0][1]
    results = _results(target) if (target / "mutants").is_dir() else {}
    saved = _saved_fresh(key)
    stamp = target / "fingerprint.json"
    same_files = stamp.is_file() and saved and json.loads(stamp.read_text())["fingerprint"] == saved["fingerprint"]
    if same_files and results:
        for name, status in saved["results"].items():
            if results.get(name) not in KILLED | SURVIVED and name in results:
                results[name] = status
    return results


def _resumable(key: str) -> dict[str, str] | None:
    """What a new run of the module can start from: the saved outcome (and this machine's run), when the
    saved one was run on the files as they are now and left mutants unfinished; None means run all."""
    saved = _saved_fresh(key)
    if saved is None or all(s in KILLED | SURVIVED for s in saved["results"].values()):
        return None
    return _first_results(key) or dict(saved["results"])


def _merged_results(key: str, upto: int | None = None) -> dict[str, str]:
    """Status of each mutant over the module's backend runs: the first run's, or killed where a later one killed it."""
    runs = _targets(key)[:upto]
    results = _first_results(key)
    for _, target in runs[1:]:
        if (target / "mutants").is_dir():
            for name, status in _results(target).items():
                if status in KILLED and name in results:
                    results[name] = status
    return results


def _results(target: Path) -> dict[str, str]:
    out = subprocess.run([str(MUTMUT), "results", "--all", "true"], cwd=target, capture_output=True, text=True).stdout
    return {m[1]: m[2] for m in re.finditer(r"^\s*(\S+): (\w[\w ]*)$", out, re.M)}


def _diff(key: str, name: str) -> tuple[str, str]:
    """The mutant's diff and its first changed line as file:line in the original file."""
    target = WORK / key
    shown = subprocess.run([str(MUTMUT), "show", name], cwd=target, capture_output=True, text=True).stdout
    removed = [line[1:] for line in shown.splitlines() if line.startswith("-") and not line.startswith("---")]
    file = MODULES[key][0]
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


def _tests_cell(key: str) -> str:
    backends = BACKENDS.get(key, ("tensorflow",))
    return ", ".join(MODULES[key][1]) + ("" if backends == ("tensorflow",) else f" ({', '.join(backends)})")


def _fingerprint(key: str) -> dict[str, str]:
    """SHA-256 of the mutated file and of each test file the module's run uses."""
    path, tests, _ = MODULES[key]
    files = [path, *(t for t in tests if t.endswith(".py"))]
    return {f: hashlib.sha256((REPO / f).read_bytes()).hexdigest() for f in files}


def _saved(key: str) -> Path:
    return OUT / f"results-{key}.json"


def _module_outcome(key: str) -> dict | None:
    """The module's results from ``build/`` when it was run here (saved to its JSON file then, with the
    fingerprint of the files the run started from), else as saved."""
    globs = MODULES[key][2]
    if (_targets(key)[0][1] / "mutants").is_dir():
        results = {n: s for n, s in _merged_results(key).items() if _selected(n, globs)}
        diffs = {n: _diff(key, n) for n, s in results.items() if s in SURVIVED}
        stamp = _targets(key)[0][1] / "fingerprint.json"  # written when the run started; absent: unknown
        run = json.loads(stamp.read_text()) if stamp.is_file() else {"date": "?", "fingerprint": {}}
        saved = _saved_fresh(key)
        if saved and saved["fingerprint"] == run["fingerprint"] and run["date"] not in saved["date"]:
            run["date"] = f"{saved['date']}, resumed {run['date']}"  # _first_results merged the two
        outcome = {**run, "results": dict(sorted(results.items())), "diffs": diffs}
        OUT.mkdir(parents=True, exist_ok=True)
        _saved(key).write_text(json.dumps(outcome, indent=1, ensure_ascii=False) + "\n")
        return outcome
    if _saved(key).is_file():
        outcome = json.loads(_saved(key).read_text())
        outcome["diffs"] = {n: tuple(d) for n, d in outcome["diffs"].items()}
        return outcome
    return None


def write_report() -> None:
    equivalent = _equivalent()
    lines = ["# Mutation testing (mutmut 3)", "",
             "Generated by `make mutation` (`scripts/mutation.py`). Killed = a fast test failed or timed out;",
             "equivalent survivors (`equivalent.txt`) are left out of the kill rate.", "",
             "| module | tests | mutants | killed | equivalent | survived | kill rate |",
             "|---|---|---|---|---|---|---|"]
    details = []
    for key, (path, tests, globs) in MODULES.items():
        outcome = _module_outcome(key) or {"results": {}}
        results = outcome["results"]
        done = {n: s for n, s in results.items() if s in KILLED | SURVIVED}
        if not done:
            lines.append(f"| {path} | {_tests_cell(key)} | not run | | | | |")
            continue
        killed = sum(s in KILLED for s in done.values())
        survivors = sorted(n for n, s in done.items() if s in SURVIVED)
        equiv = [n for n in survivors if n in equivalent]
        alive = [n for n in survivors if n not in equivalent]
        rate = killed / max(1, len(done) - len(equiv))
        scope = "" if globs is None else " (functions: " + ", ".join(
            re.sub(r"^.*?\.x[_ǁ]", "", g).replace("ǁ", ".").replace("__*", "*") for g in globs) + ")"
        pending = len(results) - len(done)
        diffs, fresh = outcome["diffs"], _fingerprint(key) == outcome["fingerprint"]
        note = (f", {pending} not finished" if pending else "") + (
            "" if fresh else f" (stale: run {outcome['date']}, the file or its tests changed since)")
        lines.append(f"| {path}{scope} | {_tests_cell(key)} | {len(done)}{note} | {killed} | {len(equiv)} | "
                     f"{len(alive)} | {100 * rate:.1f} % |")
        for title, names in (("Survivors", alive), ("Equivalent survivors", equiv)):
            if names:
                details += ["", f"## {path}: {title.lower()}", ""]
                for name in names:
                    where, diff = diffs.get(name, ("?", "(diff not saved)"))
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
