"""Overload: many clients at once on ``/v1/analyze``, to check that admission by work keeps
an admitted request's wait near ``STANCE_MAX_WAIT_S`` and refuses the rest at once (429)
with a ``Retry-After`` that reflects the backlog.

Starts ``python -m stance.service`` (as ``benchmarks.load_test`` does); each client sends
the 30-sentence article back to back for ``--seconds``; a refused client waits 0.2 s, not
the Retry-After, to keep the pressure on. Prints one table row per client count; "in the
batcher" is an admitted request's mean queue wait plus a batch's mean model time (the server's
own histograms), the rest of the client's wait is HTTP and the event loop on a busy machine.

    python -m benchmarks.overload --clients 32,96 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from collections import Counter

import httpx

from benchmarks.load_test import Server, article_of, free_port


async def pressure(url: str, *, article: str, clients: int, seconds: float) -> tuple[Counter, list[float], list[int]]:
    statuses: Counter[int] = Counter()
    admitted: list[float] = []
    retry_after: list[int] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:

        async def client() -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    response = await http.post("/v1/analyze", json={"text": article})
                except httpx.HTTPError:
                    statuses[0] += 1
                    continue
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    admitted.append(time.perf_counter() - started)
                else:
                    if "retry-after" in response.headers:
                        retry_after.append(int(response.headers["retry-after"]))
                    await asyncio.sleep(0.2)

        await asyncio.gather(*(client() for _ in range(clients)))
    return statuses, admitted, retry_after


def model_side(url: str) -> dict[str, float]:
    """Sums and counts of the server's queue-wait and model-time histograms (``/metrics``), to tell
    the wait inside the batcher from the time spent in HTTP and the event loop."""
    wanted = ("stance_queue_wait_seconds_sum", "stance_queue_wait_seconds_count", "stance_inference_seconds_sum", "stance_inference_seconds_count")
    totals = dict.fromkeys(wanted, 0.0)
    for line in httpx.get(url + "/metrics", timeout=30).text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in totals:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return totals


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder (default: the shipped default model)")
    parser.add_argument("--clients", default="32,96", help="comma-separated client counts")
    parser.add_argument("--seconds", type=float, default=20.0, help="per client count")
    parser.add_argument("--runtime", default="auto", choices=["auto", "torch", "onnx"])
    parser.add_argument("--article-sentences", type=int, default=30)
    args = parser.parse_args()
    article, sentences = article_of(args.article_sentences)
    levels = [int(c) for c in args.clients.split(",") if c.strip()]
    server = Server(model=args.model, port=free_port(), max_batch=None, queue_size=max(64, 2 * max(levels)), threads=0, runtime=args.runtime)
    rows = []
    try:
        server.wait_ready(300)
        limits = httpx.get(server.url + "/v1/info", timeout=10).json()["limits"]
        for clients in levels:
            before = model_side(server.url)
            statuses, admitted, retry_after = asyncio.run(pressure(server.url, article=article, clients=clients, seconds=args.seconds))
            load = os.getloadavg()[0]  # the machine's load, the run's own included
            after = model_side(server.url)
            delta = {name: after[name] - before[name] for name in after}
            inside = delta["stance_queue_wait_seconds_sum"] / max(delta["stance_queue_wait_seconds_count"], 1)
            inside += delta["stance_inference_seconds_sum"] / max(delta["stance_inference_seconds_count"], 1)
            rows.append((clients, statuses, admitted, retry_after, load, inside))
    finally:
        server.stop()
    print(f"Overload of /v1/analyze: {platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; article of {sentences} sentences; "
          f"max_wait_s={limits['max_wait_s']}, queue_size={limits['queue_size']}; {args.seconds:.0f} s per row\n")  # fmt: skip
    print("| clients | requests | 200 | 429 | other | refused | admitted p50 s | p90 s | p99 s | max s | Retry-After (min-max) | in the batcher, mean s | load avg (1 min, at the end) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for clients, statuses, admitted, retry_after, load, inside in rows:
        total = sum(statuses.values())
        other = total - statuses[200] - statuses[429]
        spread = f"{min(retry_after)}-{max(retry_after)}" if retry_after else "-"
        print(
            f"| {clients} | {total:,} | {statuses[200]:,} | {statuses[429]:,} | {other} | {statuses[429] / total:.0%} | "
            f"{percentile(admitted, 50):.2f} | {percentile(admitted, 90):.2f} | {percentile(admitted, 99):.2f} | {max(admitted, default=float('nan')):.2f} | {spread} | {inside:.2f} | {load:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
