"""beat_gan.ipynb only calls the package, runs top to bottom (tiny parameters), every stage leaves audio and
figures, and its saved outputs hold no terminal control characters and no stderr."""

import ast
import inspect
import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "beat_gan.ipynb"
STAGES_WITH_AUDIO = ("2.", "3.", "4.", "5.", "6.", "7.", "8.", "9.", "10.")
FIGURES = ("downsample", "losses", "variations", "morph", "recovery", "finetune_metrics", "finetune_before_after",
           "best_scores", "closest_pairs", "recovery_distances", "evaluation_metrics")
# TensorFlow C++ start-up lines that must not reach the notebook (the package imports Keras quietly)
STARTUP_CHATTER = ("I0000", "E0000", "cuInit", "oneDNN")
# what a terminal redraws a line with (Keras' bar, tqdm's text bar): a saved notebook keeps them, its HTML shows boxes
CONTROL_CHARACTERS = {"\b": "backspace", "\r": "carriage return"}


def code_cells(cells=None) -> list[str]:
    """The source of every code cell of beat_gan.ipynb (or of ``cells``)."""
    cells = json.loads(NOTEBOOK.read_text())["cells"] if cells is None else cells
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def defined_functions(source: str) -> list[str]:
    """Functions and classes a cell defines: ``def``, ``class``, or a ``lambda`` assigned at top level."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append(f"{type(node).__name__} {node.name} (line {node.lineno})")
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Lambda):
            found.append(f"lambda assigned on line {node.lineno}")
    return found


def numeric_literals(source: str) -> list[tuple[float, int]]:
    """Every number written in a cell's code (not its comments), with its line."""
    return [(node.value, node.lineno) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and type(node.value) in (int, float)]


def package_constants() -> dict[str, float]:
    """Values the package names, which the notebook must use by name rather than repeat.

    Only distinctive values: small counts (2, 4, 8) and round factors (100) mean many things.
    """
    from beatgan import config
    from beatgan.config import ModelConfig, TrainConfig
    from beatgan.corpus import render_corpus
    from beatgan.config import LOOP_RATE
    from beatgan.novelty import DEFAULT_THRESHOLD

    model, train = ModelConfig(), TrainConfig()
    return {
        "beatgan.config.AUGMENT_AMPLITUDE": config.AUGMENT_AMPLITUDE,
        "ModelConfig().sample_rate": model.sample_rate,
        "ModelConfig().slice_len": model.slice_len,
        "ModelConfig().model_dim": model.model_dim,
        **{f"beatgan.config.SLICE_LENGTHS[{i}]": n for i, n in enumerate(config.SLICE_LENGTHS)},
        "TrainConfig().batch_size": train.batch_size,
        "TrainConfig().steps": train.steps,
        "TrainConfig().checkpoint_every": train.checkpoint_every,
        "beatgan.config.LOOP_RATE": LOOP_RATE,
        "render_corpus's default count": inspect.signature(render_corpus).parameters["count"].default,
        "beatgan.novelty.DEFAULT_THRESHOLD": DEFAULT_THRESHOLD,
    }


def repeated_constants(source: str, constants: dict[str, float]) -> list[str]:
    """Numbers of ``source`` equal to one of ``constants``, each with the name to use instead."""
    return [f"line {line}: {value!r} is {name}" for value, line in numeric_literals(source)
            for name, constant in constants.items() if value == constant]


def output_problems(cells) -> list[str]:
    """What saved outputs must not hold: stderr streams, terminal control characters, ANSI colours in streams."""
    problems = []
    for cell in cells:
        where = "".join(cell.get("source", ""))[:80].replace("\n", " | ")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                problems.append(f"stderr output {''.join(output['text'])[:200]!r} in cell: {where}")
            texts = [output.get("text", "")] + list(output.get("data", {}).values())
            text = "".join("".join(t) if isinstance(t, list) else t for t in texts if isinstance(t, (str, list)))
            for char, name in CONTROL_CHARACTERS.items():
                if char in text:
                    problems.append(f"{name} in an output of cell: {where}")
            if output.get("output_type") == "stream" and "\x1b[" in text:
                problems.append(f"ANSI escape sequence in a stream output of cell: {where}")
    return problems


