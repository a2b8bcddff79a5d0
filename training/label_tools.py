"""The project's side of Label Studio and doccano: the labelling interface, tasks with the
model's labels as pre-annotations, and readers of the tools' exports.

One task is one sentence. Both tools carry the same task fields: ``text`` (the sentence),
``article_id``, ``sentence_index`` and the neighbouring sentences ``before`` / ``after``.

Label Studio: one single-choice control per target, named as the target, and one named
``voice``, over a text object named ``text`` (``label_studio_config``). The model's labels go
in as ``predictions``, which Label Studio shows but never counts as annotations.

doccano keeps one label list per example, so a label is ``<control>:<choice>``:
``russia:against``, ``nato:none``, ``voice:reported``. doccano imports a ``label`` column as
finished annotations and its export cannot tell a label someone confirmed from one that was
imported, so the model's labels go in as metadata (``model_labels``) for the annotator to
read, never as labels.

Readers (``load_examples`` dispatches to them): the newest annotation of a task wins, a task
whose newest annotation was skipped (``was_cancelled``) or that has no annotation is left out
and counted, and a task missing a target's choice is an error naming the task.
"""

from __future__ import annotations

import json
import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from stance.models import STANCE_LABELS, VOICE_LABELS, TargetSet, TargetStance, Voice
from stance.models.sentences import has_word

VOICE_CONTROL = "voice"
TEXT_OBJECT = "text"
LABEL_SEPARATOR = ":"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskSentence:
    """A sentence to label, where it sits in its article, and what the model says about it."""

    article_id: str
    sentence_index: int
    text: str
    before: str
    after: str
    stance: dict[str, TargetStance]  # the model's labels and probabilities
    voice: Voice
    uncertainty: float  # the smallest margin between the top two stance labels over the targets


@dataclass(frozen=True)
class LabelledTask:
    """The labels of one exported task, before they become examples."""

    task_id: str
    text: str
    stance: dict[str, str]
    voice: str | None
    article_id: str | None
    sentence_index: int | None


