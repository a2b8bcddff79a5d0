"""The HTTP API and the analyst page: ``create_app(settings)`` builds the app, ``serve``
runs it with uvicorn. The model loads in the background at startup (``/readyz`` answers
503 until it is in) and is only ever touched by the batching worker."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from stance.service.batching import Batcher
from stance.service.docs import install_docs
from stance.service.errors import BadRequest, ClientGone, NotReady, Saturated, TimedOut, TooLarge, Unauthorized, install_error_handlers
from stance.service.loading import LoadedFraming, LoadedModel, ModelLoader, load_framing, load_model, model_loader
from stance.service.metrics import ServiceMetrics
from stance.service.middleware import BodyLimitMiddleware, HttpHygieneMiddleware, LoadSheddingMiddleware, MetricsMiddleware
from stance.service.schemas import (
    PREDICT_EXAMPLES,
    AnalyzeResponse,
    ErrorResponse,
    InfoResponse,
    PredictResponse,
    ReloadRequest,
    ReloadResponse,
    analyze_examples,
    example_article,
    request_models,
)
from stance.service.server import uvicorn_config
from stance.service.settings import ServiceSettings, framing_model_dirs, resolve_model_dir

log = logging.getLogger("stance.service")

STATIC = Path(__file__).with_name("static")
TITLE = "Stance service"
PAGE_HEADERS = {
    # The page loads nothing from elsewhere; say so, so a browser refuses if it ever tried.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


class ServiceState:
    """What the routes share: settings, metrics, the batcher (which holds the model)."""

    def __init__(
        self, settings: ServiceSettings, *, loader: ModelLoader, reload_loader: ModelLoader, metrics: ServiceMetrics,
        framing_loader: Callable[[], LoadedFraming],
    ) -> None:  # fmt: skip
        self.settings = settings
        self.loader = loader
        self.framing_loader = framing_loader
        self.reload_loader = reload_loader
        self.metrics = metrics
        self.batcher: Batcher | None = None
        self.load_error: str | None = None
        self.loaded = threading.Event()  # set once the startup load finished, either way (tests wait on it)
        self.on_load_failure: Callable[[BaseException], None] | None = None
        self.reload_lock: asyncio.Lock | None = None
        self._load_task: asyncio.Task | None = None

    @property
    def current(self) -> LoadedModel | None:
        return self.batcher.current if self.batcher is not None else None

    @property
    def framing(self) -> LoadedFraming:
        loaded = self.batcher.framing if self.batcher is not None else None
        return loaded if loaded is not None else LoadedFraming(reader=None)

    def require_model(self) -> LoadedModel:
        loaded = self.current
        if loaded is None:
            raise NotReady(self.load_error or "the model is still loading; retry shortly")
        return loaded

    def install(self, loaded: LoadedModel) -> LoadedModel | None:
        assert self.batcher is not None
        previous = self.batcher.swap(loaded)
        self.metrics.set_model(loaded.name, loaded.version)
        return previous

    def shed(self) -> int | None:
        """Retry-After for a request refused before its body is read (the backlog is over the bound), else None."""
        batcher = self.batcher
        backlog = batcher.backlog_s() if batcher is not None else 0.0
        if backlog <= self.settings.max_wait_s:
            return None
        batcher.metrics.rejected.inc()
        return batcher.retry_after(backlog)

    async def start(self) -> None:
        self.batcher = Batcher(
            max_batch=self.settings.max_batch,
            max_batch_chars=self.settings.max_article_chars,
            batch_wait_s=self.settings.batch_wait_ms / 1000,
            queue_size=self.settings.queue_size,
            retry_after_s=self.settings.retry_after_s,
            max_wait_s=self.settings.max_wait_s,
            metrics=self.metrics,
        )
        self.batcher.start()
        self.reload_lock = asyncio.Lock()
        self._load_task = asyncio.get_running_loop().create_task(self._load_initial(), name="stance-load")

    async def stop(self) -> None:
        if self._load_task is not None:
            self._load_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._load_task
        if self.batcher is not None:
            await self.batcher.close()

    async def _load_initial(self) -> None:
        try:
            loaded = await asyncio.to_thread(load_model, self.settings.model_dir, loader=self.loader)
        except Exception as error:
            self.load_error = f"the model could not be loaded: {error}"
            log.error("%s", self.load_error)
            self.loaded.set()
            if self.on_load_failure is not None:
                self.on_load_failure(error)
            return
        self.batcher.framing = await asyncio.to_thread(self.framing_loader)  # never fails: a task that cannot load is unavailable
        if self.current is None:  # an admin reload may have won the race
            self.install(loaded)
        self.loaded.set()


def create_app(settings: ServiceSettings | None = None, *, loader: ModelLoader | None = None) -> FastAPI:
    """The app for ``settings`` (default: from ``STANCE_*`` variables). ``loader`` turns a
    model folder into a model; tests pass wrappers, the default is ``StanceModel.from_pretrained``.
    The frames and narratives models come from ``settings`` (the shipped ones by default)."""
    settings = settings or ServiceSettings.from_env()
    metrics = ServiceMetrics()
    # an admin reload never exports to ONNX inside the server (see README, "Reloading a model")
    reload_loader = loader or model_loader(settings.runtime, export=False)
    state = ServiceState(
        settings, loader=loader or model_loader(settings.runtime), reload_loader=reload_loader, metrics=metrics,
        framing_loader=lambda: _load_framing(settings),
    )  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import torch

        torch.set_num_threads(settings.threads)
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title=TITLE,
        version="1",
        summary="Sentence-level stance toward Russia, the West, the EU and NATO in news text.",
        description=(
            "Every error has the body `{\"error\": ..., \"error_type\": ...}`. Limits come from `STANCE_*` variables "
            "(see `GET /v1/info`); over a limit the answer is 413, a backlog longer than `max_wait_s` 429 with `Retry-After`, "
            "a request unanswered after `request_timeout_s` 503. Character offsets (`start`, `end`) count Unicode code points."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = state
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(LoadSheddingMiddleware, paths=frozenset({"/v1/predict", "/v1/analyze"}), retry_after=state.shed)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(HttpHygieneMiddleware)
    install_docs(app, title=TITLE)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_routes(app, state)
    return app


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        400: "unknown target, or a request the model cannot take",
        413: "over a limit (inputs, characters, body size)",
        422: "the body does not match the schema",
        429: "the backlog is longer than `max_wait_s`; retry after `Retry-After` seconds",
        503: "the model is not loaded yet, or the request was not answered within `request_timeout_s`",
    }.items()
}


def _add_routes(app: FastAPI, state: ServiceState) -> None:
    settings = state.settings
    configured_tasks = ("stance", *framing_model_dirs(settings)[0])
    PredictRequest, AnalyzeRequest = request_models(settings, target_names=_target_names(settings.model_dir), task_names=configured_tasks)

    async def answer(request: Request, work: Any) -> Any:
        """``work``'s result, unless the client hangs up (its job is then skipped, never
        computed) or ``request_timeout_s`` passes first (503)."""
        job = asyncio.ensure_future(work)
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            done, _ = await asyncio.wait({job, gone}, timeout=settings.request_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if job in done:
            return job.result()
        job.cancel()  # cancels the queued job's future: the worker skips it
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await job
        if gone in done:
            raise ClientGone("the client closed the connection before the answer")
        raise TimedOut(
            f"no answer within {settings.request_timeout_s:g}s (STANCE_REQUEST_TIMEOUT_S); the server is busy, retry later",
            headers={"Retry-After": str(state.batcher.retry_after())},
        )

    # ---- the API ------------------------------------------------------------------

    async def predict(payload, request: Request) -> JSONResponse:
        """Score each input as one sentence toward each target, with its voice."""
        loaded = state.require_model()
        targets = _check_targets(loaded, payload.targets)
        texts = [payload.inputs] if isinstance(payload.inputs, str) else list(payload.inputs)
        cost = len(texts) * len(targets or loaded.model.targets)
        predictions, served_by = await answer(request, state.batcher.predict(texts, targets=targets, cost=cost))
        return JSONResponse({"model": served_by.identity(), "predictions": [p.to_dict() for p in predictions]})

    async def analyze(payload, request: Request) -> JSONResponse:
        """Split an article into sentences (with character offsets), score each, and
        summarise the article per target with its strongest evidence sentences."""
        from stance.models.analysis import check_tasks
        from stance.models.sentences import estimated_sentences

        loaded = state.require_model()
        framing = state.framing
        try:
            tasks = check_tasks(payload.tasks, ["stance", *framing.tasks])
        except ValueError as error:
            raise BadRequest(f"tasks: {error}" + "".join(f"; {task}: {why}" for task, why in framing.unavailable.items() if task in payload.tasks)) from None
        targets = _check_targets(loaded, payload.targets)
        sentences = estimated_sentences(payload.text)
        if sentences > settings.max_article_sentences:
            raise TooLarge(
                f"text: the article has about {sentences} sentences (sentence ends and line breaks), "
                f"over the limit of {settings.max_article_sentences} (STANCE_MAX_ARTICLE_SENTENCES)"
            )
        # in (sentence, target) pairs: frames and narratives together read each sentence about once more
        cost = sentences * ((len(targets or loaded.model.targets) if "stance" in tasks else 0) + (1 if set(tasks) - {"stance"} else 0))
        analysis, served_by = await answer(request, state.batcher.analyze(payload.text, targets=targets, cost=cost, tasks=tuple(tasks)))
        body: dict[str, Any] = {"model": served_by.identity(), "tasks": tasks}
        if analysis.stance is not None:
            data = analysis.stance.to_dict()
            body.update({"targets": list(data["summary"]), **data})
        else:
            body["sentences"] = [{"index": s.index, "start": s.start, "end": s.end, "text": s.text} for s in analysis.sentences]
        body.update(analysis.labels_json())
        article_models = {task: framing.reader.models[task] for task in tasks if task != "stance"}
        if article_models:
            body["framing_models"] = {task: {"name": m.model_name, "version": m.model_version} for task, m in article_models.items()}
        return JSONResponse(body)

    # Request models are built per app (their limits come from settings), so their
    # annotations are bound here rather than written in the signatures.
    predict.__annotations__["payload"] = Annotated[PredictRequest, Body(openapi_examples=PREDICT_EXAMPLES)]
    analyze.__annotations__["payload"] = Annotated[AnalyzeRequest, Body(openapi_examples=analyze_examples())]
    app.add_api_route(
        "/v1/predict", predict, methods=["POST"], tags=["stance"], summary="Score sentences",
        response_model=None, responses={200: {"model": PredictResponse}, **_ERRORS},
    )  # fmt: skip
    app.add_api_route(
        "/v1/analyze", analyze, methods=["POST"], tags=["stance"], summary="Analyse an article",
        response_model=None, responses={200: {"model": AnalyzeResponse}, **_ERRORS},
    )  # fmt: skip

    @app.get("/v1/info", tags=["stance"], summary="The model, its targets, labels, limits and dev metrics", response_model=InfoResponse)
    async def info() -> dict[str, Any]:
        from stance.models import STANCE_LABELS, VOICE_LABELS

        loaded = state.require_model()
        return {
            "model": loaded.describe(),
            "targets": [{"name": t.name, "description": t.description, "query": t.query} for t in loaded.model.targets.values()],
            "labels": {"stance": list(STANCE_LABELS), "voice": list(VOICE_LABELS)},
            "tasks": {"stance": {"available": True}, **state.framing.describe()},
            "limits": settings.limits(),
            "metrics": loaded.dev_metrics,
        }

    @app.get("/v1/example", tags=["page"], summary="The seed article the page starts with")
    async def example() -> dict[str, str]:
        return {"text": example_article()}

    # ---- operations ---------------------------------------------------------------

    @app.get("/livez", tags=["operations"], summary="The process answers")
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="A model is loaded and the backlog is under `max_wait_s` (else 503)",
        responses={503: {"model": ErrorResponse, "description": "no model yet, or saturated: new work would wait over `max_wait_s`"}},
    )
    async def readyz() -> dict[str, Any]:
        loaded = state.require_model()
        batcher = state.batcher
        backlog = batcher.backlog_s()
        if backlog > settings.max_wait_s:
            raise Saturated(
                f"saturated: about {backlog:.1f}s of model work is waiting, over {settings.max_wait_s:g}s (STANCE_MAX_WAIT_S)",
                headers={"Retry-After": str(batcher.retry_after(backlog))},
            )
        return {"status": "ready", "model": loaded.identity(), "queue_depth": batcher.depth, "backlog_s": round(backlog, 3)}

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        body, content_type = state.metrics.render()
        return Response(body, media_type=content_type)

    if settings.admin_token:  # no token configured: the route does not exist (404)

        def authorized(request: Request) -> None:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), settings.admin_token.encode()):
                raise Unauthorized("a valid `Authorization: Bearer <STANCE_ADMIN_TOKEN>` header is required", headers={"WWW-Authenticate": "Bearer"})

        @app.post(
            "/admin/reload",
            tags=["admin"],
            summary="Load another model folder and swap it in between batches",
            response_model=ReloadResponse,
            openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": ReloadRequest.model_json_schema()}}}},
            responses={
                400: {"model": ErrorResponse, "description": "the folder is not a loadable model"},
                401: {"model": ErrorResponse},
                422: {"model": ErrorResponse},
            },
        )
        async def reload(request: Request) -> dict[str, Any]:
            """The new model is loaded and smoke-tested on the example article in full before
            the swap; requests in flight finish on the old one, and a bad folder leaves the old
            one serving. The token is checked before the body is read, so a stranger learns
            nothing from 422s."""
            authorized(request)
            try:
                payload = ReloadRequest.model_validate_json(await request.body())
            except ValidationError as error:
                raise RequestValidationError(error.errors(include_url=False)) from None
            async with state.reload_lock:
                try:
                    loaded = await asyncio.to_thread(load_model, payload.model_dir, loader=state.reload_loader)
                except Exception as error:
                    state.metrics.reloads.labels(outcome="failed").inc()
                    log.warning("reload from %s failed: %s", payload.model_dir, error)
                    raise BadRequest(f"cannot load a model from {payload.model_dir}: {error}; the current model keeps serving") from None
                previous = state.install(loaded)
                state.metrics.reloads.labels(outcome="ok").inc()
            log.info("now serving %s %s from %s", loaded.name, loaded.version, loaded.directory)
            return {"model": loaded.describe(), "previous": previous.describe() if previous else None}

    # ---- the page -----------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=PAGE_HEADERS)


def _load_framing(settings: ServiceSettings) -> LoadedFraming:
    folders, unavailable = framing_model_dirs(settings)
    try:
        return load_framing(folders, unavailable, runtime=settings.runtime)
    except Exception as error:  # a framing model that cannot run leaves the stance service up
        log.error("the framing models failed their smoke test: %s", error)
        return LoadedFraming(reader=None, unavailable={**unavailable, **{task: f"failed its smoke test: {error}" for task in folders}})


def _target_names(model_dir: str | None) -> list[str]:
    """The targets of the model served at start-up, for the API documentation."""
    from stance.models.targets import TargetSet

    try:
        return list(TargetSet.load(resolve_model_dir(model_dir) / "targets.json"))
    except (OSError, ValueError):
        return []


async def _disconnected(request: Request) -> None:
    """Returns once the client has gone (the body has been read, so the next message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _check_targets(loaded: LoadedModel, names: list[str] | None) -> list[str] | None:
    """Unknown targets are a 400 before the request takes a queue slot."""
    if names is None:
        return None
    try:
        return [target.name for target in loaded.model.targets.select(names)]
    except (KeyError, ValueError) as error:
        raise BadRequest(str(error.args[0]) if error.args else str(error)) from None


def serve(*, model_dir: str | None = None, host: str = "127.0.0.1", port: int = 8000, settings: ServiceSettings | None = None) -> None:
    """Run the server until interrupted; a missing model fails before the port is opened."""
    import uvicorn

    settings = (settings or ServiceSettings.from_env()).with_overrides(model_dir=model_dir)
    resolve_model_dir(settings.model_dir)  # FileNotFoundError with a message saying what to do
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    server = uvicorn.Server(uvicorn_config(app, settings, host=host, port=port))
    failures: list[BaseException] = []

    def stop_on_failure(error: BaseException) -> None:
        failures.append(error)
        server.should_exit = True

    app.state.service.on_load_failure = stop_on_failure
    log.info(
        "serving %s on http://%s:%d (runtime: %s, torch threads: %d)",
        settings.model_dir or "the default model",
        host,
        port,
        settings.runtime,
        settings.threads,
    )
    server.run()
    if failures:
        raise RuntimeError(f"the model could not be loaded: {failures[0]}")
