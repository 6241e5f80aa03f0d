"""Tests of beatgan.lab and ``beatgan lab``: tile names, batching, bad requests, a short load, and the page in Chromium.

One ``beatgan lab`` process (a tiny generator, a tiny training set for the novelty) serves the module's
HTTP tests; the browser test drives Debian's Chromium through Playwright (``scripts/install-browser.sh``
and the ``lab`` extra install them; it is skipped, saying why, where neither can be had).
``BEATGAN_LAB_SCREENSHOT=docs/lab.png`` makes the browser test run on the shipped weights (and
``data/open_loops`` when rendered) and keep its screenshot there, for the README.
"""

from __future__ import annotations

import http.client
import importlib.util
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import wavfile24
from beatgan import explore, lab
from beatgan.audio import loop_frames
from beatgan.checkpoint import export_generator, load_generator
from beatgan.cli import build_parser
from beatgan.config import ModelConfig
from beatgan.data import save_dataset
from beatgan.errors import ConfigError
from beatgan.generate import generate, sample_latents, write_clips

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("_explore_worker.py")
SCREENSHOT = os.environ.get("BEATGAN_LAB_SCREENSHOT")  # docs/lab.png: the README's picture
CHROMIUM = [os.environ.get("BEATGAN_CHROMIUM", ""), "/usr/bin/chromium", "/usr/bin/chromium-browser"]


def _tiny_generator(channels: int = 2, seed: int = 1):
    spec = importlib.util.spec_from_file_location("_explore_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.tiny_generator(channels=channels, seed=seed)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory) -> Path:
    """A stereo width-2 generator as a weights directory (the shipped weights when making the screenshot)."""
    if SCREENSHOT:
        return ROOT / os.environ.get("BEATGAN_LAB_WEIGHTS", "weights")
    directory = tmp_path_factory.mktemp("weights")
    export_generator(_tiny_generator(), ModelConfig(model_dim=2, channels=2), directory, dtype="float32")
    return directory


@pytest.fixture(scope="module")
def generator(weights_dir):
    """The generator the server runs, loaded in this process the same way."""
    return load_generator(weights_dir)[0]


@pytest.fixture(scope="module")
def training_set(tmp_path_factory) -> Path:
    """Six drum-like training loops as a dataset file (the open corpus when making the screenshot)."""
    if SCREENSHOT and (ROOT / "data/open_loops").is_dir():
        return ROOT / "data/open_loops"
    rng = np.random.default_rng(0)
    t = np.arange(16384) / 14700
    audio = np.stack([np.repeat((0.5 * np.sin(2 * np.pi * (50 + 30 * k) * t) * np.exp(-(t % 0.25) * 20)
                                 + 0.05 * rng.standard_normal(16384))[:, None], 2, axis=1) for k in range(6)])
    path = tmp_path_factory.mktemp("training") / "training.npz"
    save_dataset(path, audio.astype(np.float32), [f"train_{k}.wav" for k in range(6)], sample_rate=14700)
    return path


def _read_address(process: subprocess.Popen, output: list[str], deadline: float) -> str:
    """Read the server's output (kept in ``output``, stdout and stderr together) until it prints its address."""
    lines: queue.Queue = queue.Queue()

    def drain():
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            assert process.poll() is None, f"beatgan lab exited with {process.returncode}: {''.join(output)[-3000:]}"
            continue
        if "serving http://" in line:
            return line.split("serving ", 1)[1].split()[0]
    raise AssertionError("beatgan lab printed no address within its start-up time")


@pytest.fixture(scope="module")
def server(weights_dir, training_set, tmp_path_factory):
    """``beatgan lab`` on a free port: yields its URL and packs folder; stopped (SIGTERM) at the end."""
    out = tmp_path_factory.mktemp("lab_out")
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend(), "XDG_CACHE_HOME": str(out / "cache")}
    command = [sys.executable, "-m", "beatgan", "lab", "--weights", str(weights_dir), "--port", "0",
               "--training", str(training_set), "-o", str(out / "packs"), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)
    output: list[str] = []
    try:
        url = _read_address(process, output, time.monotonic() + 240)
        yield url, out / "packs"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, "".join(output)[-3000:]
    assert "beatgan lab: stopped after" in "".join(output)  # SIGTERM stops it cleanly


