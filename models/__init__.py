"""What a model is: a backbone, heads described by data, tasks (stance), targets, sentences and
predictions. The torch-backed classes load on first use, so ``stance.models.runtimes``,
``.config`` and ``.heads`` import without torch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from stance.models.predictions import ArticleAnalysis, SentencePrediction, TargetStance, Voice
from stance.models.sentences import Sentence, context_windows, sentence_hash, split_sentences
from stance.models.targets import Target, TargetSet, default_targets
from stance.models.tasks import STANCE_LABELS, VOICE_LABELS, StanceSettings

if TYPE_CHECKING:
    from stance.models.modeling import DEFAULT_MODEL_DIR, StanceModel

_LAZY = {"StanceModel": "stance.models.modeling", "DEFAULT_MODEL_DIR": "stance.models.modeling"}

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


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
