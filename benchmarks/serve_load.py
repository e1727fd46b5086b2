"""Load check of ``rnnkit serve``: concurrent generations, a ping during them, malformed floods.

Usage::

    python benchmarks/serve_load.py          # 50 generations of 200 characters, 1,000 bad requests
    python benchmarks/serve_load.py --quick  # smoke run: 8 generations of 50, 100 bad requests

The server is the real command (``rnnkit serve``, uvicorn, default limits: 4 model runs at
once, 64 waiting) on a free local port, serving seeded untrained models of every kind (the
language model has the ``quick`` preset's architecture, 2x128 LSTM; speed does not depend on
the weights). Measured in the same run:

1. one generation alone (after one to warm up): the reference latency;
2. N generations sent at once (streamed, read to the end), while ``GET /api/models`` is pinged
   every 50 ms: each must answer 200 with the asked length; latency median and 95th
   percentile, as times and as ratios to the reference; the pings' latencies;
3. M malformed requests (bad JSON, wrong types, huge values, unknown models and fields,
   oversized bodies, wrong methods), 32 at a time: each must get a 4xx;
4. the server must still answer a ping and a generation.

Exit status 1 if any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

try:
    import httpx2 as httpx
except ImportError:
    import httpx

from rnnkit.apps.language_model import LM_PRESETS
from rnnkit.data.vocab import CharVocab
from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "serve"))

from conftest import classifier, seq2seq, tagger  # noqa: E402  (the API tests' small models)

CORPUS = ROOT / "src/rnnkit/data/corpora/tinyshakespeare.txt"
MALFORMED: list[tuple[str, str, bytes | dict]] = [
    ("POST", "/api/generate", b"{"),
    ("POST", "/api/generate", b"\xff\xfe\x00"),
    ("POST", "/api/generate", b"[1, 2, 3]"),
    ("POST", "/api/generate", b"[" * 20000 + b"]" * 20000),
    ("POST", "/api/generate", b'{"length": Infinity}'),
    ("POST", "/api/generate", {"length": "two hundred"}),
    ("POST", "/api/generate", {"length": 10**400}),
    ("POST", "/api/generate", {"length": -1}),
    ("POST", "/api/generate", {"temperature": 1e308, "prime": "A"}),
    ("POST", "/api/generate", {"prime": "x" * 50000}),
    ("POST", "/api/generate", {"prime": "\u0000\ud7ff"}),
    ("POST", "/api/generate", {"model": "no-such-model"}),
    ("POST", "/api/generate", {"model": ["lm"]}),
    ("POST", "/api/generate", {"seed": 2**80}),
    ("POST", "/api/activations", {"text": "abc", "layer": 99}),
    ("POST", "/api/activations", {"text": None}),
    ("POST", "/api/classify", {"text": {"nested": True}}),
    ("POST", "/api/classify", {"text": "hi", "extra": 1}),
    ("POST", "/api/tag", {"text": ""}),
    ("POST", "/api/translate", {"text": "cat", "beam": 10**9}),
    ("POST", "/api/translate", {"text": "cat", "n_best": 0}),
    ("POST", "/api/translate", {"text": "cat", "max_length": 10**12}),
    ("POST", "/api/translate", b'{"text": "cat", "beam": 3' + b" " * 70000 + b"}"),
    ("GET", "/api/translate", b""),
    ("POST", "/api/models/../../etc/passwd", b"{}"),
]


def make_models(root: Path) -> list[Path]:
    """Seeded models of every kind; the language model is the quick preset's architecture."""
    torch.manual_seed(0)
    vocab = CharVocab.from_text(CORPUS.read_text())
    fields = LM_PRESETS["quick"].model
    lm = LanguageModel(LanguageModelConfig(vocab_size=len(vocab), **fields), vocab)
    made = {"lm": lm, "spam": classifier(), "pos": tagger(), "g2p": seq2seq()}
    for name, model in made.items():
        model.save_pretrained(root / name)
    return [root / name for name in made]


