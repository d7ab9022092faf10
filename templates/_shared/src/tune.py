"""Search settings with Optuna.

python -m {{ cookiecutter.package_name }}.tune --trials N [--epochs E] [--set KEY=VALUE]

Each trial trains with settings drawn by TPE from the ranges in configs/search.yaml, in its own
run directory (run_dir/tune/STUDY/trial-N); a median pruner stops a trial whose validation
accuracy falls behind the others' at the same epoch. The study lives in a journal file,
run_dir/optuna-journal.log, which several processes on this machine can share (Optuna's advice
over SQLite for that); --storage FILE uses another journal file, and
--storage postgresql://... shares one study between machines.
--trials is the study's total of finished trials: two processes started with --trials 10
finish 10 between them, and a study stopped early goes on from the trials it has.
The best trial's settings, with this run's --set overrides, are written to
configs/tuned.yaml, which trains with them:
    python -m {{ cookiecutter.package_name }}.train --config configs/tuned.yaml
"""

import argparse
import os
import re
import socket
import sys
import urllib.parse
from dataclasses import fields
from pathlib import Path
from typing import Any

{% if cookiecutter.tracking -%}
import mlflow
{% endif -%}
import optuna
import yaml
from optuna.trial import TrialState

from . import {{ "tracking, " if cookiecutter.tracking else "" }}train
from .config import Config, parse_override, with_overrides
from .progress import atomic_path

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
JOURNAL = "optuna-journal.log"  # in run_dir


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Search settings with Optuna.")
    parser.add_argument(
        "--trials",
        type=int,
        required=True,
        help="finished trials the study should have (all processes together)",
    )
    parser.add_argument(
        "--study",
        default="{{ cookiecutter.distribution_name }}",
        help="the study's name",
    )
    parser.add_argument(
        "--storage",
        help=f"an Optuna storage URL, or a journal file's path [default: run_dir/{JOURNAL}]",
    )
    parser.add_argument(
        "--space",
        type=Path,
        default=Path("configs/search.yaml"),
        help="the settings to search and their ranges",
    )
    parser.add_argument("--output", type=Path, default=Path("configs/tuned.yaml"))
    parser.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    parser.add_argument("--epochs", type=int, help="epochs per trial (override the config's)")
    parser.add_argument("--seed", type=int, help="override the config's seed")
    parser.add_argument("--device", help="override the config's device")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any setting in every trial (kept in tuned.yaml)",
    )
    return parser.parse_args(argv)


def load_space(path: Path) -> dict[str, dict[str, Any]]:
    """The search space: setting -> {low, high[, log]} or {choices}."""
    try:
        space = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"Cannot read the search space {path}: {error}") from None
    if not isinstance(space, dict) or not space:
        raise ValueError(
            f"{path} must map settings to ranges, e.g. learning_rate: "
            "{low: 0.0003, high: 0.03, log: true}."
        )
    known = [field.name for field in fields(Config)]
    for name, bounds in space.items():
        if name not in known:
            raise ValueError(f"{path}: {name} is not a setting; known: {', '.join(known)}.")
        if not isinstance(bounds, dict) or not (
            {"low", "high"} <= set(bounds) or "choices" in bounds
        ):
            raise ValueError(f"{path}: {name} needs low and high, or choices.")
    return space


def suggest(trial: optuna.Trial, space: dict[str, dict[str, Any]]) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, bounds in space.items():
        if "choices" in bounds:
            values[name] = trial.suggest_categorical(name, bounds["choices"])
        elif isinstance(bounds["low"], int) and isinstance(bounds["high"], int):
            values[name] = trial.suggest_int(
                name, bounds["low"], bounds["high"], log=bounds.get("log", False)
            )
        else:
            values[name] = trial.suggest_float(
                name, bounds["low"], bounds["high"], log=bounds.get("log", False)
            )
    return values


def run_trial(trial: optuna.Trial, base: Config, space: dict, study: str) -> float:
    """Train with the trial's settings; report each epoch's validation accuracy to Optuna."""
    run_dir = Path(base.run_dir) / "tune" / study / f"trial-{trial.number}"
    config = with_overrides(base, **suggest(trial, space), run_dir=str(run_dir))

    def report(record: dict[str, float]) -> None:
        trial.report(record["val_accuracy"], int(record["epoch"]))
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {int(record['epoch'])}")

    train.EPOCH_LISTENERS.append(report)
    try:
        return train.train(config, fresh=True)["best_val_accuracy"]
    finally:
        train.EPOCH_LISTENERS.remove(report)


