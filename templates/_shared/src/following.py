"""serve --model models:/{{ cookiecutter.distribution_name }}@ALIAS follows the alias.

The process that fetched the first version (the supervisor of --workers N, or the one worker)
asks the registry every --follow seconds which version the alias points at. A new version is
fetched and verified once: its files must match the sizes and SHA-256 its manifest records
(lineage.py), and it must take the input the service was started for (its endpoints are
made for that input). A version that passes is written to a small file that each worker
watches: the worker warms the new version up while the old one still answers, then swaps
(model_server.py), and /metrics counts each swap (model_swaps_total). A version that fails
is never served: the service says why once, goes on serving the version it has, and counts
it (model_versions_refused).
"""

import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .lineage import damaged_files
from .model_server import ServedModel, server_artifact
from .registered import fetch

WATCH_SECONDS = 0.2  # how often a worker looks at the file


@dataclass(frozen=True)
class Serving:
    """What the workers are to serve: the version's folder and number, and how many
    versions the alias pointed at were refused."""

    folder: Path
    version: str
    refused: int = 0

    def write(self, path: Path) -> None:
        """Replace the file whole: a worker reads the old one or the new one."""
        temporary = path.with_name(f".{path.name}.tmp")
        saved = {"folder": str(self.folder), "version": self.version, "refused": self.refused}
        temporary.write_text(json.dumps(saved))
        os.replace(temporary, path)

    @classmethod
    def read(cls, path: Path) -> "Serving":
        saved = json.loads(path.read_text())
        return cls(Path(saved["folder"]), str(saved["version"]), int(saved["refused"]))


def why_not_served(folder: Path, served_input: dict | None) -> str:
    """What keeps the version in ``folder`` from being served, or "" if nothing does; it
    must take ``served_input`` if given (the input of the version served now)."""
    try:
        file, manifest = server_artifact(folder)
        if not file.exists():
            return f"its manifest lists {file.name}, which is not there"
        entry = next(entry for entry in manifest["artifacts"] if folder / entry["file"] == file)
        if "sha256" not in entry:
            return "its manifest records no SHA-256 to check it by (export and register it again)"
        damaged = damaged_files(manifest, folder)
        if damaged:
            return f"{'; '.join(damaged)} (remove {folder} to fetch it again)"
        if served_input is not None and manifest["input"] != served_input:
            return (
                f"it takes another input ({manifest['input']}, not {served_input}): "
                "start a service for it"
            )
    except (ValueError, KeyError, TypeError, StopIteration) as error:
        return str(error) or type(error).__name__
    return ""


class Follower:
    """Asks the registry where the alias points, every ``every`` seconds, in a thread."""

    def __init__(
        self, uri: str, name: str, cache: Path | None, every: float, first: Serving
    ) -> None:
        self.uri, self.name, self.cache, self.every = uri, name, cache, every
        self.path = Path(tempfile.mkdtemp(prefix="serve-follow-")) / "serving.json"
        self.serving = first
        self.served_input = server_artifact(first.folder)[1]["input"]
        self.refused: set[str] = set()
        self.said = ""  # the last warning: said once, not at every check
        first.write(self.path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop asking, and remove the file the workers watch."""
        self._stop.set()
        shutil.rmtree(self.path.parent, ignore_errors=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.check()
            except Exception as error:  # the registry unreachable, a full disk: serve on
                self._warn(
                    f"warning: cannot check where {self.uri} points ({error}); still "
                    f"serving version {self.serving.version}."
                )

    def check(self) -> None:
        """Fetch the version the alias points at; hand it to the workers once verified."""
        folder, version = fetch(self.uri, self.name, self.cache)
        self.said = ""
        if version == self.serving.version or version in self.refused:
            return
        problem = why_not_served(folder, self.served_input)
        if problem:
            self.refused.add(version)
            print(
                f"error: {self.uri} now points at version {version}, which will not be "
                f"served: {problem}. Still serving version {self.serving.version}.",
                file=sys.stderr,
                flush=True,
            )
            self.serving = Serving(self.serving.folder, self.serving.version, len(self.refused))
        else:
            print(
                f"{self.uri} now points at version {version}: each worker swaps to it once "
                "it has warmed it up.",
                flush=True,
            )
            self.serving = Serving(folder, version, len(self.refused))
        self.serving.write(self.path)

    def _warn(self, warning: str) -> None:
        if warning != self.said:
            print(warning, file=sys.stderr, flush=True)
            self.said = warning


async def watch(model: ServedModel, path: Path, refused: Callable[[int], None]) -> None:
    """A worker's side: swap ``model`` to the version in ``path`` whenever it changes."""
    seen: tuple[int, int] | None = None
    while True:
        await asyncio.sleep(WATCH_SECONDS)
        try:
            status = path.stat()
            if (status.st_ino, status.st_mtime_ns) == seen:
                continue
            serving = Serving.read(path)
            seen = (status.st_ino, status.st_mtime_ns)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not there yet, or the service is stopping
        refused(serving.refused)
        if serving.version != model.version:
            await model.swap(serving.folder, serving.version)
