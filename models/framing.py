"""Article-level multi-label tasks on the shared backbone: the frames of an article (SemEval-2023
Task 3) and its war narratives (SemEval-2025 Task 10). A whole article is read however long it
is: its sentences are packed into chunks of at most ``max_length`` tokens, each chunk is
encoded, and the chunks' logits are averaged into the article's. One sigmoid head, calibrated
by a temperature and a threshold per label fitted on dev; with none passing, the label set's
fallback (``Other`` for narratives)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from stance.models.backbone import Backbone
from stance.models.config import ModelConfig
from stance.models.core import SCORING_BATCH_SIZE, TaskModel
from stance.models.heads import HeadSpec
from stance.models.labelsets import ARTICLE_TASKS, LabelSet
from stance.models.sentences import split_sentences

LABELS_NAME = "labels.json"
CHUNK_SPECIAL_TOKENS = 2  # [CLS] and [SEP] around each chunk


@dataclass
class ArticleSettings:
    model_name: str = "framing-model"
    model_version: str = "0"


@dataclass(frozen=True)
class ArticleLabels:
    """An article's labels (those passing their thresholds, else the fallback) and a calibrated
    probability for every label of the set."""

    labels: list[str]
    scores: dict[str, float]
    evidence: dict[str, list[int]] = field(default_factory=dict)  # label -> sentence indices of its strongest chunk

    def to_dict(self) -> dict:
        return asdict(self)


def article_head(labelset: LabelSet) -> HeadSpec:
    return HeadSpec(labelset.task, labelset.labels, activation="sigmoid")


class ArticleLabelModel(TaskModel):
    """Frames or narratives of whole articles.

    >>> model = ArticleLabelModel.from_pretrained("runs/frames")
    >>> model.analyze_many([text])[0].labels
    ['Political', 'Security_and_defense']
    """

    tasks = ARTICLE_TASKS

    def __init__(self, backbone: Backbone, *, labelset: LabelSet, settings: ArticleSettings | None = None, heads: Sequence[HeadSpec] | None = None) -> None:
        heads = list(heads) if heads is not None else [article_head(labelset)]
        if [(h.name, h.labels, h.activation) for h in heads] != [(labelset.task, labelset.labels, "sigmoid")]:
            raise ValueError(f"a {labelset.task} model has one sigmoid head {labelset.task!r} over the label set's labels")
        super().__init__(backbone, heads)
        self.task = labelset.task
        self.labelset = labelset
        self.settings = settings or ArticleSettings()

    @classmethod
    def from_encoder(
        cls, encoder: str | None = None, *, labelset: LabelSet, lora_rank: int | None = 16, max_length: int = 256, seed: int = 42
    ) -> ArticleLabelModel:
        import torch

        torch.manual_seed(seed)
        return cls(Backbone.from_encoder(encoder, lora_rank=lora_rank, max_length=max_length), labelset=labelset)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, *, runtime: str = "torch", trainable: bool = False) -> ArticleLabelModel:
        return cls.load_folder(directory, runtime=runtime, trainable=trainable)

    @classmethod
    def _assemble(cls, backbone: Backbone, config: ModelConfig, directory: Path) -> ArticleLabelModel:
        labelset = LabelSet.load(directory / LABELS_NAME)
        if labelset.task != config.task:
            raise ValueError(f"{directory / LABELS_NAME} is a {labelset.task!r} label set, but the model's task is {config.task!r}")
        settings = ArticleSettings(model_name=config.model_name, model_version=config.model_version)
        return cls(backbone, labelset=labelset, settings=settings, heads=config.heads)

    def task_options(self) -> dict:
        return {}

    def _save_task_files(self, directory: Path) -> None:
        self.labelset.save(directory / LABELS_NAME)

    @property
    def head(self) -> HeadSpec:
        return self.head_specs[self.task]

    # ---- reading whole articles ---------------------------------------------------

    def chunks(self, sentences: Sequence[str]) -> list[list[int]]:
        """Consecutive sentences packed into chunks that fit the encoder (a longer sentence is a
        chunk of its own, truncated); the indices of each chunk's sentences."""
        budget = self.backbone.settings.max_length - CHUNK_SPECIAL_TOKENS
        lengths = [len(ids) for ids in self.tokenizer(list(sentences), add_special_tokens=False)["input_ids"]] if sentences else []
        chunks: list[list[int]] = []
        used = 0
        for index, length in enumerate(lengths):
            if chunks and used + length <= budget:
                chunks[-1].append(index)
                used += length
            else:
                chunks.append([index])
                used = length
        return chunks

    def article_logits(self, texts: Sequence[str], *, batch_size: int = SCORING_BATCH_SIZE) -> tuple[np.ndarray, list[dict]]:
        """Per article the mean of its chunks' logits (n, labels), and per article its sentences,
        chunks and chunk logits (for evidence). An article with no sentence gets zero logits."""
        details = []
        chunk_texts: list[str] = []
        for text in texts:
            sentences = [s.text for s in split_sentences(text)]
            chunks = self.chunks(sentences)
            details.append({"sentences": sentences, "chunks": chunks, "first": len(chunk_texts)})
            chunk_texts.extend(" ".join(sentences[i] for i in chunk) for chunk in chunks)
        logits = self.batched_logits(chunk_texts, batch_size=batch_size)[self.task]
        pooled = np.zeros((len(texts), len(self.labelset.labels)), dtype=np.float32)
        for row, detail in enumerate(details):
            detail["chunk_logits"] = logits[detail["first"] : detail["first"] + len(detail["chunks"])]
            if len(detail["chunks"]):
                pooled[row] = detail["chunk_logits"].mean(0)
        return pooled, details

    def decide(self, probabilities: np.ndarray) -> list[list[str]]:
        """Labels passing their thresholds, else the fallback (when the label set has one)."""
        chosen = self.head.decide(probabilities)
        fallback = [self.labelset.fallback] if self.labelset.fallback else []
        return [labels or list(fallback) for labels in chosen]

    def analyze_many(self, texts: Sequence[str], *, batch_size: int = SCORING_BATCH_SIZE) -> list[ArticleLabels]:
        logits, details = self.article_logits(texts, batch_size=batch_size)
        probabilities = self.head.probabilities(logits)
        results = []
        for labels, probs, detail in zip(self.decide(probabilities), probabilities, details, strict=True):
            evidence = {}
            for label in labels:
                if label in self.labelset.labels and len(detail["chunks"]):
                    column = self.labelset.labels.index(label)
                    evidence[label] = detail["chunks"][int(detail["chunk_logits"][:, column].argmax())]
            scores = {label: float(p) for label, p in zip(self.labelset.labels, probs, strict=True)}
            results.append(ArticleLabels(labels=labels, scores=scores, evidence=evidence))
        return results

    def analyze(self, text: str, *, batch_size: int = SCORING_BATCH_SIZE) -> ArticleLabels:
        return self.analyze_many([text], batch_size=batch_size)[0]
