"""The stance model: a sentence and a target's query encoded together as one pair, pooled by the
backbone, read by a 4-way stance head and a 2-way voice head (``models/tasks.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from stance.models import smoothing
from stance.models.backbone import Backbone
from stance.models.config import DEFAULT_MODEL_DIR, SHIPPED_MODELS, TARGETS_NAME, ModelConfig, model_folder
from stance.models.core import SCORING_BATCH_SIZE, TaskModel
from stance.models.heads import HeadSpec
from stance.models.predictions import ArticleAnalysis, SentencePrediction, TargetStance, Voice, summarize_article
from stance.models.sentences import split_sentences
from stance.models.targets import Target, TargetSet, default_targets
from stance.models.tasks import STANCE_LABELS, STANCE_TASK, VOICE_LABELS, StanceSettings, sentence_voice, stance_heads

__all__ = ["DEFAULT_MODEL_DIR", "SCORING_BATCH_SIZE", "STANCE_LABELS", "VOICE_LABELS", "StanceModel", "StanceSettings"]


class StanceModel(TaskModel):
    """Target-conditioned stance classifier with the scikit-learn-like ``predict`` API.

    >>> model = StanceModel.from_pretrained("models/default")
    >>> model.predict("Serbia will never join NATO.").stance["nato"].label
    'against'
    """

    tasks = (STANCE_TASK,)
    task = STANCE_TASK

    def __init__(
        self, backbone: Backbone, *, targets: TargetSet, settings: StanceSettings | None = None, heads: Sequence[HeadSpec] | None = None
    ) -> None:
        heads = list(heads) if heads is not None else stance_heads()
        expected = {spec.name: spec.labels for spec in stance_heads()}
        if {spec.name: spec.labels for spec in heads} != expected:
            raise ValueError(f"a stance model has the heads {expected}, not {[spec.to_dict() for spec in heads]}")
        super().__init__(backbone, heads)
        self.targets = targets
        self.settings = settings or StanceSettings()

    # ---- construction -------------------------------------------------------------

    @classmethod
    def from_encoder(
        cls,
        encoder: str | None = None,
        *,
        targets: TargetSet | None = None,
        lora_rank: int | None = 16,
        max_length: int = 128,
        seed: int = 42,
    ) -> StanceModel:
        """A new, untrained model over a pretrained encoder (package name, folder or hub id).

        With ``lora_rank`` the encoder is frozen and LoRA adapters are trained, so the saved
        model holds only the adapters and heads (a few MB) and reuses the packaged encoder.
        """
        import torch

        torch.manual_seed(seed)
        backbone = Backbone.from_encoder(encoder, lora_rank=lora_rank, max_length=max_length)
        return cls(backbone, targets=targets or default_targets())

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike | None = None, *, runtime: str = "torch", trainable: bool = False, export: bool = True
    ) -> StanceModel:
        """Load a saved model folder, or a shipped model by name: ``"default"`` (also with no
        argument; all-mpnet-base-v2, whose packages ``make install`` adds) or ``"minilm"`` (the
        smaller MiniLM pair reader, the default before 1.2.0).

        ``runtime="onnx"`` scores through int8 ONNX Runtime (the ``fast`` extra), exported once
        into ``<directory>/onnx/``; the torch encoder weights are then never kept in memory.
        ``export=False`` refuses to export (a server reloading must not: 1.3 GB and minutes):
        without a current export the load fails with a FileNotFoundError that says how to make one.
        ``"auto"``: onnx when the extra is installed, else torch. ``trainable=True`` keeps LoRA
        adapters apart from the encoder (as training left them) so that training can go on.
        """
        folder = model_folder(directory)
        if folder in SHIPPED_MODELS.values() and not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"no shipped model at {folder}: pass a model folder, or train one with "
                "`stance train --data seeds/corpus.jsonl --output runs/my-model`"
            )
        return cls.load_folder(folder, runtime=runtime, trainable=trainable, export=export)

    @classmethod
    def _assemble(cls, backbone: Backbone, config: ModelConfig, directory: Path) -> StanceModel:
        settings = StanceSettings(**config.options, model_name=config.model_name, model_version=config.model_version)
        model_class = cls
        if settings.reader == "sentence":
            from stance.models.sentence_reader import SentenceStanceModel as model_class
        return model_class(backbone, targets=TargetSet.load(directory / TARGETS_NAME), settings=settings, heads=config.heads)

    def task_options(self) -> dict:
        return self.settings.options()

    def _save_task_files(self, directory: Path) -> None:
        self.targets.save(directory / TARGETS_NAME)

    # ---- inference ----------------------------------------------------------------

    def encode_pairs(
        self, texts: Sequence[str], queries: Sequence[str], *, padding: bool | str = "longest", return_tensors: str | None = "pt"
    ):
        """Tokenize (sentence, target query) pairs; sentences are truncated, never the query."""
        return self.backbone.tokenize(texts, queries, padding=padding, return_tensors=return_tensors)

    def score_pairs(self, texts: Sequence[str], queries: Sequence[str], *, batch_size: int = SCORING_BATCH_SIZE) -> dict[str, np.ndarray]:
        """Calibrated probabilities per head for (sentence, query) pairs: ``stance`` (n, 4), ``voice`` (n, 2),
        and ``windows`` (n,): how many windows of ``max_length`` tokens each sentence was read in.

        A sentence longer than ``max_length`` is read in overlapping windows and takes the scores
        of the window most sure that it takes a stance (the highest 1 - P(none)): the stance of
        one clause is what the sentence says, and averaging would let the neutral filler around
        it (most windows of a long sentence) vote it down to ``none``."""
        probabilities, owners = self.score_windows(texts, queries, batch_size=batch_size)
        concern = 1.0 - probabilities["stance"][:, STANCE_LABELS.index("none")]
        best = np.full(len(texts), -1, dtype=np.int64)
        for window in np.argsort(concern, kind="stable"):  # rising, so each input keeps its most stanced window
            best[owners[window]] = window
        scores = {name: values[best] for name, values in probabilities.items()}
        scores["windows"] = np.bincount(owners, minlength=len(texts))
        return scores

    def predict(
        self,
        inputs: str | Sequence[str],
        *,
        targets: Iterable[str] | None = None,
        gate: bool = False,
        batch_size: int = SCORING_BATCH_SIZE,
    ) -> SentencePrediction | list[SentencePrediction]:
        """Score each input as one sentence for the given targets (all by default).

        Inputs have no article around them, so every pair is scored, except where the target's
        words occur only inside its non-references ("the West Coast"); ``gate=True`` gates on the
        sentence alone, which is faster but drops about a tenth of the stanced pairs."""
        single = isinstance(inputs, str)
        texts = [inputs] if single else list(inputs)
        predictions = self._predict_sentences(texts, texts, targets=targets, gate=gate, batch_size=batch_size)
        return predictions[0] if single else predictions

    def measure_ffn_inputs(self, sentences: Sequence[str]) -> None:
        """Measure, on ``sentences`` of news text (training sentences), the FFN input ranges from which an
        all-int8 export (``int8_ffn_output``) smooths its FFN output projections; saved with the model."""
        if self.runtime is not None:
            raise ValueError("measuring the FFN inputs needs the torch runtime")
        sentences = list(sentences)
        self.ffn_input_max = smoothing.measure_ffn_inputs(self.backbone.encoder, lambda: self.predict(sentences))

    def analyze(
        self, text: str, *, targets: Iterable[str] | None = None, gate: bool | None = None, batch_size: int = SCORING_BATCH_SIZE
    ) -> ArticleAnalysis:
        """Split an article into sentences, score them, and summarise the article per target."""
        return self.analyze_many([text], targets=targets, gate=gate, batch_size=batch_size)[0]

    def analyze_many(
        self, texts: Sequence[str], *, targets: Iterable[str] | None = None, gate: bool | None = None, batch_size: int = SCORING_BATCH_SIZE
    ) -> list[ArticleAnalysis]:
        """``analyze`` for many articles in one pass, so short articles share full batches.

        ``gate`` (default: ``settings.gate``) skips pairs whose target has no alias in the
        sentence's window of its article."""
        chosen = [t.name for t in self.targets.select(targets)]
        gate = self.settings.gate if gate is None else gate
        articles = [split_sentences(text) for text in texts]
        sentences = [s.text for article in articles for s in article]
        contexts = [context for article in articles for context in self.settings.gate_contexts([s.text for s in article])] if gate else sentences
        predictions = self._predict_sentences(sentences, contexts, targets=chosen, gate=gate, batch_size=batch_size)
        analyses, begin = [], 0
        for article in articles:
            analyses.append(summarize_article(article, predictions[begin : begin + len(article)], chosen))
            begin += len(article)
        return analyses

    def _predict_sentences(
        self, texts: list[str], contexts: list[str], *, targets: Iterable[str] | None, gate: bool, batch_size: int
    ) -> list[SentencePrediction]:
        chosen = self.targets.select(targets)
        pairs = [
            (i, target)
            for i in range(len(texts))
            for target in chosen
            if (target.mentioned_in(contexts[i]) if gate else not target.named_only_as_other_things(texts[i]))
        ]
        scores = self.score_pairs([texts[i] for i, _ in pairs], [t.query for _, t in pairs], batch_size=batch_size)
        return _sentence_predictions(texts, chosen, pairs, scores, self.settings)


