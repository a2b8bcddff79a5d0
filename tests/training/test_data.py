"""Labelled rows in (long, wide, pointer; JSONL and CSV), validated examples out, and splits."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from jsonl_rows import write_jsonl
from stance.models import default_targets, sentence_hash, split_sentences
from stance.training.data import DataError, StanceExample, article_contexts, load_examples, read_records, split_by_article

TARGETS = default_targets()
ARTICLE = (
    "Serbia rejects NATO membership bid\n\n"
    "BELGRADE (AP) — The U.S. ambassador met Gen. Smith on Monday. Serbia will never join NATO, he said.\n"
    "“We will keep close ties with Moscow,” the minister said. The Kremlin welcomed the decision.\n"
)


def load(path: Path, text_dirs=None) -> list[StanceExample]:
    return load_examples(path, targets=TARGETS, text_dirs=[] if text_dirs is None else text_dirs)


def write_csv(path: Path, rows: list[dict]) -> Path:
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def problems_of(path: Path, text_dirs=None) -> list[str]:
    with pytest.raises(DataError) as error:
        load(path, text_dirs)
    message = str(error.value)
    assert "nothing was loaded" in message
    for problem in error.value.problems:
        assert problem in message or len(error.value.problems) > 20
    return error.value.problems


@pytest.fixture()
def article_dir(tmp_path) -> Path:
    directory = tmp_path / "texts"
    directory.mkdir()
    (directory / "art-1.txt").write_text(ARTICLE, encoding="utf-8")
    return directory


@pytest.fixture()
def article_sentences() -> list[str]:
    return [s.text for s in split_sentences(ARTICLE)]


# ---- long, wide and pointer rows --------------------------------------------------


def test_long_rows_from_jsonl(tmp_path):
    path = write_jsonl(
        tmp_path / "long.jsonl",
        [
            {
                "article_id": "a1",
                "sentence_id": 0,
                "text": "Serbia will never join NATO.",
                "target": "nato",
                "label": "against",
                "voice": "reported",
            },
            {"article_id": "a1", "sentence_id": 0, "text": "Serbia will never join NATO.", "target": "russia", "label": "none"},
            {"text": "The EU praised Moldova.", "target": "eu", "label": "favor", "voice": "author"},
        ],
    )
    examples = load(path)
    assert [(e.text, e.target, e.label, e.voice) for e in examples] == [
        ("Serbia will never join NATO.", "nato", "against", "reported"),
        ("Serbia will never join NATO.", "russia", "none", None),
        ("The EU praised Moldova.", "eu", "favor", "author"),
    ]
    assert examples[0].article_id == "a1" and examples[0].sentence_id == 0
    assert examples[2].article_id is None and examples[2].sentence_id is None
    assert [e.origin for e in examples] == [f"{path}:1", f"{path}:2", f"{path}:3"]
    assert examples[0].group == "a1"
    assert examples[2].group == "The EU praised Moldova."


def test_wide_rows_give_one_example_per_target_column(tmp_path):
    path = write_jsonl(
        tmp_path / "wide.jsonl",
        [
            {
                "id": "x1",
                "article_id": 7,
                "sentence_id": "3",
                "genre": "wire",
                "text": "Serbia will never join NATO and will keep close ties with Moscow.",
                "russia": "favor",
                "west": "none",
                "eu": "none",
                "nato": "against",
                "voice": "author",
            },
            {"text": "The EU met.", "eu": "neutral"},  # a wide row may label only some targets
        ],
    )
    examples = load(path)
    assert [(e.target, e.label) for e in examples] == [
        ("russia", "favor"),
        ("west", "none"),
        ("eu", "none"),
        ("nato", "against"),
        ("eu", "neutral"),
    ]
    assert {e.article_id for e in examples[:4]} == {"7"}
    assert {e.sentence_id for e in examples[:4]} == {3}
    assert {e.voice for e in examples[:4]} == {"author"}
    assert examples[4].voice is None


def test_long_and_wide_rows_from_csv(tmp_path):
    long_path = write_csv(
        tmp_path / "long.csv",
        [
            {
                "article_id": "a1",
                "sentence_id": "0",
                "text": "NATO, he said, is a threat.",
                "target": "nato",
                "label": "against",
                "voice": "reported",
            },
            {"article_id": "a1", "sentence_id": "1", "text": "Rain fell.", "target": "nato", "label": "none", "voice": ""},
        ],
    )
    examples = load(long_path)
    assert [(e.text, e.target, e.label, e.voice, e.sentence_id) for e in examples] == [
        ("NATO, he said, is a threat.", "nato", "against", "reported", 0),
        ("Rain fell.", "nato", "none", None, 1),  # an empty CSV cell is a missing value
    ]
    # CSV line numbers count the header
    assert [e.origin for e in examples] == [f"{long_path}:2", f"{long_path}:3"]

    wide_path = write_csv(
        tmp_path / "wide.csv",
        [
            {
                "article_id": "a2",
                "sentence_id": "0",
                "text": "Brussels praised the bloc.",
                "russia": "none",
                "west": "none",
                "eu": "favor",
                "nato": "none",
            }
        ],
    )
    assert [(e.target, e.label) for e in load(wide_path)] == [("russia", "none"), ("west", "none"), ("eu", "favor"), ("nato", "none")]


def test_several_files_are_read_in_order(tmp_path):
    first = write_jsonl(tmp_path / "a.jsonl", [{"text": "One.", "target": "eu", "label": "none"}])
    second = write_csv(tmp_path / "b.csv", [{"text": "Two.", "target": "nato", "label": "none"}])
    examples = load_examples([first, str(second)], targets=TARGETS, text_dirs=[])
    assert [e.text for e in examples] == ["One.", "Two."]


def test_blank_lines_are_skipped_but_counted(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        json.dumps({"text": "One.", "target": "eu", "label": "none"})
        + "\n\n   \n"
        + json.dumps({"text": "Two.", "target": "eu", "label": "nope"})
        + "\n",
        encoding="utf-8",
    )
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:4: ")


def test_a_long_row_with_its_own_query_may_name_a_new_target(tmp_path):
    path = write_jsonl(
        tmp_path / "rows.jsonl", [{"text": "Beijing objected.", "target": "china", "query": "China and Beijing", "label": "against"}]
    )
    (example,) = load(path)
    assert (example.target, example.query, example.label) == ("china", "China and Beijing", "against")


def test_pointer_rows_join_their_text(tmp_path, article_dir, article_sentences):
    assert len(article_sentences) == 5
    path = write_jsonl(
        tmp_path / "pointers.jsonl",
        [
            {
                "article_id": "art-1",
                "sentence_id": 2,
                "sentence_hash": sentence_hash(article_sentences[2]),
                "target": "nato",
                "label": "against",
                "voice": "reported",
            },
            {
                "article_id": "art-1",
                "sentence_id": 3,
                "sentence_hash": sentence_hash(article_sentences[3]),
                "russia": "favor",
                "west": "none",
                "eu": "none",
                "nato": "none",
                "voice": "reported",
            },
        ],
    )
    examples = load(path, [tmp_path / "elsewhere", article_dir])
    assert examples[0].text == "Serbia will never join NATO, he said."
    assert examples[0].text == article_sentences[2]
    assert [(e.text, e.target, e.label) for e in examples[1:]] == [
        (article_sentences[3], "russia", "favor"),
        (article_sentences[3], "west", "none"),
        (article_sentences[3], "eu", "none"),
        (article_sentences[3], "nato", "none"),
    ]
    assert {e.article_id for e in examples} == {"art-1"}


def test_pointer_rows_from_csv(tmp_path, article_dir, article_sentences):
    path = write_csv(
        tmp_path / "pointers.csv",
        [
            {
                "article_id": "art-1",
                "sentence_id": "0",
                "sentence_hash": sentence_hash(article_sentences[0]),
                "nato": "neutral",
                "voice": "author",
            }
        ],
    )
    (example,) = load(path, [article_dir])
    assert (example.text, example.target, example.label, example.sentence_id) == (
        "Serbia rejects NATO membership bid",
        "nato",
        "neutral",
        0,
    )


def test_pointer_row_with_a_wrong_hash(tmp_path, article_dir, article_sentences):
    good = {
        "article_id": "art-1",
        "sentence_id": 1,
        "sentence_hash": sentence_hash(article_sentences[1]),
        "target": "west",
        "label": "neutral",
    }
    bad = dict(good, sentence_id=2)  # the hash of sentence 1 pointing at sentence 2
    path = write_jsonl(tmp_path / "pointers.jsonl", [good, bad])
    (problem,) = problems_of(path, [article_dir])
    assert problem.startswith(f"{path}:2: ")
    assert "sentence 2 of art-1 does not match" in problem
    assert good["sentence_hash"] in problem


def test_pointer_row_past_the_end_of_the_article(tmp_path, article_dir, article_sentences):
    path = write_jsonl(
        tmp_path / "pointers.jsonl",
        [{"article_id": "art-1", "sentence_id": 9, "sentence_hash": sentence_hash("x"), "target": "nato", "label": "none"}],
    )
    (problem,) = problems_of(path, [article_dir])
    assert problem.startswith(f"{path}:1: ")
    assert "art-1 has 5 sentences, no sentence 9" in problem


def test_pointer_rows_name_claim_titles(tmp_path, article_dir):
    """``euvsdisinfo:<key>`` points at the claim whose report URL ends in the key: its title, unsplit, is sentence 0."""
    claims = tmp_path / "claims"
    claims.mkdir()
    title = "NATO provokes Russia. The West lies."  # two sentences to the splitter, one claim
    write_csv(
        claims / "posts.csv",
        [
            {"date": "2020-01-02", "id": "https://euvsdisinfo.eu/report/nato-provokes/", "title": title},
            {"date": "2020-01-03", "id": "https://euvsdisinfo.eu/report/other-claim/", "title": "Another claim"},
        ],
    )
    row = {"article_id": "euvsdisinfo:nato-provokes", "sentence_id": 0, "sentence_hash": sentence_hash(title), "nato": "against"}
    path = write_jsonl(tmp_path / "claims.jsonl", [row, {**row, "article_id": "euvsdisinfo:no-such-claim"}])
    (problem,) = problems_of(path, [article_dir, claims])
    assert problem.startswith(f"{path}:2: ") and "no text for article euvsdisinfo:no-such-claim" in problem
    path = write_jsonl(tmp_path / "claim.jsonl", [row])
    (example,) = load(path, [article_dir, claims])
    assert (example.text, example.target, example.label, example.article_id) == (title, "nato", "against", "euvsdisinfo:nato-provokes")
    (problem,) = problems_of(path, [article_dir])  # no claim table among the text folders
    assert "no text for article euvsdisinfo:nato-provokes" in problem


def test_pointer_rows_name_articles_of_a_numbered_line_template(tmp_path, article_dir, article_sentences):
    """``semeval2023-dev:<id>`` points at an article of the SemEval-2023 template: its numbered lines, with the
    missing numbers as blank lines, rebuild the article file, so its sentences are the file's sentences."""
    folder = tmp_path / "semeval2023"
    folder.mkdir()
    lines = ARTICLE.splitlines()
    assert lines[1] == ""  # the headline's blank line: absent from the template
    template = [f"7001\t{number}\t{line}" for number, line in enumerate(lines, start=1) if line]
    template.insert(1, "7002\t1\tA second article about the EU")  # articles interleave; each keeps its own lines
    (folder / "dev-labels-subtask-3.template").write_text("\n".join(template) + "\n\n", encoding="utf-8")  # a blank last row
    rows = [
        {"article_id": "semeval2023-dev:7001", "sentence_id": i, "sentence_hash": sentence_hash(article_sentences[i]), "russia": "favor"}
        for i in (0, 4)
    ]
    path = write_jsonl(tmp_path / "template.jsonl", [*rows, {**rows[0], "article_id": "semeval2023-dev:7003"}])
    (problem,) = problems_of(path, [folder])
    assert problem.startswith(f"{path}:3: ") and "no text for article semeval2023-dev:7003" in problem
    path = write_jsonl(tmp_path / "template-good.jsonl", rows)
    russia = [ex for ex in load(path, [folder]) if ex.target == "russia"]
    assert [(ex.text, ex.sentence_id) for ex in russia] == [(article_sentences[0], 0), (article_sentences[4], 4)]
    second = {"article_id": "semeval2023-dev:7002", "sentence_id": 0, "sentence_hash": sentence_hash(template[1].split("\t")[2]), "eu": "neutral"}
    assert [ex.label for ex in load(write_jsonl(tmp_path / "second.jsonl", [second]), [folder]) if ex.target == "eu"] == ["neutral"]


