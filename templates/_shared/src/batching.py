"""Run the model off the event loop, batching concurrent requests as Triton and TF Serving do.

With batching on, requests wait in a queue. One worker thread takes the first, then keeps
taking more until the batch holds ``max_batch`` images or ``max_delay`` seconds have passed
since it took the first; it runs the model once on all of them and hands each request its
own rows back, all in one call to the event loop. With batching off, each request runs alone
in a thread of a pool.

Either way, a request that the model answers within INLINE_SECONDS (measured once, as the
service warms up: inline_images) runs on the event loop itself, as KServe runs every request:
for a small model, handing it to a thread and back costs more than the call. The bound keeps
the loop free: 32 such calls in a row hold /healthz for 32 ms at most, and a request of more
images than the service warmed up with (max_batch) never runs there.
"""

import asyncio
import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from .runtimes import Runner

INLINE_SECONDS = 0.001  # a model call predicted to take less runs on the event loop


def inline_images(run: Runner, shape: list[int], max_batch: int) -> int:
    """The most images (up to max_batch) the model answers within INLINE_SECONDS: the best
    of 5 timed calls of 1 and of max_batch images, the time in between taken as linear."""

    def seconds(size: int) -> float:
        pixels = np.zeros((size, *shape), dtype=np.float32)
        times = []
        for _ in range(5):
            started = time.perf_counter()
            run(pixels)
            times.append(time.perf_counter() - started)
        return min(times)

    one = seconds(1)
    if one > INLINE_SECONDS:
        return 0
    if max_batch == 1:
        return 1
    per_image = max((seconds(max_batch) - one) / (max_batch - 1), 1e-9)
    return min(max_batch, 1 + int((INLINE_SECONDS - one) / per_image))


@dataclass
class _Waiting:
    pixels: np.ndarray
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


def _settle(batch: list[_Waiting], results: list[np.ndarray] | BaseException) -> None:
    """Hand each request of a batch still waiting its rows (or the batch's error), in one
    call to its event loop rather than one per request; a timed-out request has gone."""

    def settle(waiting_there: list[tuple[_Waiting, np.ndarray | BaseException]]) -> None:
        for waiting, result in waiting_there:
            if waiting.future.done():
                continue
            if isinstance(result, BaseException):
                waiting.future.set_exception(result)
            else:
                waiting.future.set_result(result)

    each = results if isinstance(results, list) else [results] * len(batch)
    for loop in {waiting.loop for waiting in batch}:  # one, in a service
        there = [(w, r) for w, r in zip(batch, each, strict=True) if w.loop is loop]
        loop.call_soon_threadsafe(settle, there)


class Batcher:
    """A queue, a max batch and a max delay in front of one model."""

    def __init__(self, run: Runner, max_batch: int, max_delay: float, inline: int = 0) -> None:
        self.run, self.max_batch, self.max_delay, self.inline = run, max_batch, max_delay, inline
        self._queue: queue.Queue[_Waiting | None] = queue.Queue()
        self._held: _Waiting | None = None  # took it, but it did not fit in the last batch
        # A request is queued before close's stop, or runs alone after it: never in between,
        # where no worker would take it.
        self._lock = threading.Lock()
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="batcher", daemon=True)
        self._worker.start()

    async def __call__(self, pixels: np.ndarray) -> np.ndarray:
        """The model's logits for these pixels, run in a batch with other requests (or on
        the event loop, for a few images of a small model)."""
        if len(pixels) <= self.inline:
            return self.run(pixels)
        loop = asyncio.get_running_loop()
        waiting = _Waiting(pixels, loop.create_future(), loop)
        with self._lock:
            queued = not self._closed
            if queued:
                self._queue.put(waiting)
        if not queued:  # closed since this request was given to it: it runs alone
            return await asyncio.to_thread(self.run, pixels)
        return await waiting.future

    def close(self) -> None:
        """Answer what is queued, then stop the worker."""
        with self._lock:
            self._closed = True
            self._queue.put(None)
        self._worker.join()

    def _work(self) -> None:
        while True:
            first = self._held or self._queue.get()
            self._held = None
            if first is None:
                return
            batch = self._collect(first)
            try:
                logits = self.run(np.concatenate([waiting.pixels for waiting in batch]))
            except Exception as error:  # each request in the batch gets it, as a 500
                _settle(batch, error)
                continue
            ends = np.cumsum([len(waiting.pixels) for waiting in batch])
            _settle(batch, np.split(logits, ends[:-1]))

    def _collect(self, first: _Waiting) -> list[_Waiting]:
        batch, size = [first], len(first.pixels)
        deadline = time.monotonic() + self.max_delay
        while size < self.max_batch:
            try:
                waiting = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if waiting is None:  # closing: answer this batch, then stop
                self._queue.put(None)
                break
            if size + len(waiting.pixels) > self.max_batch:
                self._held = waiting  # it starts the next batch
                break
            batch.append(waiting)
            size += len(waiting.pixels)
        return batch


class Unbatched:
    """Each request runs the model alone, in a worker thread."""

    def __init__(self, run: Runner, inline: int = 0) -> None:
        self.run, self.inline = run, inline

    async def __call__(self, pixels: np.ndarray) -> np.ndarray:
        if len(pixels) <= self.inline:  # a few images of a small model: on the event loop
            return self.run(pixels)
        return await asyncio.to_thread(self.run, pixels)

    def close(self) -> None:
        """Nothing to stop: each call's thread ends with it."""
