"""``stance predict --engine ray``: score an archive of JSON Lines or Parquet shards on a Ray
cluster (or a local Ray on this machine) with the same rows function as the local engine.

A run is three steps: every shard is read once (Ray tasks, one per shard) for rows without
text, lines that are not JSON and fields whose type changes (each an Arrow column), so that a
bad row stops the run before anything is scored or written; the rows are scored by an actor
pool (``map_batches``), each actor loading the model once; the output shards are written into
a temporary folder beside ``output`` and renamed into place when every write has succeeded.
"""

from __future__ import annotations

import glob
import json
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from stance.models.atomic import atomic_directory
from stance.models.rows import score_rows, text_problem

JSONL_SUFFIXES = (".jsonl", ".json")
PARQUET_SUFFIXES = (".parquet",)
OUTPUT_FORMATS = ("parquet", "jsonl")
PROBLEMS_PER_SHARD = 20  # a shard full of bad rows reports this many of them, and counts the rest
INSTALL_HINT = 'the Ray engine needs Ray: pip install "stance-service[ray]" (in the repository: pip install ".[ray]")'


@dataclass(frozen=True)
class ScoringJob:
    """What one ``stance predict --engine ray`` run does."""

    input: str
    output: str
    model_dir: str | None = None
    shared_model: bool = False  # model_dir is a path every node sees: actors load it there, nothing is shipped
    runtime: str = "auto"
    split: bool = False
    targets: list[str] | None = None
    gate: bool | None = None
    batch_size: int = 16
    rows_per_call: int = 32
    workers: int | None = None  # default: one per CPU of the cluster (divided by cpus_per_worker)
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    address: str | None = None  # default: RAY_ADDRESS, else a new local Ray with this machine's cores
    output_format: str = "parquet"
    skip_bad_rows: bool = False
    overwrite: bool = False


@dataclass(frozen=True)
class ScoringReport:
    rows: int
    skipped: int
    output_rows: int
    seconds: float


def require_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RuntimeError(INSTALL_HINT) from None
    return ray


def find_shards(pattern: str) -> tuple[str, list[Path]]:
    """The input's format (``jsonl`` or ``parquet``) and its shards: a file, every shard under a
    folder (recursively; hidden files and files such as ``_SUCCESS`` are not shards), or a glob."""
    path = Path(pattern)
    if path.is_dir():
        candidates = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
    elif path.is_file():
        candidates = [path]
    elif glob.has_magic(pattern):
        candidates = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    else:
        raise FileNotFoundError(f"{pattern}: no such file, folder or glob match")
    shards = [p for p in candidates if p.suffix.lower() in JSONL_SUFFIXES + PARQUET_SUFFIXES]
    if not shards:
        raise FileNotFoundError(f"{pattern}: no .jsonl, .json or .parquet shards there")
    formats = {"parquet" if p.suffix.lower() in PARQUET_SUFFIXES else "jsonl" for p in shards}
    if len(formats) > 1:
        raise ValueError(f"{pattern}: mixes JSON Lines and Parquet shards; score each format on its own")
    return formats.pop(), [p.resolve() for p in shards]


# What a JSON value becomes in an Arrow column: a field must keep one of these across rows and shards.
JSON_KINDS = {str: "a string", bool: "true/false", int: "a number", float: "a number", dict: "an object", list: "a list"}


@dataclass
class ShardCheck:
    """One shard read once before scoring: its rows, the bad ones, and the kind of each field."""

    rows: int = 0
    bad: int = 0
    problems: list[str] = field(default_factory=list)  # the first PROBLEMS_PER_SHARD, as "shard:line: problem"
    unreadable: bool = False  # a problem that --skip-bad-rows cannot skip: the reader itself would fail
    kinds: dict[str, tuple[str, str]] = field(default_factory=dict)  # field -> (kind, where first seen)

    def problem(self, where: str, problem: str, *, skippable: bool = True) -> None:
        self.bad += 1
        self.unreadable |= not skippable
        if len(self.problems) < PROBLEMS_PER_SHARD:
            self.problems.append(f"{where}: {problem}")

    def field_kind(self, name: str, kind: str, where: str) -> None:
        first = self.kinds.setdefault(name, (kind, where))
        if first[0] != kind:
            self.problem(where, f"'{name}' is {kind}, but {first[0]} at {first[1]} (a field keeps one type: it is an Arrow column)", skippable=False)