def test_pointer_row_whose_article_is_missing(tmp_path, article_dir):
    path = write_jsonl(
        tmp_path / "pointers.jsonl",
        [{"article_id": "no-such-article", "sentence_id": 0, "sentence_hash": sentence_hash("x"), "target": "nato", "label": "none"}],
    )
    (problem,) = problems_of(path, [article_dir])
    assert problem.startswith(f"{path}:1: ")
    assert "no text for article no-such-article" in problem
    assert str(article_dir) in problem


def test_pointer_row_missing_its_article_id(tmp_path, article_dir):
    path = write_jsonl(tmp_path / "pointers.jsonl", [{"sentence_id": 0, "sentence_hash": "abc", "target": "nato", "label": "none"}])
    (problem,) = problems_of(path, [article_dir])
    assert problem == f"{path}:1: missing column 'article_id'"


# ---- each data error names its file and line ----------------------------------------

GOOD = {"text": "Serbia will never join NATO.", "target": "nato", "label": "against", "voice": "reported"}


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ({**GOOD, "label": "positive"}, "unknown label 'positive' for target 'nato'"),
        ({**GOOD, "label": "Favor"}, "unknown label 'Favor'"),
        ({**GOOD, "target": "china"}, "unknown target 'china' (known: russia, west, eu, nato)"),
        ({**GOOD, "text": ""}, "empty text"),
        ({**GOOD, "text": "   \n"}, "empty text"),
        ({**GOOD, "text": 42}, "empty text"),
        ({**GOOD, "voice": "narrator"}, "unknown voice 'narrator' (expected one of author, reported)"),
        ({k: v for k, v in GOOD.items() if k != "target"}, "missing column 'target'"),
        ({k: v for k, v in GOOD.items() if k != "label"}, "missing column 'label'"),
        ({k: v for k, v in GOOD.items() if k != "text"}, "missing column 'text'"),
        ({"text": "NATO met.", "voice": "author"}, "missing column: a row needs 'target' and 'label', or one column per target"),
        ({"text": "NATO met.", "nato": "neutral", "chnia": "none"}, "unknown target column(s) 'chnia'"),
        ({"text": "NATO met.", "nato": "pro"}, "unknown label 'pro' for target 'nato'"),
        ({**GOOD, "sentence_id": "seven"}, "seven"),
    ],
)
def test_each_bad_row_is_reported_with_file_and_line(tmp_path, row, fragment):
    path = write_jsonl(tmp_path / "rows.jsonl", [GOOD, GOOD, row, GOOD])
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:3: "), problem
    assert fragment in problem


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ({"text": "NATO met.", "target": "nato", "label": "positive"}, "unknown label 'positive'"),
        ({"text": "NATO met.", "target": "china", "label": "none"}, "unknown target 'china'"),
        ({"text": "", "target": "nato", "label": "none"}, "missing column 'text'"),  # an empty cell is a missing one
        ({"text": "NATO met.", "target": "nato", "label": "none", "voice": "narrator"}, "unknown voice 'narrator'"),
        ({"text": "NATO met.", "target": "", "label": "none"}, "missing column 'target'"),
    ],
)
def test_each_bad_csv_row_is_reported_with_file_and_line(tmp_path, row, fragment):
    good = {"text": "NATO met.", "target": "nato", "label": "neutral", "voice": "author"}
    path = write_csv(tmp_path / "rows.csv", [good, row])
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:3: "), problem
    assert fragment in problem