def request(url: str, path: str, *, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    """One request with the path sent as given (no normalisation); returns (status, headers, body bytes)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def get_json(url: str, path: str):
    status, _, body = request(url, path)
    assert status == 200, body[:500]
    return json.loads(body)


# --- tile names are the command line's latents ------------------------------------------------------------


def test_tile_names_give_the_command_lines_latents(generator):
    d = 100
    assert np.array_equal(lab.parse_tile("17@0").latent(d), explore.load_latent("17@0", d))
    assert np.array_equal(lab.parse_tile("0@5").latent(d), explore.load_latent(5, d))
    made = explore.variations(generator, "17@0", 4, spread=0.25, seed=3)
    for j in range(4):
        assert np.array_equal(lab.parse_tile(f"var(17@0,0.25,3,{j})").latent(d), made.latents[j])
    ends = explore.interpolation_latents(explore.load_latent("3@0", d), explore.load_latent("17@0", d), 8)
    for k in range(8):
        assert np.array_equal(lab.parse_tile(f"morph(3@0,17@0,8,{k})").latent(d), ends[k])
    nested = lab.parse_tile("var(morph(3@0,17@0,8,2),0.1,0,1)")
    again = explore.variations(generator, ends[2], 2, spread=0.1, seed=0).latents[1]
    assert np.array_equal(nested.latent(d), again)
    # a variation of a variation is the CLI's variation of the .npy the first one wrote
    assert "--seed z.npy --spread 0 -n 1" in nested.command("weights")
    assert lab.parse_tile(" var( 17@0 , 0.250, 3, 1 )").name == "var(17@0,0.25,3,1)"
    assert "--seed 0 -n 18" in lab.parse_tile("17@0").command("w")


@pytest.mark.parametrize("name, status, message", [
    ("abc", 404, "unknown tile 'abc'"),
    ("17@", 404, "expected INDEX@SEED"),
    ("../../etc/passwd", 404, "unknown tile"),
    ("17@0)", 404, "unexpected ')'"),
    ("", 404, "non-empty"),
    ("x" * 500, 404, "at most 400"),
    ("10000@0", 400, "INDEX=10000 must be an integer in [0, 9999]"),
    ("1@4294967296", 400, "SEED=4294967296"),
    ("var(1@0,3,0,0)", 400, "spread=3.0 must be a number in [0, 2]"),
    ("var(1@0,0.1,0,64)", 400, "variation=64"),
    ("morph(1@0,1@0,8,0)", 400, "two different tiles"),
    ("morph(1@0,2@0,1,0)", 400, "steps=1"),
    ("morph(1@0,2@0,8,8)", 400, "step=8"),
    ("var(var(var(var(var(1@0,0,0,0),0,0,0),0,0,0),0,0,0),0,0,0)", 400, "nest at most 4"),
])
def test_bad_tile_names_are_refused_with_a_status(name, status, message):
    with pytest.raises(lab.RequestError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")) \
            as caught:
        lab.parse_tile(name)
    assert caught.value.status == status
    assert isinstance(caught.value, ConfigError)


# --- the generator's thread batches ------------------------------------------------------------------------


class _SlowGenerator:
    """A stand-in generator: row i of the output is latent i's first value; the first call waits for a signal."""

    def __init__(self):
        self.sizes, self.release = [], threading.Event()

    def __call__(self, z, training=False):
        self.sizes.append(len(z))
        if len(self.sizes) == 1:
            assert self.release.wait(30)
        return np.repeat(np.asarray(z)[:, :1, None], 4, axis=1)  # (B, 4, 1)


def test_renderer_joins_concurrent_pages_into_one_generator_call():
    fake = _SlowGenerator()
    renderer = lab.Renderer(fake, max_batch=64)
    results = {}

    def ask(k, n):
        results[k] = renderer.batch(np.full((n, 3), k / 100, np.float32))

    first = threading.Thread(target=ask, args=(0, 2))
    first.start()
    while not fake.sizes:  # the generator is busy with the first page
        time.sleep(0.01)
    others = [threading.Thread(target=ask, args=(k, k)) for k in range(1, 6)]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 30
    while renderer.pending < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    fake.release.set()
    for thread in [first, *others]:
        thread.join(30)
    renderer.close()
    assert fake.sizes == [2, 1 + 2 + 3 + 4 + 5]  # five pages waiting: one call
    assert renderer.calls == 2 and renderer.latents == 17 and renderer.largest == 15
    for k, rows in enumerate([2, 1, 2, 3, 4, 5]):
        assert results[k].shape == (rows, 4, 1)
        assert np.allclose(results[k], k / 100)  # every page got its own rows back


def test_renderer_splits_big_batches_and_passes_errors_on():
    sizes = []

    def generator(z, training=False):
        sizes.append(len(z))
        if len(z) == 3:
            raise ValueError("broken weights")
        return np.zeros((len(z), 2, 1), np.float32)

    renderer = lab.Renderer(generator, max_batch=4)
    assert renderer.batch(np.zeros((10, 3))).shape == (10, 2, 1)
    assert sizes == [4, 4, 2]
    with pytest.raises(ValueError, match="broken weights"):
        renderer.batch(np.zeros((3, 3)))
    assert renderer.run(lambda g: "on the generator's thread") == "on the generator's thread"
    renderer.close()


# --- what tiles show --------------------------------------------------------------------------------------


def test_thumbnail_and_preview_wav(tmp_path):
    t = np.arange(16384) / 14700
    clip = np.stack([np.sin(2 * np.pi * 3000 * t), np.sin(2 * np.pi * 3000 * t)], axis=1) * 0.5
    levels = lab.spectrogram_thumbnail(clip, 14700)
    assert levels.shape == (48, 64) and levels.dtype == np.uint8
    loudest = int(np.argmax(levels.mean(axis=1)))
    edges = np.geomspace(30.0, 7350, 49)
    assert edges[loudest] <= 3000 <= edges[loudest + 1] + 30  # the band that holds 3 kHz
    path = tmp_path / "p.wav"
    path.write_bytes(lab.wav_bytes(clip, 14700))
    rate, data, bits = wavfile24.read(path)
    assert (rate, bits, data.shape) == (14700, 16, clip.shape)
    assert np.max(np.abs(data - clip)) <= 2**-15


def test_novelty_is_the_reports_nearest_and_logmel_nearest(training_set, generator):
    from beatgan import novelty

    loops = lab.load_training(training_set, ModelConfig(model_dim=2, channels=2))
    clips = explore.render(generator, sample_latents(3, 100, seed=4))
    found = lab.Novelty(loops)(clips)
    index, score = novelty.nearest(clips, loops.audio)
    mel_index, distance = novelty.logmel_nearest(clips, loops.audio, sample_rate=14700)
    assert [f["index"] for f in found] == list(index) and [f["logmel_index"] for f in found] == list(mel_index)
    np.testing.assert_allclose([f["score"] for f in found], score, rtol=1e-12)
    np.testing.assert_allclose([f["logmel_db"] for f in found], distance, rtol=1e-6)
    assert found[0]["name"] == loops.names[index[0]]


def test_the_lab_verb_and_its_defaults():
    args = build_parser().parse_args(["lab", "--weights", "w"])
    assert (args.port, args.host, args.training, args.output) == (8765, "127.0.0.1", None, None)


def test_a_port_in_use_is_a_clear_error(generator, tmp_path):
    model = lab.Lab(generator, ModelConfig(model_dim=2, channels=2), output=tmp_path)
    first = lab.make_server(model, "127.0.0.1", 0)
    try:
        with pytest.raises(ConfigError, match="cannot listen on 127.0.0.1:.*--port 0"):
            lab.make_server(model, "127.0.0.1", first.server_address[1])
        with pytest.raises(ConfigError, match="port=70000"):
            lab.make_server(model, "127.0.0.1", 70000)
    finally:
        first.server_close()
        model.close()


def test_the_lab_without_http(generator, tmp_path):
    """Morph audio is `beatgan morph --format loop`'s; packs in a kept folder are never replaced."""
    (tmp_path / "pack_0003.zip").write_bytes(b"an older session's pack")
    config = ModelConfig(model_dim=2, channels=2)
    model = lab.Lab(generator, config, output=tmp_path, weights="my weights")
    try:
        wav = model.morph_audio("3@0", "var(5@1,0.2,0,1)", 4, 124.0)
        za, zb = explore.load_latent("3@0", 100), lab.parse_tile("var(5@1,0.2,0,1)").latent(100)
        assert wav == lab.wav_bytes(explore.morph_loop(generator, za, zb, 4, bpm=124.0), 44100)
        tiles = model.loops(seed=2, start=0, count=3)
        assert [t["name"] for t in tiles] == ["0@2", "1@2", "2@2"] and tiles[0]["novelty"] is None
        assert "--weights 'my weights'" in tiles[0]["command"]
        pack = model.export(["1@2"], 124.0, 1)
        assert pack["zip"] == "pack_0004.zip" and model.pack_path("pack_0004.zip").is_file()
        assert (tmp_path / "pack_0003.zip").read_bytes() == b"an older session's pack"
        with pytest.raises(lab.RequestError, match="no exported pack"):
            model.pack_path("pack_0003.zip")  # not this session's
        assert model.stats()["generator_calls"] == 1  # the page; the morph and the pack render a latent at a time
    finally:
        model.close()


# --- the server -------------------------------------------------------------------------------------------


def test_a_page_of_loops_is_one_generator_call(server):
    url, _ = server
    before = get_json(url, "/api/stats")
    page = get_json(url, "/api/loops?seed=7&start=3&count=8")
    after = get_json(url, "/api/stats")
    assert [t["name"] for t in page["tiles"]] == [f"{i}@7" for i in range(3, 11)]
    assert after["generator_calls"] - before["generator_calls"] == 1
    assert after["latents_rendered"] - before["latents_rendered"] == 8
    tile = page["tiles"][0]
    assert tile["command"].endswith("# out/beatgan_0004.wav") and "--seed 7 -n 4" in tile["command"]
    assert len(tile["spectrogram"]["levels"]) == 4 * 48 * 64 // 3
    assert set(tile["novelty"]) >= {"name", "score", "logmel_db", "index"}
    get_json(url, "/api/loops?seed=7&start=3&count=8")  # kept: no generator call
    assert get_json(url, "/api/stats")["generator_calls"] == after["generator_calls"]
    status, headers, body = request(url, "/api/audio?tile=var(3%407,0.1,0,0)&bpm=120")
    assert status == 200 and headers["Content-Type"] == "audio/wav"
    assert (len(body) - 44) // 4 == loop_frames(120, 1)  # one bar, 16-bit stereo


BAD_REQUESTS = [
    ("GET", "/api/loops?seed=abc", 400, "seed='abc' is not a whole number"),
    ("GET", "/api/loops?seed=-1", 400, "not a whole number"),
    ("GET", "/api/loops?seed=0&count=65", 400, "count=65 must be an integer in [1, 64]"),
    ("GET", "/api/loops?seed=0&count=0", 400, "count=0"),
    ("GET", "/api/loops?seed=0&start=9990&count=12", 400, "INDEX stops at 9999"),
    ("GET", "/api/loops", 400, "missing parameter 'seed'"),
    ("GET", "/api/loops?seed=0&evil=1", 400, "unknown parameter"),
    ("GET", "/api/loops?seed=0&&&===", 400, "malformed query"),
    ("GET", "/api/tile?name=nothing", 404, "unknown tile 'nothing'"),
    ("GET", "/api/audio?tile=..%2F..%2Fetc%2Fpasswd&bpm=120", 404, "unknown tile"),
    ("GET", "/api/audio?tile=1%400&bpm=fast", 400, "bpm='fast' is not a number"),
    ("GET", "/api/audio?tile=1%400&bpm=1000", 400, "bpm=1000.0 must be a number in [40, 300]"),
    ("GET", "/api/audio?tile=1%400&bpm=nan", 400, "not a finite number"),
    ("GET", "/api/variations?tile=1%400&spread=5", 400, "spread=5.0"),
    ("GET", "/api/variations?tile=1%400&count=100", 400, "count=100"),
    ("GET", "/api/morph?from=1%400", 400, "a morph needs two tiles"),
    ("GET", "/api/morph?from=1%400&to=1%400", 400, "two different tiles"),
    ("GET", "/api/morph?from=1%400&to=2%400&steps=40", 400, "steps=40"),
    ("GET", "/api/morph-audio?from=1%400&bpm=120", 400, "a morph needs two tiles"),
    ("GET", "/api/training-audio?index=99", 400, "index=99"),
    ("GET", "/static/../lab.py", 404, "no file '../lab.py'"),
    ("GET", "/static/%2e%2e/%2e%2e/pyproject.toml", 404, "no file"),
    ("GET", "/static/..%2F__init__.py", 404, "no file"),
    ("GET", "/../../../etc/passwd", 404, "no page or API"),
    ("GET", "/exports/../../../../etc/passwd", 404, "no exported pack"),
    ("GET", "/exports/pack_0999.zip", 404, "no exported pack"),
    ("GET", "/exports/", 404, "no exported pack"),
    ("GET", "/api/nothing", 404, "no page or API"),
    ("POST", "/api/export", 400, "not JSON"),
    ("POST", "/api/loops", 405, "only /api/export takes a POST"),
    ("PUT", "/", 405, "not allowed"),
    ("DELETE", "/api/stats", 405, "not allowed"),
]


@pytest.mark.parametrize("method, path, status, message", BAD_REQUESTS, ids=[f"{m} {p}" for m, p, _, _ in BAD_REQUESTS])
def test_bad_requests_get_a_4xx_with_a_message(server, method, path, status, message):
    url, _ = server
    body = b"{not json" if method == "POST" else None
    got, headers, answer = request(url, path, method=method, body=body)
    assert got == status, answer[:300]
    assert message in json.loads(answer)["error"]
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("payload, status, message", [
    ({"tiles": [], "bpm": 124, "bars": 4}, 400, "a pack holds 1 to 32 tiles"),
    ({"tiles": [f"{i}@0" for i in range(33)], "bpm": 124, "bars": 4}, 400, "got 33"),
    ({"tiles": "1@0", "bpm": 124, "bars": 4}, 400, "'tiles' must be a list"),
    ({"tiles": ["1@0", "1@0"], "bpm": 124, "bars": 4}, 400, "twice"),
    ({"tiles": ["1@0", "what"], "bpm": 124, "bars": 4}, 404, "unknown tile 'what'"),
    ({"tiles": ["1@0"], "bpm": "fast", "bars": 4}, 400, "bpm='fast'"),
    ({"tiles": ["1@0"], "bpm": 124, "bars": 17}, 400, "bars=17 must be an integer in [1, 16]"),
    ([1, 2], 400, "must be a JSON object"),
])
def test_bad_exports_get_a_4xx_with_a_message(server, payload, status, message):
    url, _ = server
    got, _, answer = request(url, "/api/export", method="POST", body=json.dumps(payload).encode(),
                             headers={"Content-Type": "application/json"})
    assert got == status and message in json.loads(answer)["error"]


def test_oversized_bodies_other_hosts_and_the_server_goes_on(server):
    url, _ = server
    got, _, answer = request(url, "/api/export", method="POST", body=b"x" * (lab.MAX_BODY + 1))
    assert got == 413 and "at most" in json.loads(answer)["error"]
    got, _, answer = request(url, "/api/stats", headers={"Host": "evil.example:80"})
    assert got == 403 and "loopback" in json.loads(answer)["error"]
    stats = get_json(url, "/api/stats")
    assert stats["server_errors"] == 0 and stats["requests"] > 0
    assert len(get_json(url, "/api/loops?seed=1&count=2")["tiles"]) == 2


def check_pack(archive: bytes, generator, *, bpm: float, bars: int, names: list[str], tmp_path: Path) -> None:
    """The zip's WAVs are 44.1 kHz 24-bit loops of the tempo and length, and seeds.txt makes them again bit for bit."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        members = zipped.namelist()
        seeds_name = next(m for m in members if m.endswith("/seeds.txt"))
        seeds = lab.read_seeds(zipped.read(seeds_name).decode())
        files = {m.rsplit("/", 1)[1]: zipped.read(m) for m in members if m.endswith(".wav")}
    assert seeds.names == names and (seeds.bpm, seeds.bars) == (bpm, bars)
    assert sorted(files) == sorted(seeds.files) and all(f"_{bpm:g}bpm.wav" in f for f in files)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        info = wavfile24.info(tmp_path / name)
        assert (info.rate, info.bits, info.frames) == (44100, 24, loop_frames(bpm, bars))
    again = write_clips(explore.render(generator, seeds.latents), tmp_path / "again", sample_rate=14700,
                        format="loop", bpm=bpm, bars=bars, prefix="lab")
    for path, file in zip(again, seeds.files):
        assert path.read_bytes() == files[file], f"{file} does not regenerate bit for bit"
    for k, name in enumerate(seeds.names):
        spec = lab.parse_tile(name)
        assert np.array_equal(spec.latent(100), seeds.latents[k])
        if isinstance(spec, lab.Loop):  # the command on its line: beatgan generate --batch-size 1 --format loop
            assert f"--seed {spec.seed} -n {spec.index + 1} --batch-size 1 --format loop" in seeds.commands[k]
            clip = generate(generator, spec.index + 1, seed=spec.seed, batch_size=1)[spec.index:]
            (cli,) = write_clips(clip, tmp_path / f"cli{k}", sample_rate=14700, format="loop", bpm=bpm, bars=bars)
            assert cli.read_bytes() == files[seeds.files[k]]


def test_export_through_the_api_regenerates_bit_for_bit(server, generator, tmp_path):
    url, packs = server
    names = ["2@0", "var(2@0,0.3,5,1)", "morph(2@0,9@3,4,2)"]
    got, _, answer = request(url, "/api/export", method="POST", headers={"Content-Type": "application/json"},
                             body=json.dumps({"tiles": names, "bpm": 122.5, "bars": 2}).encode())
    assert got == 200, answer
    pack = json.loads(answer)
    status, headers, archive = request(url, pack["url"])
    assert status == 200 and headers["Content-Type"] == "application/zip"
    assert (packs / pack["zip"]).is_file()
    check_pack(archive, generator, bpm=122.5, bars=2, names=names, tmp_path=tmp_path)


def test_twenty_clients_for_three_seconds_all_answered(server):
    """The bounded version of benchmarks/lab_load.py: 20 clients asking for pages of 4 loops, none failing."""
    url, _ = server
    before = get_json(url, "/api/stats")
    times, failures = [], []

    def client(k):
        stop, page = time.monotonic() + 3.0, 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                status, _, body = request(url, f"/api/loops?seed={1000 + k}&start={4 * page}&count=4")
                ok = status == 200 and len(json.loads(body)["tiles"]) == 4
            except OSError as error:  # refused, reset, timed out
                ok, body = False, repr(error).encode()
            (times if ok else failures).append(time.perf_counter() - started if ok else body[:200])
            page += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    after = get_json(url, "/api/stats")
    assert not failures, failures[:3]
    assert len(times) >= 20
    made = after["tiles_made"] - before["tiles_made"]
    assert made == 4 * len(times)
    assert after["latents_rendered"] - before["latents_rendered"] == made  # batched: every loop rendered once
    assert after["generator_calls"] - before["generator_calls"] <= len(times)
    print(f"{len(times)} pages of 4 in 3 s by 20 clients: median {np.median(times) * 1000:.0f} ms a page, "
          f"{after['generator_calls'] - before['generator_calls']} generator calls")


# --- the page, in a real browser --------------------------------------------------------------------------


def _chromium() -> str:
    found = next((path for path in CHROMIUM if path and os.access(path, os.X_OK)), None)
    if found is None:
        pytest.skip("no Chromium to drive: scripts/install-browser.sh (make system-deps) installs Debian's, "
                    "which needs apt-get as root; set BEATGAN_CHROMIUM to use another")
    return found


def _wait(page, condition: str) -> None:
    """Wait for a JavaScript condition; on a timeout, say what the page showed."""
    try:
        page.wait_for_function(condition, timeout=30_000)
    except Exception as error:
        state = page.evaluate("({played: window.lab.played, playing: window.lab.playing && window.lab.playing.key})")
        raise AssertionError(f"{condition!r} never held: {state}, status {page.text_content('#status')!r}") from error


def test_the_page_in_chromium(server, generator, tmp_path):
    """Play a tile (an AudioContext runs, no console error), vary it, morph two, star two, download the zip."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is missing: pip install -e '.[lab]'")
    chromium = _chromium()
    url, _ = server
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=["--autoplay-policy=no-user-gesture-required"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(url)
            page.wait_for_selector("body[data-ready]", timeout=60_000)
            assert page.locator("#grid .tile").count() == 12
            page.click('#grid .tile[data-name="1@0"] .play')
            _wait(page, "window.lab.playing && window.lab.playing.source !== null")
            assert page.evaluate("window.lab.audio.state") == "running"
            assert page.evaluate("window.lab.playing.key") == "tile:1@0"
            assert "playing 1@0 at 124 bpm" in page.text_content("#status")

            page.fill("#bpm", "120")
            page.press("#bpm", "Tab")  # a new tempo: the loop is fetched again and plays on
            _wait(page, "window.lab.playing.bpm === 120 && window.lab.playing.source !== null")
            assert page.evaluate("[window.lab.played, window.lab.playing.key]") == [2, "tile:1@0"]

            page.click('#grid .tile[data-name="1@0"] .vary')
            page.wait_for_selector('#variations .tile[data-name="var(1@0,0.1,0,7)"]', timeout=30_000)
            assert page.locator("#variations .tile").count() == 8

            page.click('#grid .tile[data-name="0@0"] .pick')
            page.click('#variations .tile[data-name="var(1@0,0.1,0,2)"] .pick')
            page.fill("#steps", "4")
            page.click("#morph-go")
            page.wait_for_selector('#morph-steps .tile[data-name="morph(0@0,var(1@0,0.1,0,2),4,3)"]', timeout=30_000)
            page.click("#morph-play")
            _wait(page, "window.lab.playing.key.startsWith('morph:') && window.lab.playing.source !== null")

            page.click('#grid .tile[data-name="4@0"] .star')
            page.click('#variations .tile[data-name="var(1@0,0.1,0,2)"] .star')
            assert page.evaluate("window.lab.pack") == ["4@0", "var(1@0,0.1,0,2)"]
            page.fill("#bars", "2")
            if page.locator(".novelty").count():
                page.click('#grid .tile[data-name="3@0"] .play-training')
                _wait(page, "window.lab.playing.key.startsWith('training:') && window.lab.playing.source !== null")
            page.screenshot(path=SCREENSHOT or str(tmp_path / "lab.png"), full_page=True)
            with page.expect_download(timeout=60_000) as download:
                page.click("#export")
            path = tmp_path / "pack.zip"
            download.value.save_as(path)
        finally:
            browser.close()
    assert not problems, problems
    check_pack(path.read_bytes(), generator, bpm=120.0, bars=2, names=["4@0", "var(1@0,0.1,0,2)"],
               tmp_path=tmp_path)


def test_install_script_says_what_it_does_without_installing(tmp_path):
    """scripts/install-browser.sh is never fatal: with installs turned off it reports and exits 0."""
    env = {**os.environ, "BEATGAN_SKIP_BROWSER": "1", "BEATGAN_CHROMIUM": ""}
    done = subprocess.run(["sh", str(ROOT / "scripts/install-browser.sh")], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0
    assert "install-browser:" in done.stdout
    if shutil.which("chromium") is None:
        assert "will be skipped" in done.stdout
