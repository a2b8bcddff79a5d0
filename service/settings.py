"""Service limits and knobs, read from ``STANCE_*`` environment variables or flags, so one
container image can be tuned per deployment without code changes."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from stance.models.runtimes import check_runtime

ENV_PREFIX = "STANCE_"


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """Everything the server needs besides the model weights.

    Limits are per request. Admission is by work, not by request count: a request is
    refused (429) when the model's backlog, measured in (sentence, target) pairs and the
    throughput of recent batches, would keep it longer than ``max_wait_s``; ``queue_size``
    only caps how many wait. ``max_batch`` counts sentences sent to the model at once.
    """

    model_dir: str | None = None  # None: the default model shipped in models/default; "minilm": models/minilm
    frames_model_dir: str | None = None  # None: the shipped models/frames-default when present; "off": no frames
    narratives_model_dir: str | None = None  # None: the shipped models/narratives-default when present; "off": no narratives
    max_inputs: int = 64  # sentences per /v1/predict request
    max_input_chars: int = 2_000  # characters per sentence
    max_article_chars: int = 50_000  # characters per /v1/analyze article, and of the articles scored together
    max_article_sentences: int = 500  # sentences per /v1/analyze article (sentence ends and line breaks, counted before splitting)
    max_targets: int = 16  # entries in a request's "targets"
    max_body_bytes: int = 1_048_576  # request body size
    queue_size: int = 64  # requests waiting for the model; more get 429
    max_batch: int = 64  # sentences per model call (one request is never split)
    batch_wait_ms: float = 5.0  # how long a batch waits for more requests
    retry_after_s: int = 1  # the least Retry-After of a 429; more when the backlog is longer
    max_wait_s: float = 2.0  # a request is admitted when the backlog and its own work should be done within this
    request_timeout_s: float = 30.0  # a request still unanswered after this is dropped (503, error_type "timeout")
    max_connections: int = 512  # open HTTP connections; more are answered 503 and closed at once
    read_timeout_s: float = 10.0  # time a client has to send a whole request (headers and body)
    keep_alive_s: float = 5.0  # an idle keep-alive connection is closed after this
    admin_token: str | None = None  # enables POST /admin/reload
    torch_threads: int = 0  # 0: the cores this process may use
    runtime: str = "auto"  # torch, onnx (int8 ONNX Runtime, the `fast` extra), or auto: onnx when installed

    def __post_init__(self) -> None:
        for name in ("max_inputs", "max_input_chars", "max_article_chars", "max_article_sentences", "max_targets", "max_body_bytes",
                     "queue_size", "max_batch", "max_connections"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be at least 1, not {getattr(self, name)}")
        for name in ("max_wait_s", "request_timeout_s", "read_timeout_s", "keep_alive_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be more than 0, not {getattr(self, name)}")
        if self.batch_wait_ms < 0 or self.retry_after_s < 0 or self.torch_threads < 0:
            raise ValueError("STANCE_BATCH_WAIT_MS, STANCE_RETRY_AFTER_S and STANCE_TORCH_THREADS must not be negative")
        check_runtime(self.runtime, setting=f"{ENV_PREFIX}RUNTIME")
        if self.admin_token is not None and not self.admin_token.strip():
            object.__setattr__(self, "admin_token", None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServiceSettings:
        """Defaults, then ``STANCE_<FIELD>`` variables, then explicit ``overrides`` (flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, raw, _kind(f))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_overrides(self, **overrides: Any) -> ServiceSettings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def threads(self) -> int:
        return self.torch_threads or available_cores()

    def limits(self) -> dict[str, Any]:
        """The limits a client should know about, as shown by ``GET /v1/info``."""
        data = asdict(self)
        for private in ("model_dir", "frames_model_dir", "narratives_model_dir", "admin_token", "torch_threads", "runtime", "max_connections", "read_timeout_s", "keep_alive_s"):
            data.pop(private)
        return data


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity, unlike ``os.cpu_count``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve_model_dir(model_dir: str | os.PathLike | None) -> Path:
    """The model folder to serve, failing early with a message a person can act on."""
    from stance.models.config import SHIPPED_MODELS, model_folder

    path = model_folder(model_dir)
    if path in SHIPPED_MODELS.values():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"no shipped model at {path}: serve a trained folder with `stance serve --model DIR` "
                "(or STANCE_MODEL_DIR), or train one with `stance train --data seeds/corpus.jsonl --output runs/my-model`"
            )
        return path
    path = path.expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"model folder {path} does not exist")
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a stance model folder (no config.json)")
    return path


FRAMING_OFF = "off"


def framing_model_dirs(settings: ServiceSettings) -> tuple[dict[str, Path], dict[str, str]]:
    """The frames and narratives folders to load, and why each task left out is unavailable."""
    from stance.models.framing import DEFAULT_FRAMING_DIRS

    folders: dict[str, Path] = {}
    unavailable: dict[str, str] = {}
    for task in DEFAULT_FRAMING_DIRS:
        setting = getattr(settings, f"{task}_model_dir")
        name = f"{ENV_PREFIX}{task.upper()}_MODEL_DIR"
        if setting == FRAMING_OFF:
            unavailable[task] = f"turned off ({name}={FRAMING_OFF})"
        elif setting is None and not (DEFAULT_FRAMING_DIRS[task] / "config.json").is_file():
            unavailable[task] = f"no {task} model: none is shipped at {DEFAULT_FRAMING_DIRS[task]} and {name} is not set"
        else:
            folders[task] = Path(setting).expanduser() if setting else DEFAULT_FRAMING_DIRS[task]
    return folders, unavailable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per limit; unset flags fall back to the environment, then defaults.
    The admin token has no flag: command lines are visible to every local user."""
    for f in fields(ServiceSettings):
        if f.name in {"model_dir", "admin_token"}:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = _kind(f)
        default = None if f.default is MISSING else f.default
        parser.add_argument(flag, dest=f.name, type=kind, default=None, help=f"env {ENV_PREFIX}{f.name.upper()} (default: {default})")


def _kind(f) -> type:
    annotation = str(f.type)
    if annotation.startswith("int"):
        return int
    if annotation.startswith("float"):
        return float
    return str


def _parse(name: str, raw: str, kind: type) -> Any:
    try:
        return kind(raw.strip())
    except ValueError:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}") from None
