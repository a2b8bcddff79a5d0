"""Sentences per second scoring an archive with ``stance predict --split``: the local engine
against the Ray engine with 1 and 2 actors on this machine, over the same articles; then the
stage costs the 10-million-article estimate in BENCHMARKS.md is worked from (reading and
checking shards, loading the model in an actor, writing Parquet).

Articles: the seed article and the corpus articles (``bench_speed.load_articles``) repeated to
``--articles``, as 8 JSON Lines shards (and one file for the local engine). The engines run
interleaved for ``--rounds`` rounds on the default model and runtime (int8 ONNX when
installed); each run counts from the command's start to its output in place, model loading
included. One local Ray is started first (its start-up is shown apart, not in the runs).
The table goes to stdout, Ray's progress to stderr.

    python -m benchmarks.bench_ray --articles 2000 --rounds 2 2>/dev/null
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow.parquet as pq  # noqa: E402
import ray  # noqa: E402

from benchmarks.bench_speed import load_articles, machine  # noqa: E402
from stance.cli import main as stance  # noqa: E402
from stance.ray_engine import check_shard  # noqa: E402

SHARDS = 8


def write_archive(folder: Path, count: int) -> tuple[Path, Path]:
    """The articles as one .jsonl (local engine) and as SHARDS shards (Ray engine)."""
    articles = load_articles()
    rows = [{"id": f"{i:06d}", "text": articles[i % len(articles)]} for i in range(count)]
    single, shards = folder / "articles.jsonl", folder / "shards"
    shards.mkdir()
    single.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    for shard in range(SHARDS):
        part = rows[shard::SHARDS]
        (shards / f"part-{shard:02d}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in part), encoding="utf-8")
    return single, shards


def output_rows(path: Path) -> int:
    if path.is_file():
        return sum(1 for _ in path.open(encoding="utf-8"))
    return sum(pq.ParquetFile(shard).metadata.num_rows for shard in path.iterdir())


def run(command: list[str], output: Path) -> tuple[float, int]:
    """(seconds, output rows) of one ``stance`` command (its progress goes to stderr)."""
    begin = time.perf_counter()
    code = stance(command)
    seconds = time.perf_counter() - begin
    if code != 0:
        raise SystemExit(f"stance {' '.join(command)} failed ({code})")
    return seconds, output_rows(output)


def stage_costs(shards: Path, scored: Path) -> dict[str, float]:
    """Seconds for: checking every shard, reading them into Ray, loading the model, writing the scored rows again."""
    paths = sorted(str(p) for p in shards.iterdir())
    costs = {}
    begin = time.perf_counter()
    ray.get([ray.remote(check_shard).remote(path, "jsonl") for path in paths])
    costs["check"] = time.perf_counter() - begin
    begin = time.perf_counter()
    ray.data.read_json(paths, lines=True).materialize()
    costs["read"] = time.perf_counter() - begin
    begin = time.perf_counter()  # as an actor starts: a fresh interpreter imports the package and loads the model
    subprocess.run([sys.executable, "-c", "from stance.models import StanceModel; StanceModel.from_pretrained(runtime='auto')"], check=True)
    costs["model load"] = time.perf_counter() - begin
    table = ray.data.read_parquet(str(scored)).materialize()
    with tempfile.TemporaryDirectory() as again:
        begin = time.perf_counter()
        table.write_parquet(again)
        costs["write"] = time.perf_counter() - begin
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ray-") as work:
        work = Path(work)
        single, shards = write_archive(work, args.articles)
        begin = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - begin
        engines = {
            "local engine (one process)": (["predict", "--split", "--input", str(single), "--output", str(work / "local.jsonl")], work / "local.jsonl"),
        }
        for workers in (1, 2):
            out = work / f"ray-{workers}"
            command = ["predict", "--engine", "ray", "--split", "--input", str(shards), "--output", str(out), "--workers", str(workers), "--overwrite"]
            engines[f"Ray, {workers} actor{'s' if workers > 1 else ''}"] = (command, out)
        times: dict[str, list[float]] = {name: [] for name in engines}
        sentences = {}
        for round_no in range(args.rounds):
            for name, (command, out) in engines.items():
                seconds, rows = run(command, out)
                times[name].append(seconds)
                sentences[name] = rows
                print(f"round {round_no + 1}: {name}: {rows} sentences in {seconds:.1f} s", file=sys.stderr)
        costs = stage_costs(shards, work / "ray-2")
        ray.shutdown()

    print(f"\n{args.articles} articles, {sentences['local engine (one process)']} sentences; {machine()}; {dt.date.today()}; best of {args.rounds} rounds\n")
    print("| engine | seconds (best) | sentences/s (best) | all rounds, s |")
    print("| --- | --- | --- | --- |")
    for name, seconds in times.items():
        best = min(seconds)
        print(f"| {name} | {best:.1f} | {sentences[name] / best:.1f} | {', '.join(f'{s:.1f}' for s in seconds)} |")
    total_sentences = sentences["Ray, 2 actors"]
    print(f"\nRay start-up (once, not in the runs): {ray_start:.1f} s")
    print(f"check shards (first tasks on fresh Ray workers, imports included): {costs['check']:.2f} s ({args.articles / costs['check']:.0f} articles/s)")
    print(f"read shards into Ray: {costs['read']:.2f} s ({args.articles / costs['read']:.0f} articles/s)")
    print(f"model load in a fresh process (imports included, as in each actor): {costs['model load']:.2f} s")
    print(f"write {total_sentences} scored rows as Parquet: {costs['write']:.2f} s ({total_sentences / costs['write']:.0f} rows/s)")
    print(f"median sentences/s: {', '.join(f'{name} {sentences[name] / statistics.median(s):.1f}' for name, s in times.items())}")


if __name__ == "__main__":
    main()
