"""Article-level multi-label tasks on the shared backbone: the frames of an article (SemEval-2023
Task 3) and its war narratives (SemEval-2025 Task 10). A whole article is read however long it
is: its sentences are packed into chunks of at most ``max_length`` tokens, each chunk is
encoded, and the chunks' logits are averaged into the article's. One sigmoid head, calibrated
by a temperature and a threshold per label fitted on dev; with none passing, the label set's
fallback (``Other`` for narratives)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from stance.models.backbone import Backbone, RuntimeOnlyEncoder
from stance.models.config import ModelConfig, read_config
from stance.models.core import SCORING_BATCH_SIZE, TaskModel
from stance.models.heads import HeadSpec
from stance.models.labelsets import ARTICLE_TASKS, LabelSet
from stance.models.runtimes import resolve_runtime
from stance.models.sentences import Sentence, split_sentences

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
        cls,
        encoder: str | None = None,
        *,
        labelset: LabelSet,
        lora_rank: int | None = 16,
        max_length: int = 256,
        frozen: bool = False,
        layers: int | None = None,
        seed: int = 42,
    ) -> ArticleLabelModel:
        """A new model; ``frozen``: the encoder is never trained nor saved (a head-only model, see
        ``stance.training.article_heads``), and with ``layers`` only its first layers read the articles."""
        torch.manual_seed(seed)
        return cls(Backbone.from_encoder(encoder, lora_rank=lora_rank, max_length=max_length, frozen=frozen, layers=layers), labelset=labelset)

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
        return pack_chunks(self.tokenizer, sentences, max_length=self.backbone.settings.max_length)

    def read(self, text: str) -> ArticleChunks:
        """An article split into sentences and packed into chunks, as every reader of it sees them."""
        sentences = split_sentences(text)
        return ArticleChunks(sentences, self.chunks([s.text for s in sentences]))

    def article_logits(self, texts: Sequence[str], *, batch_size: int = SCORING_BATCH_SIZE) -> tuple[np.ndarray, list[ArticleChunks]]:
        """Per article the mean of its chunks' logits (n, labels), and each article's chunks (for evidence)."""
        articles = [self.read(text) for text in texts]
        chunk_logits = chunk_logits_per_article(self, articles, batch_size=batch_size)[self.task]
        return pool_chunk_logits(chunk_logits, len(self.labelset.labels)), articles

    def article_vectors(self, texts: Sequence[str], *, batch_size: int = SCORING_BATCH_SIZE) -> np.ndarray:
        """Per article the mean of its chunks' pooled encoder vectors (n, hidden): what a head-only
        model's linear head reads (averaging chunk logits of a linear head equals the head over this mean)."""
        articles = [self.read(text) for text in texts]
        texts_flat, owners = _flatten(articles)
        vectors = np.zeros((len(texts_flat), self.backbone.hidden_size), dtype=np.float32)
        for rows, batch_texts, _ in self._length_batches(texts_flat, None, batch_size):
            vectors[rows] = self.backbone(**self.backbone.tokenize(batch_texts)).float().numpy()
        pooled = np.zeros((len(texts), self.backbone.hidden_size), dtype=np.float32)
        for row in range(len(texts)):
            if (owners == row).any():
                pooled[row] = vectors[owners == row].mean(0)
        return pooled

    def decide(self, probabilities: np.ndarray) -> list[list[str]]:
        """Labels passing their thresholds, else the fallback (when the label set has one)."""
        chosen = self.head.decide(probabilities)
        fallback = [self.labelset.fallback] if self.labelset.fallback else []
        return [labels or list(fallback) for labels in chosen]

    def results(self, articles: Sequence[ArticleChunks], chunk_logits: Sequence[np.ndarray]) -> list[ArticleLabels]:
        """Labels, calibrated scores and evidence per article from its chunks' logits for this model's head."""
        probabilities = self.head.probabilities(pool_chunk_logits(chunk_logits, len(self.labelset.labels)))
        results = []
        for labels, probs, article, logits in zip(self.decide(probabilities), probabilities, articles, chunk_logits, strict=True):
            evidence = {}
            for label in labels:
                if label in self.labelset.labels and len(article.chunks):
                    column = self.labelset.labels.index(label)
                    evidence[label] = article.chunks[int(logits[:, column].argmax())]
            scores = {label: float(p) for label, p in zip(self.labelset.labels, probs, strict=True)}
            results.append(ArticleLabels(labels=labels, scores=scores, evidence=evidence))
        return results

    def analyze_many(self, texts: Sequence[str], *, batch_size: int = SCORING_BATCH_SIZE) -> list[ArticleLabels]:
        articles = [self.read(text) for text in texts]
        return self.results(articles, chunk_logits_per_article(self, articles, batch_size=batch_size)[self.task])

    def analyze(self, text: str, *, batch_size: int = SCORING_BATCH_SIZE) -> ArticleLabels:
        return self.analyze_many([text], batch_size=batch_size)[0]


