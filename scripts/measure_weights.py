"""Measure a weights directory for its model card: quality and novelty, saved beside the weights.

Runs, from the repository root, the two commands a model card quotes::

    beatgan evaluate --weights weights --reference data/open_loops -n 500 --seed 0 -o outputs/weights_evaluation
    beatgan similarity --weights weights --training data/open_loops -n 200 --seed 0 --recovery 16 \\
        -o outputs/weights_novelty

and writes ``weights/evaluation.json`` and ``weights/novelty.json``: the numbers the card prints,
which ``tests/test_shipped_weights.py`` checks the card against (fast) and re-measures on a freshly
rendered corpus (slow). Then prints the card's evaluation table in Markdown. The card's prose is
written by hand from these numbers.

    python scripts/measure_weights.py --step 7000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from beatgan.atomic import write_json_atomic  # noqa: E402
from beatgan.cli import main as beatgan  # noqa: E402
from beatgan.corpus.render import MANIFEST  # noqa: E402

EVALUATION_KEYS = ("command", "embedding", "fad_method", "metrics", "intervals", "n_loops", "n_reference", "position", "seed",
                   "warnings")
RECOVERY_KEYS = ("alpha", "effect_rank_biserial", "gap_db", "heldout_db", "heldout_score_median", "mann_whitney_u",
                 "min_effect", "p_value", "restarts", "seed", "steps", "training_db", "training_score_median",
                 "verdict")
NOVELTY_KEYS = ("fraction_similar", "logmel_distance_quantiles_db", "n_generated", "n_similar", "n_training",
                "score_quantiles", "threshold")
SETS = ("generated", "real", "collapsed", "noise")


def _run(command: str) -> None:
    print(f"$ {command}", flush=True)
    start = time.perf_counter()
    status = beatgan([*command.split()[1:], "--quiet"])
    if status:
        raise SystemExit(f"{command!r} exited with status {status}")
    print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)


def _corpus_facts(corpus: Path) -> dict:
    """Count, kits and render format of a corpus from ``beatgan render-loops`` (its manifest's header line)."""
    manifest = corpus / MANIFEST
    try:
        header = json.loads(manifest.read_text().splitlines()[0].removeprefix("# "))
    except (OSError, IndexError, ValueError) as error:
        raise SystemExit(f"{manifest}: not a render-loops manifest ({error}); render the corpus with `make corpus`")
    return {"corpus_count": header["count"], "corpus_kits": len(header["kits"]),
            "corpus_version": f"render format {header['version']}"}


def card_table(evaluation: dict) -> str:
    """The evaluation table of a model card, in Markdown, from a saved ``evaluation.json``."""
    info, metrics, position = evaluation["metric_info"], evaluation["metrics"], evaluation["position"]
    lines = ["| metric | these weights | real (held-out half) | collapsed | noise | better | position (0 real, 1 collapsed) |",
             "|---|---|---|---|---|---|---|"]
    for name in metrics["generated"]:
        unit = info[name]["unit"]
        label = f"{name} ({unit})" if unit else name
        where = "n/a" if position[name] is None else f"{position[name]:.2f}"
        cells = [f"{metrics[s][name]:.4g}" for s in SETS]
        lines.append(f"| {label} | {' | '.join(cells)} | {info[name]['better']} | {where} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, required=True, help="generator steps the weights were trained for")
    parser.add_argument("--weights", default="weights", help="weights directory, relative to the repository root")
    parser.add_argument("--corpus", default="data/open_loops", help="the rendered open corpus")
    parser.add_argument("--count", type=int, default=500, help="loops for beatgan evaluate (default 500)")
    parser.add_argument("--novelty-count", type=int, default=200, help="loops for beatgan similarity (default 200)")
    parser.add_argument("--recovery", type=int, default=16, help="loops per side of the latent recovery (default 16)")
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # the commands are recorded with paths relative to the repository root
    weights, corpus = Path(args.weights), Path(args.corpus)
    facts = _corpus_facts(corpus)
    evaluate = (f"beatgan evaluate --weights {weights} --reference {corpus} -n {args.count} --seed 0 "
                f"-o outputs/weights_evaluation")
    similarity = f"beatgan similarity --weights {weights} --training {corpus} -n {args.novelty_count} --seed 0"
    recovery = f"{similarity} --recovery {args.recovery} -o outputs/weights_novelty"
    similarity += " -o outputs/weights_novelty"
    _run(evaluate)
    _run(recovery)  # writes the plain novelty report too

    report = json.loads(Path("outputs/weights_evaluation/evaluation.json").read_text())
    saved = {"command": evaluate, **{k: report[k] for k in EVALUATION_KEYS if k != "command"}}
    write_json_atomic(weights / "evaluation.json", saved)
    novelty = json.loads(Path("outputs/weights_novelty/report.json").read_text())
    recovered = json.loads(Path("outputs/weights_novelty/recovery.json").read_text())
    write_json_atomic(weights / "novelty.json", {
        "command": similarity, **facts, **{k: novelty[k] for k in NOVELTY_KEYS},
        "recovery": {k: recovered[k] for k in RECOVERY_KEYS}, "recovery_command": recovery, "step": args.step,
    })
    print(f"wrote {weights / 'evaluation.json'} and {weights / 'novelty.json'}\n")
    print(card_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