def _sentence_predictions(
    texts: list[str], targets: list[Target], pairs: list[tuple[int, Target]], scores: dict[str, np.ndarray], settings: StanceSettings
) -> list[SentencePrediction]:
    """Per sentence: scored pairs from the model, gated pairs from the gate's prior, the voice by ``sentence_voice``."""
    prior = settings.prior_probabilities()
    per_sentence: list[dict[str, np.ndarray]] = [{} for _ in texts]
    rows_of: list[list[int]] = [[] for _ in texts]  # each sentence's scored pairs
    windows = [1] * len(texts)
    for row, (i, target) in enumerate(pairs):
        per_sentence[i][target.name] = scores["stance"][row]
        rows_of[i].append(row)
        windows[i] = max(windows[i], int(scores["windows"][row]))
    results = []
    for i, text in enumerate(texts):
        stances = {}
        for target in targets:
            probs = per_sentence[i].get(target.name)
            scored = probs is not None
            probs = prior if probs is None else probs
            stances[target.name] = TargetStance(
                label=STANCE_LABELS[int(probs.argmax())],
                scores={label: float(p) for label, p in zip(STANCE_LABELS, probs, strict=True)},
                scored=scored,
            )
        voice_label, voice_score = sentence_voice(scores["voice"][rows_of[i]], scores["stance"][rows_of[i]])
        results.append(SentencePrediction(text=text, stance=stances, voice=Voice(voice_label, voice_score), windows=windows[i]))
    return results
