"""`fwstart new` against what the person's system does: links, full disks, limits, signals.

What the system refuses is the person's to fix: exit 1 with the system's reason and the
path, never exit 70 and "report it"; and nothing is left half-written.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

NOT_A_BUG = "report it"


def leftovers(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if p.name.startswith(".fwstart-")]


def run_fwstart(*args: str, cwd: Path, prelude: str = "") -> subprocess.CompletedProcess:
    """The real command in its own process; ``prelude`` runs first (to set a limit)."""
    code = f"import sys\n{prelude}\nfrom fwstart.cli import main\nsys.argv[0] = 'fwstart'\nmain()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_force_never_replaces_a_broken_link(fwstart, tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "README.md").symlink_to("/nonexistent/README.md")
    result = fwstart("new", "p", "--yes", "--force")
    assert result.exit_code == 1
    assert "already holds files the starter would write: README.md" in result.stderr
    assert (tmp_path / "p" / "README.md").is_symlink()
    assert [p.name for p in (tmp_path / "p").iterdir()] == ["README.md"]


def test_force_never_writes_through_a_linked_folder(fwstart, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "src").symlink_to(elsewhere)
    result = fwstart("new", "p", "--yes", "--force")
    assert result.exit_code == 1 and "would write: src/p/" in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_broken_link_is_not_a_free_name(fwstart, tmp_path):
    (tmp_path / "p").symlink_to("/nonexistent/p")
    result = fwstart("new", "p", "--yes")
    assert result.exit_code == 1 and "is a broken symbolic link" in result.stderr
    assert (tmp_path / "p").is_symlink() and not leftovers(tmp_path)


@pytest.mark.parametrize(
    ("destination", "reason"),
    [
        ("x" * 300, "File name too long"),
        ("/proc/fwstart-demo", "No such file or directory"),
        ("/sys/fwstart-demo", "Operation not permitted"),
    ],
)
def test_what_the_system_refuses_is_reported_with_its_reason(
    fwstart, tmp_path, destination, reason
):
    if not Path(destination).parent.is_dir():
        pytest.skip(f"{Path(destination).parent} is not mounted here")
    result = fwstart("new", destination, "--yes")
    assert result.exit_code == 1, result.output
    assert f"Cannot write the project: {reason}" in result.stderr
    assert destination in result.stderr and NOT_A_BUG not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_permission_denied_is_reported_with_its_reason(fwstart, tmp_path):
    (tmp_path / "locked").mkdir(mode=0o555)
    result = fwstart("new", "locked/app", "--yes")
    assert result.exit_code == 1 and "Permission denied" in result.stderr
    assert "Choose a folder you can write to." in result.stderr


def test_a_full_disk_is_reported_and_rolled_back(tmp_path):
    """The file size limit makes the first large write fail, as a full disk does."""
    limit = (
        "import resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))"
    )
    result = run_fwstart("new", "app", "--yes", cwd=tmp_path, prelude=limit)
    assert result.returncode == 1, result.stderr
    assert "Cannot write the project: File too large" in result.stderr
    assert NOT_A_BUG not in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_really_full_disk_is_reported_and_rolled_back(tmp_path):
    """A 64 KiB tmpfs, mounted in a private mount namespace (no root needed where allowed)."""
    small = tmp_path / "small"
    small.mkdir()
    script = (
        f"mount -t tmpfs -o size=64k tmpfs {small} || exit 99\n"
        f"cd {small} && {sys.executable} -m fwstart new app --yes\n"
        'echo "exit=$?"; ls -A'
    )
    try:
        shell = subprocess.run(
            ["unshare", "--map-root-user", "--mount", "sh", "-c", script],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    except FileNotFoundError:
        pytest.skip("no unshare here")
    if shell.returncode == 99 or "exit=" not in shell.stdout:
        pytest.skip(f"cannot mount a tmpfs here: {shell.stderr.strip()}")
    assert shell.stdout.rstrip().endswith("exit=1"), "nothing may be left on the disk"
    assert f"Cannot write the project: No space left on device ({small / 'app'})" in shell.stderr
    assert "Free some disk space" in shell.stderr and NOT_A_BUG not in shell.stderr


@pytest.mark.parametrize("headroom_mb", [1, 2])
def test_running_out_of_memory_is_not_called_a_bug(tmp_path, headroom_mb):
    # Load the libraries first (as a run would, by then): the limit is for the work.
    limit = (
        "import resource, fwstart.cli, fwstart.api, fwstart.report, cookiecutter.generate\n"
        "import pydantic, typer.testing, cookiecutter.extensions, binaryornot.check\n"
        "used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        f"resource.setrlimit(resource.RLIMIT_AS, (used + {headroom_mb} * 2**20, -1))"
    )
    result = run_fwstart("new", "app", "--yes", cwd=tmp_path, prelude=limit)
    assert result.returncode == 1, result.stderr
    assert "fwstart ran out of memory" in result.stderr and NOT_A_BUG not in result.stderr
    assert not (tmp_path / "app").exists()


def test_a_killed_run_leaves_staging_that_the_next_run_removes(tmp_path):
    """SIGKILL cannot be caught: the next run in the same folder removes what it left."""
    for attempt in range(10):
        child = subprocess.Popen(
            [sys.executable, "-m", "fwstart", "new", f"killed-{attempt}", "--yes"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not leftovers(tmp_path) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        child.send_signal(signal.SIGKILL)
        child.wait()
        if leftovers(tmp_path):
            break
    stale = leftovers(tmp_path)
    assert stale, "no run was caught while rendering"
    alive = tmp_path / f".fwstart-{os.getpid()}-abcdefgh"  # a running process's: kept
    shutil.copytree(tmp_path / stale[0], alive)
    (alive / "work.txt").write_text("in progress")
    foreign = tmp_path / ".fwstart-99999999-abcdefgh"  # no marker, not empty: kept
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not fwstart's")

    result = run_fwstart("new", "next", "--yes", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(leftovers(tmp_path)) == sorted([alive.name, foreign.name])
    assert (tmp_path / "next" / "pyproject.toml").is_file()
