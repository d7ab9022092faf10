"""The sample log is best effort: when it cannot be written (a full disk, its folder removed),
every prediction is still answered, readiness holds, and /metrics counts the lost writes."""

import shutil
import signal
from pathlib import Path

import pytest

from .test_serve import PREDICT, metric_sample, post, readiness, start

REQUESTS = 3


def damage_full_disk(folder: Path, log: Path) -> None:
    log.symlink_to("/dev/full")  # every write to it fails with ENOSPC, as on a full disk


def damage_removed_folder(folder: Path, log: Path) -> None:
    shutil.rmtree(folder)


@pytest.mark.parametrize("damage", [damage_full_disk, damage_removed_folder])
def test_a_sample_log_that_cannot_be_written_fails_no_prediction(
    artifacts, images, tmp_path, damage
):
    if damage is damage_full_disk and not Path("/dev/full").exists():
        pytest.skip("needs /dev/full (Linux)")
    folder = tmp_path / "monitoring"
    folder.mkdir()
    log = folder / "samples.jsonl"
    if damage is damage_full_disk:
        damage(folder, log)
    process, url = start(artifacts, "--sample-log", str(log), "--workers", "1")
    try:
        if damage is not damage_full_disk:
            damage(folder, log)  # while the service runs
        body = {"instances": images[:2].tolist()}
        statuses = [post(url + PREDICT, body)[0] for _ in range(REQUESTS)]
        failures = metric_sample(url, "sample_log_failures_total")
        ready = readiness(url)[0]
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert statuses == [200] * REQUESTS
    assert failures == REQUESTS and ready == 200 and code == 0