@dataclass
class ExportSummary:
    """What a reader left out of an export, and why."""

    path: str
    labelled: int = 0
    skipped: list[str] = field(default_factory=list)  # newest annotation was skipped / cancelled
    unannotated: list[str] = field(default_factory=list)  # no annotation, at most a pre-annotation

    def message(self) -> str:
        parts = [f"{self.path}: {self.labelled} labelled task(s)"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped or cancelled left out (task {_ids(self.skipped)})")
        if self.unannotated:
            parts.append(f"{len(self.unannotated)} without an annotation left out (task {_ids(self.unannotated)})")
        return ", ".join(parts)


def _ids(ids: Sequence[str], shown: int = 10) -> str:
    return ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


# ---- the Label Studio interface -----------------------------------------------------


def label_studio_config(targets: TargetSet) -> str:
    """The labelling interface (XML) for these targets: context, the sentence, one
    single-choice control per target and one for voice, every choice required."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="Sentence to label (with the sentences before and after it)")
    ET.SubElement(view, "Text", name="before", value="$before")
    ET.SubElement(view, "Text", name=TEXT_OBJECT, value=f"${TEXT_OBJECT}")
    ET.SubElement(view, "Text", name="after", value="$after")
    controls = [(name, target.description, STANCE_LABELS) for name, target in targets.items()]
    controls.append((VOICE_CONTROL, "Who voices the stance: the article itself or a quoted source", VOICE_LABELS))
    for name, description, choices in controls:
        ET.SubElement(view, "Header", value=f"{name}: {description}" if description else name, size="6")
        control = ET.SubElement(view, "Choices", name=name, toName=TEXT_OBJECT, choice="single", showInline="true", required="true")
        for choice in choices:
            ET.SubElement(control, "Choice", value=choice)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


# ---- tasks --------------------------------------------------------------------------


def _task_data(sentence: TaskSentence) -> dict:
    return {
        "text": sentence.text,
        "article_id": sentence.article_id,
        "sentence_index": sentence.sentence_index,
        "before": sentence.before,
        "after": sentence.after,
    }


def _choices(sentence: TaskSentence) -> dict[str, str]:
    return {**{name: stance.label for name, stance in sentence.stance.items()}, VOICE_CONTROL: sentence.voice.label}


def label_studio_task(sentence: TaskSentence, *, model_version: str) -> dict:
    """A Label Studio task with the model's labels as a prediction (scored per choice; the
    task's score is the margin, so the Data Manager can sort by how sure the model was)."""
    scores = {name: stance.scores[stance.label] for name, stance in sentence.stance.items()} | {VOICE_CONTROL: sentence.voice.score}
    result = [
        {"from_name": name, "to_name": TEXT_OBJECT, "type": "choices", "value": {"choices": [choice]}, "score": round(scores[name], 4)}
        for name, choice in _choices(sentence).items()
    ]
    return {"data": _task_data(sentence), "predictions": [{"model_version": model_version, "score": round(sentence.uncertainty, 4), "result": result}]}


def doccano_task(sentence: TaskSentence) -> dict:
    """A doccano example: the model's labels are metadata to read, not labels (see module doc)."""
    labels = [f"{name}{LABEL_SEPARATOR}{choice}" for name, choice in _choices(sentence).items()]
    return {**_task_data(sentence), "model_labels": " ".join(labels), "model_margin": round(sentence.uncertainty, 4), "label": []}


def doccano_label_names(targets: TargetSet) -> list[str]:
    """Every label a doccano project needs for these targets (create them as its label types)."""
    return [f"{name}{LABEL_SEPARATOR}{label}" for name in targets for label in STANCE_LABELS] + [
        f"{VOICE_CONTROL}{LABEL_SEPARATOR}{label}" for label in VOICE_LABELS
    ]


# ---- reading exports ----------------------------------------------------------------


def is_label_studio_export(path: str | os.PathLike) -> bool:
    """A ``.json`` file holding one JSON list (Label Studio's JSON export), not JSON Lines."""
    path = Path(path)
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    with path.open(encoding="utf-8") as handle:
        start = handle.read(4096).lstrip()
    return start.startswith("[")


def is_doccano_row(row: Mapping) -> bool:
    """doccano's text-classification export has a list of labels; the project's rows a string."""
    return isinstance(row.get("label"), list)


def read_label_studio_export(path: str | os.PathLike, *, targets: TargetSet, problems: list[str]) -> tuple[list[LabelledTask], ExportSummary]:
    """Labelled tasks of a Label Studio JSON export; problems are appended as ``file: task N: ...``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    summary = ExportSummary(str(path))
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        problems.append(f"{path}:{error.lineno}: bad JSON ({error.msg})")
        return [], summary
    if not isinstance(tasks, list):
        problems.append(f"{path}: expected a Label Studio JSON export (a list of tasks), got a JSON {type(tasks).__name__}")
        return [], summary
    labelled = []
    for position, task in enumerate(tasks, 1):
        task_id = str(task.get("id", f"#{position}")) if isinstance(task, dict) else f"#{position}"
        try:
            item = _label_studio_task_labels(task, task_id, targets, summary)
        except ValueError as error:
            problems.append(f"{path}: task {task_id}: {error}")
            continue
        if item is not None:
            labelled.append(item)
    summary.labelled = len(labelled)
    return labelled, summary


def _label_studio_task_labels(task: object, task_id: str, targets: TargetSet, summary: ExportSummary) -> LabelledTask | None:
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        raise ValueError("not a Label Studio task (an object with 'data')")
    annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict)]
    if not annotations:  # predictions alone are never labels
        summary.unannotated.append(task_id)
        return None
    newest = max(enumerate(annotations), key=lambda item: (_annotation_time(item[1]), item[0]))[1]
    if newest.get("was_cancelled"):
        summary.skipped.append(task_id)
        return None
    choices: dict[str, str] = {}
    for entry in newest.get("result") or []:
        if not isinstance(entry, dict) or entry.get("type") != "choices":
            continue  # other controls (a comment box) carry no label
        name = entry.get("from_name")
        picked = (entry.get("value") or {}).get("choices") or []
        if name not in targets and name != VOICE_CONTROL:
            raise ValueError(f"unknown control {name!r} (the interface of `stance label --config` has {', '.join([*targets, VOICE_CONTROL])})")
        if len(picked) != 1:
            raise ValueError(f"control {name!r} needs exactly one choice, got {picked!r}")
        choices[name] = picked[0]
    data = task["data"]
    return _labelled_task(task_id, data.get("text"), choices, data, targets)


def _annotation_time(annotation: dict) -> tuple[datetime, int]:
    """When an annotation was last saved; its id breaks ties (and orders exports without times)."""
    stamp = annotation.get("updated_at") or annotation.get("created_at")
    try:
        when = datetime.fromisoformat(stamp) if isinstance(stamp, str) else _NEVER
    except ValueError:
        when = _NEVER
    identifier = annotation.get("id")
    number = int(identifier) if isinstance(identifier, int) or (isinstance(identifier, str) and identifier.isdigit()) else 0
    return (when if when.tzinfo else when.replace(tzinfo=UTC)), number


_NEVER = datetime.min.replace(tzinfo=UTC)


def doccano_row_labels(row: Mapping, *, targets: TargetSet, summary: ExportSummary | None = None) -> LabelledTask | None:
    """The labels of one row of a doccano JSON Lines export (``None``: not labelled yet)."""
    task_id = str(row.get("id", "?"))
    labels = row["label"]
    if not labels:
        if summary is not None:
            summary.unannotated.append(task_id)
        return None
    choices: dict[str, str] = {}
    for label in labels:
        name, separator, choice = str(label).partition(LABEL_SEPARATOR)
        if not separator:
            raise ValueError(f"task {task_id}: label {label!r} is not '<target>{LABEL_SEPARATOR}<label>' (e.g. 'russia:against', 'voice:reported')")
        if name in choices and choices[name] != choice:
            raise ValueError(f"task {task_id}: conflicting labels for {name!r}: {choices[name]!r} and {choice!r}")
        if name not in targets and name != VOICE_CONTROL:
            raise ValueError(f"task {task_id}: unknown target {name!r} in label {label!r} (known: {', '.join([*targets, VOICE_CONTROL])})")
        choices[name] = choice
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    item = _labelled_task(task_id, row.get("text"), choices, {**meta, **row}, targets, prefix=f"task {task_id}: ")
    if summary is not None:
        summary.labelled += 1
    return item


def _labelled_task(task_id: str, text: object, choices: dict[str, str], data: Mapping, targets: TargetSet, *, prefix: str = "") -> LabelledTask:
    if not isinstance(text, str) or not has_word(text):
        raise ValueError(f"{prefix}empty text (no letter or digit)")
    missing = [name for name in targets if name not in choices]
    if missing:
        raise ValueError(f"{prefix}no choice for {', '.join(map(repr, missing))}: every target needs one (it may be 'none')")
    for name in targets:
        if choices[name] not in STANCE_LABELS:
            raise ValueError(f"{prefix}unknown label {choices[name]!r} for target {name!r} (expected one of {', '.join(STANCE_LABELS)})")
    voice = choices.get(VOICE_CONTROL)
    if voice is not None and voice not in VOICE_LABELS:
        raise ValueError(f"{prefix}unknown voice {voice!r} (expected one of {', '.join(VOICE_LABELS)})")
    index = data.get("sentence_index")
    if index is not None and not isinstance(index, int):
        raise ValueError(f"{prefix}sentence_index must be a whole number, got {index!r}")
    article = data.get("article_id")
    return LabelledTask(
        task_id=task_id,
        text=text,
        stance={name: choices[name] for name in targets},
        voice=voice,
        article_id=str(article) if article is not None else None,
        sentence_index=index,
    )


def log_summary(summary: ExportSummary) -> None:
    """Say what an export held beyond its labels (skipped, unannotated): on stderr by default."""
    if summary.skipped or summary.unannotated:
        log.warning(summary.message())
    else:
        log.info(summary.message())
