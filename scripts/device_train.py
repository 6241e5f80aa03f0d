"""Train WaveGAN at full size on a lent accelerator and bring the weights home: one command in three halves.

A lent GPU machine comes for about 15 minutes in all, with JAX and numpy but no
TensorFlow, Keras, librosa or soundfile, no network, and files coming back at
most 16 MiB each, 8 per call and 64 MiB per call together. So the work is
split where each part can run::

    # here (the dev venv): the loops as int16, the wheels, the recipe -> build/device (about 30 MB)
    python scripts/device_train.py pack

    # there, in the repository root, with build/device carried:
    python3 scripts/device_train.py run --minutes 9 --out "$OUT"
    python3 scripts/device_train.py collect --out "$OUT"     # only if `run` says a second batch waits

    # here again: join and check the shards into a weights directory
    python scripts/device_train.py unpack FILES_AT [FILES_AT_2] -o runs/gpu/weights

``pack`` writes the carry folder: ``loops.npz`` (the corpus loops, not yet
augmented, as int16), ``recipe.json`` (model and train configs plus the
augmentation), ``wheels/`` (this package's wheel, built offline, and Keras with
the two dependencies the accelerator image lacks, for its Python), and
``PACK.json`` (what it holds, with checksums).

``run`` installs the carried wheels offline into a folder of its own, augments
the loops, trains the recipe on JAX (bfloat16 by default) until its time is up,
less a margin for the export (checkpointing atomically as every run does, so a
second ``run`` on a warm machine resumes), exports the last step's generator
and critic in float16, splits every file over the shard size into numbered
shards, and writes ``manifest.json``: every file and shard with its size and
sha256, the configs, steps, steps per second and the device. Shards that do
not fit one call's return limits wait in ``build/device-out/`` for
``collect``, which writes the next batch.

``unpack`` joins the shards from one or more returned folders, checks every
shard and file against the manifest (a missing or damaged shard is named), and
writes a weights directory (``config.json``, ``generator.npz``,
``critic.npz``, ``training.json``, ``metrics.jsonl``) that ``beatgan
generate`` and ``beatgan evaluate`` take.

The top of this file imports only the standard library: ``run`` starts on a
machine where this package is not installed yet.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CARRY = Path("build/device")  # carried to the accelerator: ignored by git, inside the checkout
STAGING = Path("build/device-out")  # on the accelerator: exported files and shards not yet returned
RUN_DIR = Path("build/device-run")  # on the accelerator: the training run (resumed by a second `run`)
SITE = Path("/tmp/beatgan-site")  # on the accelerator: where the carried wheels are installed
MANIFEST = "manifest.json"
PACK_FILE = "PACK.json"
LOOPS_FILE = "loops.npz"
RECIPE_FILE = "recipe.json"
WHEELS_DIR = "wheels"
MIB = 1 << 20
# what one call of the device tool brings back (its README): 8 files, 16 MiB each, 64 MiB together
RETURN_FILES, RETURN_FILE_BYTES, RETURN_BYTES = 8, 16 * MIB, 64 * MIB
CARRY_BYTES = 64 * MIB  # the working tree and the carried paths together
SHARD_BYTES = RETURN_FILE_BYTES - 64 * 1024  # a little under the limit
# Keras and the dependencies that the accelerator image lacks (it has numpy, absl-py, rich, h5py, ml-dtypes,
# packaging), with optree's own typing_extensions (>= 4.10) so an older one there cannot break it; their
# versions are this venv's, so the accelerator runs what was tested here
KERAS_WHEELS = ("keras", "namex", "optree", "typing_extensions")
DEVICE_PYTHON = "3.12"  # the accelerator image's python3
DEVICE_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                    "manylinux2014_x86_64", "manylinux1_x86_64")
# the full-size recipe of the standing order: WaveGAN's paper values, stereo 16384, bfloat16
FULL_SIZE = {"model": {}, "train": {"precision": "bfloat16", "steps": 1_000_000, "checkpoint_every": 500,
                                    "keep_checkpoints": 2, "preview_every": 1000}}
AUGMENT = {"copies": 5, "amplitude": 0.0011, "seed": 0}  # the seed's augmentation, done on the accelerator


class DeviceTrainError(Exception):
    """A step of pack, run, collect or unpack cannot go on; the message says why and names the file."""


# ------------------------------------------------------------------------------------------------ helpers


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: Path, value) -> None:
    """Write JSON atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def _copy_atomic(source: Path, target: Path, start: int = 0, length: int | None = None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
        src.seek(start)
        left = os.path.getsize(source) - start if length is None else length
        while left > 0:
            block = src.read(min(MIB, left))
            if not block:
                break
            dst.write(block)
            left -= len(block)
        dst.flush()
        os.fsync(dst.fileno())
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)


