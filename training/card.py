"""The model card written beside every trained model: what it was trained on, how it
scores on dev, and what it cannot do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stance.training.arguments import TrainingArguments
from stance.training.evaluation import format_summary

if TYPE_CHECKING:
    from stance.training.trainer import TrainResult


def model_card(result: TrainResult, args: TrainingArguments, data_counts: dict) -> str:
    model = result.model
    settings, backbone = model.settings, model.backbone.settings
    lines = [
        f"# {settings.model_name} {settings.model_version}",
        "",
        "A target-conditioned stance classifier (favor / against / neutral / none toward each target,",
        "and whether the stance is the author's or reported), trained with this project's `stance train`.",
        "",
        "## Encoder",
        f"- `{backbone.encoder['name_or_path']}`" + (f" version {backbone.encoder['package_version']}" if backbone.encoder.get("package_version") else ""),
        f"- {'LoRA adapter, rank ' + str(backbone.lora['r']) + ' (the encoder itself is not stored here)' if backbone.lora else 'fully fine-tuned encoder, stored here'}",
        "- " + ("reads each sentence once for all its targets, a learned query per target" if settings.reader == "sentence"
                else "reads each sentence with one target's query at a time"),
        "",
        "## Targets",
        *[f"- `{t.name}`: {t.description}" for t in result.model.targets.values()],
        "",
        "## Training data",
        *[f"- {key}: {value}" for key, value in data_counts.items() if key != "dev article ids"],
        "",
        "## Settings",
        *[f"- {key}: {value}" for key, value in args.to_dict().items()],
        "",
        "## Training history",
        "| epoch | train loss | dev F_avg | dev macro-F1 |",
        "| --- | --- | --- | --- |",
        *[
            f"| {h['epoch']} | {h['train_loss']:.4f} | {h.get('dev_f_avg', float('nan')):.3f} | {h.get('dev_macro_f1', float('nan')):.3f} |"
            for h in result.history
        ],
        f"\n{result.summary()}",
        "",
    ]
    if result.dev_metrics:
        voice = result.dev_metrics["voice"]
        lines += [
            "## Dev metrics (held-out articles, after calibration and alias gating)",
            "",
            "```",
            format_summary(result.dev_metrics),
            "```",
            "",
            f"Calibration: stance temperature {model.head_specs['stance'].temperature:.3f}, voice temperature "
            f"{model.head_specs['voice'].temperature:.3f}; expected calibration error {result.dev_metrics['overall']['ece']:.3f}.",
            f"Voice accuracy: {voice['accuracy']:.3f} over {voice['support']} sentences." if voice.get("accuracy") is not None else "",
            "",
        ]
    lines += [
        "## Limits",
        "- Scores one sentence at a time: a stance carried only by the surrounding paragraph is missed.",
        "- Trained on English news about the Russia-Ukraine war; other topics and languages are untested.",
        "- Sarcasm, and stance expressed only through selection of facts, are often read as neutral.",
        "- F_avg counts only favor and against; see the per-target table before trusting a target with little data.",
        "",
    ]
    return "\n".join(lines)