def test_unknown_target_column_in_a_wide_csv(tmp_path):
    path = write_csv(tmp_path / "wide.csv", [{"text": "NATO met.", "nato": "neutral", "china": "none"}])
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:2: ")
    assert "unknown target column(s) 'china'" in problem


@pytest.mark.parametrize(("line", "fragment"), [("{not json}", "bad JSON"), ('["a", "list"]', "expected a JSON object, got list")])
def test_bad_json_is_reported_with_file_and_line(tmp_path, line, fragment):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n", encoding="utf-8")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:2: ")
    assert fragment in problem


def test_multiple_errors_are_collected_across_files(tmp_path):
    first = write_jsonl(
        tmp_path / "a.jsonl",
        [GOOD, {**GOOD, "label": "positive"}, GOOD, {**GOOD, "target": "china"}, {**GOOD, "text": ""}],
    )
    second = write_csv(tmp_path / "b.csv", [{"text": "NATO met.", "target": "nato", "label": "pro"}])
    with pytest.raises(DataError) as error:
        load_examples([first, second], targets=TARGETS, text_dirs=[])
    assert [p.split(": ", 1)[0] for p in error.value.problems] == [f"{first}:2", f"{first}:4", f"{first}:5", f"{second}:2"]
    assert str(error.value).startswith("4 invalid row(s), nothing was loaded")


