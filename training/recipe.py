"""The training recipe, in one place for ``stance train``, ``make default-model`` and Python:
rows validated and split by article, a new model over an encoder (or a saved model trained
further), the trainer with the task, and an atomic save with card and training config."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stance.models import TargetSet, default_targets
from stance.models.labelsets import LabelSet, default_labelset
from stance.models.tasks import TASKS, StanceSettings
from stance.training.arguments import TrainingArguments
from stance.training.data import load_examples, sample_gate_skipped, split_by_article
from stance.training.trainer import Trainer, TrainResult

DEFAULT_LORA_RANK = 16
DEFAULT_MAX_LENGTH = {"stance": 128, "frames": 256, "narratives": 256}  # tokens per pair; per article chunk
# Examples per step: pairs, or sentences with all their targets (8 x 4 targets = the same 32 pairs).
DEFAULT_BATCH_SIZE = {"pair": 32, "sentence": 8}


@dataclass(kw_only=True)
class TrainingData:
    """Where the rows come from: ``data`` is split by article into train and dev unless
    ``dev_data`` is given; ``extra_data`` is added to training only."""

    data: Sequence[str]
    dev_data: Sequence[str] | None = None
    extra_data: Sequence[str] | None = None
    text_dirs: Sequence[str] | None = None
    # sentences (labels ignored) on which a student learns its teacher's probabilities (``teacher``)
    transfer_data: Sequence[str] | None = None


def train_model(
    rows: TrainingData,
    output: str | Path,
    *,
    task: str = "stance",
    labels_file: str | None = None,
    init_model: str | None = None,
    encoder: str | None = None,
    targets_file: str | None = None,
    lora_rank: int | None = None,
    max_length: int | None = None,
    frozen_encoder: bool = False,
    encoder_layers: int | None = None,
    progress: bool = True,
    resume: bool = False,
    before_save: Callable[[], None] | None = None,
    **options,
) -> TrainResult:
    """Train a model for ``task`` and write it to ``output``; ``options`` are ``TrainingArguments`` fields.

    ``reader`` (stance): "pair" (default) or "sentence" (``stance.models.sentence_reader``);
    ``teacher`` (a stance model folder, or a list of them whose mean is the teacher) trains a sentence reader on the
    gold rows and on the teacher's probabilities over the gold and ``rows.transfer_data`` sentences (``stance.training.distillation``).
    ``init_model`` goes on training a saved stance model: its encoder, adapter rank, length, reader and
    targets are kept, so ``encoder``, ``targets_file``, ``lora_rank`` and ``max_length`` must not be given.
    ``labels_file``: an article task's own label set (default: ``models/<task>.json``).
    ``frozen_encoder`` (article tasks): fit a linear head on the encoder as it is, on every
    article of ``data`` (see ``stance.training.article_heads``); returns a ``HeadResult``;
    ``encoder_layers``: that head reads only the encoder's first layers (cheaper to run).
    Fine-tuning writes its state after every epoch to ``checkpoint_path(output)``; ``resume`` goes on from it
    (the same command again, after a run was cut short); without ``resume`` an existing one is an error.
    ``before_save`` runs after training, before the model is written (e.g. to check the output folder again).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    checkpoint = checkpoint_path(output)
    if frozen_encoder and resume:
        raise ValueError("--resume goes on with a fine-tuning run; a head on a frozen encoder is fitted in one go")
    if checkpoint.exists() and not resume and not frozen_encoder:
        raise ValueError(f"{checkpoint} holds an unfinished run: add --resume to go on from it, or remove it to start over")
    reader = options.pop("reader", None)
    if encoder_layers is not None and not frozen_encoder:
        raise ValueError("--encoder-layers is for a head on a frozen encoder: add --frozen-encoder (frames, narratives)")
    if task != "stance":
        if init_model or targets_file or reader or options.get("int8_ffn_output") is not None:
            raise ValueError(f"--init-model, --targets-file, --reader and --int8-ffn-output are for the stance task, not {task}")
        if frozen_encoder:
            return _train_article_head(task, rows, output, labels_file=labels_file, encoder=encoder, lora_rank=lora_rank, max_length=max_length,
                                       encoder_layers=encoder_layers, before_save=before_save, **options)  # fmt: skip
        return _train_articles(task, rows, output, labels_file=labels_file, encoder=encoder, lora_rank=lora_rank, max_length=max_length,
                               progress=progress, resume=resume, before_save=before_save, **options)  # fmt: skip
    if labels_file or frozen_encoder:
        raise ValueError("--labels-file and --frozen-encoder are for the frames and narratives tasks")
    init = None
    if init_model:
        given = [name for name, value in (("encoder", encoder), ("targets_file", targets_file), ("lora_rank", lora_rank), ("max_length", max_length))
                 if value is not None]  # fmt: skip
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ValueError(f"--init-model keeps the model's own encoder, adapter, length and targets: drop {flags}")
        from stance.models import StanceModel

        init = StanceModel.from_pretrained(init_model, trainable=True)
        if reader not in (None, init.settings.reader):
            raise ValueError(f"--init-model keeps the model's own reader ({init.settings.reader}): drop --reader {reader}")
        reader = init.settings.reader
        targets = init.targets
        backbone = init.backbone.settings
        encoder, lora_rank, max_length = backbone.encoder["name_or_path"], (backbone.lora or {}).get("r", 0), backbone.max_length
    else:
        targets = TargetSet.load(targets_file) if targets_file else default_targets()
    reader = reader or "pair"
    args = TrainingArguments(
        encoder=encoder,
        lora_rank=DEFAULT_LORA_RANK if lora_rank is None else lora_rank,
        max_length=max_length or DEFAULT_MAX_LENGTH["stance"],
        init_model=init_model,
        reader=reader,
        **{"batch_size": DEFAULT_BATCH_SIZE[reader], **options},
    )
    train_examples, dev_examples = _split(rows, args, lambda paths: load_examples(paths, targets=targets, text_dirs=rows.text_dirs))
    if args.gate_sample < 1:
        window = (init.settings if init else StanceSettings()).gate_window
        train_examples = sample_gate_skipped(train_examples, targets=targets, window=window, fraction=args.gate_sample, seed=args.seed)
    counts = {
        "train pairs": len(train_examples),
        "train articles": len({ex.group for ex in train_examples}),
        "dev pairs": len(dev_examples),
        "dev articles": len({ex.group for ex in dev_examples}),
        "dev article ids": sorted({ex.article_id for ex in dev_examples if ex.article_id}),
        "train labels": dict(Counter(ex.label for ex in train_examples)),
        "files": [str(p) for p in [*rows.data, *(rows.extra_data or [])]],
    }
    task = None
    if args.teacher:
        task = _distillation_task(args, rows, counts, held_out={ex.text for ex in dev_examples})
    elif rows.transfer_data:
        raise ValueError("--transfer-data is what a student learns from its --teacher: add --teacher")
    print(f"training on {counts['train pairs']} pairs ({counts['train articles']} articles), dev {counts['dev pairs']} pairs", file=sys.stderr)
    trainer = Trainer(args, train_examples, dev_examples, task=task, targets=targets, model=init, progress=progress, checkpoint=checkpoint)
    return _train_and_save(trainer, output, data_counts=counts, resume=resume, before_save=before_save)