def open_study(args: argparse.Namespace, run_dir: Path) -> optuna.Study:
    """The study in --storage: a database URL, or a journal file's path (run_dir's journal
    when none is given)."""
    url = args.storage if args.storage and "://" in args.storage else None
    journal = None if url else Path(args.storage or run_dir / JOURNAL)
    storage: str | optuna.storages.BaseStorage
    try:
        if url:
            storage = url
        else:
            journal.parent.mkdir(parents=True, exist_ok=True)
            backend = optuna.storages.journal.JournalFileBackend(str(journal))
            storage = optuna.storages.JournalStorage(backend)
        return optuna.create_study(
            study_name=args.study,
            storage=storage,
            direction="maximize",
            load_if_exists=True,
            sampler=optuna.samplers.TPESampler(),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
        )
    except Exception as error:  # whatever the database's driver raises: the URL is at fault
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(_unopened(args.storage, journal, reason)) from None


def _unopened(storage: str | None, journal: Path | None, reason: str) -> str:
    """Why the study's storage did not open, with no password in it, and what to do."""
    where = redacted(storage) if storage else str(journal)
    if storage and "://" in storage:
        password = urllib.parse.urlsplit(storage).password
        reason = reason.replace(password, "***") if password else reason
        fix = (
            "Give a database URL such as sqlite:///study.db or postgresql://user@host/db, "
            "a journal file's path, or leave out --storage."
        )
    elif storage:
        fix = "Give a journal file Optuna wrote, a new file's path, or a database URL."
    else:
        fix = (
            f"Move {journal} away to start a new study there, or pass --storage with "
            "another journal file or a database URL."
        )
    return f"Cannot open the study's storage {where}: {redacted(reason)}. {fix}"


def redacted(text: str) -> str:
    """``text`` with any URL's password replaced by ***."""
    return re.sub(r"(\w[\w+.-]*://[^/:@\s]*):[^/\s]*@", r"\1:***@", text)


def next_trial(study: optuna.Study, total: int) -> optuna.Trial | None:
    """A new trial, or None once the study has ``total`` trials finished or under way.

    Two processes may ask at the same moment for the last one; the one whose trial came
    second gives it up (marked failed), so no more than ``total`` ever finish.
    """
    taken = (*FINISHED, TrialState.RUNNING)
    if len(study.get_trials(deepcopy=False, states=taken)) >= total:
        return None
    trial = study.ask()
    trial.set_user_attr("process", f"{socket.gethostname()}:{os.getpid()}")
    ahead = [t for t in study.get_trials(deepcopy=False, states=taken) if t.number < trial.number]
    if len(ahead) >= total:
        study.tell(trial, state=TrialState.FAIL)
        return None
    return trial


def fail_abandoned_trials(study: optuna.Study) -> None:
    """Trials left running by a process of this machine that died count no more."""
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        name, _, pid = str(trial.user_attrs.get("process", "")).partition(":")
        if name == host and pid.isdigit() and not _alive(int(pid)):
            study.tell(trial.number, state=TrialState.FAIL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def optimize(study: optuna.Study, args: argparse.Namespace, base: Config, space: dict) -> None:
    fail_abandoned_trials(study)
    while (trial := next_trial(study, args.trials)) is not None:
        try:
            accuracy = run_trial(trial, base, space, args.study)
        except optuna.TrialPruned as pruned:
            study.tell(trial, state=TrialState.PRUNED)
            print(f"trial {trial.number}: {pruned}")
            continue
        except BaseException:
            study.tell(trial, state=TrialState.FAIL)
            raise
        study.tell(trial, accuracy)
        print(f"trial {trial.number}: best val accuracy {accuracy:.4f} with {trial.params}")


def write_tuned(path: Path, study: optuna.Study, overrides: dict[str, object]) -> None:
    """The best trial's settings over this run's --set overrides, as a config file."""
    best = study.best_trial
    header = (
        f"# Written by python -m {__package__}.tune: study {study.study_name!r}, best of "
        f"{len(study.get_trials(states=FINISHED))} finished trials (trial {best.number}, "
        f"val accuracy {best.value:.4f}).\n"
    )
    with atomic_path(path) as temporary:
        temporary.write_text(header + yaml.safe_dump({**overrides, **best.params}, sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # each trial prints its own line
    args = parse_args(argv)
    try:
        if args.trials < 1:
            raise ValueError("--trials must be at least 1.")
        space = load_space(args.space)
        base = train.settings(args)
        study = open_study(args, Path(base.run_dir))
{%- if cookiecutter.tracking %}
        # One MLflow run for this process's part of the study; each trial is nested in it.
        with mlflow.start_run(
            experiment_id=tracking.experiment_id(), run_name=f"tune {args.study}"
        ):
            optimize(study, args, base, space)
{%- else %}
        optimize(study, args, base, space)
{%- endif %}
        write_tuned(args.output, study, dict(parse_override(item) for item in args.set))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: the finished trials are kept in the study; run the same command "
            "to go on.",
            file=sys.stderr,
        )
        return 130
    print(
        f"{len(study.get_trials(states=FINISHED))} finished trials in study {args.study!r}; "
        f"best val accuracy {study.best_value:.4f}. Wrote {args.output}: "
        f"python -m {__package__}.train --config {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
