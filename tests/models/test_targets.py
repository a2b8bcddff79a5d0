"""Targets as data: alias matching, user targets from JSON, and the target set's errors."""

from __future__ import annotations

import json

import pytest
from stance.models import StanceModel, Target, TargetSet, default_targets
from stance.models.targets import DEFAULT_TARGETS_FILE

CHINA = {
    "name": "china",
    "description": "The Chinese state.",
    "query": "China, Beijing and Xi Jinping",
    "aliases": ["china", "chinese", "beijing*", "xi"],
}


@pytest.fixture(scope="module")
def targets() -> TargetSet:
    return default_targets()


def with_china(path):
    data = json.loads(DEFAULT_TARGETS_FILE.read_text(encoding="utf-8"))
    data["targets"].append(CHINA)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# ---- alias matching ---------------------------------------------------------------


def test_default_targets_are_the_four_of_the_guide(targets):
    assert list(targets) == ["russia", "west", "eu", "nato"]
    for target in targets.values():
        assert target.query.strip()
        assert target.aliases


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The EU said no.", True),
        ("the eu said no", True),  # case-insensitive
        ("The EU’s leaders met.", True),  # possessive
        ("(EU) sanctions", True),
        ("A neutral report.", False),  # 'eu' inside 'neutral'
        ("Feudal lords.", False),
        ("Natos gather.", True),  # 'nato*' allows any ending
        ("NATO-led forces.", True),
        ("NATO's chief.", True),
        ("A donation was made.", False),  # 'nato' inside 'donation'
        ("The United States said.", True),  # multi-word alias
        ("Unitedstates said.", False),
        ("U.S. officials said.", True),  # dotted alias with '*'
        ("U.S.-led coalition.", True),
    ],
)
def test_alias_matching_is_whole_word_and_case_insensitive(text, expected):
    target = Target("x", "", "query", ("eu", "nato*", "united states", "u.s.*"))
    assert target.mentioned_in(text) is expected


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("eu", "A neutral report on the weather.", False),
        ("eu", "The EU agreed.", True),
        ("eu", "Brussels said the bloc would act.", True),
        ("west", "We use it because of campus users.", False),  # 'us' never inside a word
        ("west", "The US said so.", True),
        ("west", "U.S. officials denied it.", True),
        ("west", "Washington's allies agreed.", True),
        ("russia", "The report praised the art.", False),  # 'rt' never inside a word
        ("russia", "RT said so.", True),
        ("russia", "Russian forces advanced.", True),
        ("russia", "The Kremlin’s spokesman spoke.", True),
        ("nato", "A donation was made to the museum.", False),
        ("nato", "NATO's secretary general spoke.", True),
        ("nato", "The alliance met.", True),
        ("nato", "Serbia will never join NATO.", True),
        ("russia", "The weather in Belgrade was mild on Monday.", False),
    ],
)
def test_default_aliases(targets, name, text, expected):
    assert targets[name].mentioned_in(text) is expected


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("russia", "Pro-Kremlin outlets spread the claim."),
        ("russia", "Anti-Putin protesters were detained."),
        ("nato", "Non-NATO members objected."),
        ("eu", "Ministers complained that the EU-led talks had produced few results."),
        ("eu", "An EU-wide ban took effect."),
    ],
)
def test_aliases_match_in_hyphenated_compounds(targets, name, text):
    assert targets[name].mentioned_in(text)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("west", "Heavy rain is forecast for the West Coast.", False),
        ("west", "The West Bank and the West are at odds.", True),  # one alias outside the non-reference is enough
        ("eu", "The Brussels sprouts were the best side dish.", False),
        ("eu", "Brussels said the sprouts were fine.", True),
        ("eu", "The Soviet Union collapsed in 1991.", False),
        ("russia", "Her novel is a Russian doll of stories within stories.", False),
        ("russia", "Police in Moscow, Idaho, found the tractor.", False),
        ("russia", "Police in Moscow, Idaho, said Moscow was to blame.", True),
        ("nato", "The scouts learnt the NATO phonetic alphabet.", False),
    ],
)
def test_default_non_references_do_not_count_as_mentions(targets, name, text, expected):
    assert targets[name].mentioned_in(text) is expected
    assert targets[name].named_only_as_other_things(text) is not expected


def test_non_references_use_the_alias_syntax():
    target = Target("x", "", "query", aliases=("west*",), non_references=("west coast*", "key west"))
    assert not target.mentioned_in("West Coasters and Key West locals")
    assert target.mentioned_in("Key Western values")  # 'key west' is whole-word, so 'western' stays an alias
    assert not target.named_only_as_other_things("The weather was mild.")  # no alias at all is not a non-reference


def test_a_sentence_naming_a_target_only_in_a_non_reference_is_not_scored(tiny_encoder):
    targets = TargetSet([Target("west", "", "the West", aliases=("west*",), non_references=("west coast",))])
    model = StanceModel.from_encoder(str(tiny_encoder), targets=targets, lora_rank=None, max_length=64)
    assert not model.predict("Rain on the West Coast.").stance["west"].scored
    assert model.predict("The West condemned it.").stance["west"].scored
    assert model.predict("Rain again.").stance["west"].scored  # ungated predict scores sentences without aliases