def _distillation_task(args: TrainingArguments, rows: TrainingData, counts: dict, *, held_out: set[str]):
    """The student's task; transfer sentences that are dev sentences are left out, so dev stays unseen."""
    from stance.models import StanceModel
    from stance.training.distillation import DistillationTask, load_transfer_texts

    transfer = [text for text in load_transfer_texts(rows.transfer_data or [], text_dirs=rows.text_dirs) if text not in held_out]
    paths = [args.teacher] if isinstance(args.teacher, str) else args.teacher
    teacher = [StanceModel.from_pretrained(path, runtime="auto") for path in paths]
    counts.update({"teacher": args.teacher, "transfer sentences": len(transfer), "transfer files": [str(p) for p in rows.transfer_data or []]})
    return DistillationTask.from_arguments(args, teacher=teacher, transfer_texts=transfer, distill_weight=args.distill_weight)


def _train_articles(
    task: str, rows: TrainingData, output: str | Path, *, labels_file: str | None, encoder: str | None, lora_rank: int | None,
    max_length: int | None, progress: bool, resume: bool, before_save: Callable[[], None] | None, **options,
) -> TrainResult:  # fmt: skip
    from stance.training.article_data import load_article_examples
    from stance.training.article_tasks import ArticleLabelTask

    labelset = _labelset(task, labels_file)
    args = TrainingArguments(
        encoder=encoder,
        lora_rank=DEFAULT_LORA_RANK if lora_rank is None else lora_rank,
        max_length=max_length or DEFAULT_MAX_LENGTH[task],
        **options,
    )
    train_examples, dev_examples = _split(rows, args, lambda paths: load_article_examples(paths, labelset=labelset, text_dirs=rows.text_dirs))
    counts = {
        "train articles": len(train_examples),
        "dev articles": len(dev_examples),
        "dev article ids": sorted(ex.article_id for ex in dev_examples),
        "train labels": {label: sum(label in ex.labels for ex in train_examples) for label in labelset.labels},
        "files": [str(p) for p in [*rows.data, *(rows.extra_data or [])]],
    }
    print(f"training {task} on {len(train_examples)} articles, dev {len(dev_examples)} articles", file=sys.stderr)
    trainer = Trainer(args, train_examples, dev_examples, task=ArticleLabelTask(labelset), progress=progress, checkpoint=checkpoint_path(output))
    return _train_and_save(trainer, output, data_counts=counts, resume=resume, before_save=before_save)


