"""What frames and narratives add to an article's analysis (issue 11, section 4: all three tasks
at most 1.3 times stance alone), on the shipped models with the runtime the server uses.

Per article, in turn (so that a machine whose load drifts slows every variant alike):
stance alone; stance + frames + narratives (one ``analyze_articles`` call, the way
``stance analyze`` and ``/v1/analyze`` run); and, for the record, frames and narratives read
apart (one reader per model: two encoder passes instead of the shared one).

    python -m benchmarks.bench_framing [--articles 20] [--repeats 3] [--runtime auto] [--framing-models FRAMES NARRATIVES]

Articles: the seed article, then URW dev articles from ../shared when it is there.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

from stance.models import StanceModel
from stance.models.analysis import analyze_articles
from stance.models.framing import DEFAULT_FRAMING_DIRS, ArticleReader
from stance.training.data import shared_dir

from benchmarks.common import REPO

URW_DEV = "datasets/semeval2025-urw/dev"


def articles(limit: int) -> list[str]:
    texts = [(REPO / "seeds" / "000_f2f505aecd180d60.txt").read_text(encoding="utf-8")]
    folder = shared_dir() / URW_DEV
    if folder.is_dir():
        texts += [path.read_text(encoding="utf-8") for path in sorted(folder.glob("EN_*.txt"))[: limit - 1]]
    return texts[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runtime", default=os.environ.get("STANCE_RUNTIME") or "auto")
    parser.add_argument("--framing-models", nargs="+", default=list(DEFAULT_FRAMING_DIRS.values()), help="framing model folders (default: the shipped ones)")
    args = parser.parse_args()
    texts = articles(args.articles)
    stance = StanceModel.from_pretrained(runtime=args.runtime)
    shared = ArticleReader.load(args.framing_models, runtime=args.runtime)
    apart = [ArticleReader.load([directory], runtime=args.runtime) for directory in args.framing_models]
    variants = {
        "stance alone": lambda text: analyze_articles([text], stance_model=stance, tasks=["stance"]),
        "stance + frames + narratives": lambda text: analyze_articles([text], stance_model=stance, reader=shared, tasks=["stance", "frames", "narratives"]),
        "frames + narratives (shared pass)": lambda text: shared.analyze_many([text]),
        "frames, narratives (two passes)": lambda text: [reader.analyze_many([text]) for reader in apart],
    }
    for run in variants.values():  # warm-up: first runs allocate
        run(texts[0])
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for text in texts:
            for name, run in variants.items():
                started = time.perf_counter()
                run(text)
                seconds[name].append(time.perf_counter() - started)
    stance_total = sum(seconds["stance alone"])
    sentences = sum(len(result.sentences) for result in analyze_articles(texts, stance_model=stance, tasks=["stance"]))
    print(f"{datetime.date.today()} · {platform.processor() or platform.machine()} · {len(os.sched_getaffinity(0))} cores · "
          f"runtime {args.runtime} ({shared.runtime_of('frames')} for framing) · {len(texts)} articles, {sentences} sentences, × {args.repeats}\n")  # fmt: skip
    print("| analysis | median s/article | total s | vs stance alone |")
    print("| --- | --- | --- | --- |")
    for name, values in seconds.items():
        print(f"| {name} | {statistics.median(values):.3f} | {sum(values):.1f} | {sum(values) / stance_total:.2f}× |")
    if shared.runtime_of("frames") == "onnx":  # what int8 changes in the heads' answers, against fp32 torch
        reference = ArticleReader.load(args.framing_models, runtime="torch").analyze_many(texts)
        served = shared.analyze_many(texts)
        for task in shared.tasks:
            same = sum(a[task].labels == b[task].labels for a, b in zip(served, reference, strict=True))
            drift = max(abs(a[task].scores[k] - b[task].scores[k]) for a, b in zip(served, reference, strict=True) for k in a[task].scores)
            print(f"\n{task}: int8 gives the same labels as fp32 torch for {same} of {len(texts)} articles; largest probability difference {drift:.3f}", end="")
        print()


if __name__ == "__main__":
    main()