def test_many_errors_are_all_kept_but_the_message_is_bounded(tmp_path):
    path = write_jsonl(tmp_path / "rows.jsonl", [{**GOOD, "label": f"bad{i}"} for i in range(25)])
    with pytest.raises(DataError) as error:
        load(path)
    assert len(error.value.problems) == 25
    message = str(error.value)
    assert "bad19" in message and "bad20" not in message
    assert "... and 5 more" in message


def test_bad_json_does_not_hide_the_other_errors(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "\n".join([json.dumps({**GOOD, "label": "positive"}), "{not json", json.dumps({**GOOD, "voice": "narrator"})]) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError) as error:
        load(path)
    assert [p.split(": ", 1)[0] for p in error.value.problems] == [f"{path}:1", f"{path}:2", f"{path}:3"]


def test_an_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no rows"):
        load(path)


def test_a_missing_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load(tmp_path / "nope.jsonl")


def test_read_records_gives_line_numbers(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"b": 2}\n', encoding="utf-8")
    assert list(read_records(path)) == [(1, {"a": 1}), (3, {"b": 2})]


# ---- splits -------------------------------------------------------------------------


def make_examples(articles: int = 12, sentences: int = 3) -> list[StanceExample]:
    examples = []
    for a in range(articles):
        for s in range(sentences):
            for target in ("nato", "eu"):
                examples.append(
                    StanceExample(text=f"Article {a} sentence {s}.", target=target, label="none", article_id=f"art-{a}", sentence_id=s)
                )
    # sentences without an article are grouped by their text
    for i in range(4):
        for target in ("nato", "eu"):
            examples.append(StanceExample(text=f"Loose sentence {i}.", target=target, label="neutral"))
    return examples


