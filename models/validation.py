"""Checks on a model folder's ``config.json`` when it loads, so a bad setting fails there,
naming the folder and the field, instead of on every request (a temperature of 0 gives NaN
scores, -1 inverts the labels, a malformed gate window breaks every article).

Only the fields this version knows are checked; fields added later pass through.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stance.models.tasks import READERS, STANCE_LABELS

MAX_TEMPERATURE = 100.0
MIN_LENGTH = 8
DEFAULT_POSITIONS = 512  # an encoder config without max_position_embeddings


class ConfigError(ValueError):
    """A model folder whose ``config.json`` cannot serve; the message names the folder and field."""


def check_config(config: Mapping[str, Any], *, folder: str | Path) -> None:
    """Raise :class:`ConfigError` unless ``config`` (a loaded ``config.json``, either format) describes a model that can serve."""
    if isinstance(config, Mapping) and "format_version" in config:
        _check_current(config, Path(folder) / "config.json")
    else:
        _check_first_format(config, Path(folder) / "config.json")


def _check_current(config: Mapping[str, Any], where: Path) -> None:
    """The current format: ``backbone``, ``heads``, ``options`` (see ``stance.models.config``)."""

    def fail(field: str, problem: str, value: Any) -> None:
        raise ConfigError(f"{where}: {field} {problem} (value: {value!r})")

    backbone, heads, options = config.get("backbone"), config.get("heads"), config.get("options") or {}
    if not isinstance(backbone, Mapping):
        fail("backbone", "must be an object", backbone)
    if not isinstance(heads, list) or not heads or not all(isinstance(head, Mapping) for head in heads):
        fail("heads", "must be a list of head objects", heads)
    if not isinstance(options, Mapping):
        fail("options", "must be an object", options)
    encoder = backbone.get("encoder")
    if not isinstance(encoder, Mapping) or not isinstance(encoder.get("name_or_path"), str) or not encoder["name_or_path"]:
        fail("backbone.encoder", "must be an object with 'name_or_path'", encoder)
    if "max_length" in backbone:
        positions = config.get("max_position_embeddings", DEFAULT_POSITIONS)
        if not (_integer(backbone["max_length"]) and MIN_LENGTH <= backbone["max_length"] <= positions):
            fail("backbone.max_length", f"must be a whole number from {MIN_LENGTH} to {positions} (the encoder's positions)", backbone["max_length"])
    lora = backbone.get("lora")
    if lora is not None and (
        not isinstance(lora, Mapping) or not (_integer(lora.get("r")) and lora["r"] >= 1) or not (_number(lora.get("alpha")) and lora["alpha"] > 0)
    ):
        fail("backbone.lora", "must be null or an object with a whole 'r' of at least 1 and an 'alpha' above 0", lora)
    if "frozen" in backbone and not isinstance(backbone["frozen"], bool):
        fail("backbone.frozen", "must be true or false", backbone["frozen"])
    if lora is not None or backbone.get("frozen"):
        _check_local_encoder(encoder["name_or_path"], lambda field, problem: fail(f"backbone.{field}", problem, encoder))
    for index, head in enumerate(heads):
        name = f"heads[{index}]" + (f" ({head['name']})" if isinstance(head.get("name"), str) else "")
        temperature = head.get("temperature", 1.0)
        if not (_number(temperature) and 0 < temperature <= MAX_TEMPERATURE):
            fail(f"{name}.temperature", f"must be a number above 0 and at most {MAX_TEMPERATURE:g} (0 gives NaN scores, a negative one inverts the labels)", temperature)
        thresholds = head.get("thresholds") or {}
        if not isinstance(thresholds, Mapping) or not all(_number(t) and 0 <= t <= 1 for t in thresholds.values()):
            fail(f"{name}.thresholds", "must map labels to probabilities from 0 to 1", thresholds)
    _check_gate(options, lambda field, problem: fail(f"options.{field}", problem, options.get(field)))
    if options.get("reader", "pair") not in READERS:
        fail("options.reader", f"must be one of {', '.join(READERS)}", options["reader"])
    if "int8_ffn_output" in options and not isinstance(options["int8_ffn_output"], bool):
        fail("options.int8_ffn_output", "must be true or false", options["int8_ffn_output"])
    for field in ("model_name", "model_version"):
        if field in config and not isinstance(config[field], str):
            fail(field, "must be a string", config[field])


def _check_gate(options: Mapping[str, Any], fail) -> None:
    if "gate" in options and not isinstance(options["gate"], bool):
        fail("gate", "must be true or false")
    if "gate_window" in options:
        window = options["gate_window"]
        if not (isinstance(window, list) and len(window) == 2 and all(_integer(n) and n >= 0 for n in window)):
            fail("gate_window", "must be two whole numbers of sentences, before and after, each 0 or more")
    if "gate_prior" in options:
        prior = options["gate_prior"]
        if not isinstance(prior, Mapping) or not prior or set(prior) - set(STANCE_LABELS):
            fail("gate_prior", f"must be probabilities of the labels {', '.join(STANCE_LABELS)}")
        # weights, normalised when used (training writes probabilities): none negative, not all 0
        if not all(_number(p) and p >= 0 for p in prior.values()) or not sum(prior.values()) > 0:
            fail("gate_prior", "must be weights of at least 0 with a sum above 0 (they are normalised to probabilities)")


def _check_first_format(config: Mapping[str, Any], where: Path) -> None:
    """The first format: one ``stance`` section (read by ``stance.models.config``)."""
    stance = config.get("stance") if isinstance(config, Mapping) else None
    if not isinstance(stance, Mapping):
        raise ConfigError(f"{where}: no 'stance' section and no 'format_version': not a stance model folder")

    def fail(field: str, problem: str) -> None:
        raise ConfigError(f"{where}: stance.{field} {problem} (value: {stance.get(field)!r})")

    encoder = stance.get("encoder")
    if not isinstance(encoder, Mapping) or not isinstance(encoder.get("name_or_path"), str) or not encoder["name_or_path"]:
        fail("encoder", "must be an object with 'name_or_path'")
    for name in ("stance_temperature", "voice_temperature"):
        if name in stance and not (_number(stance[name]) and 0 < stance[name] <= MAX_TEMPERATURE):
            fail(name, f"must be a number above 0 and at most {MAX_TEMPERATURE:g} (0 gives NaN scores, a negative one inverts the labels)")
    if "max_length" in stance:
        positions = config.get("max_position_embeddings", DEFAULT_POSITIONS)
        if not (_integer(stance["max_length"]) and MIN_LENGTH <= stance["max_length"] <= positions):
            fail("max_length", f"must be a whole number from {MIN_LENGTH} to {positions} (the encoder's positions)")
    lora = stance.get("lora")
    if lora is not None:
        if not isinstance(lora, Mapping) or not (_integer(lora.get("r")) and lora["r"] >= 1) or not (_number(lora.get("alpha")) and lora["alpha"] > 0):
            fail("lora", "must be null or an object with a whole 'r' of at least 1 and an 'alpha' above 0")
        _check_local_encoder(encoder["name_or_path"], fail)
    _check_gate(stance, fail)
    for name in ("model_name", "model_version"):
        if name in stance and not isinstance(stance[name], str):
            fail(name, "must be a string")


def _check_local_encoder(name: str, fail) -> None:
    """An adapter's encoder must be an installed package or a folder on this disk: a model is
    never fetched from a hub at run time (a hub id made a reload wait 46 s on the network)."""
    from stance.models.encoders import PACKAGED_ENCODERS, SPLIT_ENCODERS

    packages = [*PACKAGED_ENCODERS, *SPLIT_ENCODERS]
    if name not in packages and not Path(name).expanduser().is_dir():
        fail("encoder", f"names {name!r}, neither an installed encoder package ({', '.join(packages)}) nor a folder on this disk")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
