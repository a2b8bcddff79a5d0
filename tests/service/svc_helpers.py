"""Helpers for the service tests (a module of its own so test files can import it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient
from stance.service.settings import ServiceSettings

SEED_ARTICLE = Path(__file__).resolve().parents[2] / "seeds" / "000_f2f505aecd180d60.txt"


class GatedModel:
    """A model whose ``predict``/``analyze_many`` record their sizes and, while the gate is
    closed, signal ``entered`` and wait for :meth:`open`."""

    def __init__(self, model) -> None:
        self._model = model
        self.calls: list[int] = []
        self.entered = threading.Event()
        self._open = threading.Event()
        self._open.set()

    def close(self) -> None:
        self.entered.clear()
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    def _wait(self) -> None:
        self.entered.set()
        if not self._open.wait(60):
            raise TimeoutError("the test never opened the gate")

    def predict(self, texts, **kwargs):
        self.calls.append(len(texts))
        self._wait()
        return self._model.predict(texts, **kwargs)

    def analyze_many(self, texts, **kwargs):
        self.calls.append(-len(texts))  # articles count negative
        self._wait()
        return self._model.analyze_many(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self._model, name)


def settings_for(model_dir: Path, **overrides) -> ServiceSettings:
    """Settings that ignore the developer's STANCE_* variables. Tests that hold the model with
    a gate make its measured speed meaningless, so admission by work is off (a wait bound of an
    hour) unless a test sets ``max_wait_s``: test_service_overload.py tests it on its own. No
    frames or narratives model unless a test gives one (the shipped ones read with the real encoder)."""
    return ServiceSettings(model_dir=str(model_dir), **{"max_wait_s": 3600.0, "frames_model_dir": "off", "narratives_model_dir": "off", **overrides})


@contextmanager
def running(app, *, wait: bool = True, **client_kwargs) -> Iterator[TestClient]:
    """The app with its lifespan running; by default, once the startup load finished."""
    with TestClient(app, **client_kwargs) as client:
        if wait:
            assert app.state.service.loaded.wait(60), "the model did not load"
        yield client


def wait_until(condition: Callable[[], bool], *, timeout: float = 20.0) -> None:
    """Wait for a state the test caused (a queue depth, an event); fail loudly if never."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.002)
