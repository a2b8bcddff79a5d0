"""Knowledge distillation (Hinton et al., 2015): a sentence-reader student learns the gold labels
and, on every sentence of a transfer set, the teacher's probabilities toward each of its targets,
so that a fast student inherits what a slower, stronger teacher reads in sentences nobody labelled.
The teacher can be several models (seeds of one recipe, say): their mean probabilities, an ensemble
that one student then runs at the speed of one."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from stance.models import StanceModel
from stance.models.sentence_reader import SentenceStanceModel
from stance.training.data import DataError, StanceExample, default_text_dirs, read_records, row_text
from stance.training.tasks import IGNORED, SentenceStanceTask


def load_transfer_texts(paths: Iterable[str | os.PathLike], *, text_dirs: Sequence[str | os.PathLike] | None = None) -> list[str]:
    """The distinct sentences of row files (``text``, or pointer rows joined from their source);
    any label columns are ignored. Every bad row is reported as ``file:line``."""
    dirs = [Path(d) for d in (text_dirs if text_dirs is not None else default_text_dirs())]
    texts: dict[str, None] = {}
    problems: list[str] = []
    for path in paths:
        for line_no, row in read_records(path, problems):
            try:
                texts[row_text(row, dirs)] = None
            except ValueError as error:
                problems.append(f"{path}:{line_no}: {error}")
    if problems:
        raise DataError(problems)
    return list(texts)


def teacher_models(teacher: StanceModel | Sequence[StanceModel]) -> list[StanceModel]:
    return [teacher] if isinstance(teacher, StanceModel) else list(teacher)


def teacher_probabilities(
    teacher: StanceModel | Sequence[StanceModel], texts: Sequence[str], targets: Sequence[str], *, batch_size: int = 64
) -> np.ndarray:
    """The teacher's calibrated stance probabilities, (sentences, targets, labels), every pair scored; the mean
    over the models of a teacher that is several."""
    probabilities = []
    for model in teacher_models(teacher):
        queries = [model.targets[name].query for name in targets]
        scores = model.score_pairs([text for text in texts for _ in targets], queries * len(texts), batch_size=batch_size)
        probabilities.append(scores["stance"].reshape(len(texts), len(targets), -1))
    return np.mean(probabilities, axis=0)


class DistillationTask(SentenceStanceTask):
    """The sentence task plus ``distill_weight`` x the cross-entropy between the student's stance
    distribution and the teacher's, on the gold sentences and the transfer sentences alike."""

    def __init__(
        self, teacher: StanceModel | Sequence[StanceModel], transfer_texts: Sequence[str] = (), *, distill_weight: float = 1.0, **options
    ) -> None:
        super().__init__(**options)
        self.teachers = teacher_models(teacher)
        if not self.teachers:
            raise ValueError("a teacher needs at least one model")
        self.transfer_texts = list(transfer_texts)
        self.distill_weight = distill_weight

    def features(self, model: SentenceStanceModel, examples: Sequence[StanceExample]) -> list[dict]:
        names = list(model.targets)
        missing = sorted({name for teacher in self.teachers for name in names if name not in teacher.targets})
        if missing:
            raise ValueError(f"the teacher has no target {', '.join(missing)}: a teacher must know every target of the student")
        labels = self.sentence_labels(model, examples)
        for text in self.transfer_texts:
            labels.setdefault(text, {"stance": [IGNORED] * len(names), "voice": [IGNORED] * len(names)})
        soft = teacher_probabilities(self.teachers, list(labels), names)
        for row, probabilities in zip(labels.values(), soft, strict=True):
            row["teacher"] = probabilities.tolist()
        return self.encode(model, labels)

    def loss(self, outputs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> torch.Tensor:
        gold = {name: labels[name] for name in ("stance", "voice")}
        soft = -(labels["teacher"] * outputs["stance"].log_softmax(-1)).sum(-1).mean()
        if (gold["stance"] == IGNORED).all():  # a batch of transfer sentences only
            return self.distill_weight * soft
        return super().loss(outputs, gold) + self.distill_weight * soft
