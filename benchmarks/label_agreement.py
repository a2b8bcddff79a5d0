"""Agreement between the two independent labelling passes of the real-article labels
(seeds/labels/urw-dev.passes.jsonl): Cohen's kappa per target and for voice, and the
F_avg of one pass scored against the other (the human-agreement ceiling for F_avg)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sklearn.metrics import cohen_kappa_score
from stance.training.evaluation import f_avg, macro_f1

FIELDS = ("russia", "west", "eu", "nato", "voice")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("passes", type=Path, nargs="?", default=Path("seeds/labels/urw-dev.passes.jsonl"))
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.passes.open(encoding="utf-8")]
    print(f"{len(rows)} sentences, two passes\n")
    print("| field | Cohen's kappa | raw agreement | F_avg (B vs A) | macro-F1 (B vs A) |")
    print("| --- | --- | --- | --- | --- |")
    pooled_a, pooled_b = [], []
    for i, field in enumerate(FIELDS):
        a = [row["pass_a"][i] for row in rows]
        b = [row["pass_b"][i] for row in rows]
        agreement = sum(x == y for x, y in zip(a, b, strict=True)) / len(rows)
        stance = "" if field == "voice" else f"{f_avg(a, b):.3f}"
        macro = "" if field == "voice" else f"{macro_f1(a, b):.3f}"
        print(f"| {field} | {cohen_kappa_score(a, b):.3f} | {agreement:.3f} | {stance} | {macro} |")
        if field != "voice":
            pooled_a += a
            pooled_b += b
    print(f"| all targets pooled | {cohen_kappa_score(pooled_a, pooled_b):.3f} | "
          f"{sum(x == y for x, y in zip(pooled_a, pooled_b, strict=True)) / len(pooled_a):.3f} | {f_avg(pooled_a, pooled_b):.3f} | {macro_f1(pooled_a, pooled_b):.3f} |")


if __name__ == "__main__":
    main()
