"""What a stance model is: targets, sentences, the classifier and its predictions."""

from __future__ import annotations

from stance.models.modeling import DEFAULT_MODEL_DIR, STANCE_LABELS, VOICE_LABELS, StanceModel, StanceSettings
from stance.models.predictions import ArticleAnalysis, SentencePrediction, TargetStance, Voice
from stance.models.sentences import Sentence, context_windows, sentence_hash, split_sentences
from stance.models.targets import Target, TargetSet, default_targets

__all__ = [
    "DEFAULT_MODEL_DIR",
    "STANCE_LABELS",
    "VOICE_LABELS",
    "ArticleAnalysis",
    "Sentence",
    "SentencePrediction",
    "StanceModel",
    "StanceSettings",
    "Target",
    "TargetSet",
    "TargetStance",
    "Voice",
    "context_windows",
    "default_targets",
    "sentence_hash",
    "split_sentences",
]