@dataclass(frozen=True)
class ArticleChunks:
    """An article's sentences and the chunks (sentence indices) its encoder reads."""

    sentences: list[Sentence]
    chunks: list[list[int]]

    def chunk_texts(self) -> list[str]:
        return [" ".join(self.sentences[i].text for i in chunk) for chunk in self.chunks]


def pack_chunks(tokenizer, sentences: Sequence[str], *, max_length: int) -> list[list[int]]:
    budget = max_length - CHUNK_SPECIAL_TOKENS
    lengths = [len(ids) for ids in tokenizer(list(sentences), add_special_tokens=False)["input_ids"]] if sentences else []
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


def _flatten(articles: Sequence[ArticleChunks]) -> tuple[list[str], np.ndarray]:
    texts: list[str] = []
    owners: list[int] = []
    for row, article in enumerate(articles):
        chunk_texts = article.chunk_texts()
        texts.extend(chunk_texts)
        owners.extend([row] * len(chunk_texts))
    return texts, np.array(owners, dtype=np.int64)


def chunk_logits_per_article(model: TaskModel, articles: Sequence[ArticleChunks], *, batch_size: int = SCORING_BATCH_SIZE) -> dict[str, list[np.ndarray]]:
    """Every chunk of every article through the model once: per head, per article its chunks' logits (chunks, labels)."""
    texts, owners = _flatten(articles)
    logits = model.batched_logits(texts, batch_size=batch_size)
    return {name: [values[owners == row] for row in range(len(articles))] for name, values in logits.items()}


def pool_chunk_logits(chunk_logits: Sequence[np.ndarray], labels: int) -> np.ndarray:
    """Per article the mean of its chunks' logits; zero logits for an article with no sentence."""
    pooled = np.zeros((len(chunk_logits), labels), dtype=np.float32)
    for row, logits in enumerate(chunk_logits):
        if len(logits):
            pooled[row] = logits.mean(0)
    return pooled


DEFAULT_FRAMING_DIRS = {"frames": Path(__file__).with_name("frames-default"), "narratives": Path(__file__).with_name("narratives-default")}


class _SharedHeads(TaskModel):
    """The heads of several article models over one frozen encoder, as one model: one forward
    pass (torch or ONNX) gives every head's logits."""

    tasks = ()

    def __init__(self, backbone: Backbone, members: Sequence[ArticleLabelModel]) -> None:
        super().__init__(backbone, [member.head for member in members])
        with torch.no_grad():
            for member in members:
                self.heads[member.task].load_state_dict(member.heads[member.task].state_dict())
        self.task = "+".join(member.task for member in members)
        self.settings = ArticleSettings(model_name=self.task, model_version="+".join(member.model_version for member in members))

    def task_options(self) -> dict:
        return {}


def _shared_encoder_key(model: ArticleLabelModel) -> str | None:
    """Models with the same key read the same vectors: a frozen encoder, its source, depth and chunk length."""
    settings = model.backbone.settings
    if not settings.frozen:
        return None
    return json.dumps([settings.encoder, settings.layers, settings.max_length, settings.pooling], sort_keys=True)