def checkpoint_path(output: str | Path) -> Path:
    """Where a fine-tuning run that writes to ``output`` keeps its state between epochs: a file beside it."""
    output = Path(output)
    return output.with_name(output.name + ".checkpoint.pt")


def _train_and_save(
    trainer: Trainer, output: str | Path, *, data_counts: dict, resume: bool, before_save: Callable[[], None] | None
) -> TrainResult:
    """Train, let ``before_save`` check the output folder once more, then write the model there."""
    result = trainer.train(resume=resume)
    if before_save is not None:
        before_save()
    trainer.save(result, output, data_counts=data_counts)
    return result


def _labelset(task: str, labels_file: str | None) -> LabelSet:
    labelset = LabelSet.load(labels_file) if labels_file else default_labelset(task)
    if labelset.task != task:
        raise ValueError(f"{labels_file} is a {labelset.task!r} label set, not {task!r}")
    return labelset


HEAD_OPTIONS = ("seed", "model_name", "model_version")  # what a head-only fit takes of the trainer's options


def _train_article_head(
    task: str, rows: TrainingData, output: str | Path, *, labels_file: str | None, encoder: str | None, lora_rank: int | None,
    max_length: int | None, encoder_layers: int | None, before_save: Callable[[], None] | None, **options,
):  # fmt: skip
    from stance.training.article_data import load_article_examples
    from stance.training.article_heads import HeadRecipe, save_head_model, train_frozen_head

    if lora_rank or rows.dev_data:
        raise ValueError("--frozen-encoder fits a head on the encoder as it is, on every article of --data (tuned out of fold): drop --lora-rank and --dev-data")
    labelset = _labelset(task, labels_file)
    recipe = HeadRecipe(
        encoder=encoder, max_length=max_length or DEFAULT_MAX_LENGTH[task], layers=encoder_layers, **{k: v for k, v in options.items() if k in HEAD_OPTIONS}
    )
    files = [str(p) for p in [*rows.data, *(rows.extra_data or [])]]
    examples = load_article_examples(files, labelset=labelset, text_dirs=rows.text_dirs)
    result = train_frozen_head(examples, labelset, recipe, progress=lambda message: print(message, file=sys.stderr))
    if before_save is not None:
        before_save()
    save_head_model(result, recipe, output, files=files)
    return result


def _split(rows: TrainingData, args: TrainingArguments, load: Callable[[Sequence[str]], list]) -> tuple[list, list]:
    examples = load(rows.data)
    if rows.dev_data:
        train_examples, dev_examples = examples, load(rows.dev_data)
    else:
        train_examples, dev_examples = split_by_article(examples, dev_fraction=args.dev_fraction, seed=args.seed)
    if rows.extra_data:
        train_examples = train_examples + load(rows.extra_data)
    return train_examples, dev_examples