def test_notebook_only_calls_the_package():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    parameters = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(parameters) == 1, "exactly one papermill parameters cell"
    source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    for forbidden in ("keras.layers", "GradientTape", "Conv1D", "tf.", "jax.", "class "):
        assert forbidden not in source, f"notebook defines model or training code: {forbidden!r}"
    assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code"), "commit the notebook without outputs"


def test_no_cell_defines_a_function():
    """Helpers live in the package (beatgan.notebook), where they are documented and tested."""
    defined = {source[:60]: found for source in code_cells() if (found := defined_functions(source))}
    assert not defined, f"cells define functions; move them into beatgan.notebook: {defined}"


def test_no_cell_repeats_a_constant_the_package_names():
    constants = package_constants()
    repeated = {source[:60]: found for source in code_cells() if (found := repeated_constants(source, constants))}
    assert not repeated, f"cells repeat the package's constants; use its names: {repeated}"


def test_the_cell_checks_find_what_they_look_for():
    planted = "def show(fig):\n    pass\nsquare = lambda x: x * x\nkey = sorted(names, key=lambda n: n)\nrate = 44100\n"
    assert defined_functions(planted) == ["FunctionDef show (line 1)", "lambda assigned on line 3"]
    assert numeric_literals("a = 0.0011 + 2  # 16384\nb = True") == [(0.0011, 1), (2, 1)]
    assert repeated_constants(planted, {"beatgan.config.LOOP_RATE": 44100}) == [
        "line 5: 44100 is beatgan.config.LOOP_RATE"]
    assert package_constants()["beatgan.config.AUGMENT_AMPLITUDE"] == 0.0011


def test_output_check_finds_control_characters_and_stderr():
    cells = [{"cell_type": "code", "source": "train()", "outputs": [
        {"output_type": "stream", "name": "stdout", "text": "step 1/2\n"},
        {"output_type": "stream", "name": "stdout", "text": ["\r\x1b[1m1/1\x1b[0m", "\b\b\b"]},
        {"output_type": "stream", "name": "stderr", "text": "UserWarning: careful\n"},
        {"output_type": "display_data", "data": {"text/plain": "loading:  50%|#####\r"}},
    ]}]
    problems = output_problems(cells)
    assert sum("carriage return" in p for p in problems) == 2 and sum("backspace" in p for p in problems) == 1
    assert any("ANSI" in p for p in problems) and any(p.startswith("stderr output 'UserWarning" ) for p in problems)
    assert output_problems([{"cell_type": "code", "source": "", "outputs": [
        {"output_type": "stream", "name": "stdout", "text": "step 1/2  d_loss +8.2\n"}]}]) == []


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
    from beatgan.model import build_discriminator, build_generator
    from beatgan.checkpoint import export_critic, export_generator
    from beatgan.notebook import kernel_config

    corpus = tmp_path / "corpus"
    render_corpus(corpus, count=20, seed=0, progress=False)  # evaluate needs 20 reference loops
    weights = tmp_path / "weights"
    tiny = ModelConfig(model_dim=2)
    export_generator(build_generator(tiny), tiny, weights)
    export_critic(build_discriminator(tiny), tiny, weights)  # section 8 fine-tunes from generator and critic
    out = tmp_path / "outputs"
    executed = tmp_path / "executed.ipynb"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    papermill.execute_notebook(
        str(NOTEBOOK), str(executed), cwd=str(tmp_path), kernel_name="python3", progress_bar=False,
        config=kernel_config(),  # the kernel's connection encrypted, as the main job runs it
        parameters={
            "corpus_folder": str(corpus), "corpus_count": 20, "cpu_model_dim": 2, "cpu_batch_size": 2,
            "train_steps": 2, "weights": str(weights), "n_generate": 6, "output_dir": str(out),
            "play_loop": 3, "recover_steps": 5, "n_recovery": 2, "n_evaluate": 40,
            "finetune_steps": 2, "finetune_eval_every": 1,
        },
    )
    cells = json.loads(executed.read_text())["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    problems = output_problems(cells)
    assert not problems, "stderr or terminal control characters in the saved outputs:\n" + "\n".join(problems)
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
    tuned = json.loads((out / "finetune" / "weights" / "lineage.json").read_text())
    assert tuned["step"] == 2 and tuned["init_from"]["weights"] == str(weights.resolve())
    assert len(list((tmp_path / "data" / "demo_pack").glob("*.wav"))) == 24  # the demo pack, at 90-95 bpm
