"""Label Studio and doccano: the interface, tasks, and exports read by the loader of
`stance train --data` (small exports written here, as the tools write them)."""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jsonl_rows import write_jsonl
from stance.models import STANCE_LABELS, VOICE_LABELS, TargetStance, Voice, default_targets
from stance.training.data import DataError, load_examples
from stance.training.label_tools import (
    TaskSentence,
    doccano_label_names,
    doccano_task,
    label_studio_config,
    label_studio_task,
)

TARGETS = default_targets()
SENTENCE = "Serbia will never join NATO and will keep close ties with Moscow."
GOLD = {"russia": "favor", "west": "none", "eu": "none", "nato": "against", "voice": "author"}


def choices(labels: dict[str, str]) -> list[dict]:
    return [{"from_name": name, "to_name": "text", "type": "choices", "value": {"choices": [choice]}} for name, choice in labels.items()]


def annotation(identifier: int, labels: dict[str, str], *, updated: str = "2026-11-30T10:00:00.000000Z", cancelled: bool = False) -> dict:
    return {
        "id": identifier,
        "completed_by": 1,
        "result": [] if cancelled else choices(labels),
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": "2026-11-30T09:00:00.000000Z",
        "updated_at": updated,
        "lead_time": 4.2,
        "task": identifier,
    }


def ls_task(identifier: int, *, text: str = SENTENCE, annotations: list[dict], predictions: list[dict] | None = None, **data) -> dict:
    return {
        "id": identifier,
        "data": {"text": text, "article_id": "a1", "sentence_index": identifier, "before": "", "after": "", **data},
        "annotations": annotations,
        "predictions": predictions or [],
        "created_at": "2026-11-30T08:00:00.000000Z",
        "updated_at": "2026-11-30T10:00:00.000000Z",
        "project": 3,
    }


def write_json(path: Path, value) -> Path:
    path.write_text(json.dumps(value, indent=1), encoding="utf-8")
    return path


def labels_of(examples) -> dict[tuple[str, str], str]:
    return {(ex.text, ex.target): ex.label for ex in examples}


# ---- the interface -----------------------------------------------------------------------


def test_config_has_one_single_choice_control_per_target_and_voice_over_text():
    view = ET.fromstring(label_studio_config(TARGETS))
    controls = {c.get("name"): c for c in view.iter("Choices")}
    assert list(controls) == ["russia", "west", "eu", "nato", "voice"]
    for name, control in controls.items():
        assert control.get("toName") == "text" and control.get("choice") == "single"
        assert [c.get("value") for c in control.iter("Choice")] == list(VOICE_LABELS if name == "voice" else STANCE_LABELS)
    assert [t.get("name") for t in view.iter("Text") if t.get("value") == "$text"] == ["text"]


def test_config_follows_the_targets_file(tmp_path):
    targets = TARGETS.to_dict()
    targets["targets"].append({"name": "china", "description": "The Chinese state & party.", "query": "China", "aliases": ["china"]})
    from stance.models import TargetSet

    view = ET.fromstring(label_studio_config(TargetSet.from_dict(targets)))
    assert [c.get("name") for c in view.iter("Choices")] == ["russia", "west", "eu", "nato", "china", "voice"]
    assert any(h.get("value") == "china: The Chinese state & party." for h in view.iter("Header"))


# ---- Label Studio exports ----------------------------------------------------------------


def test_label_studio_export_trains_like_rows(tmp_path):
    export = write_json(tmp_path / "export.json", [ls_task(7, annotations=[annotation(1, GOLD)])])
    examples = load_examples(export, targets=TARGETS, text_dirs=[])
    assert {ex.target: ex.label for ex in examples} == {k: v for k, v in GOLD.items() if k != "voice"}
    assert {(ex.voice, ex.article_id, ex.sentence_id, ex.text) for ex in examples} == {("author", "a1", 7, SENTENCE)}
    assert examples[0].origin.endswith("export.json: task 7")


def test_the_newest_annotation_wins_whatever_its_place(tmp_path):
    corrected = {**GOLD, "russia": "neutral", "voice": "reported"}
    newer_first = [annotation(2, corrected, updated="2026-11-30T12:00:00Z"), annotation(1, GOLD, updated="2026-11-30T10:00:00Z")]
    newer_last = list(reversed(newer_first))
    export = write_json(
        tmp_path / "export.json",
        [ls_task(1, text="One.", annotations=newer_first), ls_task(2, text="Two.", annotations=newer_last)],
    )
    examples = load_examples(export, targets=TARGETS, text_dirs=[])
    assert {(ex.text, ex.target): ex.label for ex in examples if ex.target == "russia"} == {("One.", "russia"): "neutral", ("Two.", "russia"): "neutral"}
    assert {ex.voice for ex in examples} == {"reported"}


def test_same_time_annotations_fall_back_to_the_higher_id(tmp_path):
    same = "2026-11-30T10:00:00Z"
    export = write_json(tmp_path / "e.json", [ls_task(1, annotations=[annotation(9, {**GOLD, "eu": "favor"}, updated=same), annotation(4, GOLD, updated=same)])])
    assert labels_of(load_examples(export, targets=TARGETS, text_dirs=[]))[(SENTENCE, "eu")] == "favor"


