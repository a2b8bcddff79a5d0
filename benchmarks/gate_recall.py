"""How often the alias gate drops a pair that has a stance, and how much work it saves.

The gate scores a (sentence, target) pair with the model only when one of the target's
aliases (models/targets.json) occurs in the text; other pairs get the gate's prior, i.e.
``none``. For labelled rows this prints, per target:

* recall: the share of non-``none`` rows the gate keeps (goal: >= 99%), for the sentence alone
  (``stance predict`` / ``stance evaluate``) and for the sentence with the previous one
  (``StanceModel.analyze``, which gates on that two-sentence context);
* skipped: the share of all pairs the gate skips (the speed win);
* the missed sentences with ``--show-missed``;
* with ``--windows``, the same for wider gating contexts (``B:A`` = B sentences before and A
  after), to choose a context that reaches the recall goal.

    python benchmarks/gate_recall.py                     # seeds/corpus.jsonl (+ shared labels)
    python benchmarks/gate_recall.py --data a.jsonl b.csv --show-missed 20
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models import TargetSet, default_targets  # noqa: E402
from training.data import load_examples  # noqa: E402

GOAL = 0.99


def default_data() -> list[Path]:
    files = [REPO / "seeds" / "corpus.jsonl"]
    extra = REPO / "work" / "tmp_passA.jsonl"  # real-article labels (pointer rows), while they exist
    if (REPO.parent / "shared").is_dir() and extra.is_file():
        files.append(extra)
    return files


def _context(examples, i: int, by_position: dict) -> str:
    """The sentence with the one before it in its article, as ``analyze`` gates it."""
    ex = examples[i]
    if ex.article_id is None or ex.sentence_id is None:
        return ex.text
    previous = by_position.get((ex.article_id, ex.sentence_id - 1))
    return f"{previous} {ex.text}" if previous else ex.text


def _window(examples, i: int, by_position: dict, before: int, after: int) -> str:
    ex = examples[i]
    if ex.article_id is None or ex.sentence_id is None:
        return ex.text
    parts = (by_position.get((ex.article_id, ex.sentence_id + d)) for d in range(-before, after + 1))
    return " ".join(p for p in parts if p)


def window_table(examples, targets: TargetSet, windows: list[tuple[int, int]]) -> str:
    """Recall / skipped share per target when the gate reads ``before`` + sentence + ``after``."""
    by_position = {(ex.article_id, ex.sentence_id): ex.text for ex in examples if ex.article_id is not None and ex.sentence_id is not None}
    names = [t for t in targets if any(ex.target == t for ex in examples)]
    lines = ["| context (before:after) | " + " | ".join(f"{n} recall / skipped" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for before, after in windows:
        cells = []
        for name in names:
            rows = [i for i, ex in enumerate(examples) if ex.target == name]
            hits = {
                i: examples[i].query is not None or targets[name].mentioned_in(_window(examples, i, by_position, before, after))
                for i in rows
            }
            stanced = [i for i in rows if examples[i].label != "none"]
            recall = sum(hits[i] for i in stanced) / len(stanced) if stanced else 1.0
            skipped = 1 - sum(hits.values()) / len(rows)
            cells.append(f"{100 * recall:.1f}% / {100 * skipped:.0f}%")
        lines.append(f"| {before}:{after} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def measure(examples, targets: TargetSet) -> dict:
    by_position = {(ex.article_id, ex.sentence_id): ex.text for ex in examples if ex.article_id is not None and ex.sentence_id is not None}
    stats: dict[str, dict] = defaultdict(
        lambda: {"rows": 0, "stanced": 0, "kept": 0, "kept_ctx": 0, "skipped": 0, "skipped_ctx": 0, "missed": []}
    )
    for i, ex in enumerate(examples):
        target = targets[ex.target]
        hit = ex.query is not None or target.mentioned_in(ex.text)
        hit_ctx = hit or target.mentioned_in(_context(examples, i, by_position))
        for key in (ex.target, "all"):
            s = stats[key]
            s["rows"] += 1
            s["skipped"] += not hit
            s["skipped_ctx"] += not hit_ctx
            if ex.label != "none":
                s["stanced"] += 1
                s["kept"] += hit
                s["kept_ctx"] += hit_ctx
                if not hit and key != "all":
                    s["missed"].append((ex.label, ex.origin, ex.text, hit_ctx))
    return stats


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:6.2f}%" if whole else "     -"


def table(stats: dict, targets: TargetSet) -> str:
    lines = [
        "| target | rows | stanced | recall (sentence) | recall (+prev. sentence) | skipped (sentence) | skipped (+prev.) | missed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in [*[t for t in targets if t in stats], "all"]:
        s = stats[name]
        flag = " ⚠" if s["stanced"] and s["kept"] / s["stanced"] < GOAL else ""
        lines.append(
            f"| {name} | {s['rows']} | {s['stanced']} | {_pct(s['kept'], s['stanced'])}{flag} | {_pct(s['kept_ctx'], s['stanced'])} | "
            f"{_pct(s['skipped'], s['rows'])} | {_pct(s['skipped_ctx'], s['rows'])} | {s['stanced'] - s['kept']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", help="labelled rows (.jsonl/.csv) read with training.data.load_examples")
    parser.add_argument("--targets-file", help="targets JSON (default: models/targets.json)")
    parser.add_argument("--show-missed", type=int, default=0, metavar="N", help="print up to N missed sentences per target")
    parser.add_argument(
        "--windows",
        nargs="*",
        metavar="B:A",
        help="also measure gating on B sentences before and A after (default set: 0:0 1:0 1:1 2:1 3:2 5:5)",
    )
    args = parser.parse_args(argv)
    targets = TargetSet.load(args.targets_file) if args.targets_file else default_targets()
    files = [Path(f) for f in args.data] if args.data else default_data()
    examples = load_examples(files, targets=targets)
    print(f"alias gate over {len(examples)} labelled pairs from {', '.join(str(f) for f in files)}\n")
    stats = measure(examples, targets)
    print(table(stats, targets))
    low = [name for name in targets if name in stats and stats[name]["stanced"] and stats[name]["kept"] / stats[name]["stanced"] < GOAL]
    print(f"\ngoal: recall >= {GOAL:.0%} per target (sentence alone) -- {'met' if not low else 'NOT met for ' + ', '.join(low)}")
    if args.windows is not None:
        windows = [tuple(int(x) for x in w.split(":")) for w in (args.windows or ["0:0", "1:0", "1:1", "2:1", "3:2", "5:5"])]
        print("\n" + window_table(examples, targets, windows))
    if args.show_missed:
        for name in targets:
            missed = stats.get(name, {}).get("missed", [])
            if missed:
                print(f"\n## {name}: {len(missed)} stanced rows without an alias")
                for label, origin, text, by_context in missed[: args.show_missed]:
                    note = " (kept with prev. sentence)" if by_context else ""
                    print(f"- [{label}] {origin}{note}: {text}")
    return 0 if not low else 1


if __name__ == "__main__":
    raise SystemExit(main())
