"""Behaviour checklist of the hard cases found on reserved real articles (seeds/behaviour/hard-cases.jsonl):
distractor names, favour toward Russia, plain mentions of the war, two targets, joining the EU or NATO,
and the guide's version-2 hard cases. Prints the share each model gets right, per case, and the voice
accuracy (per row) when the checklist labels voice (seeds/behaviour/blind-cases.jsonl)."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from stance.models import DEFAULT_MODEL_DIR, StanceModel

CHECKLIST = Path(__file__).resolve().parents[1] / "seeds" / "behaviour" / "hard-cases.jsonl"


def read_checklist(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def score_checklist(model: StanceModel, rows: list[dict]) -> tuple[Counter, Counter, int]:
    """Rows right and rows in all, per case, and rows whose voice is right (0 where rows label no voice)."""
    predictions = model.predict([row["text"] for row in rows])
    right, total, voice_right = Counter(), Counter(), 0
    for row, prediction in zip(rows, predictions, strict=True):
        total[row["case"]] += 1
        right[row["case"]] += prediction.stance[row["target"]].label == row["label"]
        voice_right += prediction.voice.label == row.get("voice")
    return right, total, voice_right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="*", default=[str(DEFAULT_MODEL_DIR)], help="model folders")
    parser.add_argument("--checklist", type=Path, default=CHECKLIST)
    args = parser.parse_args()
    rows = read_checklist(args.checklist)
    cases = sorted({row["case"] for row in rows})
    with_voice = all("voice" in row for row in rows)
    voice_header = " voice |" if with_voice else ""
    print(f"| model | {' | '.join(cases)} | all |{voice_header}")
    print(f"| --- |{' --- |' * (len(cases) + 1 + with_voice)}")
    for folder in args.models:
        right, total, voice_right = score_checklist(StanceModel.from_pretrained(folder), rows)
        cells = " | ".join(f"{right[case]}/{total[case]}" for case in cases)
        voice = f" {voice_right}/{len(rows)} |" if with_voice else ""
        print(f"| {folder} | {cells} | {sum(right.values())}/{len(rows)} |{voice}")


if __name__ == "__main__":
    main()
