"""The stance model that encodes each sentence once for all its targets: each target has a query
vector that attends over the sentence's token states, and the attended vector beside the
mean-pooled sentence feeds that target's stance and voice heads. Four targets cost one encoding
instead of four (about 5x faster than the pair reader; BENCHMARKS.md, "One encoding per
sentence"), so the same CPU can train on more rows and afford a larger encoder.

It answers the pair model's questions (``score_pairs``, ``predict``, ``analyze``, the evaluator,
the runtimes) with the same arrays, for the model's own targets only: a target is learned, not
read as text, so adding one means training with it (``--targets-file``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from stance.models.backbone import Backbone
from stance.models.core import SCORING_BATCH_SIZE
from stance.models.heads import HeadSpec
from stance.models.modeling import StanceModel
from stance.models.targets import TargetSet
from stance.models.tasks import StanceSettings
from torch import nn

SENTENCE_READER = "sentence"


class TargetHeads(nn.Module):
    """One linear head per target over that target's features: (batch, targets, in) -> (batch, targets, out)."""

    def __init__(self, targets: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(targets, in_features, out_features) * 0.02)
        self.bias = nn.Parameter(torch.zeros(targets, out_features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.einsum("btf,tfk->btk", features, self.weight) + self.bias


class SentenceStanceModel(StanceModel):
    """Stance and voice toward every target from one encoding of the sentence.

    >>> model = SentenceStanceModel.from_encoder()
    >>> model.score_pairs(["NATO expands east."], [model.targets["nato"].query])["stance"].shape
    (1, 4)
    """

    def __init__(
        self, backbone: Backbone, *, targets: TargetSet, settings: StanceSettings | None = None, heads: Sequence[HeadSpec] | None = None
    ) -> None:
        super().__init__(backbone, targets=targets, settings=settings or StanceSettings(reader=SENTENCE_READER), heads=heads)
        if self.settings.reader != SENTENCE_READER:
            raise ValueError(f"a sentence-reader model has reader {SENTENCE_READER!r} in its settings, not {self.settings.reader!r}")
        hidden, count = backbone.hidden_size, len(self.targets)
        self.queries = nn.Parameter(torch.zeros(count, hidden))
        self.heads = nn.ModuleDict({name: TargetHeads(count, 2 * hidden, len(spec.labels)) for name, spec in self.head_specs.items()})
        self._target_index = {target.query: i for i, target in enumerate(self.targets.select(None))}

    @classmethod
    def from_encoder(cls, encoder: str | None = None, **options) -> SentenceStanceModel:
        """A new, untrained model (options as ``StanceModel.from_encoder``); each target's query
        starts as the encoder's own vector of its query text."""
        model = super().from_encoder(encoder, **options)
        backbone = model.backbone
        with torch.no_grad():
            model.queries.copy_(backbone(**backbone.tokenize([target.query for target in model.targets.select(None)])))
        return model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        states = self.backbone.token_states(input_ids, attention_mask, token_type_ids)  # (batch, tokens, hidden)
        padding = ~attention_mask.bool().unsqueeze(1)  # (batch, 1, tokens)
        scores = torch.einsum("bld,td->btl", states, self.queries) / math.sqrt(states.shape[-1])
        attended = torch.einsum("btl,bld->btd", scores.masked_fill(padding, -1e4).softmax(-1), states)
        sentence = self.backbone.pool(states, attention_mask)
        features = self.dropout(torch.cat([attended, sentence.unsqueeze(1).expand_as(attended)], -1))
        return {name: head(features) for name, head in self.heads.items()}

    def example_inputs(self):
        return self.backbone.tokenize(["Serbia will never join NATO.", "Moscow said so."])

    def target_indices(self, queries: Sequence[str]) -> np.ndarray:
        """The target each query names; a query of no target of the model is refused."""
        unknown = sorted({query for query in queries if query not in self._target_index})
        if unknown:
            raise ValueError(
                f"this model reads each sentence once for its own targets ({', '.join(self.targets)}); "
                f"it has no target with the query {unknown[0]!r}: train it with that target (--targets-file)"
            )
        return np.array([self._target_index[query] for query in queries], dtype=np.int64)

    def window_logits(
        self, texts: Sequence[str], pairs: Sequence[str] | None = None, *, batch_size: int = SCORING_BATCH_SIZE
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Each distinct sentence read once (in windows when long); every (sentence, query) input
        takes its target's logits from each window of its sentence."""
        if pairs is None:
            raise ValueError("a stance model scores (sentence, target query) pairs")
        targets = self.target_indices(pairs)
        if not len(texts):
            return {name: np.zeros((0, len(spec.labels)), dtype=np.float32) for name, spec in self.head_specs.items()}, np.zeros(0, dtype=np.int64)
        distinct: dict[str, int] = {}
        inputs_of: list[list[int]] = []
        for i, text in enumerate(texts):
            if text not in distinct:
                distinct[text] = len(inputs_of)
                inputs_of.append([])
            inputs_of[distinct[text]].append(i)
        logits, windows_of = super().window_logits(list(distinct), None, batch_size=batch_size)
        window, owner = np.array([(w, i) for w, sentence in enumerate(windows_of) for i in inputs_of[sentence]], dtype=np.int64).T
        return {name: values[window, targets[owner]] for name, values in logits.items()}, owner

    def batched_logits(self, texts: Sequence[str], pairs: Sequence[str] | None = None, *, batch_size: int = SCORING_BATCH_SIZE) -> dict[str, np.ndarray]:
        """The logits of each input's first window (a sentence cut at ``max_length``, as the pair model's)."""
        logits, owners = self.window_logits(texts, pairs, batch_size=batch_size)
        first = np.unique(owners, return_index=True)[1]
        return {name: values[first] for name, values in logits.items()}