def check_shard(path: str, input_format: str) -> ShardCheck:
    """Every row of one shard: ``shard:line`` (JSON Lines) or ``shard:row N`` (Parquet) for each row without text;
    for JSON Lines also lines that are not JSON and fields whose type changes, which no row skipping gets past."""
    check = ShardCheck()
    if input_format == "jsonl":
        from stance.training.data import read_records

        malformed: list[str] = []
        for line_no, row in read_records(path, malformed):
            check.rows += 1
            where = f"{path}:{line_no}"
            problem = text_problem(row)
            if problem:
                check.problem(where, problem)
            for name, value in row.items():
                if value is not None:
                    check.field_kind(name, JSON_KINDS[type(value)], where)
        for problem in malformed:
            check.rows += 1
            check.problem(*problem.split(": ", 1), skippable=False)
        return check
    import pyarrow.parquet as pq

    shard = pq.ParquetFile(path)
    if "text" not in shard.schema_arrow.names:
        check.rows = shard.metadata.num_rows
        check.problem(path, f"no 'text' column ({check.rows} rows)", skippable=False)
        return check
    for batch in shard.iter_batches(columns=["text"]):
        for text in batch.column(0).to_pylist():
            check.rows += 1
            problem = text_problem({"text": text})
            if problem:
                check.problem(f"{path}:row {check.rows}", problem)
    return check


class ArticleScorer:
    """The Ray actor: loads the model once, then scores each batch of rows with ``score_rows``."""

    def __init__(self, *, model_dir: str | None, shipped_model: list | None, runtime: str, cpus: float, gpus: float, options: dict) -> None:
        import ray

        from stance.models import StanceModel

        if shipped_model is not None:  # [a reference to the folder's files]: this actor's own copy (an ONNX export it makes stays there)
            self.shipped = tempfile.TemporaryDirectory(prefix="stance-model-")
            model_dir = self.shipped.name
            for name, data in ray.get(shipped_model[0]).items():
                (Path(model_dir) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(model_dir) / name).write_bytes(data)
        self.model = StanceModel.from_pretrained(model_dir, runtime="torch" if gpus else runtime)
        if gpus:
            self.model.to("cuda")
        elif getattr(self.model, "runtime", None) is not None:
            # ONNX Runtime would start a thread per core of the node in every actor: one per CPU the actor holds
            # (torch already follows OMP_NUM_THREADS, which Ray sets so).
            from stance.models import DEFAULT_MODEL_DIR
            from stance.models.onnx_runtime import use_onnx

            use_onnx(self.model, model_dir=model_dir or DEFAULT_MODEL_DIR, threads=max(1, int(cpus)), export=False)
        self.options = options

    def __call__(self, batch):
        import pyarrow as pa

        rows = [row for row in batch.to_pylist() if text_problem(row) is None]  # bad rows left after the check are skipped ones
        return pa.Table.from_pylist(score_rows(self.model, rows, **self.options))


def model_files(model_dir: str) -> dict[str, bytes]:
    """Every file of a model folder (with its ONNX export, when there is one), to ship to the actors
    through Ray's object store, so that no node needs to see the driver's disk."""
    root = Path(model_dir)
    if not (root / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} is not a stance model folder (no config.json)")
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _sink(output_format: str, path: str):
    from ray.data.datasource import BlockBasedFileDatasink

    class CountingSink(BlockBasedFileDatasink):
        """Writes one shard per block and remembers how many rows were written in all."""

        rows_written = 0

        def __init__(self, path: str) -> None:
            super().__init__(path, file_format=output_format)

        def write_block_to_file(self, block, file) -> None:
            if output_format == "parquet":
                import pyarrow.parquet as pq

                pq.write_table(block.to_arrow(), file)
            else:  # the same bytes per row as the local engine's output
                for row in block.to_arrow().to_pylist():
                    file.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))

        def on_write_complete(self, write_result) -> None:
            super().on_write_complete(write_result)
            self.rows_written = write_result.num_rows

    return CountingSink(path)


