"""What the stance task adds to a backbone and heads, without torch: its labels and heads, its
settings, and the one implementation of the alias gate (with the prior of the pairs it skips)
and of the voice rule, which ``StanceModel`` and the evaluator both use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from stance.models.heads import HeadSpec
from stance.models.labelsets import ARTICLE_TASKS
from stance.models.sentences import context_windows

STANCE_TASK = "stance"
TASKS = (STANCE_TASK, *ARTICLE_TASKS)  # what `stance train --task` takes
STANCE_LABELS = ("favor", "against", "neutral", "none")
VOICE_LABELS = ("author", "reported")
READERS = ("pair", "sentence")


def stance_heads() -> list[HeadSpec]:
    """The stance task's heads: stance toward the target, and who voices the sentence."""
    return [HeadSpec("stance", STANCE_LABELS), HeadSpec("voice", VOICE_LABELS)]


@dataclass(slots=True)  # a misspelt setting fails instead of being ignored
class StanceSettings:
    """A stance model's settings besides its backbone and heads; saved in ``config.json``."""

    # The alias gate of ``analyze``: a pair whose target has no alias within ``gate_window``
    # (sentences before, after) is not scored and gets ``gate_prior``; see benchmarks/gate_recall.py.
    gate: bool = True
    gate_window: list[int] = field(default_factory=lambda: [3, 2])
    gate_prior: dict[str, float] = field(default_factory=lambda: {"none": 1.0})
    model_name: str = "stance-model"
    model_version: str = "0"
    # How the model reads a sentence: "pair" encodes it with each target's query text, once per
    # target; "sentence" encodes it once for all its targets (``models/sentence_reader.py``).
    reader: str = "pair"
    # The int8 ONNX export quantises each layer's second FFN projection too (the export keeps it in
    # float by default: ``KEEP_FLOAT`` in ``models/onnx_runtime.py``): faster, a little less faithful.
    int8_ffn_output: bool = False

    def __post_init__(self) -> None:
        if self.reader not in READERS:
            raise ValueError(f"reader must be one of {', '.join(READERS)}, not {self.reader!r}")

    def options(self) -> dict:
        """As saved in config.json; ``reader`` and ``int8_ffn_output`` only when not their defaults, so older
        folders read (and keep their ONNX exports) as before."""
        options = {"gate": self.gate, "gate_window": list(self.gate_window), "gate_prior": dict(self.gate_prior)}
        if self.reader != "pair":
            options["reader"] = self.reader
        if self.int8_ffn_output:
            options["int8_ffn_output"] = True
        return options

    def gate_contexts(self, sentences: Sequence[str]) -> list[str]:
        """What the gate reads for each sentence of one article: the sentence and its window."""
        before, after = self.gate_window
        return context_windows(sentences, before=before, after=after)

    def prior_probabilities(self) -> np.ndarray:
        """The stance probabilities a gated pair gets: ``gate_prior`` over STANCE_LABELS, normalised."""
        prior = np.array([self.gate_prior.get(label, 0.0) for label in STANCE_LABELS], dtype=np.float32)
        return prior / prior.sum()


def sentence_voice(voice: np.ndarray, stance: np.ndarray) -> tuple[str, float]:
    """A sentence's voice from its scored pairs' voice and stance probabilities (a row per pair).

    The guide gives a sentence without a stance toward any target the voice ``author``, so
    P(reported) = P(it takes a stance toward some target) x P(reported | that stance): the first
    the noisy-or of each pair's P(favor) + P(against), the second the pairs' P(reported) weighted
    by the same (pairs without a stance are no evidence of who voices one). ``author`` (1.0) when
    the gate skipped every pair of the sentence."""
    if len(voice) == 0:
        return VOICE_LABELS[0], 1.0
    stanced = np.asarray(stance)[:, [STANCE_LABELS.index("favor"), STANCE_LABELS.index("against")]].sum(1)
    reported_voice = np.asarray(voice)[:, VOICE_LABELS.index("reported")]
    given_stance = float(np.average(reported_voice, weights=stanced)) if stanced.sum() > 0 else float(reported_voice.mean())
    reported = float(1.0 - np.prod(1.0 - stanced)) * given_stance
    return ("reported", reported) if reported > 0.5 else ("author", 1.0 - reported)
