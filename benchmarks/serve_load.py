"""Serving load: concurrent streaming clients against one `rnnkit serve`, and the same requests one at a time.

Trains the default language model (1x512 LSTM) on the Tiny Shakespeare slice for a few
steps (its weights' quality does not change the cost of a step), starts `rnnkit serve`
on a free loopback port, then for 1, 8, 32 and 64 concurrent clients has each client
stream ``--requests`` generations of ``--length`` characters (distinct seeds). The
baseline, in the same run: ``--baseline`` requests sent strictly one after another.
Bounded: a fixed number of requests; the server is stopped at the end. Prints one table.
Target (issue 17): at 32 clients, at least 8x the one-at-a-time characters/s, p99 time
to first token under 1 s.

    python benchmarks/serve_load.py [--length 200] [--requests 2] [--precision auto]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

SLICE = Path(__file__).resolve().parent.parent / "tests" / "data" / "tinyshakespeare-60k.txt"


def train_run(folder: Path) -> Path:
    run = folder / "lm"
    subprocess.run([sys.executable, "-m", "rnnkit", "train", "lm", str(SLICE), "--steps", "30", "--out", str(run),
                    "--no-progress", "--backend", "fused"], check=True, capture_output=True)
    return run


def start_server(run: Path, precision: str, max_batch: int, threads: int) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen([sys.executable, "-m", "rnnkit", "serve", str(run), "--port", "0", "--precision",
                               precision, "--max-batch", str(max_batch), "--threads", str(threads)],
                              stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    if not line.startswith("rnnkit serve: http://"):
        server.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return server, line.split()[2].rstrip("/")


async def one_request(client: httpx.AsyncClient, url: str, seed: int, length: int) -> tuple[float, float, int]:
    """(seconds to the first piece, seconds to the last, characters) of one streamed generation."""
    start = time.perf_counter()
    first, chars = None, 0
    body = {"prime": "ROMEO:", "length": length, "seed": seed, "temperature": 0.8, "stream": True}
    async with client.stream("POST", f"{url}/v1/models/lm/generate", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: ") and '"sample"' in line and '"seed"' not in line:
                first = first or time.perf_counter() - start
                chars += len(json.loads(line[6:])["text"])
    return first, time.perf_counter() - start, chars


async def level(url: str, clients: int, requests: int, length: int, seed: int) -> dict:
    # TCP_NODELAY: without it the request's body waits on the server's delayed ACK (about 40 ms)
    transport = httpx.AsyncHTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
                                         limits=httpx.Limits(max_connections=clients + 4))
    async with httpx.AsyncClient(timeout=600, transport=transport) as client:
        async def worker(k: int) -> list:
            return [await one_request(client, url, seed + k * requests + r, length) for r in range(requests)]

        start = time.perf_counter()
        done = await asyncio.gather(*(worker(k) for k in range(clients)))
        elapsed = time.perf_counter() - start
    results = [r for rs in done for r in rs]
    first = np.array([r[0] for r in results])
    last = np.array([r[1] for r in results])
    return {"clients": clients, "requests": len(results), "chars_s": sum(r[2] for r in results) / elapsed,
            "ttft_p50": np.percentile(first, 50), "ttft_p99": np.percentile(first, 99),
            "last_p50": np.percentile(last, 50), "last_p99": np.percentile(last, 99)}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--requests", type=int, default=2, help="requests per client at each level")
    parser.add_argument("--baseline", type=int, default=16, help="requests sent one at a time")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--levels", default="1,8,32,64")
    parser.add_argument("--threads", type=int, default=0, help="the server's --threads (0: every core but one)")
    args = parser.parse_args()
    levels = [int(c) for c in args.levels.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        run = train_run(Path(folder))
        server, url = start_server(run, args.precision, max(levels), args.threads)
        try:
            asyncio.run(level(url, 4, 1, 20, 10**6))  # warm-up: the first requests pay for loading kernels
            rows = [{**asyncio.run(level(url, 1, args.baseline, args.length, 0)), "clients": "1 at a time"}]
            rows += [asyncio.run(level(url, c, args.requests, args.length, 1000 * c)) for c in levels]
        finally:
            server.terminate()
            server.wait(30)
    base = rows[0]["chars_s"]
    print(f"serve_load: {args.length}-character streamed generations, default 1x512 LSTM, precision "
          f"{args.precision}, --threads {args.threads}, {cpu_name()}, {os.cpu_count()} cores")
    print(f"{'clients':>12} {'requests':>8} {'chars/s':>9} {'x serial':>8} {'TTFT p50':>9} {'TTFT p99':>9} "
          f"{'last p50':>9} {'last p99':>9}")
    for row in rows:
        print(f"{row['clients']!s:>12} {row['requests']:>8} {row['chars_s']:>9,.0f} {row['chars_s'] / base:>7.1f}x "
              f"{row['ttft_p50']:>8.3f}s {row['ttft_p99']:>8.3f}s {row['last_p50']:>8.3f}s {row['last_p99']:>8.3f}s")


if __name__ == "__main__":
    main()
