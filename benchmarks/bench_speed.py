"""Sentences per second for whole articles, on CPU, four ways, in one run over the same articles:

(a) naive: a ``transformers.pipeline("text-classification")`` called once per sentence and
    target over the same encoder weights (batch size 1, no length sorting, no alias gate);
(b) ours, fp32 torch: ``StanceModel.analyze_many`` over 32 articles at a time, as
    ``stance predict --split`` runs (length-sorted batches; the alias gate as the model is
    configured, or as ``--gate`` forces it);
(c) ours, int8 ONNX Runtime: the same, with ``models.onnx_runtime.use_onnx``;
(d) raw bound: only the forward passes for the pairs (b) actually scores, pre-tokenised and
    length-sorted across all articles -- what the model itself costs, without splitting,
    tokenising, gating or assembling (shown for torch fp32 and for int8 ONNX).

Articles: seeds/000_f2f505aecd180d60.txt and seeds/corpus.jsonl grouped by article_id.
Goals: (b)/(a) >= 5x and (b)/(d) >= 80%.

    python -m benchmarks.bench_speed                       # models/default, else untrained MiniLM
    python -m benchmarks.bench_speed --model /tmp/speedmodel --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from stance.models import DEFAULT_MODEL_DIR, StanceModel, split_sentences  # noqa: E402
from stance.models.modeling import SCORING_BATCH_SIZE  # noqa: E402
from stance.models.onnx_runtime import physical_cores, use_onnx  # noqa: E402
from stance.models.runtimes import ARTICLES_PER_PASS  # noqa: E402

SEED_ARTICLE = REPO / "seeds" / "000_f2f505aecd180d60.txt"
CORPUS = REPO / "seeds" / "corpus.jsonl"


# ---- workload -------------------------------------------------------------------------


def load_articles(seed_article: Path = SEED_ARTICLE, corpus: Path = CORPUS) -> list[str]:
    """The seed article, then each corpus article as one sentence per line (in order)."""
    articles = []
    if seed_article.is_file():
        articles.append(seed_article.read_text(encoding="utf-8"))
    if corpus.is_file():
        rows: dict[str, list[tuple[int, str]]] = defaultdict(list)
        with corpus.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    rows[str(row.get("article_id"))].append((int(row.get("sentence_id") or 0), row["text"]))
        for _, sentences in sorted(rows.items()):
            articles.append("\n".join(text for _, text in sorted(sentences)))
    if not articles:
        raise SystemExit("no articles found")
    return articles


def machine() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {physical_cores()} physical cores / {os.cpu_count()} logical"


def _load() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def load_model(path: str | None) -> tuple[StanceModel, Path | None, str]:
    if path is None and (DEFAULT_MODEL_DIR / "config.json").is_file():
        path = str(DEFAULT_MODEL_DIR)
    if path is not None:
        return StanceModel.from_pretrained(path), Path(path), f"trained model {path}"
    model = StanceModel.from_encoder(lora_rank=None).eval()
    return model, None, "untrained MiniLM (StanceModel.from_encoder(); speed only)"


# ---- the four ways ----------------------------------------------------------------------


def naive_pipeline(model: StanceModel):
    """A text-classification pipeline over the same encoder weights, called per pair."""
    from transformers import BertConfig, BertForSequenceClassification, pipeline

    encoder = model.backbone.encoder
    settings = {k: v for k, v in encoder.config.to_dict().items() if k not in ("id2label", "label2id")}
    config = BertConfig(**settings, num_labels=4)
    classifier = BertForSequenceClassification(config).eval()
    missing, _ = classifier.bert.load_state_dict(encoder.state_dict(), strict=False)
    if [name for name in missing if not name.startswith("pooler.")]:
        raise RuntimeError(f"encoder weights do not fit a BERT classifier: {missing[:3]}")
    pipe = pipeline("text-classification", model=classifier, tokenizer=model.tokenizer, device=-1)
    max_length = model.backbone.settings.max_length

    def score(text: str, query: str):
        return pipe({"text": text, "text_pair": query}, truncation="only_first", max_length=max_length)

    return score


def run_naive(model: StanceModel, articles: list[str]) -> tuple[int, int]:
    score = naive_pipeline(model)
    queries = [t.query for t in model.targets.values()]
    sentences = pairs = 0
    for article in articles:
        for sentence in split_sentences(article):
            sentences += 1
            for query in queries:
                score(sentence.text, query)
                pairs += 1
    return sentences, pairs


def run_ours(model: StanceModel, articles: list[str], batch_size: int, gate: bool | None = None) -> tuple[int, int]:
    """As ``stance predict --split`` scores a file of articles: ``analyze_many`` per pass."""
    sentences = pairs = 0
    for begin in range(0, len(articles), ARTICLES_PER_PASS):
        for analysis in model.analyze_many(articles[begin : begin + ARTICLES_PER_PASS], batch_size=batch_size, gate=gate):
            sentences += len(analysis.sentences)
            pairs += sum(s.scored for a in analysis.sentences for s in a.stance.values())
    return sentences, pairs


def scored_pairs(model: StanceModel, articles: list[str], batch_size: int, gate: bool | None = None) -> tuple[int, list[str], list[str]]:
    """The (sentence, query) pairs ``analyze`` actually sends to the model (after its gate)."""
    texts, queries, sentences = [], [], 0
    for article in articles:
        analysis = model.analyze(article, batch_size=batch_size, gate=gate)
        sentences += len(analysis.sentences)
        for sentence in analysis.sentences:
            for name, stance in sentence.stance.items():
                if stance.scored:
                    texts.append(sentence.text)
                    queries.append(model.targets[name].query)
    return sentences, texts, queries


def pretokenize(model: StanceModel, texts: list[str], queries: list[str], batch_size: int, return_tensors: str) -> list[dict]:
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]) + len(queries[i]))
    batches = []
    for begin in range(0, len(order), batch_size):
        rows = order[begin : begin + batch_size]
        batches.append(dict(model.encode_pairs([texts[i] for i in rows], [queries[i] for i in rows], return_tensors=return_tensors)))
    return batches


def run_raw(forward, batches: list[dict]) -> None:
    with torch.inference_mode():
        for batch in batches:
            forward(batch)


# ---- main -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder (default: models/default if present, else an untrained MiniLM model)")
    parser.add_argument("--threads", type=int, default=physical_cores(), help="torch and ONNX Runtime threads (default: physical cores)")
    parser.add_argument("--batch-size", type=int, default=SCORING_BATCH_SIZE)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each round times every way once; the best round is reported")
    parser.add_argument("--naive-articles", type=int, default=0, help="run the naive way on the first N articles only (0: all)")
    parser.add_argument("--onnx-cache", help="folder for the ONNX export (default: a temporary folder, exported afresh)")
    parser.add_argument(
        "--gate", choices=["model", "on", "off"], default="model", help="alias gate for (b)-(d): the model's setting (default), or forced"
    )
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    model, model_dir, model_note = load_model(args.model)
    articles = load_articles()
    gate = {"model": None, "on": True, "off": False}[args.gate]
    gate_note = f"alias gate {'on' if (model.settings.gate if gate is None else gate) else 'off'}" + (
        " (the model's setting)" if gate is None else " (--gate)"
    )
    n_sentences, texts, queries = scored_pairs(model, articles, args.batch_size, gate)
    print(
        f"{len(articles)} articles, {n_sentences} sentences, {len(model.targets)} targets: "
        f"{n_sentences * len(model.targets)} pairs, {len(texts)} after the gate",
        file=sys.stderr,
    )
    batches = pretokenize(model, texts, queries, args.batch_size, "pt")
    arrays = pretokenize(model, texts, queries, args.batch_size, "np")  # what ONNX Runtime is fed
    naive_articles = articles[: args.naive_articles] if args.naive_articles else articles

    with tempfile.TemporaryDirectory(prefix="stance-bench-onnx-") as scratch:
        cache = args.onnx_cache or scratch  # never litter the model folder (models/default is in git)
        start = time.perf_counter()
        runtime = use_onnx(model, model_dir=model_dir, cache_dir=cache, threads=args.threads)
        export_seconds = time.perf_counter() - start
        model.runtime = None
        onnx_size = runtime.path.stat().st_size
        print(f"ONNX int8 ready in {export_seconds:.1f} s at {runtime.path}", file=sys.stderr)

        def ours(engine):
            def run():
                model.runtime = engine
                try:
                    return run_ours(model, articles, args.batch_size, gate)
                finally:
                    model.runtime = None

            return run

        # key: (label, run, (sentences, pairs) or None to take the run's own counts, note)
        ways = {}
        if not args.skip_naive:
            ways["naive"] = (
                "(a) naive pipeline, per sentence x target",
                lambda: run_naive(model, naive_articles),
                None,
                "batch 1, no gate",
            )
        ways["torch"] = ("(b) ours, torch fp32 (analyze_many)", ours(None), None, "")
        ways["onnx"] = ("(c) ours, int8 ONNX Runtime (analyze_many)", ours(runtime), None, "")
        raw_counts = (n_sentences, len(texts))
        ways["raw_torch"] = ("(d) raw bound, torch fp32 forward only", lambda: run_raw(lambda b: model(**b), batches), raw_counts, "")
        ways["raw_onnx"] = ("(d') raw bound, int8 ONNX forward only", lambda: run_raw(runtime, arrays), raw_counts, "")

        # warm-up on a little of everything, then rounds that interleave the ways, so that a
        # busy neighbour on the machine slows all of them alike
        if not args.skip_naive:
            run_naive(model, articles[:1])
        run_ours(model, articles[:2], args.batch_size, gate)
        ours(runtime)()
        run_raw(lambda b: model(**b), batches[:2])
        run_raw(runtime, arrays[:2])
        times: dict[str, list[float]] = {key: [] for key in ways}
        counts: dict[str, tuple[int, int]] = {}
        for round_no in range(args.repeat):
            for key, (label, run, fixed, _) in ways.items():
                start = time.perf_counter()
                produced = run()
                times[key].append(time.perf_counter() - start)
                counts[key] = fixed or produced
                print(f"round {round_no + 1}: {label}: {counts[key][0] / times[key][-1]:.1f} sentences/s", file=sys.stderr)

    results = {}
    for key, (label, _, _, note) in ways.items():
        seconds = min(times[key])  # noise on a shared machine only ever adds time
        sentences, pairs = counts[key]
        results[key] = {
            "way": label,
            "seconds": seconds,
            "all_seconds": times[key],
            "sentences": sentences,
            "pairs": pairs,
            "sentences_per_s": sentences / seconds,
            "note": note,
        }
    print(
        report(
            results,
            model_note=f"{model_note}; {gate_note}",
            threads=args.threads,
            batch_size=args.batch_size,
            export_seconds=export_seconds,
            onnx_size=onnx_size,
        )
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": machine(), "date": dt.date.today().isoformat(), "results": results}, indent=2) + "\n"
        )
    return 0


def report(results: dict, *, model_note: str, threads: int, batch_size: int, export_seconds: float, onnx_size: int) -> str:
    import onnxruntime

    naive = results.get("naive", {}).get("sentences_per_s")
    lines = [
        f"### Speed on CPU, {dt.date.today().isoformat()}",
        "",
        f"- machine: {machine()}; {threads} threads; batch size {batch_size}; load average at the end {_load()}",
        f"- torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, Python {platform.python_version()}",
        f"- model: {model_note}; int8 ONNX file {onnx_size / 1e6:.1f} MB, exported in {export_seconds:.0f} s (once, then cached)",
        "",
        "| way | sentences | pairs scored | seconds (best) | sentences/s (best) | median, range over rounds | vs naive |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key in ("naive", "torch", "onnx", "raw_torch", "raw_onnx"):
        if key not in results:
            continue
        r = results[key]
        ratio = f"{r['sentences_per_s'] / naive:.1f}x" if naive else "-"
        rates = [r["sentences"] / t for t in r["all_seconds"]]
        spread = f"{statistics.median(rates):.1f}, {min(rates):.0f}-{max(rates):.0f}"
        lines.append(
            f"| {r['way']} | {r['sentences']} | {r['pairs']} | {r['seconds']:.2f} | {r['sentences_per_s']:.1f} | {spread} | {ratio} |"
        )
    lines.append("")
    goals = []
    if naive:
        for key in ("torch", "onnx"):
            ratio = results[key]["sentences_per_s"] / naive
            goals.append(f"- {results[key]['way']} / naive: **{ratio:.1f}x** (goal >= 5x: {'met' if ratio >= 5 else 'NOT met'})")
    for key, raw in (("torch", "raw_torch"), ("onnx", "raw_onnx")):
        share = results[key]["sentences_per_s"] / results[raw]["sentences_per_s"]
        goals.append(f"- {results[key]['way']} / its raw bound: **{share:.0%}** (goal >= 80%: {'met' if share >= 0.8 else 'NOT met'})")
    goals.append(f"- int8 ONNX / fp32 torch (ours): **{results['onnx']['sentences_per_s'] / results['torch']['sentences_per_s']:.2f}x**")
    return "\n".join(lines + goals)


if __name__ == "__main__":
    raise SystemExit(main())