def start_server(models: list[Path]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "rnnkit.cli", "serve", "--checkpoint", *map(str, models),
            "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(f"{url}/api/models", timeout=1).raise_for_status()
            return process, url
        except httpx.HTTPError:
            if process.poll() is not None:
                sys.exit(f"the server did not start: {process.stderr.read()}")
            time.sleep(0.2)
    sys.exit("the server did not answer within 2 minutes")


async def generation(client: httpx.AsyncClient, length: int, seed: int) -> tuple[float, int, int]:
    """(seconds, status, characters) of one streamed generation read to its end."""
    start = time.perf_counter()
    body = {"prime": "ROMEO:", "length": length, "seed": seed}
    async with client.stream("POST", "/api/generate", json=body) as response:
        text = "".join([piece async for piece in response.aiter_text()])
    return time.perf_counter() - start, response.status_code, len(text)


async def pinger(client: httpx.AsyncClient, stop: asyncio.Event, out: list) -> None:
    """``GET /api/models`` every 50 ms until ``stop``: (seconds, status) each."""
    while not stop.is_set():
        start = time.perf_counter()
        response = await client.get("/api/models")
        out.append((time.perf_counter() - start, response.status_code))
        await asyncio.sleep(0.05)


async def under_load(client: httpx.AsyncClient, count: int, length: int) -> tuple[list, list]:
    stop, pings = asyncio.Event(), []
    ping_task = asyncio.create_task(pinger(client, stop, pings))
    results = await asyncio.gather(*(generation(client, length, i) for i in range(count)))
    stop.set()
    await ping_task
    return results, pings


async def malformed(client: httpx.AsyncClient, count: int) -> dict[int, int]:
    """Send ``count`` bad requests, 32 at a time; status -> how many got it."""
    limit, statuses = asyncio.Semaphore(32), {}

    async def one(i: int) -> None:
        method, path, body = MALFORMED[i % len(MALFORMED)]
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with limit:
            response = await client.request(method, path, content=content)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    await asyncio.gather(*(one(i) for i in range(count)))
    return statuses


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(url: str, count: int, length: int, bad: int) -> list[str]:
    """The checks in order; returns the failures (empty: all passed)."""
    failures = []
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        await generation(client, length, 0)  # warm-up: first-call costs are not latency
        solo, status, chars = await generation(client, length, 0)
        print(f"one generation alone: {solo * 1000:.0f} ms ({length} characters)")
        results, pings = await under_load(client, count, length)
        latencies = [r[0] for r in results]
        ok = sum(r[1] == 200 and r[2] == length for r in results)
        median, p95 = statistics.median(latencies), percentile(latencies, 0.95)
        print(f"{count} at once: {ok}/{count} complete; latency median {median * 1000:.0f} ms "
              f"({median / solo:.1f}x alone), 95th percentile {p95 * 1000:.0f} ms "
              f"({p95 / solo:.1f}x alone)")  # fmt: skip
        ping_times = [p[0] for p in pings]
        print(f"/api/models during the load: {sum(p[1] == 200 for p in pings)}/{len(pings)} "
              f"answered; median {statistics.median(ping_times) * 1000:.1f} ms, "
              f"max {max(ping_times) * 1000:.1f} ms")  # fmt: skip
        if ok != count or any(p[1] != 200 for p in pings):
            failures.append("a generation or a ping failed under load")
        statuses = await malformed(client, bad)
        print(f"{bad} malformed requests: statuses {dict(sorted(statuses.items()))}")
        if any(not 400 <= s < 500 for s in statuses):
            failures.append("a malformed request did not get a 4xx")
        after = await client.get("/api/models")
        _, status, chars = await generation(client, length, 1)
        print(f"afterwards: /api/models {after.status_code}, a generation {status} ({chars} chars)")
        if after.status_code != 200 or status != 200 or chars != length:
            failures.append("the server stopped serving after the malformed requests")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    args = parser.parse_args()
    count, length, bad = (8, 50, 100) if args.quick else (50, 200, 1000)
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(make_models(Path(tmp)))
        try:
            failures = asyncio.run(run(url, count, length, bad))
        finally:
            process.terminate()
            process.wait(timeout=30)
    for failure in failures:
        print(f"FAILED: {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