def _mib(size: int) -> str:
    return f"{size / MIB:.1f} MiB"


# ------------------------------------------------------------------------------------------------ recipe


def make_recipe(overrides: list[str], *, base: dict | None = None) -> dict:
    """The recipe ``run`` trains: ``{"model": {...}, "train": {...}, "augment": {...}}``, validated.

    Parameters
    ----------
    overrides : list of str
        ``"SECTION.FIELD=VALUE"`` with SECTION one of model, train, augment and VALUE
        JSON (``train.batch_size=8``, ``train.precision="float32"``; a bare word is a string).
    base : dict, optional
        Starting recipe (default: :data:`FULL_SIZE` with :data:`AUGMENT`).
    """
    from beatgan.config import ModelConfig, TrainConfig  # here: pack runs in the dev venv
    from beatgan.errors import ConfigError

    recipe = json.loads(json.dumps(base or {**FULL_SIZE, "augment": AUGMENT}))
    for item in overrides:
        key, sep, text = item.partition("=")
        section, _, name = key.partition(".")
        if not sep or section not in ("model", "train", "augment") or not name:
            raise DeviceTrainError(f"--set {item!r} must look like model.FIELD=VALUE, train.FIELD=VALUE "
                                   "or augment.FIELD=VALUE")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        recipe.setdefault(section, {})[name] = value
    unknown = set(recipe["augment"]) - set(AUGMENT)
    if unknown:
        raise DeviceTrainError(f"augment fields {sorted(unknown)} are unknown; known: {sorted(AUGMENT)}")
    try:
        model = ModelConfig.from_dict({**ModelConfig().to_dict(), **recipe["model"]})
        train = TrainConfig.from_dict({**TrainConfig().to_dict(), **recipe["train"]})
    except (ConfigError, TypeError) as error:
        raise DeviceTrainError(f"recipe: {error}") from None
    return {"model": model.to_dict(), "train": train.to_dict(), "augment": {**AUGMENT, **recipe["augment"]}}


# ------------------------------------------------------------------------------------------------ pack


def _build_wheels(target: Path, what: str, python_version: str) -> list[Path]:
    """This package's wheel (built offline) and, for ``what="all"``, Keras' for the accelerator's Python."""
    from importlib.metadata import version

    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.whl"):
        old.unlink()
    pip = [sys.executable, "-m", "pip"]
    build = subprocess.run(pip + ["wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                                  "-w", str(target), str(ROOT)], capture_output=True, text=True)
    if build.returncode:
        raise DeviceTrainError(f"building the beatgan wheel failed (it needs setuptools>=77 and wheel, which "
                               f"`pip install -e '.[dev]'` installs):\n{build.stderr.strip()[-2000:]}")
    if what == "all":
        pinned = [f"{name}=={version(name)}" for name in KERAS_WHEELS]
        platforms = [arg for p in DEVICE_PLATFORMS for arg in ("--platform", p)]
        fetch = subprocess.run(pip + ["download", "--quiet", "--no-deps", "--only-binary=:all:", "--implementation",
                                      "cp", "--python-version", python_version, *platforms, "-d", str(target),
                                      *pinned], capture_output=True, text=True)
        if fetch.returncode:
            raise DeviceTrainError(f"downloading {', '.join(pinned)} for Python {python_version} failed:\n"
                                   f"{fetch.stderr.strip()[-2000:]}")
    return sorted(target.glob("*.whl"))


def pack(out: Path, *, loops: Path, overrides: list[str], wheels: str = "all",
         python_version: str = DEVICE_PYTHON) -> dict:
    """Write the carry folder: loops.npz (int16), recipe.json, wheels/, PACK.json. Returns PACK.json's contents."""
    from beatgan.data import load_loops, load_loops_file, save_dataset  # here: pack runs in the dev venv

    recipe = make_recipe(overrides)
    out.mkdir(parents=True, exist_ok=True)
    model = recipe["model"]
    settings = {"sample_rate": model["sample_rate"], "slice_len": model["slice_len"], "channels": model["channels"]}
    source = Path(loops)
    held = load_loops_file(source, **settings) if source.is_file() else load_loops(source, **settings, progress=False)
    if len(held) == 0:
        raise DeviceTrainError(f"{source} holds no loops to train on")
    save_dataset(out / LOOPS_FILE, held.audio, held.names, sample_rate=held.sample_rate,
                 settings={**held.settings, "copies": 1, "amplitude": 0.0, "source": str(source)},
                 skipped=held.skipped, dtype="int16")
    write_json(out / RECIPE_FILE, recipe)
    wheel_dir = out / WHEELS_DIR
    shutil.rmtree(wheel_dir, ignore_errors=True)
    built = _build_wheels(wheel_dir, wheels, python_version) if wheels != "none" else []
    files = [out / LOOPS_FILE, out / RECIPE_FILE, *built]
    info = {
        "loops": len(held), "source": str(source), "wheels": [p.name for p in built], "python": python_version,
        "files": {p.relative_to(out).as_posix(): {"size": p.stat().st_size, "sha256": sha256(p)} for p in files},
    }
    info["bytes"] = sum(f["size"] for f in info["files"].values())
    write_json(out / PACK_FILE, info)
    return info


# ------------------------------------------------------------------------------------------------ run


def install_wheels(wheel_dir: Path, site: Path) -> list[str]:
    """Install the carried wheels offline into ``site`` and put it first on ``sys.path``."""
    wheels = sorted(str(p) for p in wheel_dir.glob("*.whl")) if wheel_dir.is_dir() else []
    if wheels:
        shutil.rmtree(site, ignore_errors=True)
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                               "--no-compile", "--no-cache-dir", "--disable-pip-version-check", "--target",
                               str(site), *wheels], capture_output=True, text=True)
        if done.returncode:
            raise DeviceTrainError(f"installing the carried wheels failed:\n{done.stderr.strip()[-2000:]}")
        sys.path.insert(0, str(site))
    return [Path(w).name for w in wheels]