def test_skipped_and_unannotated_tasks_are_left_out_and_counted(tmp_path, caplog):
    prediction = {"model_version": "m", "score": 0.1, "result": choices({**GOLD, "west": "against"})}
    export = write_json(
        tmp_path / "export.json",
        [
            ls_task(1, text="Kept.", annotations=[annotation(1, GOLD)]),
            ls_task(2, text="Skipped.", annotations=[annotation(2, {}, cancelled=True)]),
            ls_task(3, text="Labelled, then skipped.", annotations=[annotation(3, GOLD), annotation(4, {}, updated="2026-12-01T00:00:00Z", cancelled=True)]),
            ls_task(4, text="Only the model's labels.", annotations=[], predictions=[prediction]),
        ],
    )
    with caplog.at_level(logging.WARNING):
        examples = load_examples(export, targets=TARGETS, text_dirs=[])
    assert {ex.text for ex in examples} == {"Kept."}
    assert "1 labelled task(s)" in caplog.text
    assert "2 skipped or cancelled left out (task 2, 3)" in caplog.text
    assert "1 without an annotation left out (task 4)" in caplog.text


def test_a_prediction_is_never_a_label_even_beside_an_annotation(tmp_path):
    prediction = {"model_version": "m", "result": choices({**GOLD, "nato": "favor"})}
    export = write_json(tmp_path / "e.json", [ls_task(1, annotations=[annotation(1, GOLD)], predictions=[prediction])])
    assert labels_of(load_examples(export, targets=TARGETS, text_dirs=[]))[(SENTENCE, "nato")] == "against"


def test_a_missing_choice_is_an_error_naming_the_task(tmp_path):
    partial = {k: v for k, v in GOLD.items() if k != "nato"}
    export = write_json(tmp_path / "export.json", [ls_task(1, annotations=[annotation(1, GOLD)]), ls_task(42, annotations=[annotation(2, partial)])])
    with pytest.raises(DataError) as error:
        load_examples(export, targets=TARGETS, text_dirs=[])
    assert error.value.problems == [f"{export}: task 42: no choice for 'nato': every target needs one (it may be 'none')"]


@pytest.mark.parametrize(
    ("result", "fragment"),
    [
        (choices({**GOLD, "china": "favor"}), "unknown control 'china'"),
        (choices({**GOLD, "eu": "positive"}), "unknown label 'positive' for target 'eu'"),
        (choices({**GOLD, "voice": "quoted"}), "unknown voice 'quoted'"),
        ([*choices(GOLD)[1:], {"from_name": "russia", "to_name": "text", "type": "choices", "value": {"choices": ["favor", "against"]}}], "exactly one choice"),
    ],
)
def test_bad_choices_are_errors_naming_the_task(tmp_path, result, fragment):
    task = ls_task(5, annotations=[{**annotation(1, GOLD), "result": result}])
    export = write_json(tmp_path / "e.json", [task])
    with pytest.raises(DataError) as error:
        load_examples(export, targets=TARGETS, text_dirs=[])
    assert error.value.problems[0].startswith(f"{export}: task 5: ") and fragment in error.value.problems[0]


def test_voice_may_be_left_out_and_other_controls_are_ignored(tmp_path):
    result = [*choices({k: v for k, v in GOLD.items() if k != "voice"}), {"from_name": "notes", "to_name": "text", "type": "textarea", "value": {"text": ["?"]}}]
    export = write_json(tmp_path / "e.json", [ls_task(1, annotations=[{**annotation(1, GOLD), "result": result}])])
    assert {ex.voice for ex in load_examples(export, targets=TARGETS, text_dirs=[])} == {None}


