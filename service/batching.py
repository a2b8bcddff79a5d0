"""Dynamic batching: concurrent requests wait a few milliseconds in one bounded queue and
are scored together by a single worker, because one model call on 64 sentences costs far
less than 64 calls on one. The model runs in its own thread so the event loop stays free
to accept, refuse (429) and answer requests while it computes.

Admission is by work: every job carries its cost in (sentence, target) pairs and the worker
measures pairs per second on each batch. A job is answered when the batch it joins ends, so it
is admitted only when that batch (the model's running batch, the batches queued ahead and then
its own, as the worker will pack them) ends within ``max_wait_s`` of its own arrival and of
every job already in that batch: a late arrival must not stretch an earlier one's wait.
``Retry-After`` says how long the backlog needs. A job whose client gave up (disconnect,
deadline) is skipped, not computed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from stance.service.errors import BadRequest, NotReady, Overloaded
from stance.service.loading import LoadedFraming, LoadedModel
from stance.service.metrics import ServiceMetrics

log = logging.getLogger("stance.service")


@dataclass(eq=False)
class _Job:
    targets: tuple[str, ...] | None
    future: asyncio.Future
    cost: float = 1.0  # (sentence, target) pairs, an upper bound (the gate may skip some)
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass(eq=False)
class _PredictJob(_Job):
    texts: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.texts)


@dataclass(eq=False)
class _AnalyzeJob(_Job):
    text: str = ""
    tasks: tuple[str, ...] = ("stance",)  # stance, frames, narratives (checked against what is loaded before queueing)

    @property
    def size(self) -> int:
        return len(self.text)


@dataclass
class _Backlog:
    """The model work ahead of a new job, as the worker will batch it."""

    seconds: float = 0.0  # until the running batch and every waiting job are done
    busy: bool = False  # a batch runs or is being collected, or a job waits
    last_kind: type | None = None  # the last batch the worker will form: its kind, size and earliest arrival
    last_size: int = 0
    last_since: float = 0.0


class Batcher:
    """One bounded queue, one worker, one model reference.

    A batch is either sentences (``predict`` jobs, up to ``max_batch`` sentences) or articles
    (``analyze`` jobs, up to ``max_batch_chars`` characters), so short articles share full
    forward passes too.

    The worker reads ``current`` once per batch, so :meth:`swap` takes effect between
    batches: a batch already running finishes on the model it started with.
    """

    def __init__(
        self,
        *,
        max_batch: int,
        max_batch_chars: int = 50_000,
        batch_wait_s: float,
        queue_size: int,
        retry_after_s: int = 1,
        max_wait_s: float = 2.0,
        metrics: ServiceMetrics | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.max_batch = max_batch
        self.max_batch_chars = max_batch_chars
        self.batch_wait_s = batch_wait_s
        self.queue_size = queue_size
        self.retry_after_s = retry_after_s
        self.max_wait_s = max_wait_s
        self.metrics = metrics or ServiceMetrics()
        self._clock = clock
        self.current: LoadedModel | None = None
        self.framing: LoadedFraming | None = None  # frames and narratives, read by the same worker as the stance model
        self.pairs_per_second: float | None = None  # measured on recent batches: the slower of a moving average and the last
        self._running: tuple[float, float] | None = None  # (pairs, start time) of the batch in the model
        self._average: float | None = None
        self._queue: deque[_Job] = deque()
        self._held: _Job | None = None  # taken from the queue but did not fit the last batch
        self._collecting: list[_Job] = []  # the batch the worker is filling (out of the queue, not yet in the model)
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stance-model")
        self._closed = False

    # ---- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="stance-batcher")

    async def close(self) -> None:
        """Stop the worker and fail whatever still waits; the model thread is not joined."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        waiting = self._waiting()
        self._held = None
        self._queue.clear()
        self._collecting = []
        for job in waiting:
            if not job.future.done():
                job.future.set_exception(NotReady("the server is shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    def swap(self, loaded: LoadedModel) -> LoadedModel | None:
        """Serve ``loaded`` from the next batch on; returns the model it replaces. Its speed
        measured at load replaces the old model's until batches measure it again."""
        previous, self.current = self.current, loaded
        if loaded.pairs_per_second:
            self.pairs_per_second = self._average = loaded.pairs_per_second
        return previous

    @property
    def depth(self) -> int:
        return len(self._queue) + (1 if self._held else 0)

    def backlog_s(self) -> float:
        """Seconds of model work ahead of a new job: the rest of the batch running and every job waiting."""
        return self._backlog(self._clock()).seconds

    @property
    def saturated(self) -> bool:
        """Whether even a small request would now wait longer than ``max_wait_s``."""
        return self.backlog_s() > self.max_wait_s

    def retry_after(self, backlog_s: float | None = None) -> int:
        """The ``Retry-After`` of a refusal: the backlog's seconds (measured now unless given), at least ``retry_after_s``."""
        return max(self.retry_after_s, math.ceil(self.backlog_s() if backlog_s is None else backlog_s))

    def _waiting(self) -> list[_Job]:
        """Jobs not yet in the model, in the order the worker takes them."""
        return self._collecting + ([self._held] if self._held else []) + list(self._queue)

    def _rate(self, now: float) -> float | None:
        """Pairs per second for the estimate: the measured rate, or slower when the running batch has
        already taken longer than that rate allows (the machine slowed down since the last batch)."""
        rate = self.pairs_per_second
        if rate and self._running is not None:
            pairs, started = self._running
            if now - started > pairs / rate:
                rate = pairs / (now - started)
        return rate

    def _backlog(self, now: float) -> _Backlog:
        """Packs the waiting jobs into batches as :meth:`_collect` will, behind the running batch."""
        backlog = _Backlog(busy=self._running is not None)
        rate = self._rate(now)
        if self._running is not None and rate:
            pairs, started = self._running
            backlog.seconds = max(0.0, pairs / rate - (now - started))
        for job in self._waiting():
            if job.future.done():
                continue
            backlog.busy = True
            backlog.seconds += job.cost / rate if rate else 0.0
            if backlog.last_kind is not None and self._joins(backlog.last_kind, backlog.last_size, job):
                backlog.last_size += job.size
                backlog.last_since = min(backlog.last_since, job.enqueued)
            else:
                backlog.last_kind, backlog.last_size, backlog.last_since = type(job), job.size, job.enqueued
        backlog.busy = backlog.busy or bool(self._collecting)
        return backlog

    def _joins(self, kind: type, size: int, job: _Job) -> bool:
        """Whether ``job`` joins a batch of ``kind`` and ``size`` (sentences, or characters of articles)."""
        limit = self.max_batch_chars if kind is _AnalyzeJob else self.max_batch
        return size < limit and type(job) is kind and size + job.size <= limit

    # ---- submitting ---------------------------------------------------------------

    async def predict(self, texts: list[str], *, targets: list[str] | None, cost: float | None = None) -> tuple[list, LoadedModel]:
        """Predictions for ``texts`` (each one sentence) and the model that made them; ``cost``
        in pairs (default: one per sentence and target asked for, or four targets)."""
        cost = cost if cost is not None else len(texts) * (len(targets) if targets else 4)
        job = _PredictJob(targets=_key(targets), future=asyncio.get_running_loop().create_future(), cost=cost, texts=list(texts))
        return await self._submit(job)

    async def analyze(
        self, text: str, *, targets: list[str] | None, cost: float = 1.0, tasks: tuple[str, ...] = ("stance",)
    ) -> tuple[Any, LoadedModel]:
        """An article's analysis (a ``FullAnalysis`` of ``tasks``) and the stance model it was served with; ``cost`` in pairs."""
        job = _AnalyzeJob(targets=_key(targets), future=asyncio.get_running_loop().create_future(), cost=cost, text=text, tasks=tuple(tasks))
        return await self._submit(job)

    def _submit(self, job: _Job) -> asyncio.Future:
        if self._closed:
            raise NotReady("the server is shutting down")
        if self.current is None:
            raise NotReady("the model is still loading; retry shortly")
        now = job.enqueued = self._clock()
        backlog = self._backlog(now)
        rate = self._rate(now)
        own = job.cost / rate if rate else 0.0
        done = backlog.seconds + own  # when the batch this job ends up in is done, from now
        # A job that joins the last batch makes that batch's earliest job wait as long as it does.
        since = backlog.last_since if backlog.last_kind is not None and self._joins(backlog.last_kind, backlog.last_size, job) else now
        wait = now - since + done
        full = len(self._queue) >= self.queue_size
        if full or (backlog.busy and wait > self.max_wait_s):  # an idle model takes any one request
            self.metrics.rejected.inc()
            retry = self.retry_after(backlog.seconds)
            why = (
                f"the model queue is full ({self.queue_size} requests waiting)"
                if full
                else f"the model is busy: about {backlog.seconds:.1f}s of work is ahead and this request needs {own:.1f}s, "
                + (f"so it would be answered in {done:.1f}s, " if since == now else f"so the batch it joins would be answered {wait:.1f}s after its first request, ")
                + f"over the {self.max_wait_s:g}s a request may wait (STANCE_MAX_WAIT_S)"
            )
            raise Overloaded(f"{why}; retry after {retry}s", headers={"Retry-After": str(retry)})
        self._queue.append(job)
        self.metrics.queue_depth.set(self.depth)
        self._wakeup.set()
        return job.future

    # ---- the worker ---------------------------------------------------------------

    def _pop(self) -> _Job | None:
        if self._held is not None:
            job, self._held = self._held, None
            if not job.future.done():
                return job
        while self._queue:
            job = self._queue.popleft()
            if not job.future.done():  # a client that gave up (disconnect cancels its future)
                return job
        return None

    async def _next_job(self) -> _Job:
        while True:
            job = self._pop()
            if job is not None:
                return job
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _collect(self, first: _Job) -> list[_Job]:
        """``first`` plus whatever jobs of its kind arrive within the wait, while they fit the
        batch (``max_batch`` sentences, or ``max_batch_chars`` characters of articles)."""
        kind = type(first)
        limit = self.max_batch_chars if kind is _AnalyzeJob else self.max_batch
        batch, size = [first], first.size
        self._collecting = batch  # counted in the backlog while it fills
        deadline = time.perf_counter() + self.batch_wait_s
        while size < limit:
            job = self._pop()
            if job is None:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except TimeoutError:
                    break
                continue
            if not self._joins(kind, size, job):
                self._held = job
                break
            batch.append(job)
            size += job.size
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._next_job()]
            try:
                batch = await self._collect(batch[0])
                self.metrics.queue_depth.set(self.depth)
                await self._run_batch(loop, batch)
            except asyncio.CancelledError:
                for job in self._collecting or batch:  # cancelled while filling the batch, or while it ran
                    if not job.future.done():
                        job.future.set_exception(NotReady("the server is shutting down"))
                raise
            except Exception as error:  # the worker must outlive any one bad batch
                log.exception("batch failed")
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(error)

    async def _run_batch(self, loop: asyncio.AbstractEventLoop, batch: list[_Job]) -> None:
        loaded = self.current  # read once: a swap during this batch applies to the next one
        assert loaded is not None
        started = self._clock()
        for job in batch:
            self.metrics.queue_wait.observe(started - job.enqueued)
        self.metrics.batch_requests.observe(len(batch))
        pairs = sum(job.cost for job in batch)
        self._running, self._collecting = (pairs, started), []
        try:
            outcomes = await loop.run_in_executor(self._executor, _infer, loaded.model, batch, self.framing)
        finally:
            self._running = None
        elapsed = self._clock() - started
        self._measure(pairs, elapsed)
        kind = "analyze" if isinstance(batch[0], _AnalyzeJob) else "predict"
        self.metrics.inference.labels(kind=kind).observe(elapsed)
        sentences = 0
        for job, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not job.future.done():
                    job.future.set_exception(_client_error(outcome))
                continue
            sentences += len(outcome.sentences) if isinstance(job, _AnalyzeJob) else len(outcome)
            if not job.future.done():
                job.future.set_result((outcome, loaded))
        self.metrics.batch_sentences.observe(sentences)


    def _measure(self, pairs: float, elapsed: float) -> None:
        """Pairs per second for admission: a moving average over batches, but never above the
        last batch, so that a machine slowing down (other load) is believed at once."""
        if elapsed <= 0:
            return
        measured = pairs / elapsed
        self._average = measured if self._average is None else 0.7 * self._average + 0.3 * measured
        self.pairs_per_second = min(self._average, measured)


def _infer(model: Any, batch: list[_Job], framing: LoadedFraming | None = None) -> list[Any]:
    """Runs in the model thread: one ``predict`` or analysis call per distinct target list (a
    sentence's voice averages over the targets asked for, so lists cannot be merged) and task list."""
    from stance.models.analysis import analyze_articles

    groups: dict[tuple, list[_Job]] = {}
    for job in batch:
        groups.setdefault((job.targets, getattr(job, "tasks", None)), []).append(job)
    outcomes: dict[int, Any] = {}
    for (targets, tasks), jobs in groups.items():
        chosen = list(targets) if targets else None
        try:
            if isinstance(jobs[0], _AnalyzeJob):
                reader = framing.reader if framing is not None else None
                results = analyze_articles([job.text for job in jobs], stance_model=model, reader=reader, tasks=tasks, targets=chosen)
            else:
                predictions = model.predict([text for job in jobs for text in job.texts], targets=chosen)
                ends = list(accumulate(job.size for job in jobs))
                results = [predictions[end - job.size : end] for job, end in zip(jobs, ends, strict=True)]
        except Exception as error:
            results = [error] * len(jobs)
        outcomes.update((id(job), result) for job, result in zip(jobs, results, strict=True))
    return [outcomes[id(job)] for job in batch]


def _key(targets: list[str] | None) -> tuple[str, ...] | None:
    return tuple(dict.fromkeys(targets)) if targets else None


def _client_error(error: BaseException) -> BaseException:
    """Unknown targets after a swap changed the target set are the client's problem (400)."""
    if isinstance(error, KeyError | ValueError):
        return BadRequest(str(error.args[0]) if error.args else str(error))
    return error
