"""``stance label``: tasks for Label Studio or doccano with the model's labels as
pre-annotations, and ``--config`` for the labelling interface they are made for."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def add_label_command(commands: argparse._SubParsersAction) -> None:
    from stance.cli import model_argument

    label = commands.add_parser(
        "label",
        help="write labelling tasks (Label Studio or doccano) with the model's labels as pre-annotations",
        description="Split articles into sentences, score them, and write one task per sentence for Label Studio or doccano. "
        "Train on the tool's export with `stance train --data EXPORT`.",
    )
    label.add_argument("--input", help=".jsonl or .csv articles with 'text' and 'id' (or 'article_id')")
    label.add_argument("--output", help="tasks to write: a JSON list for Label Studio, JSON Lines for doccano")
    label.add_argument("--tool", choices=["label-studio", "doccano"], default="label-studio")
    label.add_argument(
        "--select",
        choices=["uncertain", "random", "all"],
        default="uncertain",
        help="uncertain (default): the sentences the model is least sure of, spread over articles; random; all",
    )
    label.add_argument("--n", type=int, default=300, help="sentences to select (default 300; ignored by --select all)")
    label.add_argument("--exclude", nargs="+", default=[], help="task files or exports of earlier rounds: their sentences are not chosen again")
    label.add_argument("--context", type=int, default=2, help="sentences shown before and after each sentence (default 2)")
    label.add_argument("--model", type=model_argument, help="model folder, or a shipped model: default (the default) or minilm")
    label.add_argument("--seed", type=int, default=42, help="seed of --select random")
    label.add_argument("--batch-size", type=int, default=16)
    label.add_argument(
        "--runtime",
        choices=["torch", "onnx", "auto"],
        default=os.environ.get("STANCE_RUNTIME") or "auto",
        help="as for `stance predict` (default auto: int8 ONNX Runtime when installed)",
    )
    label.add_argument(
        "--config",
        action="store_true",
        help="print the labelling interface instead: Label Studio XML (or, with --tool doccano, the label types as JSON) "
        "for the model's targets or --targets-file",
    )
    label.add_argument("--targets-file", help="with --config: targets JSON (default: the model's targets)")
    label.set_defaults(run=run_label)


def run_label(args: argparse.Namespace) -> int:
    if args.config:
        print(_config(args), end="")
        return 0
    if args.targets_file:
        raise ValueError("--targets-file goes with --config; tasks are scored for the targets of --model")
    if not args.input or not args.output:
        raise ValueError("--input and --output are needed (or --config to print the labelling interface)")
    if args.context < 0:
        raise ValueError(f"--context must not be negative, got {args.context}")
    from stance.models import StanceModel
    from stance.models.atomic import write_file
    from stance.training.label_tools import doccano_task, label_studio_task
    from stance.training.selection import labelled_positions, read_articles, score_articles, select_sentences

    articles = read_articles(args.input)
    exclude = set().union(*(labelled_positions(path) for path in args.exclude))
    model = StanceModel.from_pretrained(args.model, runtime=args.runtime)
    sentences = score_articles(model, articles, context=args.context, exclude=exclude, batch_size=args.batch_size)
    chosen = select_sentences(sentences, how=args.select, n=args.n, seed=args.seed)
    version = f"{model.settings.model_name} {model.settings.model_version}"
    if args.tool == "doccano":
        text = "".join(json.dumps(doccano_task(s), ensure_ascii=False) + "\n" for s in chosen)
    else:
        text = "[\n" + ",\n".join(json.dumps(label_studio_task(s, model_version=version), ensure_ascii=False) for s in chosen) + "\n]\n"
    write_file(args.output, text)
    print(
        f"{len(chosen)} of {len(sentences)} sentences ({len({s.article_id for s in chosen})} of {len(articles)} articles, "
        f"{len(exclude)} excluded) selected by {args.select}, written to {args.output}",
        file=sys.stderr,
    )
    return 0


def _config(args: argparse.Namespace) -> str:
    from stance.models import DEFAULT_MODEL_DIR, TargetSet
    from stance.training.label_tools import doccano_label_names, label_studio_config

    targets_file = Path(args.targets_file) if args.targets_file else Path(args.model or DEFAULT_MODEL_DIR) / "targets.json"
    if not targets_file.is_file():
        raise FileNotFoundError(f"{targets_file}: no such file (a model folder holds its targets.json)")
    targets = TargetSet.load(targets_file)
    if args.tool == "doccano":
        return json.dumps([{"text": name} for name in doccano_label_names(targets)], indent=2) + "\n"
    return label_studio_config(targets)