def _device_name() -> str:
    import jax  # here: the run half trains on JAX

    device = jax.devices()[0]
    return f"{device.platform}: {getattr(device, 'device_kind', str(device))} x{jax.device_count()}"


def _plan_batches(entries: list[dict]) -> int:
    """Give each shard a ``batch`` (1, 2, ...) so that no call returns more than the device tool brings back."""
    batch, files, size = 1, 1, 0  # the manifest travels in every batch
    for entry in entries:
        for shard in entry["shards"]:
            if files + 1 > RETURN_FILES or size + shard["size"] > RETURN_BYTES - MIB:
                batch, files, size = batch + 1, 1, 0
            shard["batch"] = batch
            files, size = files + 1, size + shard["size"]
    return batch


def shard_files(paths: list[Path], staging: Path, *, shard_bytes: int = SHARD_BYTES) -> list[dict]:
    """Split every file into numbered shards of at most ``shard_bytes`` in ``staging``; describe them.

    A file no larger than ``shard_bytes`` is one shard of its own name; a larger one becomes
    ``NAME.000``, ``NAME.001``, ... Every file and shard gets its size and sha256.
    """
    entries = []
    for path in paths:
        size = path.stat().st_size
        count = max(1, -(-size // shard_bytes))
        shards = []
        for index in range(count):
            name = path.name if count == 1 else f"{path.name}.{index:03d}"
            start = index * shard_bytes
            _copy_atomic(path, staging / name, start, min(shard_bytes, size - start))
            shards.append({"name": name, "size": (staging / name).stat().st_size, "sha256": sha256(staging / name)})
        entries.append({"name": path.name, "size": size, "sha256": sha256(path), "shards": shards})
    return entries


def emit_batch(staging: Path, out: Path, batch: int | None = None) -> tuple[int, int]:
    """Copy the manifest and the shards of one batch (default: the first not yet emitted) to ``out``.

    Returns
    -------
    (batch, batches)
    """
    manifest = json.loads((staging / MANIFEST).read_text())
    batches = manifest["batches"]
    done_path = staging / ".emitted"
    emitted = json.loads(done_path.read_text()) if done_path.is_file() else []
    if batch is None:
        waiting = [b for b in range(1, batches + 1) if b not in emitted]
        if not waiting:
            raise DeviceTrainError(f"every batch of {staging / MANIFEST} was written already; "
                                   f"give --batch 1..{batches} to write one again")
        batch = waiting[0]
    if not 1 <= batch <= batches:
        raise DeviceTrainError(f"--batch {batch}: the manifest has batches 1..{batches}")
    out.mkdir(parents=True, exist_ok=True)
    _copy_atomic(staging / MANIFEST, out / MANIFEST)
    for entry in manifest["files"]:
        for shard in entry["shards"]:
            if shard["batch"] == batch:
                _copy_atomic(staging / shard["name"], out / shard["name"])
    write_json(done_path, sorted(set(emitted) | {batch}))
    return batch, batches


def run(carry: Path, out: Path, *, minutes: float, margin: float = 60.0, run_dir: Path = RUN_DIR,
        staging: Path = STAGING, site: Path = SITE, shard_bytes: int = SHARD_BYTES, log_every: int = 50) -> dict:
    """Train the carried recipe on JAX for ``minutes`` (all included), export, shard, write batch 1 to ``out``.

    Returns the manifest.
    """
    began = time.monotonic()
    if not 0 < minutes < 24 * 60:
        raise DeviceTrainError(f"--minutes {minutes} must be in (0, 1440)")
    for name in (LOOPS_FILE, RECIPE_FILE):
        if not (carry / name).is_file():
            raise DeviceTrainError(f"{carry / name} is missing: run `python scripts/device_train.py pack` here "
                                   f"and carry {carry}")
    seconds = {}
    installed = install_wheels(carry / WHEELS_DIR, site)
    seconds["install"] = time.monotonic() - began
    os.environ["KERAS_BACKEND"] = "jax"
    from beatgan.backend import describe, load_keras, select_backend  # here: after the wheels are installed

    select_backend("jax")
    keras = load_keras()
    import beatgan

    print(f"{describe()}; beatgan from {Path(beatgan.__file__).parent}, keras {keras.__version__}", flush=True)
    import numpy as np

    from beatgan.checkpoint import (  # here: Keras is imported after the backend is chosen
        CHECKPOINTS_DIR, checkpoint_step, export_checkpoint, list_checkpoints,
    )
    from beatgan.config import ModelConfig, TrainConfig
    from beatgan.data import augment, load_loops_file
    from beatgan.run import METRICS_FILE, train

    seconds["import"] = time.monotonic() - began - seconds["install"]
    recipe = json.loads((carry / RECIPE_FILE).read_text())
    model_config = ModelConfig.from_dict(recipe["model"])
    train_config = TrainConfig.from_dict(recipe["train"])
    loops = load_loops_file(carry / LOOPS_FILE, sample_rate=model_config.sample_rate,
                            slice_len=model_config.slice_len, channels=model_config.channels)
    audio = augment(loops.audio, **recipe["augment"])
    del loops
    print(f"{len(audio)} examples ({recipe['augment']['copies']} noisy copies per loop) of "
          f"{audio.shape[1]} samples x {audio.shape[2]} channels", flush=True)
    device = _device_name()
    seconds["data"] = time.monotonic() - began - seconds["install"] - seconds["import"]
    print(f"set-up: wheels {seconds['install']:.1f} s, imports {seconds['import']:.1f} s, "
          f"data {seconds['data']:.1f} s", flush=True)
    kept = list_checkpoints(run_dir / CHECKPOINTS_DIR)
    start_step = checkpoint_step(kept[-1]) if kept else None
    left = minutes * 60 - margin - (time.monotonic() - began)
    if left <= 0:
        raise DeviceTrainError(f"--minutes {minutes} leaves no time to train after the {margin:.0f} s margin "
                               f"and {time.monotonic() - began:.0f} s of set-up")
    trained_at = time.monotonic()
    result = train(audio, run_dir, model_config=model_config, train_config=train_config, backend="jax",
                   progress=True, log_every=log_every, tensorboard=False, eval_every=0, time_limit=left)
    train_seconds = time.monotonic() - trained_at
    seconds["train"] = train_seconds
    del audio
    exported_at = time.monotonic()

    newest = list_checkpoints(run_dir / CHECKPOINTS_DIR)[-1]
    shutil.rmtree(staging, ignore_errors=True)
    export = staging / "export"
    export_checkpoint(newest, model_config, export, dtype="float16")
    metrics_path = run_dir / METRICS_FILE
    if metrics_path.is_file():
        shutil.copyfile(metrics_path, export / METRICS_FILE)
    else:  # stopped before its first log line
        (export / METRICS_FILE).write_text("")
    names = ["config.json", METRICS_FILE, "generator.npz", "critic.npz"]  # the first batch makes a weights dir
    entries = shard_files([export / n for n in names], staging, shard_bytes=shard_bytes)
    metrics = [json.loads(line) for line in (export / METRICS_FILE).read_text().splitlines() if line.strip()]
    rates = [m["steps_per_sec"] for m in metrics if "steps_per_sec" in m]
    manifest = {
        "format": "beatgan-device-run", "version": 1,
        "files": entries, "batches": _plan_batches(entries),
        "recipe": recipe, "steps": result.step, "start_step": start_step or 0,
        "steps_per_second": (result.step - (start_step or 0)) / train_seconds,
        "steps_per_second_training": rates[-1] if rates else None,
        "train_seconds": round(train_seconds, 1), "total_seconds": None, "seconds": None,
        "stopped_by": result.stopped_by, "device": device, "backend": "jax",
        "python": platform.python_version(), "wheels": installed, "last_metrics": result.metrics,
    }
    seconds["export"] = time.monotonic() - exported_at
    manifest["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    manifest["total_seconds"] = round(time.monotonic() - began, 1)
    write_json(staging / MANIFEST, manifest)
    shutil.rmtree(export)
    batch, batches = emit_batch(staging, out, 1)
    print(f"trained steps {manifest['start_step']}..{result.step} in {train_seconds:.0f} s on {device} "
          f"({manifest['steps_per_second']:.2f} steps/s with compiling); exported and sharded in "
          f"{seconds['export']:.1f} s; {manifest['total_seconds']:.0f} s in all; wrote batch {batch} of {batches} "
          f"to {out}", flush=True)
    if batches > 1:
        print(f"{batches - 1} more batch(es) wait in {staging}: run `python3 scripts/device_train.py collect "
              f"--out \"$OUT\"` on the same machine", flush=True)
    return manifest


# ------------------------------------------------------------------------------------------------ unpack


def _find_manifest(folders: list[Path]) -> dict:
    manifests = [json.loads((f / MANIFEST).read_text()) for f in folders if (f / MANIFEST).is_file()]
    if not manifests:
        raise DeviceTrainError(f"no {MANIFEST} in {', '.join(map(str, folders))}")
    if any(m != manifests[0] for m in manifests[1:]):
        raise DeviceTrainError(f"the folders hold different {MANIFEST} files: they come from different runs")
    return manifests[0]


def unpack(folders: list[Path], out: Path, *, without_critic: bool = False) -> dict:
    """Join and check the shards in ``folders`` against their manifest; write the weights directory ``out``.

    ``without_critic`` leaves ``critic.npz`` out when its shards did not come back (the weights
    then generate and evaluate, but cannot train on).

    Raises
    ------
    DeviceTrainError
        Naming the shard that is missing (and the batch that carries it) or whose size or
        sha256 differs, or the joined file whose sha256 differs.
    """
    folders = [Path(f) for f in folders]
    manifest = _find_manifest(folders)
    out.mkdir(parents=True, exist_ok=True)
    for entry in manifest["files"]:
        if without_critic and entry["name"] == "critic.npz":
            continue
        parts = []
        for shard in entry["shards"]:
            found = [f / shard["name"] for f in folders if (f / shard["name"]).is_file()]
            if not found:
                hint = " or unpack --without-critic" if entry["name"] == "critic.npz" else ""
                raise DeviceTrainError(f"shard {shard['name']} of {entry['name']} is missing from "
                                       f"{', '.join(map(str, folders))} (batch {shard['batch']}: run `collect`{hint})")
            path = found[0]
            if path.stat().st_size != shard["size"] or sha256(path) != shard["sha256"]:
                raise DeviceTrainError(f"shard {path} is damaged: {path.stat().st_size} bytes, sha256 "
                                       f"{sha256(path)[:12]}..., the manifest says {shard['size']} bytes, "
                                       f"{shard['sha256'][:12]}...")
            parts.append(path)
        fd, temporary = tempfile.mkstemp(dir=out, prefix=f".{entry['name']}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as joined:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, joined, MIB)
            joined.flush()
            os.fsync(joined.fileno())
        os.chmod(temporary, 0o644)
        if sha256(Path(temporary)) != entry["sha256"]:
            os.unlink(temporary)
            raise DeviceTrainError(f"{entry['name']} joined from {len(parts)} shard(s) does not match its sha256 "
                                   "in the manifest")
        os.replace(temporary, out / entry["name"])
    training = {k: manifest.get(k) for k in ("recipe", "steps", "start_step", "steps_per_second",
                                         "steps_per_second_training", "train_seconds", "total_seconds",
                                         "stopped_by", "device", "backend", "python", "wheels", "seconds")}
    write_json(out / "training.json", training)
    return manifest


# ------------------------------------------------------------------------------------------------ command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="device_train.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("pack", help="write the folder to carry to the accelerator (run here, in the dev venv)")
    p.add_argument("--loops", default="data/open_loops", type=Path,
                   help="folder of loops, or a loops file of `beatgan prepare --copies 1 --amplitude 0` "
                        "(default: data/open_loops, which `make corpus` renders)")
    p.add_argument("-o", "--out", default=CARRY, type=Path, help=f"carry folder (default: {CARRY})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="change the full-size recipe, e.g. --set model.model_dim=4 --set train.batch_size=8")
    p.add_argument("--wheels", choices=("all", "package", "none"), default="all",
                   help="all: this package and Keras (+ namex, optree, typing_extensions) for the accelerator's Python; "
                        "package: this package only (Keras already there); none (default: all)")
    p.add_argument("--python-version", default=DEVICE_PYTHON,
                   help=f"Python of the machine that runs `run`, for the binary wheels (default: {DEVICE_PYTHON})")
    r = verbs.add_parser("run", help="train, export, shard (on the accelerator, in the repository root)")
    r.add_argument("--carry", default=CARRY, type=Path, help=f"the carried folder (default: {CARRY})")
    r.add_argument("--out", default=os.environ.get("OUT"), type=Path, help="where the returned files go ($OUT)")
    r.add_argument("--minutes", type=float, required=True,
                   help="wall time of this command, set-up and export included")
    r.add_argument("--margin", type=float, default=60.0,
                   help="seconds kept for exporting and sharding after training stops (default: 60)")
    r.add_argument("--run-dir", default=RUN_DIR, type=Path, help=f"training run (default: {RUN_DIR}; "
                   "a second `run` resumes it)")
    r.add_argument("--staging", default=STAGING, type=Path, help=f"exported files and shards (default: {STAGING})")
    r.add_argument("--site", default=SITE, type=Path, help=f"where the wheels are installed (default: {SITE})")
    r.add_argument("--shard-mib", type=float, default=SHARD_BYTES / MIB, help="largest shard in MiB (default: 15.9)")
    r.add_argument("--log-every", type=int, default=50, help="generator steps between progress lines (default: 50)")
    c = verbs.add_parser("collect", help="write the next batch of shards that `run` left waiting")
    c.add_argument("--out", default=os.environ.get("OUT"), type=Path, help="where the returned files go ($OUT)")
    c.add_argument("--staging", default=STAGING, type=Path, help=f"(default: {STAGING})")
    c.add_argument("--batch", type=int, default=None, help="which batch (default: the next one not yet written)")
    u = verbs.add_parser("unpack", help="join and check the returned shards into a weights directory (here)")
    u.add_argument("folders", nargs="+", type=Path, help="the folders the calls' files came back to")
    u.add_argument("-o", "--output", required=True, type=Path, help="weights directory to write")
    u.add_argument("--without-critic", action="store_true",
                   help="leave critic.npz out when its batch did not come back")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.verb == "pack":
            info = pack(args.out, loops=args.loops, overrides=args.overrides, wheels=args.wheels,
                        python_version=args.python_version)
            print(f"packed {info['loops']} loops, {len(info['wheels'])} wheel(s) into {args.out} "
                  f"({_mib(info['bytes'])}; the checkout and the carried paths may take {_mib(CARRY_BYTES)})")
            if info["bytes"] > CARRY_BYTES - 8 * MIB:
                print(f"warning: {_mib(info['bytes'])} leaves little room under the {_mib(CARRY_BYTES)} that travels",
                      file=sys.stderr)
        elif args.verb in ("run", "collect"):
            if args.out is None:
                raise DeviceTrainError("give --out (the device tool sets $OUT)")
            if args.verb == "run":
                run(args.carry, args.out, minutes=args.minutes, margin=args.margin, run_dir=args.run_dir,
                    staging=args.staging, site=args.site, shard_bytes=int(args.shard_mib * MIB),
                    log_every=args.log_every)
            else:
                batch, batches = emit_batch(args.staging, args.out, args.batch)
                print(f"wrote batch {batch} of {batches} to {args.out}")
        else:
            manifest = unpack(args.folders, args.output, without_critic=args.without_critic)
            print(f"unpacked step {manifest['steps']} ({manifest['device']}, "
                  f"{manifest['steps_per_second']:.2f} steps/s) into {args.output}")
    except DeviceTrainError as error:
        print(f"device_train.py {args.verb}: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the package's own errors, once it is importable
        if type(error).__module__.startswith("beatgan"):
            print(f"device_train.py {args.verb}: error: {error}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
