"""Print the recipe tables of benchmarks/TRAINING.md from the runs of benchmarks/recipe.py.

    python benchmarks/recipe_table.py RUNS_DIR [--baseline base] [--columns fad ndb_k ...]

For every run directory it reads ``config.json``, the last line of ``metrics.jsonl`` (the step
reached), the CPU seconds the recipe script wrote in ``NAME.done``, and each evaluation the script
made (``beatgan evaluate --weights ... -n 500 --seed 0``): ``evaluation/`` of the exported weights,
plus, where they exist, ``evaluation_raw/`` (the trained weights of a run that keeps an EMA: its
``weights/`` are the average) and ``evaluation_avg5/`` (the average of the last five checkpoints).
One markdown row per evaluation: every metric with its 95 % bootstrap interval, then the real,
collapsed and noise anchors of the first run.

Runs die with their machine, their evaluations need not: ``--export DIR`` writes each row as a small
JSON (configuration, steps, CPU time, metrics and intervals of every set), committed under
``benchmarks/options/``; ``--include DIR`` adds such rows to the table of a later session's runs (a
run present in both is taken from its directory).

A difference is real only when the intervals do not overlap: a value is in **bold** (better) or
*italic* (worse) against the baseline row of the same seed (``base_sK``, its trained weights), and
plain otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

COLUMNS = ("fad", "ndb_k", "diversity", "on_grid", "spectrum_db", "noise_floor_db", "tonal_lines", "upsampling_db",
           "silence")
EVALUATIONS = {"evaluation_raw": "", "evaluation": "", "evaluation_avg5": "+avg5"}  # folder: row name suffix
BADNESS = {"lower": lambda v, r: v, "higher": lambda v, r: -v, "closer to 1": lambda v, r: abs(v - 1),
           "closer to 0": lambda v, r: abs(v), "closer to real": lambda v, r: abs(v - r)}


def overlap(a, b) -> bool:
    """Whether two (low, high) intervals share a point."""
    return a[0] <= b[1] and b[0] <= a[1]


def verdict(report: dict, baseline: dict, metric: str) -> str:
    """'+' / '-' when ``report`` is better / worse than ``baseline`` beyond the intervals, else ''."""
    mine, theirs = report["intervals"]["generated"][metric], baseline["intervals"]["generated"][metric]
    if overlap(mine, theirs):
        return ""
    bad = BADNESS[report["metric_info"][metric]["better"]]
    real = report["metrics"]["real"][metric]
    return "+" if bad(report["metrics"]["generated"][metric], real) < bad(baseline["metrics"]["generated"][metric], real) else "-"


def cell(report: dict, metric: str, mark: str = "") -> str:
    """``value [low, high]``; the value in bold when better than the baseline beyond the intervals, italic when worse."""
    value = report["metrics"]["generated"][metric]
    low, high = report["intervals"]["generated"][metric]
    shown = {"+": f"**{value:.3g}**", "-": f"*{value:.3g}*"}.get(mark, f"{value:.3g}")
    return f"{shown} [{low:.3g}, {high:.3g}]"


def describe(config: dict) -> str:
    m, t = config["model"], config["train"]
    parts = [f"d{m['model_dim']} b{t['batch_size']} n_critic {t['d_steps']}", t.get("loss", "wgan-gp"),
             f"{t.get('optimizer', 'adam')} {t['d_learning_rate']:g}/{t['g_learning_rate']:g}", t["precision"]]
    for key, default in (("upsample", "transposed"), ("post_filter", 0), ("batchnorm", False), ("minibatch_std", 0)):
        if m.get(key, default) != default:
            parts.append(f"{key} {m[key]}")
    for key, default in (("gp_every", 1), ("ema_decay", 0.0), ("critic_augment", "")):
        if t.get(key, default) != default:
            parts.append(f"{key} {t[key]}")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="?", default=Path("../runs"))
    parser.add_argument("--baseline", default="base", help="name of the baseline configuration (default base)")
    parser.add_argument("--columns", nargs="+", default=list(COLUMNS))
    parser.add_argument("--export", type=Path, help="write each row as NAME.json into this folder")
    parser.add_argument("--include", type=Path, help="add the rows saved by --export in this folder")
    args = parser.parse_args(argv)
    rows, anchors, baselines = [], None, {}
    for run in sorted(p for p in args.runs.iterdir() if (p / "config.json").is_file()):
        config = json.loads((run / "config.json").read_text())
        if not (run / "metrics.jsonl").is_file():
            print(f"{run.name}: no step logged yet", file=sys.stderr)
            continue
        lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
        losses = [x for x in lines if "d_loss" in x]
        done = run.parent / f"{run.name}.done"  # {"cpu_s", "wall_s", "core"} from benchmarks/recipe.py
        spent = json.loads(done.read_text()) if done.is_file() else {}
        minutes = spent.get("cpu_s", float("nan")) / 60
        step = spent.get("step") or (losses[-1]["step"] if losses else 0)  # a run trained on later: its budget's step
        seed = re.search(r"_s(\d+)$", run.name)
        for folder, suffix in EVALUATIONS.items():
            path = run / folder / "evaluation.json"
            if not path.is_file():
                continue
            report = json.loads(path.read_text())
            if "intervals" not in report or not report["intervals"]:
                print(f"{run.name}/{folder}: evaluated without intervals; evaluate it again", file=sys.stderr)
                continue
            anchors = anchors or report
            name = run.name + suffix
            if folder == "evaluation" and (run / "evaluation_raw").is_dir():
                # issue 25's table calls its baseline's average "ema"; every other average is NAME+ema
                name = run.name.replace("base", "ema", 1) if run.name.startswith("base_") else name + "+ema"
            if run.name.startswith(args.baseline) and folder in ("evaluation_raw",) or (
                    run.name.startswith(args.baseline) and folder == "evaluation" and not (run / "evaluation_raw").is_dir()):
                baselines[seed.group(1) if seed else "0"] = report
            rows.append((name, describe(config), minutes, step, report, seed.group(1) if seed else "0"))
        if not any((run / f / "evaluation.json").is_file() for f in EVALUATIONS):
            print(f"{run.name}: not evaluated yet", file=sys.stderr)
    if args.include and args.include.is_dir():
        present = {row[0] for row in rows}
        for path in sorted(args.include.glob("*.json")):
            saved = json.loads(path.read_text())
            if saved["name"] in present:
                continue
            report = saved["report"]
            anchors = anchors or report
            rows.append((saved["name"], saved["configuration"], saved["cpu_minutes"], saved["steps"], report,
                         saved["seed"]))
            if saved.get("baseline"):
                baselines.setdefault(saved["seed"], report)
    rows.sort(key=lambda row: (row[5], row[0]))
    if args.export:
        args.export.mkdir(parents=True, exist_ok=True)
        for name, described, minutes, step, report, seed in rows:
            keep = {k: report[k] for k in ("metrics", "intervals", "metric_info", "n_loops", "seed", "embedding")}
            (args.export / f"{name}.json").write_text(json.dumps(
                {"name": name, "configuration": described, "cpu_minutes": round(minutes, 2), "steps": step,
                 "seed": seed, "baseline": baselines.get(seed) is report, "report": keep}, indent=1) + "\n")
    header = ["run", "configuration", "CPU min", "G steps", "G steps per CPU min", *args.columns]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, described, minutes, step, report, seed in rows:
        base = baselines.get(seed)
        marks = {c: (verdict(report, base, c) if base is not None and base is not report else "") for c in args.columns}
        rate = f"{step / minutes:.0f}" if step and minutes > 0 else "-"
        print("| " + " | ".join([name, described, f"{minutes:.0f}", str(step), rate,
                                 *(cell(report, c, marks[c]) for c in args.columns)]) + " |")
    if anchors:
        for name in ("real", "collapsed", "noise"):
            values = [f"{anchors['metrics'][name][c]:.3g} [{anchors['intervals'][name][c][0]:.3g}, "
                      f"{anchors['intervals'][name][c][1]:.3g}]" for c in args.columns]
            print("| *" + name + "* | anchor | | | | " + " | ".join(values) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
