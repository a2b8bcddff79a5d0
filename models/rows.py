"""Rows in, rows out: the one function that turns a batch of input rows into the output rows
of ``stance predict``, whichever engine runs it (in-process, or an actor of a Ray job), so
that the two cannot drift."""

from __future__ import annotations

from collections.abc import Sequence

from stance.models.predictions import prediction_json


def text_problem(row: dict, *, max_chars: int | None = None) -> str | None:
    """Why a row cannot be scored, or None: every row needs a ``text`` with something visible
    in it (not only whitespace or zero-width characters), of at most ``max_chars`` characters."""
    from stance.models.sentences import has_visible_text

    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        return "missing or empty 'text'"
    if max_chars is not None and len(text) > max_chars:
        return f"'text' has {len(text)} characters, over the limit of {max_chars} (--max-chars)"
    if not has_visible_text(text):
        return "'text' has nothing to score (only whitespace or zero-width characters)"
    return None


def score_rows(model, rows: Sequence[dict], *, split: bool, targets: Sequence[str] | None, gate: bool | None, batch_size: int) -> list[dict]:
    """Each row with ``stance`` and ``voice`` added; with ``split`` each row is an article and
    becomes one row per sentence: its other fields, ``sentence_index``, ``start``, ``end``,
    the sentence as ``text``, ``stance`` and ``voice``.

    ``gate`` (None: the model's setting) applies to articles only; lone texts are always scored.
    ``model`` is a ``StanceModel``; only its public ``predict`` and ``analyze_many`` are used.
    """
    texts = [row["text"] for row in rows]
    if not split:
        predictions = model.predict(texts, targets=targets, gate=bool(gate), batch_size=batch_size)
        return [{**row, **prediction_json(p.stance, p.voice, windows=p.windows, gate_flags=False)} for row, p in zip(rows, predictions, strict=True)]
    scored = []
    for row, analysis in zip(rows, model.analyze_many(texts, targets=targets, gate=gate, batch_size=batch_size), strict=True):
        fields = _fields(row)
        scored.extend({**fields, **sentence_fields(sentence)} for sentence in analysis.sentences)
    return scored


def sentence_fields(sentence) -> dict:
    """A sentence of an article as ``predict --split`` writes it: ``sentence_index``, ``start``,
    ``end``, ``text``, and ``stance`` and ``voice`` when it was scored."""
    fields = {"sentence_index": sentence.index, "start": sentence.start, "end": sentence.end, "text": sentence.text}
    if hasattr(sentence, "stance"):
        fields.update(prediction_json(sentence.stance, sentence.voice, windows=sentence.windows, gate_flags=False))
    return fields


def analyze_rows(
    stance_model, reader, rows: Sequence[dict], *, tasks: Sequence[str], targets: Sequence[str] | None, gate: bool | None, batch_size: int,
    sentences: bool = True,
) -> list[dict]:  # fmt: skip
    """One row per article (``stance analyze``): its fields but ``text``; ``summary`` (stance per
    target) when stance is asked for; ``frames`` and ``narratives`` (``article_labels_json``)
    when asked for; and, unless ``sentences`` is False, its ``sentences`` as ``predict --split`` writes them."""
    from dataclasses import asdict

    from stance.models.analysis import analyze_articles

    analyses = analyze_articles(
        [row["text"] for row in rows], stance_model=stance_model, reader=reader, tasks=tasks, targets=targets, gate=gate, batch_size=batch_size
    )
    output = []
    for row, analysis in zip(rows, analyses, strict=True):
        result = _fields(row)
        if analysis.stance is not None:
            result["summary"] = {name: asdict(summary) for name, summary in analysis.stance.summary.items()}
        result.update(analysis.labels_json())
        if sentences:
            result["sentences"] = [sentence_fields(s) for s in (analysis.stance.sentences if analysis.stance is not None else analysis.sentences)]
        output.append(result)
    return output


def _fields(row: dict) -> dict:
    return {key: value for key, value in row.items() if key != "text"}
