"""The loop lab under load: concurrent clients asking ``beatgan lab`` for pages of loops on localhost.

    python benchmarks/lab_load.py                               # shipped weights, 20 clients, 30 s, pages of 8
    python benchmarks/lab_load.py --clients 5 --seconds 10 --count 12
    KERAS_BACKEND=jax python benchmarks/lab_load.py             # the JAX backend

Starts ``beatgan lab --weights WEIGHTS --port 0`` (127.0.0.1, a free port), asks for one page to
warm the generator up, times pages for one client alone (the baseline), then runs ``--clients``
threads for ``--seconds``, each asking for new pages of ``--count`` loops (its own seed, the next
page each time, so every loop is generated, none served from the tile cache). It prints the pages
answered and failed, the time per page as the clients saw it (median, p95, max), loops per
second, and from the server's ``/api/stats`` the generator calls and their mean batch: pages that
arrive together are joined into one generator call (``beatgan.lab.Renderer``). Sends traffic to
127.0.0.1 only; bounded in time; stops the server with SIGTERM.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_lab(weights: str) -> tuple[subprocess.Popen, str, list[str]]:
    """``beatgan lab`` on a free port; returns the process, its URL and its output so far."""
    command = [sys.executable, "-m", "beatgan", "lab", "--weights", weights, "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    lines: queue.Queue = queue.Queue()
    output: list[str] = []

    def drain():
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                sys.exit(f"beatgan lab exited with {process.returncode}:\n{''.join(output)}")
            continue
        if "serving http://" in line:
            return process, line.split("serving ", 1)[1].split()[0], output
    process.kill()
    sys.exit("beatgan lab printed no address in 300 s")


def get(host: str, port: int, path: str, timeout: float = 300.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def page_ok(status: int, body: bytes, count: int) -> bool:
    return status == 200 and len(json.loads(body)["tiles"]) == count


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_clients(host: str, port: int, clients: int, seconds: float, count: int):
    """``clients`` threads asking for new pages for ``seconds``; returns (times in s, failures)."""
    times: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Event()

    def client(k: int) -> None:
        start.wait()
        stop, page = time.monotonic() + seconds, 0
        while time.monotonic() < stop:
            began = time.perf_counter()
            try:
                status, body = get(host, port, f"/api/loops?seed={100 + k}&start={page * count}&count={count}")
                ok, why = page_ok(status, body, count), body[:200].decode(errors="replace")
            except OSError as error:  # refused, reset, timed out
                ok, why = False, repr(error)
            with lock:
                (times.append(time.perf_counter() - began) if ok else failures.append(why))
            page += 1

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join(seconds + 600)
    return times, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=str(ROOT / "weights"))
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--count", type=int, default=8, help="loops per page (default 8)")
    args = parser.parse_args()

    process, url, output = start_lab(args.weights)
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    port = int(port)
    try:
        status, body = get(host, port, f"/api/loops?seed=99999&count={args.count}")  # warm-up: traces the generator
        assert page_ok(status, body, args.count), body[:300]
        alone = []
        for page in range(5):
            began = time.perf_counter()
            status, body = get(host, port, f"/api/loops?seed=99998&start={page * args.count}&count={args.count}")
            assert page_ok(status, body, args.count), body[:300]
            alone.append(time.perf_counter() - began)
        before = json.loads(get(host, port, "/api/stats")[1])
        began = time.perf_counter()
        times, failures = run_clients(host, port, args.clients, args.seconds, args.count)
        wall = time.perf_counter() - began
        after = json.loads(get(host, port, "/api/stats")[1])
    finally:
        process.terminate()
        process.wait(timeout=60)

    calls = after["generator_calls"] - before["generator_calls"]
    latents = after["latents_rendered"] - before["latents_rendered"]
    print(f"{''.join(line for line in output if line.startswith('backend'))}".strip())
    print(f"weights {args.weights}; pages of {args.count} loops; {os.cpu_count()} CPU core(s)")
    print(f"one client alone: {statistics.median(alone) * 1000:.0f} ms a page (median of 5)")
    print(f"{args.clients} clients for {args.seconds:g} s ({wall:.1f} s wall): {len(times)} pages answered, "
          f"{len(failures)} failed, {after['server_errors'] - before['server_errors']} server errors")
    if times:
        print(f"time per page as a client saw it: median {statistics.median(times) * 1000:.0f} ms, "
              f"p95 {percentile(times, 0.95) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")
        print(f"throughput: {len(times) / wall:.1f} pages/s, {len(times) * args.count / wall:.0f} loops/s "
              f"({wall / len(times) * 1000:.0f} ms of server time a page)")
    print(f"generator: {calls} calls for {latents} loops, {latents / max(calls, 1):.1f} loops a call on average "
          f"(largest batch so far {after['largest_batch']})")
    for failure in failures[:5]:
        print(f"  failure: {failure}")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
