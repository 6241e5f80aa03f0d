"""scripts/mutation.py: a run cut off resumes from its saved results, on the same files only.

mutmut itself is not run: its ``results`` listing and ``run`` command are replaced by fakes, so these
tests check the script's bookkeeping (which mutants a new run is given, how two runs' results merge).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mutation.py"
NAMES = [f"pkg.x_f__mutmut_{i}" for i in range(1, 7)]


@pytest.fixture
def mutation(tmp_path, monkeypatch):
    """The script as a module, pointed at a scratch repository with one module ``toy`` and a fake mutmut."""
    spec = importlib.util.spec_from_file_location("mutation_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "toy.py").write_text("def f(x):\n    return x + 1\n")
    (repo / "test_toy.py").write_text("def test_f():\n    pass\n")
    monkeypatch.setattr(module, "REPO", repo)
    monkeypatch.setattr(module, "OUT", repo / "benchmarks" / "mutation")
    monkeypatch.setattr(module, "WORK", repo / "build" / "mutation")
    monkeypatch.setattr(module, "MODULES", {"toy": ("pkg/toy.py", ["test_toy.py"], None)})
    monkeypatch.setattr(module, "BACKENDS", {})
    monkeypatch.setattr(module, "_copy_tree", lambda target: None)
    monkeypatch.setattr(module, "_keep_layer_inits", lambda *args: None)
    monkeypatch.setattr(module, "_own_tqdm_lock", lambda target: None)
    monkeypatch.setattr(module, "_configure", lambda *args, **kwargs: None)
    monkeypatch.setattr(module, "_diff", lambda key, name: ("pkg/toy.py:2", "-    return x + 1\n+    return x - 1"))
    module.build_results = {}  # what the fake `mutmut results` lists for this machine's run
    module.commands = []

    def fake_results(target):
        return dict(module.build_results)

    def fake_run(command, **kwargs):
        module.commands.append(command)
        (kwargs["cwd"] / "mutants").mkdir(exist_ok=True)

    monkeypatch.setattr(module, "_results", fake_results)
    monkeypatch.setattr(module.subprocess, "run", fake_run)
    return module


def _save(mutation, results, fingerprint=None, date="2026-12-02"):
    mutation.OUT.mkdir(parents=True, exist_ok=True)
    outcome = {"date": date, "fingerprint": fingerprint or mutation._fingerprint("toy"),
               "results": results, "diffs": {}}
    mutation._saved("toy").write_text(json.dumps(outcome))


def test_a_run_with_fresh_saved_results_runs_only_the_unfinished_mutants(mutation):
    _save(mutation, {NAMES[0]: "killed", NAMES[1]: "survived", NAMES[2]: "timeout",
                     NAMES[3]: "not checked", NAMES[4]: "not checked", NAMES[5]: "not checked"})
    mutation.run_module("toy", jobs=2)
    (command,) = mutation.commands
    assert command[1:4] == ["run", "--max-children", "2"]
    assert command[4:] == NAMES[3:]


def test_saved_results_of_other_files_are_not_resumed(mutation):
    _save(mutation, {name: "not checked" if i > 2 else "killed" for i, name in enumerate(NAMES)},
          fingerprint={"pkg/toy.py": "0" * 64, "test_toy.py": "0" * 64})
    assert mutation._resumable("toy") is None
    mutation.run_module("toy", jobs=1)
    (command,) = mutation.commands
    assert command[4:] == [], "changed files: every mutant runs again"


def test_a_finished_saved_run_is_run_again_in_full(mutation):
    _save(mutation, {name: "killed" for name in NAMES})
    assert mutation._resumable("toy") is None


def test_the_outcome_merges_this_run_with_the_saved_one(mutation):
    _save(mutation, {NAMES[0]: "killed", NAMES[1]: "survived", NAMES[2]: "not checked",
                     NAMES[3]: "not checked", NAMES[4]: "not checked", NAMES[5]: "not checked"})
    mutation.run_module("toy", jobs=1)
    # this machine's run: the resumed mutants done, the earlier ones never run here
    mutation.build_results = {NAMES[0]: "not checked", NAMES[1]: "not checked", NAMES[2]: "killed",
                              NAMES[3]: "survived", NAMES[4]: "timeout", NAMES[5]: "not checked"}
    outcome = mutation._module_outcome("toy")
    assert outcome["results"] == {NAMES[0]: "killed", NAMES[1]: "survived", NAMES[2]: "killed",
                                  NAMES[3]: "survived", NAMES[4]: "timeout", NAMES[5]: "not checked"}
    assert outcome["date"].startswith("2026-12-02, resumed ")
    assert set(outcome["diffs"]) == {NAMES[1], NAMES[3]}
    assert json.loads(mutation._saved("toy").read_text())["results"] == outcome["results"]
    mutation.write_report()
    row = next(line for line in (mutation.OUT / "REPORT.md").read_text().splitlines() if "pkg/toy.py |" in line)
    assert "| 5, 1 not finished | 3 | 0 | 2 | 60.0 % |" in row


def test_a_run_here_on_other_files_is_not_merged_with_the_saved_one(mutation):
    _save(mutation, {name: "killed" for name in NAMES})
    target = mutation.WORK / "toy"
    (target / "mutants").mkdir(parents=True)
    (target / "fingerprint.json").write_text(json.dumps(
        {"date": "2026-11-30", "fingerprint": {"pkg/toy.py": "1" * 64, "test_toy.py": "1" * 64}}))
    mutation.build_results = {name: "survived" if i == 0 else "not checked" for i, name in enumerate(NAMES)}
    assert mutation._first_results("toy") == mutation.build_results
