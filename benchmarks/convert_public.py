"""Convert public benchmarks in ../shared/datasets to the project's row format, so that
`stance train` and `stance evaluate` run on them unchanged.

    python -m benchmarks.convert_public newsmtsc ../shared/datasets/newsmtsc/train.jsonl runs/newsmtsc-train.jsonl
    python -m benchmarks.convert_public ruw ../shared/datasets/ruw/raw_test_Russia_Ukraine.csv runs/ruw-test.jsonl

The output holds the datasets' text, so write it outside the repository (runs/ is ignored).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterator
from pathlib import Path

NEWSMTSC_POLARITY = {2.0: "against", 4.0: "neutral", 6.0: "favor"}
RUW_STANCE = {"FAVOR": "favor", "AGAINST": "against", "NONE": "none"}


def newsmtsc_rows(path: Path) -> Iterator[dict]:
    """One long row per target mention; the mention is the query read beside the sentence."""
    for line in path.open(encoding="utf-8"):
        record = json.loads(line)
        for target in record["targets"]:
            yield {
                "id": target["Input.gid"],
                "article_id": record["primary_gid"],
                "text": record["sentence_normalized"],
                "target": "entity",
                "query": target["mention"],
                "label": NEWSMTSC_POLARITY[float(target["polarity"])],
            }


def _decode_line(raw: bytes) -> str:
    """RUW's CSVs are UTF-8 with a few lines in GB18030."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


def ruw_rows(path: Path) -> Iterator[dict]:
    """Two long rows per tweet: stance toward Russia and toward Ukraine."""
    lines = [_decode_line(raw) for raw in path.read_bytes().splitlines(keepends=True)]
    for number, record in enumerate(csv.DictReader(lines)):
        for column in ("1", "2"):
            yield {
                "id": f"{path.stem}-{number}",
                "text": record["Tweet"],
                "target": record[f"Target {column}"].strip().lower(),
                "label": RUW_STANCE[record[f"Stance {column}"].strip().upper()],
            }


CONVERTERS = {"newsmtsc": newsmtsc_rows, "ruw": ruw_rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=sorted(CONVERTERS))
    parser.add_argument("source", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", encoding="utf-8") as out:
        count = sum(out.write(json.dumps(row, ensure_ascii=False) + "\n") > 0 for row in CONVERTERS[args.dataset](args.source))
    print(f"{count} rows written to {args.output}")


if __name__ == "__main__":
    main()