class ArticleReader:
    """Several article models (frames, narratives) over the same articles. Each article is split
    and chunked once per encoder, and the models over the same frozen encoder share one forward
    pass whose every head they read, so frames and narratives together cost one encoder pass.

    >>> reader = ArticleReader.load(DEFAULT_FRAMING_DIRS.values(), runtime="onnx")
    >>> reader.analyze_many([text])[0]["narratives"].labels
    """

    def __init__(self, models: Sequence[ArticleLabelModel], *, runtime: str = "torch", directories: Mapping[str, Path] | None = None) -> None:
        self.models: dict[str, ArticleLabelModel] = {}
        for model in models:
            if model.task in self.models:
                raise ValueError(f"two {model.task} models: an article reader takes one per task")
            self.models[model.task] = model
        self.directories = dict(directories or {})
        groups: dict[str, list[ArticleLabelModel]] = {}
        self._readers: list[tuple[TaskModel, list[ArticleLabelModel]]] = []
        for model in models:
            key = _shared_encoder_key(model)
            if key is None:
                self._readers.append((model, [model]))
            else:
                groups.setdefault(key, []).append(model)
        for members in groups.values():
            shared = _SharedHeads(members[0].backbone, members).eval()
            if resolve_runtime(runtime) == "onnx":
                from stance.models.onnx_runtime import use_onnx

                use_onnx(shared)  # exported once into the user cache, keyed on the encoder and heads
                shared.backbone.encoder = RuntimeOnlyEncoder(shared.backbone.encoder.config)
            for member in members:
                member.backbone = shared.backbone  # one tokenizer and encoder (or stand-in) for the group
            self._readers.append((shared, members))

    @classmethod
    def load(cls, directories: Iterable[str | os.PathLike], *, runtime: str = "torch") -> ArticleReader:
        directories = [Path(directory) for directory in directories]
        models = [cls.load_member(directory, runtime=runtime) for directory in directories]
        return cls(models, runtime=runtime, directories={model.task: directory for model, directory in zip(models, directories, strict=True)})

    @staticmethod
    def load_member(directory: str | os.PathLike, *, runtime: str) -> ArticleLabelModel:
        """A model with a frozen encoder loads with torch (its group is exported once, together); others with ``runtime``."""
        config, _ = read_config(directory)
        return ArticleLabelModel.from_pretrained(directory, runtime="torch" if config.backbone.get("frozen") else runtime)

    @property
    def tasks(self) -> list[str]:
        return list(self.models)

    def runtime_of(self, task: str) -> str:
        """``onnx`` or ``torch``: what runs the forward pass that reads ``task``."""
        for reader, members in self._readers:
            if any(member.task == task for member in members):
                return "onnx" if reader.runtime is not None else "torch"
        raise KeyError(task)

    def analyze_many(
        self, texts: Sequence[str], *, tasks: Sequence[str] | None = None, batch_size: int = SCORING_BATCH_SIZE
    ) -> list[dict[str, ArticleLabels]]:
        """Per article, per task asked for (default: all), its labels, scores and evidence."""
        wanted = list(self.models) if tasks is None else list(tasks)
        unknown = [task for task in wanted if task not in self.models]
        if unknown:
            raise KeyError(f"no model for {', '.join(unknown)} (loaded: {', '.join(self.models) or 'none'})")
        results: list[dict[str, ArticleLabels]] = [{} for _ in texts]
        for reader, members in self._readers:
            chosen = [member for member in members if member.task in wanted]
            if not chosen:
                continue
            articles = [chosen[0].read(text) for text in texts]
            logits = chunk_logits_per_article(reader, articles, batch_size=batch_size)
            for member in chosen:
                for row, labels in enumerate(member.results(articles, logits[member.task])):
                    results[row][member.task] = labels
        return [{task: row[task] for task in wanted} for row in results]