def test_target_without_aliases_is_always_mentioned():
    target = Target("anything", "", "anything at all")
    assert target.mentioned_in("The weather was mild.")
    assert target.mentioned_in("")


def test_blank_aliases_are_ignored():
    target = Target("x", "", "query", ("", "  ", "nato"))
    assert target.mentioned_in("NATO met.")
    assert not target.mentioned_in("The weather was mild.")


@pytest.mark.parametrize("name", ["China", "", "1china", "chi na", "ch!na"])
def test_target_names_must_be_lower_case_identifiers(name):
    with pytest.raises(ValueError, match="target name"):
        Target(name, "", "query")


def test_target_needs_a_query():
    with pytest.raises(ValueError, match="empty query"):
        Target("china", "", "   ")


# ---- target sets --------------------------------------------------------------------


def test_unknown_target_raises_key_error_naming_the_known_ones(targets):
    with pytest.raises(KeyError, match="unknown target 'china'.*russia, west, eu, nato"):
        targets["china"]
    assert "china" not in targets
    assert "nato" in targets


def test_select(targets):
    assert [t.name for t in targets.select(None)] == ["russia", "west", "eu", "nato"]
    assert [t.name for t in targets.select(["nato", "eu", "nato"])] == ["nato", "eu"]
    with pytest.raises(KeyError, match="china"):
        targets.select(["nato", "china"])
    with pytest.raises(ValueError, match="at least one"):
        targets.select([])


def test_duplicate_target_names_are_rejected():
    with pytest.raises(ValueError, match="'nato' is defined twice"):
        TargetSet([Target("nato", "", "NATO"), Target("eu", "", "EU"), Target("nato", "", "the alliance")])


def test_duplicate_target_names_in_a_file_are_rejected(tmp_path):
    data = json.loads(DEFAULT_TARGETS_FILE.read_text(encoding="utf-8"))
    data["targets"].append(dict(data["targets"][0]))
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=f"{path}.*'russia' is defined twice"):
        TargetSet.load(path)


def test_empty_target_set_is_rejected():
    with pytest.raises(ValueError, match="at least one target"):
        TargetSet([])


def test_malformed_targets_file(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"targets": [', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        TargetSet.load(bad_json)
    no_name = tmp_path / "noname.json"
    no_name.write_text(json.dumps({"targets": [{"query": "China"}]}), encoding="utf-8")
    with pytest.raises(ValueError, match="noname.json: malformed targets definition: missing 'name'"):
        TargetSet.load(no_name)
    no_list = tmp_path / "nolist.json"
    no_list.write_text(json.dumps({"china": {}}), encoding="utf-8")
    with pytest.raises(ValueError, match="malformed"):
        TargetSet.load(no_list)


def test_query_defaults_to_the_name():
    targets = TargetSet.from_dict({"targets": [{"name": "china"}]})
    assert targets["china"].query == "china"
    assert targets["china"].aliases == ()


def test_save_and_load_round_trip(tmp_path, targets):
    path = tmp_path / "targets.json"
    targets.save(path)
    loaded = TargetSet.load(path)
    assert list(loaded) == list(targets)
    assert loaded.to_dict() == targets.to_dict()
    for name in targets:
        assert loaded[name] == targets[name]
    sentence = "Anti-war protesters marched past the Kremlin and NATO offices in Brussels."
    assert {n: loaded[n].mentioned_in(sentence) for n in loaded} == {n: targets[n].mentioned_in(sentence) for n in targets}
    assert json.loads(path.read_text(encoding="utf-8")) == targets.to_dict()


def test_user_target_from_json_without_code(tmp_path, targets):
    loaded = TargetSet.load(with_china(tmp_path / "targets.json"))
    assert list(loaded) == ["russia", "west", "eu", "nato", "china"]
    china = loaded["china"]
    assert china.query == CHINA["query"]
    assert china.mentioned_in("Beijing's envoy met the minister.")
    assert china.mentioned_in("Chinese officials denied it.")
    assert not china.mentioned_in("The EU agreed.")
    assert not china.mentioned_in("The machine was made of chinaware.")
    # the shipped targets are untouched
    assert "china" not in targets


def test_a_model_scores_a_user_target(tmp_path, tiny_encoder):
    loaded = TargetSet.load(with_china(tmp_path / "targets.json"))
    model = StanceModel.from_encoder(str(tiny_encoder), targets=loaded, lora_rank=None, max_length=64)
    prediction = model.predict("Beijing's envoy met the EU in Brussels.", gate=True)
    assert list(prediction.stance) == ["russia", "west", "eu", "nato", "china"]
    assert prediction.stance["china"].scored
    assert not prediction.stance["russia"].scored
    only = model.predict("Beijing's envoy spoke.", targets=["china"], gate=True)
    assert list(only.stance) == ["china"]
    model.save_pretrained(tmp_path / "model")
    reloaded = StanceModel.from_pretrained(tmp_path / "model")
    assert list(reloaded.targets) == list(loaded)
    assert reloaded.targets["china"] == loaded["china"]
