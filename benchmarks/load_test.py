"""Loopback load test of the HTTP service: what batching buys under concurrency.

Starts ``python -m stance.service`` on 127.0.0.1 as a subprocess, then for 1, 8 and 32
concurrent clients (each sending a fixed number of requests) measures sentences/s and
p50/p99 latency of ``/v1/predict`` with single sentences and ``/v1/analyze`` with a
~30-sentence article built from the seed article. Compares with the in-process batch
throughput of the same model and runtime (``predict`` of one long list, ``analyze`` of the
same article), reports the server's peak RSS, prints a markdown table.
Bounded: fixed request counts, per-request timeouts and an overall deadline; the server
is always stopped.

    python -m benchmarks.load_test                       # the shipped default model
    python -m benchmarks.load_test --model runs/my-model --concurrency 1,8,32
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SEED_ARTICLE = ROOT / "seeds" / "000_f2f505aecd180d60.txt"


@dataclass(frozen=True)
class Result:
    endpoint: str
    clients: int
    requests: int
    sentences: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def sentences_per_s(self) -> float:
        return self.sentences / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1] * 1000


# ---- inputs -------------------------------------------------------------------------------


def seed_sentences() -> list[str]:
    from stance.models import split_sentences

    return [s.text for s in split_sentences(SEED_ARTICLE.read_text(encoding="utf-8"))]


def article_of(sentences: int) -> tuple[str, int]:
    """The seed article repeated and cut after ``sentences`` sentences."""
    from stance.models import split_sentences

    seed = SEED_ARTICLE.read_text(encoding="utf-8").strip()
    text = seed
    while len(split_sentences(text)) < sentences:
        text += "\n\n" + seed
    cut = split_sentences(text)[sentences - 1].end
    text = text[:cut]
    return text, len(split_sentences(text))


# ---- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``python -m stance.service`` in a subprocess, its output in a log file."""

    def __init__(self, *, model: str | None, port: int, max_batch: int | None, queue_size: int, threads: int, runtime: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = tempfile.NamedTemporaryFile("w+", prefix="stance-load-", suffix=".log", delete=False)  # noqa: SIM115
        command = [sys.executable, "-m", "stance.service", "--host", "127.0.0.1", "--port", str(port), "--queue-size", str(queue_size)]
        command += ["--runtime", runtime]
        if model:
            command += ["--model", model]
        if max_batch:
            command += ["--max-batch", str(max_batch)]
        if threads:
            command += ["--torch-threads", str(threads)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("STANCE_")}
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.rss_samples: list[int] = []

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready within {timeout:.0f}s:\n{self.log_tail()}")

    def sample_rss(self) -> None:
        try:
            import psutil

            self.rss_samples.append(psutil.Process(self.process.pid).memory_info().rss)
        except Exception:
            pass

    def peak_rss(self) -> tuple[float | None, str]:
        """Peak resident memory in MiB: the kernel's high-water mark where it exists (exact),
        else the largest psutil sample taken during the run."""
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024, "VmHWM"
        except OSError:
            pass
        if self.rss_samples:
            return max(self.rss_samples) / 2**20, "psutil, sampled"
        return None, "unavailable"

    def log_tail(self, lines: int = 30) -> str:
        self.log.flush()
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


# ---- load ---------------------------------------------------------------------------------


async def run_level(server: Server, *, endpoint: str, payloads: list[dict], sentences_per_request: int, clients: int, requests: int) -> Result:
    """``clients`` concurrent clients, each sending ``requests`` requests back to back."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as http:

        async def client(worker: int) -> None:
            nonlocal errors
            for i in range(requests):
                payload = payloads[(worker * requests + i) % len(payloads)]
                started = time.perf_counter()
                try:
                    response = await http.post(endpoint, json=payload)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        async def sampler() -> None:
            while True:
                server.sample_rss()
                await asyncio.sleep(0.1)

        sampling = asyncio.create_task(sampler())
        started = time.perf_counter()
        await asyncio.gather(*(client(w) for w in range(clients)))
        seconds = time.perf_counter() - started
        sampling.cancel()
    return Result(endpoint, clients, clients * requests, len(latencies) * sentences_per_request, seconds, latencies, errors)


def in_process_throughput(
    model_dir: str, runtime: str, sentences: list[str], count: int, article: str, threads: int, repeats: int = 3
) -> dict[str, float]:
    """Sentences/s in this process with the server's runtime and threads (best of ``repeats``):
    ``model.predict`` on one list of ``count`` sentences, and ``model.analyze`` of the article."""
    import torch
    from stance.models import StanceModel

    torch.set_num_threads(threads)
    model = StanceModel.from_pretrained(model_dir, runtime=runtime)
    texts = [sentences[i % len(sentences)] for i in range(count)]
    n_article = len(model.analyze(article).sentences)  # also the warm-up
    model.predict(texts[:16])
    best = {"/v1/predict": float("inf"), "/v1/analyze": float("inf")}
    for _ in range(repeats):
        started = time.perf_counter()
        model.predict(texts)
        best["/v1/predict"] = min(best["/v1/predict"], time.perf_counter() - started)
        started = time.perf_counter()
        model.analyze(article)
        best["/v1/analyze"] = min(best["/v1/analyze"], time.perf_counter() - started)
    return {"/v1/predict": count / best["/v1/predict"], "/v1/analyze": n_article / best["/v1/analyze"]}


# ---- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder (default: the shipped default model)")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated client counts")
    parser.add_argument("--requests", type=int, default=16, help="/v1/predict requests per client")
    parser.add_argument("--analyze-requests", type=int, default=2, help="/v1/analyze requests per client")
    parser.add_argument("--article-sentences", type=int, default=30)
    parser.add_argument("--in-process-sentences", type=int, default=512)
    parser.add_argument("--max-batch", type=int, help="the server's STANCE_MAX_BATCH (default: its own)")
    parser.add_argument("--torch-threads", type=int, default=0, help="torch threads, server and in-process (default: the cores)")
    parser.add_argument("--runtime", choices=["auto", "torch", "onnx"], default="auto", help="the server's STANCE_RUNTIME (default: auto)")
    parser.add_argument("--startup-timeout", type=float, default=300)
    parser.add_argument("--max-seconds", type=float, default=900, help="give up (and stop the server) after this long")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from stance.models import StanceModel
    from stance.service.settings import available_cores, resolve_model_dir

    try:
        model_dir = str(resolve_model_dir(args.model))
    except FileNotFoundError as error:
        print(f"load_test: {error}", file=sys.stderr)
        return 2
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    sentences = seed_sentences()
    article, article_sentences = article_of(args.article_sentences)
    predict_payloads = [{"inputs": s} for s in sentences]
    analyze_payloads = [{"text": article}]
    queue_size = max(64, 2 * max(levels))  # the test measures batching, not 429s
    runtime = args.runtime
    StanceModel.from_pretrained(model_dir, runtime=runtime)  # a one-time ONNX export happens here, not in the server's memory peak

    server = Server(
        model=args.model, port=free_port(), max_batch=args.max_batch, queue_size=queue_size, threads=args.torch_threads, runtime=runtime
    )
    results: list[Result] = []
    started = time.monotonic()
    try:
        server.wait_ready(args.startup_timeout)
        info = httpx.get(server.url + "/v1/info", timeout=10).json()

        async def all_levels() -> None:
            # warm-up: first calls pay for lazy initialisation
            await run_level(server, endpoint="/v1/predict", payloads=predict_payloads, sentences_per_request=1, clients=2, requests=4)
            await run_level(server, endpoint="/v1/analyze", payloads=analyze_payloads, sentences_per_request=article_sentences, clients=1, requests=1)
            for clients in levels:
                results.append(
                    await run_level(
                        server, endpoint="/v1/predict", payloads=predict_payloads, sentences_per_request=1, clients=clients, requests=args.requests
                    )
                )
            for clients in levels:
                results.append(
                    await run_level(
                        server,
                        endpoint="/v1/analyze",
                        payloads=analyze_payloads,
                        sentences_per_request=article_sentences,
                        clients=clients,
                        requests=args.analyze_requests,
                    )
                )

        remaining = args.max_seconds - (time.monotonic() - started)
        try:
            asyncio.run(asyncio.wait_for(all_levels(), timeout=max(1.0, remaining)))
        except TimeoutError:
            print(f"load_test: stopped after --max-seconds {args.max_seconds:.0f}; partial results follow", file=sys.stderr)
        peak, peak_source = server.peak_rss()
    except RuntimeError as error:
        print(f"load_test: {error}", file=sys.stderr)
        return 1
    finally:
        server.stop()

    threads = args.torch_threads or available_cores()
    in_process = in_process_throughput(model_dir, runtime, sentences, args.in_process_sentences, article, threads)

    model = info["model"]
    print(f"## Load test: {model['name']} v{model['version']} ({model['encoder'].get('name_or_path')}), {model['runtime']} runtime\n")
    print(f"{platform.machine()}, {available_cores()} cores, {threads} threads, load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}; server max_batch={info['limits']['max_batch']}, "
          f"batch_wait_ms={info['limits']['batch_wait_ms']}; analyze article: {article_sentences} sentences, {len(article)} characters.\n")  # fmt: skip
    print("| endpoint | clients | requests | sentences/s | p50 ms | p99 ms | errors | vs in-process |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.endpoint} | {r.clients} | {r.requests} | {r.sentences_per_s:.1f} | {r.percentile(50):.1f} | {r.percentile(99):.1f} | "
            f"{r.errors} | {r.sentences_per_s / in_process[r.endpoint]:.0%} |"
        )
    print(f"| in-process `model.predict`, {args.in_process_sentences} sentences in one call | - | - | {in_process['/v1/predict']:.1f} | - | - | - | 100% |")
    print(f"| in-process `model.analyze` of the article | - | - | {in_process['/v1/analyze']:.1f} | - | - | - | 100% |")
    print()
    print(f"Server peak RSS: {peak:.0f} MiB ({peak_source})." if peak else "Server peak RSS: unavailable.")
    return 0 if all(r.errors == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
