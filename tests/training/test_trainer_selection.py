"""The epoch kept is the best on dev, not the last: dev scores are scripted per epoch so
the best epoch is known in advance, and the weights kept are compared with each epoch's."""

from __future__ import annotations

import pytest
import stance.training.tasks as tasks_module
import stance.training.trainer as trainer_module
import torch
from stance.training.arguments import TrainingArguments
from test_trainer import examples


def trainable_weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if model.saves(k)}


@pytest.mark.parametrize(("scores", "best"), [((0.9, 0.1, 0.2), 1), ((0.1, 0.8, 0.3), 2), ((0.1, 0.2, 0.7), 3)])
@pytest.mark.parametrize("lora_rank", [0, 4])
def test_the_best_epochs_weights_are_restored(tiny_encoder, monkeypatch, scores, best, lora_rank):
    script = iter(scores)
    snapshots: list[dict[str, torch.Tensor]] = []

    class ScriptedEvaluator(tasks_module.StanceEvaluator):
        """The per-epoch evaluator reports the scripted F_avg and records the weights it saw."""

        def __call__(self, model, **kwargs):
            metrics = super().__call__(model, **kwargs)
            if self.gate is False and len(snapshots) < len(scores):
                snapshots.append(trainable_weights(model))
                metrics["overall"]["f_avg"] = next(script)
            return metrics

    monkeypatch.setattr(tasks_module, "StanceEvaluator", ScriptedEvaluator)
    args = TrainingArguments(encoder=str(tiny_encoder), epochs=3, batch_size=4, lora_rank=lora_rank, learning_rate=1e-2, max_length=32)
    result = trainer_module.Trainer(args, examples("train-") * 2, examples("dev-"), progress=False).train()
    assert result.best_epoch == best
    kept = trainable_weights(result.model)
    for epoch, snapshot in enumerate(snapshots, start=1):
        same = all(torch.equal(kept[k], snapshot[k]) for k in kept)
        assert same == (epoch == best), f"epoch {epoch}: the kept weights {'match' if same else 'differ'}"
