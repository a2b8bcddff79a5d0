"""How often the alias gate drops a pair that has a stance, and how much work it saves.

``StanceModel.analyze`` scores a (sentence, target) pair with the model only when one of the
target's aliases (models/targets.json) occurs in the sentence's window of its article (the
model's ``gate_window``: sentences before and after); other pairs get the gate's prior, i.e.
``none``. ``predict`` scores lone sentences and does not gate. For labelled rows with article
positions this prints, per target and window:

* recall: the share of non-``none`` rows the gate keeps (goal: >= 99% overall);
* skipped: the share of all pairs the gate skips (the speed win);
* with ``--show-missed N``, the stanced sentences the gate drops at the model's window.

    python -m benchmarks.gate_recall                    # seeds/corpus.jsonl + the dev labels
    python -m benchmarks.gate_recall --data a.jsonl --windows 0:0 3:2 --show-missed 20
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stance.models import StanceSettings, TargetSet, default_targets
from stance.training.data import article_contexts, load_examples

from benchmarks.common import DEFAULT_DATA, REPO

GOAL = 0.99
DEFAULT_WINDOWS = ("0:0", "1:0", "2:1", "3:2", "3:3", "5:5")


def default_data() -> list[Path]:
    """The labelled sets; the pointer rows need ../shared for their text."""
    return [path for path in DEFAULT_DATA if path.name == "corpus.jsonl" or (REPO.parent / "shared").is_dir()]


def measure(examples, targets: TargetSet, before: int, after: int) -> dict[str, dict]:
    """Per target (and ``all``): rows, stanced rows, kept stanced rows, skipped rows, misses."""
    contexts = article_contexts(examples, before=before, after=after)
    stats: dict[str, dict] = {}
    for ex, context in zip(examples, contexts, strict=True):
        if context is None or ex.query is not None:
            continue  # not gated: scored like a lone sentence
        kept = targets[ex.target].mentioned_in(context)
        for key in (ex.target, "all"):
            s = stats.setdefault(key, {"rows": 0, "stanced": 0, "kept": 0, "skipped": 0, "missed": []})
            s["rows"] += 1
            s["skipped"] += not kept
            if ex.label != "none":
                s["stanced"] += 1
                s["kept"] += kept
                if not kept and key != "all":
                    s["missed"].append(ex)
    return stats


def recall(s: dict) -> float:
    return s["kept"] / s["stanced"] if s["stanced"] else 1.0


def table(examples, targets: TargetSet, windows: list[tuple[int, int]], shipped: tuple[int, int]) -> str:
    names = [t for t in targets if any(ex.target == t for ex in examples)] + ["all"]
    lines = ["| window (before:after) | " + " | ".join(f"{n} recall / skipped" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for before, after in windows:
        stats = measure(examples, targets, before, after)
        cells = [f"{100 * recall(stats[n]):.1f}% / {100 * stats[n]['skipped'] / stats[n]['rows']:.0f}%" if n in stats else "-" for n in names]
        mark = " (model)" if (before, after) == shipped else ""
        lines.append(f"| {before}:{after}{mark} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", help="labelled rows (.jsonl/.csv) read with training.data.load_examples")
    parser.add_argument("--targets-file", help="targets JSON (default: models/targets.json)")
    parser.add_argument("--window", default=None, metavar="B:A", help="the window to judge (default: the model settings' default)")
    parser.add_argument("--windows", nargs="*", default=list(DEFAULT_WINDOWS), metavar="B:A", help="windows to tabulate")
    parser.add_argument("--show-missed", type=int, default=0, metavar="N", help="print up to N missed sentences per target")
    args = parser.parse_args(argv)
    targets = TargetSet.load(args.targets_file) if args.targets_file else default_targets()
    files = [Path(f) for f in args.data] if args.data else default_data()
    examples = load_examples(files, targets=targets)
    shipped = tuple(int(x) for x in args.window.split(":")) if args.window else tuple(StanceSettings(encoder={}).gate_window)
    windows = [tuple(int(x) for x in w.split(":")) for w in args.windows]
    if shipped not in windows:
        windows.append(shipped)
    print(f"alias gate over {len(examples)} labelled pairs from {', '.join(str(f) for f in files)}\n")
    print(table(examples, targets, windows, shipped))
    stats = measure(examples, targets, *shipped)
    if "all" not in stats:
        print("\nno rows with article positions: nothing is gated")
        return 0
    met = recall(stats["all"]) >= GOAL
    print(
        f"\nwindow {shipped[0]}:{shipped[1]}: recall {100 * recall(stats['all']):.2f}% of {stats['all']['stanced']} stanced pairs, "
        f"{100 * stats['all']['skipped'] / stats['all']['rows']:.1f}% of pairs skipped; goal recall >= {GOAL:.0%}: {'met' if met else 'NOT met'}"
    )
    for name in targets:
        missed = stats.get(name, {}).get("missed", [])
        if args.show_missed and missed:
            print(f"\n## {name}: {len(missed)} stanced rows without an alias in the window")
            for ex in missed[: args.show_missed]:
                print(f"- [{ex.label}] {ex.origin}: {ex.text}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
