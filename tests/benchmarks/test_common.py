"""The SemEval-2023 rows for continued training: only those whose sentence names a target."""

from __future__ import annotations

import json

from benchmarks.common import write_naming_rows

ROWS = [
    ("NATO ministers met in Brussels on Tuesday.", True),
    ("The West Coast had a dry summer.", False),  # a non-reference of the West
    ("Farmers harvested wheat early this year.", False),
    ("Moscow rejected the proposal.", True),
]


def test_only_rows_that_name_a_target_are_kept_verbatim(tmp_path):
    source = tmp_path / "rows.jsonl"
    lines = [
        json.dumps({"article_id": "a1", "sentence_id": index, "text": text, "russia": "none", "west": "none", "eu": "none", "nato": "none"})
        for index, (text, _) in enumerate(ROWS)
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    written = write_naming_rows(source, tmp_path / "naming.jsonl")
    kept = written.read_text(encoding="utf-8").splitlines()
    assert kept == [line for line, (_, named) in zip(lines, ROWS, strict=True) if named]
