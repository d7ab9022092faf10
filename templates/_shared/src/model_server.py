"""The served model: found through the manifest, loaded and warmed up off the event loop,
then run through the batcher with a deadline.
{%- if cookiecutter.registry %} Swapped for another version, warmed up the same
way, as the registry alias it serves moves (following.py).
{%- endif %}"""

import asyncio
import gc
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .batching import INLINE_SECONDS, Batcher, Unbatched, inline_images
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


def _freeze_heap() -> None:
    """Keep what loading made (the runtime's modules, the model) out of the garbage
    collector's way from now on. A runtime such as TensorFlow leaves hundreds of thousands of
    objects, and each full collection of them holds the event loop for ~0.25 s, which requests
    and /healthz would pay every few seconds under load (bench/ in fwstart)."""
    gc.collect()
    gc.freeze()


class Answer(NamedTuple):
    """The model's logits for a request, each row's label, and the version that answered."""

    logits: np.ndarray
    labels: list[str]
    version: str


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
{%- if cookiecutter.registry %}
        self.on_swap: Callable[[], None] = lambda: None  # counts it (serve.py sets it)
{%- endif %}
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
            run, inline = await asyncio.to_thread(self._warm_runner, self.file)
        except Exception as error:  # a broken model file: say so and stop the service
            self.failure = f"Cannot load {self.file}: {error}"
            print(f"error: {self.failure}", file=sys.stderr, flush=True)
            self.on_failure()
            return
        self._engine = self._engine_for(run, inline)
        _freeze_heap()
        settings = self.settings
        mode = (
            f"batches of up to {settings.max_batch} images, waiting at most "
            f"{settings.max_delay * 1000:g} ms"
            if settings.batching
            else "no batching"
        )
        if inline:  # bench/ in fwstart: what a thread hand-off costs a small model
            within = f"{INLINE_SECONDS * 1000:g} ms"
            mode += f"; up to {inline} image(s) run on the event loop, within {within}"
        print(f"Model ready: {self.file.name} ({mode}).", flush=True)
        self.on_loaded()

    def _engine_for(self, run: Runner, inline: int) -> Batcher | Unbatched:
        if self.settings.batching:
            return Batcher(run, self.settings.max_batch, self.settings.max_delay, inline)
        return Unbatched(run, inline)

    def _warm_runner(self, file: Path) -> tuple[Runner, int]:
        """The model's runner, warmed up, and how many images may run on the event loop."""
        run = server_runner(file, self.settings.threads)
        for size in sorted({1, self.settings.max_batch}):  # first calls allocate; do them now
            run(np.zeros((size, *self.shape), dtype=np.float32))
        return run, inline_images(run, self.shape, self.settings.max_batch)

    async def predict(self, pixels: np.ndarray) -> Answer:
        """Logits and labels for the pixels, all from the version served when the request
        came, and its number: 503 while not ready, 504 past the timeout."""
        if self._loading is not None and not self._loading.done():  # wait, within the timeout
            await asyncio.wait([self._loading], timeout=self.settings.timeout)
        engine, classes, version = self._engine, self.classes, self.version
        if engine is None:
            raise Refused(self.failure or "The model is still loading; try again.", 503)
        try:
            logits = await asyncio.wait_for(engine(pixels), self.settings.timeout)
        except asyncio.TimeoutError:
            raise Refused(
                f"No answer within {self.settings.timeout:g} s (--timeout).", 504
            ) from None
        return Answer(logits, [classes[label] for label in logits.argmax(axis=1)], version)

{%- if cookiecutter.registry %}

    async def swap(self, artifacts: Path, version: str) -> bool:
        """Serve another version of the model (one that takes the same input): load and warm
        it up in a thread while this one answers, then switch at once. Requests this one was
        given are answered by it, naming it. False, said on stderr, if it cannot load."""
        if self._loading is not None and not self._loading.done():
            await asyncio.wait([self._loading])
        old = self._engine
        if old is None or self.stopping:
            return False
        try:
            file, manifest = server_artifact(artifacts)
            if manifest["input"] != self.manifest["input"]:
                raise ValueError(f"it takes another input ({manifest['input']})")
            run, inline = await asyncio.to_thread(self._warm_runner, file)
        except Exception as error:  # a file that cannot load: keep serving this version
            print(
                f"error: cannot serve version {version} from {artifacts}: {error}. Still "
                f"serving version {self.version}.",
                file=sys.stderr,
                flush=True,
            )
            return False
        self._engine = self._engine_for(run, inline)
        self.file, self.manifest, self.classes = file, manifest, manifest["classes"]
        self.version = version
        print(f"Now serving version {version} ({file.name}).", flush=True)
        self.on_swap()
        await asyncio.to_thread(old.close)  # after it has answered what it was given
        del old
        gc.unfreeze()  # the old version's objects may be collected now: one full collection
        _freeze_heap()
        return True
{%- endif %}

    async def stop(self) -> None:
        """Stop loading, or answer what is queued and stop the batcher."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        if self._engine is not None:
            await asyncio.to_thread(self._engine.close)
