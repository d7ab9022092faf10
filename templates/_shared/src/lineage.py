"""Where an export came from: each file's SHA-256, and fingerprints of the checkpoint and data.

export records them in the manifest. What reads an export checks its files against their size
and hash before it uses them (damaged_files), and warns when the checkpoint was written again
(trained again) since the export, or when the data it came from changed (warn_if_stale).
"""

import hashlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

CHUNK = 1 << 20


def files_of(path: Path) -> list[Path]:
    """A file, or every file of a folder (such as a SavedModel), in a fixed order."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file())


def sha256(path: Path) -> str:
    """The SHA-256 of a file, or of a folder's files (their relative names and contents)."""
    digest = hashlib.sha256()
    for file in files_of(path):
        if path.is_dir():
            digest.update(f"{file.relative_to(path).as_posix()}\n".encode())
        with file.open("rb") as handle:
            while block := handle.read(CHUNK):
                digest.update(block)
    return digest.hexdigest()


def size_of(path: Path) -> int:
    return sum(file.stat().st_size for file in files_of(path))


def data_fingerprint(path: Path) -> str:
    """A data file's SHA-256; for a folder of photos, one over every file's name, size and
    modification time (reading every photo would take as long as decoding them)."""
    if path.is_file():
        return sha256(path)
    digest = hashlib.sha256()
    for file in files_of(path):
        stat = file.stat()
        digest.update(
            f"{file.relative_to(path).as_posix()} {stat.st_size} {stat.st_mtime_ns}\n".encode()
        )
    return digest.hexdigest()


def _modified(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")


def record(checkpoint: Path, data: Path) -> dict:
    """The manifest's ``lineage``: the checkpoint and data an export came from."""
    return {
        "checkpoint": {
            "path": str(checkpoint),
            "sha256": sha256(checkpoint),
            "size_bytes": checkpoint.stat().st_size,
            "modified": _modified(checkpoint),
        },
        "data": {"path": str(data), "fingerprint": data_fingerprint(data)},
    }


def damaged_files(manifest: dict, folder: Path) -> list[str]:
    """Each artifact whose size or SHA-256 differs from the manifest's, described."""
    problems = []
    for entry in manifest["artifacts"]:
        path = folder / entry["file"]
        if not path.exists():
            continue  # named as missing by the caller
        size = size_of(path)
        if "size_bytes" in entry and size != entry["size_bytes"]:
            problems.append(f"{path} is {size} bytes, the manifest says {entry['size_bytes']}")
        elif "sha256" in entry and sha256(path) != entry["sha256"]:
            problems.append(f"{path} differs from the file export wrote (SHA-256)")
    return problems


def warn_if_unrecorded(manifest: dict, manifest_file: Path) -> bool:
    """Warn (once per call) about a manifest from before hashes were recorded; True if so."""
    if all("sha256" in entry for entry in manifest["artifacts"]) and "lineage" in manifest:
        return False
    print(
        f"warning: {manifest_file} was written by an older export, without file hashes or "
        "the checkpoint and data it came from, so neither can be checked: export again to "
        "record them.",
        file=sys.stderr,
    )
    return True


def stale(manifest: dict, manifest_file: Path) -> list[str]:
    """Warnings: the checkpoint this export came from was rewritten since, or its data changed.

    The paths are the ones export used (relative to where it ran); one that is not there
    (another folder, another machine) is not checked.
    """
    lineage = manifest.get("lineage")
    if not isinstance(lineage, dict):
        return []
    said, export = [], f"the export {manifest_file.parent}"
    checkpoint, data = Path(lineage["checkpoint"]["path"]), Path(lineage["data"]["path"])
    recorded = lineage["checkpoint"]
    if checkpoint.is_file() and (
        checkpoint.stat().st_size != recorded["size_bytes"]
        or sha256(checkpoint) != recorded["sha256"]
    ):
        said.append(
            f"{export} was made from {checkpoint} as of {recorded['modified']}, but "
            f"{checkpoint} was written again at {_modified(checkpoint)} (trained again?): "
            "export again to use the new model."
        )
    if data.exists() and data_fingerprint(data) != lineage["data"]["fingerprint"]:
        said.append(
            f"{export} came from a model trained on {data}, which has changed since: "
            "train and export again if the classes or images are not the same."
        )
    return said


def warn_if_stale(folder: Path, manifest: dict | None = None) -> None:
    """Print stale()'s warnings (or the older-manifest one) for the export in ``folder`` to
    stderr. A manifest that cannot be read is left to the caller, which names it."""
    manifest_file = folder / "manifest.json"
    try:
        if manifest is None:
            manifest = json.loads(manifest_file.read_text())
        if warn_if_unrecorded(manifest, manifest_file):
            return
        warnings = stale(manifest, manifest_file)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
