"""`stance predict --engine ray` on one local Ray (2 CPUs) shared by every test here, with the
tiny random model: the same rows and labels as the local engine, shards in and out, bad rows,
an existing output folder. Skipped without the `ray` extra, except what needs no Ray."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from jsonl_rows import write_jsonl

import stance.ray_engine as ray_engine
from stance.cli import main
from stance.ray_engine import ArticleScorer, find_shards

ARTICLES = [
    {"id": "a1", "outlet": "AP", "text": "NATO ministers met in Brussels. The alliance condemned the Kremlin.\n“We will never join NATO,” he said."},
    {"id": "a2", "outlet": "RT", "text": "Moscow praised Belgrade. The EU was silent on sanctions against Russia."},
    {"id": "a3", "outlet": "AP", "text": "Rain fell on Monday."},
    {"id": "a4", "outlet": "BBC", "text": "The West sent aid. Brussels and Washington agreed on a plan for Ukraine. Russia objected."},
    {"id": "a5", "outlet": "AP", "text": "Serbia will never join NATO and will keep close ties with Moscow."},
]


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray for every Ray test (starting one costs seconds)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("pyarrow")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def read_shards(folder: Path) -> list[dict]:
    """Every output row, in (id, sentence_index) order: Ray writes shards in no fixed order."""
    import pyarrow.parquet as pq

    rows = []
    for shard in sorted(folder.iterdir()):
        if shard.suffix == ".parquet":
            rows += pq.read_table(shard).to_pylist()
        else:
            rows += [json.loads(line) for line in shard.read_text(encoding="utf-8").splitlines()]
    return sorted(rows, key=lambda row: (row["id"], row.get("sentence_index", 0)))


def local_rows(tmp_path: Path, model_dir: Path, rows: list[dict], *options: str) -> list[dict]:
    source = write_jsonl(tmp_path / "local-input.jsonl", rows)
    output = tmp_path / "local.jsonl"
    assert main(["predict", "--model", str(model_dir), "--input", str(source), "--output", str(output), "--runtime", "torch", *options]) == 0
    return sorted((json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()), key=lambda row: (row["id"], row.get("sentence_index", 0)))


def assert_same_rows(ray_rows: list[dict], expected: list[dict]) -> None:
    """Field for field, label for label; probabilities to float noise (actors run torch on one thread)."""
    assert len(ray_rows) == len(expected)
    for got, want in zip(ray_rows, expected, strict=True):
        assert list(got) == list(want)
        assert {k: v for k, v in got.items() if k not in ("stance", "voice")} == {k: v for k, v in want.items() if k not in ("stance", "voice")}
        assert got["voice"] == {"label": want["voice"]["label"], "score": pytest.approx(want["voice"]["score"], abs=1e-5)}
        assert list(got["stance"]) == list(want["stance"])
        for target, result in want["stance"].items():
            assert got["stance"][target]["label"] == result["label"]
            assert got["stance"][target]["scores"] == pytest.approx(result["scores"], abs=1e-5)


def test_a_folder_of_jsonl_shards_gives_the_local_engines_sentences_as_parquet(tmp_path, tiny_model_dir, local_ray, capsys):
    shards = tmp_path / "archive"
    (shards / "2024").mkdir(parents=True)
    write_jsonl(shards / "2024" / "part-0.jsonl", ARTICLES[:2])
    write_jsonl(shards / "2024" / "part-1.jsonl", ARTICLES[2:4])
    write_jsonl(shards / "part-2.jsonl", ARTICLES[4:])
    (shards / "_SUCCESS").write_text("", encoding="utf-8")
    output = tmp_path / "scored"
    output.mkdir()
    (output / "stale.parquet").write_text("from an earlier run", encoding="utf-8")
    command = ["predict", "--engine", "ray", "--model", str(tiny_model_dir), "--input", str(shards), "--output", str(output)]
    command += ["--split", "--runtime", "torch", "--workers", "2", "--rows-per-call", "2"]

    assert main(command) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert [p.name for p in output.iterdir()] == ["stale.parquet"], "a refused run leaves the old output alone"

    assert main([*command, "--overwrite"]) == 0
    assert all(p.suffix == ".parquet" for p in output.iterdir()), "the old output is replaced, not merged"
    rows = read_shards(output)
    assert_same_rows(rows, local_rows(tmp_path, tiny_model_dir, ARTICLES, "--split"))
    assert {row["id"] for row in rows} == {a["id"] for a in ARTICLES}
    assert f"5 rows scored: {len(rows)} sentences" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no staging folder is left"


def test_parquet_shards_by_glob_give_the_local_engines_rows_as_jsonl_and_bad_rows_are_named(tmp_path, tiny_model_dir, local_ray, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = {"id": "b1", "outlet": "AP", "text": None}
    pq.write_table(pa.Table.from_pylist(ARTICLES[:3]), tmp_path / "part-0.parquet")
    pq.write_table(pa.Table.from_pylist([ARTICLES[3], bad, ARTICLES[4]]), tmp_path / "part-1.parquet")
    output = tmp_path / "out" / "scored"
    command = ["predict", "--engine", "ray", "--model", str(tiny_model_dir), "--input", str(tmp_path / "part-*.parquet"), "--output", str(output)]
    command += ["--output-format", "jsonl", "--runtime", "torch", "--workers", "1", "--shared-model"]

    assert main(command) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'part-1.parquet'}:row 2: missing or empty 'text'" in err
    assert "--skip-bad-rows" in err
    assert not output.exists(), "a bad row stops the run before any output is written"

    assert main([*command, "--skip-bad-rows"]) == 0
    rows = read_shards(output)
    assert_same_rows(rows, local_rows(tmp_path, tiny_model_dir, ARTICLES))
    assert "5 rows scored: 5 sentences" in (err := capsys.readouterr().err) and "1 rows without text skipped" in err


def test_rows_no_reader_gets_past_are_named_even_when_bad_rows_are_skipped(tmp_path, tiny_model_dir, local_ray, capsys):
    source = write_jsonl(tmp_path / "part-0.jsonl", ARTICLES[:2])
    with source.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "a9", "text": \n{"id": "a10"}\n')
    other = write_jsonl(tmp_path / "part-1.jsonl", [{"id": 7, "text": "Rain fell."}])
    output = tmp_path / "scored"
    command = ["predict", "--engine", "ray", "--model", str(tiny_model_dir), "--input", str(tmp_path / "part-*.jsonl"), "--output", str(output)]
    assert main([*command, "--skip-bad-rows"]) == 2
    err = capsys.readouterr().err
    assert f"{source}:3: bad JSON" in err and f"{source}:4: missing or empty 'text'" in err
    assert f"{other}:1: 'id' is a number, but a string at {source}:1" in err
    assert "3 of 5 rows cannot be scored" in err
    assert not output.exists()


class DiesOnce(ArticleScorer):
    """An actor whose process dies on its first batch, once in the whole run (a node lost mid-job)."""

    marker = ""

    def __call__(self, batch):
        if not Path(self.marker).exists():
            Path(self.marker).touch()
            os._exit(1)
        return super().__call__(batch)


def test_a_dead_actor_is_replaced_and_every_row_is_written_once(tmp_path, tiny_model_dir, local_ray, monkeypatch):
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors cannot import this test module
    monkeypatch.setattr(DiesOnce, "marker", str(tmp_path / "died"))
    monkeypatch.setattr(ray_engine, "ArticleScorer", DiesOnce)
    source = write_jsonl(tmp_path / "part-0.jsonl", ARTICLES)
    output = tmp_path / "scored"
    command = ["predict", "--engine", "ray", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(output)]
    assert main([*command, "--runtime", "torch", "--workers", "1", "--rows-per-call", "2"]) == 0
    assert (tmp_path / "died").exists(), "an actor died"
    assert sorted(row["id"] for row in read_shards(output)) == sorted(a["id"] for a in ARTICLES)


def test_an_unknown_target_fails_before_any_work(tmp_path, tiny_model_dir, local_ray, capsys):
    source = write_jsonl(tmp_path / "part-0.jsonl", ARTICLES)
    output = tmp_path / "scored"
    command = ["predict", "--engine", "ray", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(output), "--targets", "nato,china"]
    assert main(command) == 2
    assert "china" in capsys.readouterr().err
    assert not output.exists()


def test_shards_of_one_format_are_found_under_a_folder_or_a_glob(tmp_path):
    (tmp_path / "a" / "sub").mkdir(parents=True)
    write_jsonl(tmp_path / "a" / "x.jsonl", ARTICLES[:1])
    write_jsonl(tmp_path / "a" / "sub" / "y.json", ARTICLES[1:2])
    (tmp_path / "a" / ".hidden.jsonl").write_text("{}\n", encoding="utf-8")
    (tmp_path / "a" / "notes.txt").write_text("not a shard", encoding="utf-8")
    assert find_shards(str(tmp_path / "a")) == ("jsonl", [tmp_path / "a" / "sub" / "y.json", tmp_path / "a" / "x.jsonl"])
    assert find_shards(str(tmp_path / "a" / "*.jsonl")) == ("jsonl", [tmp_path / "a" / "x.jsonl"])
    (tmp_path / "a" / "z.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match="mixes JSON Lines and Parquet"):
        find_shards(str(tmp_path / "a"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        find_shards(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="no .jsonl"):
        find_shards(str(tmp_path / "a" / "*.txt"))


def test_without_ray_the_engine_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as it does without the extra
    source = write_jsonl(tmp_path / "rows.jsonl", ARTICLES)
    assert main(["predict", "--engine", "ray", "--input", str(source), "--output", str(tmp_path / "out")]) == 2
    assert 'pip install "stance-service[ray]"' in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