def _check_output(output: Path, *, overwrite: bool) -> None:
    if output.exists() and not overwrite:
        raise ValueError(f"{output} already exists: choose another --output, or pass --overwrite to replace it")


def _check_targets(model_dir: str | None, targets: list[str] | None) -> None:
    """An unknown target fails here, not in every actor."""
    from stance.models import DEFAULT_MODEL_DIR, TargetSet

    TargetSet.load(Path(model_dir or DEFAULT_MODEL_DIR) / "targets.json").select(targets)


def _check_input(ray, input_format: str, shards: list[Path], *, skip_bad_rows: bool) -> tuple[int, int]:
    """(rows, bad rows) over every shard; bad rows stop the run unless skipped."""
    check = ray.remote(check_shard)
    results = ray.get([check.remote(str(shard), input_format) for shard in shards])
    merged = ShardCheck()
    for result in results:
        merged.rows += result.rows
        merged.bad += result.bad
        merged.unreadable |= result.unreadable
        merged.problems += result.problems
        for name, (kind, where) in result.kinds.items():  # a type that changes from one shard to the next
            merged.field_kind(name, kind, where)
    if merged.bad and (merged.unreadable or not skip_bad_rows):
        from stance.training.data import MAX_ERRORS_SHOWN

        shown = merged.problems[:MAX_ERRORS_SHOWN]
        listed = "\n  ".join(shown)
        more = f"\n  ... and {merged.bad - len(shown)} more" if merged.bad > len(shown) else ""
        hint = "" if merged.unreadable else "\n--skip-bad-rows scores the other rows and counts these"
        raise ValueError(f"{merged.bad} of {merged.rows} rows cannot be scored, nothing was written:\n  {listed}{more}{hint}")
    return merged.rows, merged.bad


def run(job: ScoringJob) -> ScoringReport:
    """Score ``job.input`` into ``job.output``; raises before writing anything when a row is bad."""
    if job.output_format not in OUTPUT_FORMATS:
        raise ValueError(f"--output-format must be one of {', '.join(OUTPUT_FORMATS)}")
    ray = require_ray()
    output = Path(job.output).resolve()
    _check_output(output, overwrite=job.overwrite)
    input_format, shards = find_shards(job.input)
    shipped = None if job.model_dir is None or job.shared_model else model_files(job.model_dir)
    _check_targets(job.model_dir, job.targets)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=job.address, include_dashboard=False, log_to_driver=False)  # no address: RAY_ADDRESS, else a local Ray
    try:
        begin = time.perf_counter()
        rows, skipped = _check_input(ray, input_format, shards, skip_bad_rows=job.skip_bad_rows)
        paths = [str(shard) for shard in shards]
        # Reading and writing ask for no CPU: the actors hold the cores, and a read that waits for one of them would never start.
        read = ray.data.read_parquet if input_format == "parquet" else partial(ray.data.read_json, lines=True)
        dataset = read(paths, num_cpus=0)
        workers = job.workers or max(1, int(ray.cluster_resources().get("CPU", 1) // job.cpus_per_worker))
        options = {"split": job.split, "targets": job.targets, "gate": job.gate, "batch_size": job.batch_size}
        scored = dataset.map_batches(
            ArticleScorer,
            batch_size=job.rows_per_call,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=job.cpus_per_worker,
            num_gpus=job.gpus_per_worker or None,
            # The model's files go through the object store once; each actor gets a reference in a list, which Ray
            # leaves unresolved, so that the constructor stays small and the actor fetches the files when it starts.
            fn_constructor_kwargs={
                "model_dir": str(Path(job.model_dir).resolve()) if job.shared_model and job.model_dir else None,
                "shipped_model": [ray.put(shipped)] if shipped is not None else None,
                "runtime": job.runtime,
                "cpus": job.cpus_per_worker,
                "gpus": job.gpus_per_worker,
                "options": options,
            },
        )
        with atomic_directory(output) as staging:  # an old output (--overwrite) is replaced only once the new one is complete
            sink = _sink(job.output_format, str(staging))
            scored.write_datasink(sink, ray_remote_args={"num_cpus": 0})
        return ScoringReport(rows=rows - skipped, skipped=skipped, output_rows=sink.rows_written, seconds=time.perf_counter() - begin)
    finally:
        if started_here:
            ray.shutdown()

