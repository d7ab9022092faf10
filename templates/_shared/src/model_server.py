"""The served model: found through the manifest, loaded and warmed up off the event loop,
then run through the batcher with a deadline."""

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .batching import Batcher, Unbatched
from .inputs import MAX_INSTANCES, Refused
from .runtimes import SERVER_FORMAT, Runner, server_runner

BYTES_PER_PIXEL = 16  # room for "123.456789012, " in JSON


@dataclass(frozen=True)
class Settings:
    """How the service batches, bounds and times requests (serve's flags)."""

    max_batch: int = 32
    max_delay: float = 0.0  # seconds: 0 batches only what queued while the model was busy
    batching: bool = True
    max_body_bytes: int | None = None  # None: room for MAX_INSTANCES images
    timeout: float = 10.0  # seconds
    threads: int = 1  # the runtime's threads per model call; 0: one per core


def server_artifact(artifacts: Path) -> tuple[Path, dict]:
    """The server's model file and the manifest that describes it."""
    manifest_file = artifacts / "manifest.json"
    if not manifest_file.is_file():
        raise ValueError(f"No {manifest_file}: train and export for the server target first.")
    try:
        manifest = json.loads(manifest_file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{manifest_file} is not valid JSON ({error}): export again.") from None
    for entry in manifest["artifacts"]:
        if entry["format"] == SERVER_FORMAT:
            return artifacts / entry["file"], manifest
    raise ValueError(
        f"{manifest_file} lists no {SERVER_FORMAT} model: export with --target server."
    )


class ServedModel:
    """One model behind the service: ready once loaded and warmed up."""

    def __init__(self, name: str, artifacts: Path, settings: Settings, version: str = "1") -> None:
        self.name, self.settings, self.version = name, settings, version  # 1: a plain folder
        self.file, self.manifest = server_artifact(artifacts)
        if not self.file.exists():
            raise ValueError(f"No model at {self.file}: export with --target server.")
        self.shape: list[int] = self.manifest["input"]["shape"][1:]
        self.classes: list[str] = self.manifest["classes"]
        pixels = int(np.prod(self.shape))
        self.body_limit = settings.max_body_bytes or MAX_INSTANCES * pixels * BYTES_PER_PIXEL
        self.failure = ""
        self.stopping = False  # set on SIGTERM: not ready, though it still answers
        self.on_failure: Callable[[], None] = lambda: None  # serve's main stops the server
        # A worker of --workers N says it has loaded, and is ready only once every one has:
        # a probe may reach any of them (serve.py sets both).
        self.on_loaded: Callable[[], None] = lambda: None
        self.all_loaded: Callable[[], bool] = lambda: True
        self._engine: Batcher | Unbatched | None = None
        self._loading: asyncio.Task | None = None

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    @property
    def ready(self) -> bool:
        return self.loaded and not self.stopping and self.all_loaded()

    def start(self) -> None:
        """Load and warm up in a worker thread; the service answers liveness meanwhile."""
        self._loading = asyncio.create_task(self._load())

    async def _load(self) -> None:
        try:
            run = await asyncio.to_thread(self._warm_runner)
        except Exception as error:  # a broken model file: say so and stop the service
            self.failure = f"Cannot load {self.file}: {error}"
            print(f"error: {self.failure}", file=sys.stderr, flush=True)
            self.on_failure()
            return
        self._engine = (
            Batcher(run, self.settings.max_batch, self.settings.max_delay)
            if self.settings.batching
            else Unbatched(run)
        )
        settings = self.settings
        mode = (
            f"batches of up to {settings.max_batch} images, waiting at most "
            f"{settings.max_delay * 1000:g} ms"
            if settings.batching
            else "no batching"
        )
        print(f"Model ready: {self.file.name} ({mode}).", flush=True)
        self.on_loaded()

    def _warm_runner(self) -> Runner:
        run = server_runner(self.file, self.settings.threads)
        for size in sorted({1, self.settings.max_batch}):  # first calls allocate; do them now
            run(np.zeros((size, *self.shape), dtype=np.float32))
        return run

    async def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Logits for the pixels: 503 while not ready, 504 past the timeout."""
        if self._loading is not None and not self._loading.done():  # wait, within the timeout
            await asyncio.wait([self._loading], timeout=self.settings.timeout)
        if self._engine is None:
            raise Refused(self.failure or "The model is still loading; try again.", 503)
        try:
            return await asyncio.wait_for(self._engine(pixels), self.settings.timeout)
        except asyncio.TimeoutError:
            raise Refused(
                f"No answer within {self.settings.timeout:g} s (--timeout).", 504
            ) from None

    async def stop(self) -> None:
        """Stop loading, or answer what is queued and stop the batcher."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        if self._engine is not None:
            await asyncio.to_thread(self._engine.close)
