"""Compare the traffic the service logged with the training data: has it drifted?

python -m {{ cookiecutter.package_name }}.monitor
    [--log monitoring/samples.jsonl] [--artifacts artifacts]
    [--report monitoring/report.html] [--threshold 0.25] [--min-samples 100]

For each input feature (drift.FEATURES) it computes the drift score the service exports (the
population stability index, PSI) and SciPy's two-sample Kolmogorov-Smirnov test against the
training images' sample stored at export. A feature has drifted when its score is past
--threshold and the test finds the difference significant (p < 0.01), so that a small, noisy
sample does not raise an alarm. It writes an HTML report and exits 0 for no drift, 3 for
drift, 1 for bad input or fewer than --min-samples images (for cron or CI to alert on).
"""

import argparse
import html
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import ks_2samp

from . import drift, sample_log
from .flag_values import real, whole

SIGNIFICANCE = 0.01
DRIFT = 3  # the exit code for drift
STYLE = (
    "body {font: 15px system-ui; margin: 2em; max-width: 60em} "
    "td, th {padding: .3em .8em; text-align: right} .drift {background: #fdd} "
    ".bar {display: inline-block; height: .8em; background: #58a}"
)


@dataclass(frozen=True)
class Finding:
    """One feature of the traffic against the training images."""

    feature: str
    score: float  # PSI
    statistic: float  # Kolmogorov-Smirnov
    p_value: float
    traffic_mean: float
    training_mean: float
    drifted: bool


def read_traffic(log: Path) -> tuple[np.ndarray, list[str]]:
    """The logged images' features and predicted classes (ValueError if none is logged)."""
    if not sample_log.files(log):
        raise ValueError(
            f"No logged traffic at {log}: serve logs it there (--sample-log), "
            "or pass --log where it is."
        )
    rows, labels = [], []
    for pixels, label in sample_log.read(log):
        rows.append(drift.features(pixels[None])[0])
        labels.append(label)
    return np.asarray(rows).reshape(-1, len(drift.FEATURES)), labels


def compare(reference: drift.Reference, traffic: np.ndarray, threshold: float) -> list[Finding]:
    """Each feature's drift score and test, and whether it counts as drift."""
    scores = drift.stability(reference, traffic)
    findings = []
    for index, name in enumerate(drift.FEATURES):
        test = ks_2samp(traffic[:, index], reference.values[:, index])
        score, p_value = float(scores[index]), float(test.pvalue)
        if not np.isfinite([score, test.statistic, p_value]).all():  # never "no drift"
            raise ValueError(
                f"The {name} of the logged images cannot be compared with the "
                f"training images (score {score}, p-value {p_value}): the log or "
                "the reference is damaged; export again, or move the log away."
            )
        findings.append(
            Finding(
                name,
                score,
                float(test.statistic),
                p_value,
                float(traffic[:, index].mean()),
                float(reference.values[:, index].mean()),
                score > threshold and p_value < SIGNIFICANCE,
            )
        )
    return findings


def _rows(findings: list[Finding]) -> str:
    return "".join(
        f"<tr class={'drift' if f.drifted else 'ok'}><td>{f.feature}</td><td>{f.score:.3f}</td>"
        f"<td>{f.statistic:.3f}</td><td>{f.p_value:.2g}</td><td>{f.training_mean:.1f}</td>"
        f"<td>{f.traffic_mean:.1f}</td><td>{'drift' if f.drifted else 'no drift'}</td></tr>"
        for f in findings
    )


def _classes(labels: list[str]) -> str:
    counts = Counter(labels)
    return "".join(
        f"<tr><td>{html.escape(label)}</td><td>{count}</td>"
        f"<td><span class=bar style='width:{200 * count / len(labels):.0f}px'></span>"
        f" {count / len(labels):.1%}</td></tr>"
        for label, count in sorted(counts.items())
    )


def report(findings: list[Finding], labels: list[str], log: Path, threshold: float) -> str:
    """The HTML page a person reads: the verdict, each feature, the predicted classes."""
    drifted = [f.feature for f in findings if f.drifted]
    verdict = f"Drift in {', '.join(drifted)}" if drifted else "No drift"
    return f"""<!doctype html>
<html lang=en><meta charset=utf-8><title>{{ cookiecutter.distribution_name }}: {verdict}</title>
<style>{STYLE}</style>
<h1>{verdict}</h1>
<p>{len(labels)} images logged by the service ({html.escape(str(log))}) compared with the
training images. A feature has drifted when its drift score (PSI) is above {threshold:g} and the
Kolmogorov-Smirnov test finds the difference significant (p &lt; {SIGNIFICANCE:g}). A PSI below
0.1 is the usual sign of an unchanged distribution.</p>
<table><tr><th>feature</th><th>PSI</th><th>KS statistic</th><th>p-value</th>
<th>training mean</th><th>traffic mean</th><th>verdict</th></tr>{_rows(findings)}</table>
<h2>Predicted classes</h2>
<table><tr><th>class</th><th>images</th><th>share</th></tr>{_classes(labels)}</table>
</html>
"""


def _manifest(artifacts: Path) -> dict:
    path = artifacts / "manifest.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"No {path}: train and export first, or pass --artifacts.") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}): export again.") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Compare the logged traffic with the training data; exit 3 if it drifted."
    )
    parser.add_argument("--log", type=Path, default=sample_log.PATH)
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--report", type=Path, default=Path("monitoring/report.html"))
    parser.add_argument(
        "--threshold",
        type=real(0, above=True),
        default=drift.DRIFT_THRESHOLD,
        help="drift score (PSI) past which a feature has drifted",
    )
    parser.add_argument("--min-samples", type=whole(1), default=drift.MIN_SAMPLES)
    args = parser.parse_args(argv)
    try:
        reference = drift.load_reference(args.artifacts, _manifest(args.artifacts))
        traffic, labels = read_traffic(args.log)
        if len(labels) < max(args.min_samples, 1):
            raise ValueError(
                f"Only {len(labels)} images logged at {args.log}; at least "
                f"{args.min_samples} are needed to tell drift from chance."
            )
        findings = compare(reference, traffic, args.threshold)
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report(findings, labels, args.log, args.threshold))
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for f in findings:
        print(
            f"{'DRIFT' if f.drifted else 'ok   '} {f.feature:<11} PSI {f.score:.3f}  "
            f"KS {f.statistic:.3f} (p {f.p_value:.2g})"
        )
    drifted = any(f.drifted for f in findings)
    print(f"{'Drift' if drifted else 'No drift'} in {len(labels)} images; report: {args.report}")
    return DRIFT if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
