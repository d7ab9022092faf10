"""Drift: how far the images the service sees are from the ones the model learned on.

Each image is summed up by a few numbers (FEATURES: its mean pixel and its contrast). Export
stores their distribution over the training images as reference.json beside the model. The
drift score of some traffic is the population stability index (PSI) of its features against
that reference, over the reference's deciles, for the feature that moved most: about 0 for
images like the training data; above DRIFT_THRESHOLD (0.25, the usual line for a significant
shift) they are no longer like it. NumPy only, so the service needs nothing more.
"""

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURES = ("mean_pixel", "pixel_std")
DRIFT_THRESHOLD = 0.25
REFERENCE_FILE = "reference.json"
BINS = 10  # the reference's deciles
KEPT_VALUES = 2000  # training images' features kept for monitor's two-sample tests
WINDOW = 500  # images the service scores at a time
MIN_SAMPLES = 100  # fewer images than this say too little to score


def features(pixels: np.ndarray) -> np.ndarray:
    """One row per image: its FEATURES, from raw 0-255 pixels in any layout."""
    flat = pixels.reshape(len(pixels), -1).astype(np.float64)
    return np.stack([flat.mean(axis=1), flat.std(axis=1)], axis=1)


@dataclass(frozen=True)
class Reference:
    """The training images' features: bin edges and shares, and a sample of the values."""

    edges: list[np.ndarray]  # per feature, the inner edges of its bins
    shares: list[np.ndarray]  # per feature, the training images' share in each bin
    values: np.ndarray  # (images, features)


def _bin_of(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each value's bin among the inner edges: 0 below the first, len(edges) above the last."""
    return np.searchsorted(edges, values, side="right")


def _binned(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.bincount(_bin_of(values, edges), minlength=len(edges) + 1)


def write_reference(pixels: np.ndarray, folder: Path) -> dict:
    """Store the reference of these (training) images in folder; the manifest's entry."""
    values = features(pixels)
    edges = [
        np.unique(np.quantile(column, np.linspace(0, 1, BINS + 1)[1:-1])) for column in values.T
    ]
    kept = np.random.default_rng(0).permutation(len(values))[:KEPT_VALUES]
    document = {
        "features": list(FEATURES),
        "images": len(values),
        "edges": [edge.tolist() for edge in edges],
        "shares": [
            (_binned(column, edge) / len(values)).tolist()
            for column, edge in zip(values.T, edges, strict=True)
        ],
        "values": values[kept].round(4).tolist(),
    }
    (folder / REFERENCE_FILE).write_text(json.dumps(document) + "\n")
    return {
        "reference": REFERENCE_FILE,
        "features": list(FEATURES),
        "images": len(values),
        "drift_threshold": DRIFT_THRESHOLD,
    }


def load_reference(artifacts: Path, manifest: dict) -> Reference:
    """The reference export stored beside the model (ValueError, one line, if it cannot)."""
    entry = manifest.get("monitoring")
    if entry is None:
        raise ValueError(f"{artifacts / 'manifest.json'} has no drift reference: export again.")
    path = artifacts / entry["reference"]
    try:
        document = json.loads(path.read_text())
        values = np.asarray(document["values"], dtype=np.float64).reshape(-1, len(FEATURES))
        return Reference(
            [np.asarray(edge) for edge in document["edges"]],
            [np.asarray(share) for share in document["shares"]],
            values,
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"Cannot read the drift reference {path} ({error}): export again."
        ) from None


def stability(reference: Reference, values: np.ndarray) -> np.ndarray:
    """Per feature, the PSI of these images' features against the reference."""
    return _psi(
        reference,
        [_binned(column, edges) for column, edges in zip(values.T, reference.edges, strict=True)],
    )


def _psi(reference: Reference, counts: list[np.ndarray]) -> np.ndarray:
    """Per feature, the PSI of images counted in the reference's bins against its shares."""
    scores = []
    for seen_counts, expected in zip(counts, reference.shares, strict=True):
        # Half an image in every bin, so that an empty bin is a large term, not an infinite one.
        seen = (seen_counts + 0.5) / (seen_counts.sum() + 0.5 * len(seen_counts))
        wanted = np.clip(expected, 1e-3, None) / np.clip(expected, 1e-3, None).sum()
        scores.append(float(np.sum((seen - wanted) * np.log(seen / wanted))))
    return np.asarray(scores)


class Window:
    """The last WINDOW images one service process saw, as the reference bin each of their
    features falls in, and their score. Counted as images come and go, so that a request
    costs the same whatever the window's size."""

    def __init__(self, reference: Reference, size: int = WINDOW) -> None:
        self.reference = reference
        self.recent: deque[np.ndarray] = deque()  # one row of bins per image
        self.size = size
        self.counts = [np.zeros(len(edges) + 1, dtype=np.int64) for edges in reference.edges]

    def add(self, values: np.ndarray) -> float | None:
        """Add images' features; the drift score, or None while too few images are in."""
        bins = np.stack(
            [
                _bin_of(column, edges)
                for column, edges in zip(values.T, self.reference.edges, strict=True)
            ],
            axis=1,
        )
        for row in bins[-self.size :]:
            if len(self.recent) == self.size:
                self._count(self.recent.popleft(), -1)
            self.recent.append(row)
            self._count(row, 1)
        if len(self.recent) < MIN_SAMPLES:
            return None
        return float(_psi(self.reference, self.counts).max())

    def _count(self, row: np.ndarray, change: int) -> None:
        for counts, bin_ in zip(self.counts, row, strict=True):
            counts[bin_] += change