def test_split_by_article_never_cuts_an_article():
    examples = make_examples()
    train, dev = split_by_article(examples, dev_fraction=0.25, seed=1)
    assert train and dev
    assert len(train) + len(dev) == len(examples)
    assert sorted(map(id, train + dev)) == sorted(map(id, examples))
    train_groups, dev_groups = {e.group for e in train}, {e.group for e in dev}
    assert not train_groups & dev_groups
    # every group is whole on its side
    for group in dev_groups:
        assert sum(e.group == group for e in dev) == sum(e.group == group for e in examples)
    assert 2 <= len(dev_groups) <= 6  # about a quarter of the 16 groups


def test_split_by_article_is_deterministic_for_a_seed():
    examples = make_examples()
    first = split_by_article(examples, seed=7)
    second = split_by_article(examples, seed=7)
    assert first == second
    others = [split_by_article(examples, seed=seed)[1] for seed in range(8, 14)]
    assert any({e.group for e in other} != {e.group for e in first[1]} for other in others)


def test_split_by_article_needs_two_articles_and_a_sane_fraction():
    one_article = [StanceExample(text=f"S{i}.", target="nato", label="none", article_id="a") for i in range(5)]
    with pytest.raises(ValueError, match="at least two articles"):
        split_by_article(one_article)
    for fraction in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="dev_fraction"):
            split_by_article(make_examples(), dev_fraction=fraction)


def test_article_contexts_follow_sentence_positions():
    rows = [
        StanceExample(text="NATO met.", target="nato", label="neutral", article_id="a", sentence_id=0),
        StanceExample(text="They left.", target="nato", label="none", article_id="a", sentence_id=2),  # sentence 1 unlabelled
        StanceExample(text="They left.", target="eu", label="none", article_id="a", sentence_id=2),
        StanceExample(text="Rain.", target="nato", label="none", article_id="b", sentence_id=0),
        StanceExample(text="Lone.", target="nato", label="none"),
    ]
    assert article_contexts(rows, before=1, after=0) == ["NATO met.", "They left.", "They left.", "Rain.", None]
    assert article_contexts(rows, before=2, after=1) == ["NATO met.", "NATO met. They left.", "NATO met. They left.", "Rain.", None]


def test_training_keeps_every_pair_the_gate_scores_and_a_sample_of_the_skipped():
    from stance.training.data import gate_skips, sample_gate_skipped

    targets = default_targets()
    texts = ["NATO met in Brussels.", "The weather was mild."] + [f"Trains ran late on line {i}." for i in range(400)]
    rows = [StanceExample(text=t, target="nato", label="none", article_id="a", sentence_id=i) for i, t in enumerate(texts)]
    lone = [StanceExample(text="Trains ran late.", target="nato", label="none")]
    skips = gate_skips(rows + lone, targets=targets, window=(1, 0))
    assert skips[:2] == [False, False] and all(skips[2:-1]) and skips[-1] is False  # "mild" sees NATO one sentence before it
    kept = sample_gate_skipped(rows + lone, targets=targets, window=(1, 0), fraction=0.25, seed=3)
    assert rows[0] in kept and lone[0] in kept
    skipped_kept = sum(1 for ex in kept if ex.sentence_id is not None and ex.sentence_id >= 2)
    assert 60 <= skipped_kept <= 140  # about a quarter of 400
    assert kept == sample_gate_skipped(rows + lone, targets=targets, window=(1, 0), fraction=0.25, seed=3)
    assert len(sample_gate_skipped(rows, targets=targets, window=(1, 0), fraction=1.0, seed=3)) == len(rows)
