"""beat_gan.ipynb runs top to bottom (tiny parameters) and every stage leaves audio and figures."""

import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "beat_gan.ipynb"
STAGES_WITH_AUDIO = ("2.", "3.", "4.", "5.", "6.", "7.", "8.", "9.")
FIGURES = ("downsample", "losses", "variations", "morph", "recovery", "best_scores", "closest_pairs",
           "recovery_distances", "evaluation_metrics")
# TensorFlow C++ start-up lines that must not reach the notebook (the package imports Keras quietly)
STARTUP_CHATTER = ("I0000", "E0000", "cuInit", "oneDNN")


def test_notebook_only_calls_the_package():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    parameters = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(parameters) == 1, "exactly one papermill parameters cell"
    source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    for forbidden in ("keras.layers", "GradientTape", "Conv1D", "tf.", "jax.", "class "):
        assert forbidden not in source, f"notebook defines model or training code: {forbidden!r}"
    assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code"), "commit the notebook without outputs"


def _sections(cells):
    """Map a section number ("2.") to the outputs of its code cells."""
    sections, current = {}, None
    for cell in cells:
        if cell["cell_type"] == "markdown":
            match = re.match(r"##\s+(\d+\.)", "".join(cell["source"]))
            if match:
                current = match.group(1)
                sections[current] = []
        elif current:
            sections[current].extend(cell.get("outputs", []))
    return sections


@pytest.mark.slow
def test_notebook_executes_with_tiny_parameters(tmp_path):
    import papermill

    from beatgan.config import ModelConfig
    from beatgan.corpus import render_corpus
    from beatgan.model import build_generator
    from beatgan.checkpoint import export_generator

    corpus = tmp_path / "corpus"
    render_corpus(corpus, count=20, seed=0, progress=False)  # evaluate needs 20 reference loops
    weights = tmp_path / "weights"
    tiny = ModelConfig(model_dim=2)
    export_generator(build_generator(tiny), tiny, weights)
    out = tmp_path / "outputs"
    executed = tmp_path / "executed.ipynb"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    papermill.execute_notebook(
        str(NOTEBOOK), str(executed), cwd=str(tmp_path), kernel_name="python3", progress_bar=False,
        parameters={
            "corpus_folder": str(corpus), "corpus_count": 20, "cpu_model_dim": 2, "cpu_batch_size": 2,
            "train_steps": 2, "weights": str(weights), "n_generate": 6, "output_dir": str(out),
            "play_loop": 3, "recover_steps": 5, "n_recovery": 2, "n_evaluate": 40,
        },
    )
    cells = json.loads(executed.read_text())["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    for cell in cells:
        for output in cell.get("outputs", []):
            text = json.dumps(output.get("text", "")) + json.dumps(output.get("data", {}).get("text/plain", ""))
            chatter = [s for s in STARTUP_CHATTER if s in text]
            assert not chatter, f"TensorFlow start-up lines {chatter} in an output of:\n{''.join(cell['source'])[:200]}"
    sections = _sections(cells)
    for stage in STAGES_WITH_AUDIO:
        html = "".join("".join(o.get("data", {}).get("text/html", "")) for o in sections[stage])
        assert "<audio" in html, f"section {stage} has no audio player"
    images = sum("image/png" in o.get("data", {}) for outputs in sections.values() for o in outputs)
    assert images >= len(FIGURES)
    for name in FIGURES:
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
    assert len(list((out / "generated" / "raw").glob("*.wav"))) == 6
    assert len(list((out / "generated" / "loops").glob("*.wav"))) == 6
    report = json.loads((out / "similarity" / "report.json").read_text())
    assert report["n_generated"] == 6 and report["n_training"] == 20
    assert (out / "similarity" / "recovery.txt").stat().st_size > 0
    assert (out / "evaluation" / "evaluation.txt").stat().st_size > 0
    assert (out / "evaluation" / "evaluation.json").is_file()