def test_a_json_file_that_is_not_an_export_is_named(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": 1, "data": ', encoding="utf-8")
    with pytest.raises(DataError, match="broken.json:1: bad JSON"):
        load_examples(broken, targets=TARGETS, text_dirs=[])
    jsonl = write_jsonl(tmp_path / "rows.json", [{"text": SENTENCE, "target": "nato", "label": "against"}])  # JSON Lines named .json
    assert [ex.label for ex in load_examples(jsonl, targets=TARGETS, text_dirs=[])] == ["against"]


# ---- doccano exports ---------------------------------------------------------------------


def doccano_row(identifier: int, labels: list[str], text: str = SENTENCE, **meta) -> dict:
    return {"id": identifier, "text": text, "article_id": "a2", "sentence_index": identifier, **meta, "label": labels, "Comments": []}


GOLD_LABELS = [f"{k}:{v}" for k, v in GOLD.items()]


def test_doccano_export_trains_like_rows(tmp_path):
    export = write_jsonl(tmp_path / "doccano.jsonl", [doccano_row(3, GOLD_LABELS, model_labels="russia:none")])
    examples = load_examples(export, targets=TARGETS, text_dirs=[])
    assert {ex.target: ex.label for ex in examples} == {k: v for k, v in GOLD.items() if k != "voice"}
    assert {(ex.voice, ex.article_id, ex.sentence_id, ex.origin) for ex in examples} == {("author", "a2", 3, f"{export}:1")}


def test_doccano_examples_without_labels_are_left_out_and_counted(tmp_path, caplog):
    export = write_jsonl(tmp_path / "doccano.jsonl", [doccano_row(1, GOLD_LABELS, text="Kept."), doccano_row(2, [], text="Not yet.")])
    with caplog.at_level(logging.WARNING):
        examples = load_examples(export, targets=TARGETS, text_dirs=[])
    assert {ex.text for ex in examples} == {"Kept."}
    assert "1 without an annotation left out (task 2)" in caplog.text


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [
        ([label for label in GOLD_LABELS if not label.startswith("eu:")], "task 4: no choice for 'eu'"),
        ([*GOLD_LABELS, "nato:favor"], "task 4: conflicting labels for 'nato': 'against' and 'favor'"),
        ([*GOLD_LABELS[:-1], "voice:author", "voice:reported"], "conflicting labels for 'voice'"),
        ([*GOLD_LABELS, "positive"], "label 'positive' is not '<target>:<label>'"),
        ([*GOLD_LABELS, "china:favor"], "unknown target 'china'"),
    ],
)
def test_doccano_label_problems_name_the_line_and_task(tmp_path, labels, fragment):
    export = write_jsonl(tmp_path / "doccano.jsonl", [doccano_row(1, GOLD_LABELS), doccano_row(4, labels)])
    with pytest.raises(DataError) as error:
        load_examples(export, targets=TARGETS, text_dirs=[])
    assert len(error.value.problems) == 1
    assert error.value.problems[0].startswith(f"{export}:2: ") and fragment in error.value.problems[0]


def test_doccano_rows_and_project_rows_mix(tmp_path):
    rows = [doccano_row(1, GOLD_LABELS), {"text": "Brussels praised the bloc.", "target": "eu", "label": "favor"}]
    examples = load_examples(write_jsonl(tmp_path / "mixed.jsonl", rows), targets=TARGETS, text_dirs=[])
    assert len(examples) == 5


# ---- tasks round-trip into the readers ---------------------------------------------------


def sentence(index: int, label: str = "against", *, margin: float = 0.3) -> TaskSentence:
    stance = {name: TargetStance(label="none", scores={"favor": 0.0, "against": 0.1, "neutral": 0.1, "none": 0.8}) for name in TARGETS}
    stance["nato"] = TargetStance(label=label, scores={"favor": 0.1, "against": 0.6, "neutral": 0.2, "none": 0.1})
    return TaskSentence("a9", index, f"Sentence {index}.", "Before.", "After.", stance, Voice("reported", 0.7), margin)


def test_label_studio_task_carries_the_model_as_a_scored_prediction_only():
    task = label_studio_task(sentence(2), model_version="m 1")
    assert task["data"] == {"text": "Sentence 2.", "article_id": "a9", "sentence_index": 2, "before": "Before.", "after": "After."}
    assert "annotations" not in task
    (prediction,) = task["predictions"]
    assert prediction["model_version"] == "m 1" and prediction["score"] == 0.3
    assert {r["from_name"]: (r["value"]["choices"], r["score"]) for r in prediction["result"]} == {
        "russia": (["none"], 0.8), "west": (["none"], 0.8), "eu": (["none"], 0.8), "nato": (["against"], 0.6), "voice": (["reported"], 0.7)
    }  # fmt: skip


def test_a_prediction_accepted_in_label_studio_comes_back_as_labels(tmp_path):
    task = label_studio_task(sentence(2), model_version="m")
    accepted = {**task, "id": 11, "annotations": [{"id": 1, "result": task["predictions"][0]["result"], "was_cancelled": False}]}
    examples = load_examples(write_json(tmp_path / "e.json", [accepted]), targets=TARGETS, text_dirs=[])
    assert {ex.target: ex.label for ex in examples} == {"russia": "none", "west": "none", "eu": "none", "nato": "against"}
    assert {(ex.voice, ex.sentence_id) for ex in examples} == {("reported", 2)}


def test_doccano_task_shows_the_model_but_leaves_labels_empty(tmp_path, caplog):
    task = doccano_task(sentence(5))
    assert task["label"] == [] and task["model_labels"] == "russia:none west:none eu:none nato:against voice:reported"
    assert set(task["model_labels"].split()) <= set(doccano_label_names(TARGETS))
    imported = write_jsonl(tmp_path / "untouched.jsonl", [{"id": 1, **task}, {"id": 2, **doccano_task(sentence(6)), "label": GOLD_LABELS}])
    with caplog.at_level(logging.WARNING):
        examples = load_examples(imported, targets=TARGETS, text_dirs=[])
    assert {ex.text for ex in examples} == {"Sentence 6."}
    assert "task 1" in caplog.text


def test_doccano_label_names_cover_every_choice():
    names = doccano_label_names(TARGETS)
    assert len(names) == len(set(names)) == 4 * len(STANCE_LABELS) + len(VOICE_LABELS)
    assert "nato:against" in names and "voice:reported" in names
