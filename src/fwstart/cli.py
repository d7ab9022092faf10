"""The `fwstart` command: parse flags, call the library, print, choose the exit code.

This is the only module that prints or exits. Heavy imports (rich, cookiecutter,
questionary) happen inside the commands, so `fwstart --help` starts fast.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from fwstart import __version__

if TYPE_CHECKING:
    from rich.console import Console

    from fwstart.answers_file import SavedAnswers
    from fwstart.api import Catalog, Generated
    from fwstart.errors import FwstartError
    from fwstart.prompter import TerminalPrompter
    from fwstart.questions import Answers, Question
    from fwstart.update import UpdatePlan

ISSUES_URL = "https://github.com/fwstart/fwstart/issues"
EXIT_USER_ERROR, EXIT_CONFLICTS, EXIT_BUG, EXIT_CANCELLED = 1, 3, 70, 130
OUT_OF_MEMORY = (
    "Error: fwstart ran out of memory. Nothing was written.\n"
    "Close other programs, or raise this shell's memory limit (ulimit -v).\n"
)

app = typer.Typer(
    help="Start a deep-learning project: answer a few questions, get a recommended, "
    "tested PyTorch or TensorFlow starter.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

GoalOption = Annotated[
    str | None, typer.Option("--goal", metavar="GOAL", help="research or deployment.")
]
TargetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--target", "-t", metavar="TARGET", help="mobile, web, edge or server; repeat for several."
    ),
]
ExperienceOption = Annotated[
    str | None,
    typer.Option(metavar="EXPERIENCE", help="What the team knows: neither, pytorch or tensorflow."),
]
StackOption = Annotated[
    str | None,
    typer.Option(metavar="STACK", help="What a deployment must fit: none, pytorch or tensorflow."),
]
CiOption = Annotated[
    str | None, typer.Option(metavar="CI", help="CI configuration: github, gitlab or none.")
]
WithOption = Annotated[
    list[str] | None,
    typer.Option(
        "--with",
        metavar="OPTION",
        help="tracking, tuning, registry or monitoring; repeat for several.",
    ),
]

F = TypeVar("F", bound=Callable[..., None])
_state = {"debug": False}


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    # Paths and names are printed as typed: no markup, no :emoji: codes (nor their table).
    return Console(stderr=stderr, highlight=False, markup=False, emoji=False)


def _reported(command: F) -> F:
    """Turn fwstart's errors into a message and exit code; keep bugs' tracebacks for --debug."""

    @functools.wraps(command)
    def wrapper(*args: object, **kwargs: object) -> None:
        from fwstart.errors import FwstartError

        err = _console(stderr=True)
        try:
            command(*args, **kwargs)
        except FwstartError as error:
            _report_error(err, error)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            err.print("Cancelled. Nothing was written.")
            raise typer.Exit(EXIT_CANCELLED) from None
        except typer.Exit:  # a command's own exit status
            raise
        except MemoryError:  # the machine's limit, not a bug; said without allocating more
            sys.stderr.write(OUT_OF_MEMORY)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except Exception as bug:
            if _state["debug"]:
                raise
            _report_bug(err, bug)
            raise typer.Exit(EXIT_BUG) from None

    return wrapper  # type: ignore[return-value]


def _report_error(err: Console, error: FwstartError) -> None:
    err.print(f"Error: {error.message}", style="bold red", soft_wrap=True)
    if error.hint:
        err.print(error.hint, soft_wrap=True)


def _report_bug(err: Console, bug: Exception) -> None:
    err.print(
        f"fwstart hit a bug ({type(bug).__name__}: {bug}).\n"
        f"Run the same command with --debug for the details, and report it at {ISSUES_URL}"
    )


def _version(value: bool) -> None:
    if value:
        print(f"fwstart {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of fwstart bugs.")
    ] = False,
) -> None:
    _state["debug"] = debug


@app.command(short_help="Ask a few questions, show the recommendation, generate a starter.")
@_reported
def new(
    directory: Annotated[
        Path | None,
        typer.Argument(
            metavar="DIR",
            help="Project directory to create [default: my-project].",
            show_default=False,
        ),
    ] = None,
    goal: GoalOption = None,
    target: TargetOption = None,
    experience: ExperienceOption = None,
    stack: StackOption = None,
    ci: CiOption = None,
    with_: WithOption = None,
    framework: Annotated[
        str | None,
        typer.Option(
            metavar="FRAMEWORK", help="Use this framework (pytorch or tensorflow) over the verdict."
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Ask nothing: take the defaults and the verdict.")
    ] = False,
    answers: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Answers file (.fwstart-answers.yml) to replay; flags override it."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Write into a non-empty directory; existing files are never replaced."
        ),
    ] = False,
    no_git: Annotated[
        bool,
        typer.Option(
            "--no-git",
            help="Do not start a git repository; keep the template for fwstart update in "
            ".fwstart/ instead.",
        ),
    ] = False,
) -> None:
    """Ask a few questions, show the recommendation, and generate a starter project."""
    from fwstart import report
    from fwstart.api import load_catalog, new_project
    from fwstart.questions import collect_answers

    out, err = _console(), _console(stderr=True)
    catalog = load_catalog()
    saved = _read_saved(catalog, answers)
    flags = {
        "goal": goal,
        "targets": target,
        "experience": experience,
        "stack": stack,
        "ci": ci,
        "with": with_,
    }
    known = {**saved.answers, **catalog.check_answers(flags)}
    chosen = framework or saved.framework
    if chosen is not None:
        catalog.framework(chosen)  # an unknown name fails before any question
    prompter = _prompter(yes, err)
    directory = directory or Path(_default_directory(saved, prompter))
    catalog.check_location(directory.expanduser().absolute(), force)  # before the questions
    given = collect_answers(catalog.questions, known, prompter, _note_printer(err))
    verdict = catalog.recommend(given)
    out.print(report.verdict_table(catalog, verdict))
    if chosen is None and prompter is not None:
        chosen = prompter.select(_framework_question(catalog, verdict.framework))
    chosen = chosen or verdict.framework
    if chosen != verdict.framework:
        out.print(report.override_note(catalog, verdict, chosen, out.width), soft_wrap=True)
    base = "snapshot" if no_git else "git"
    if not err.is_terminal:  # a spinner nobody sees costs a thread
        generated = new_project(catalog, directory, given, chosen, force, base=base)
    else:
        with err.status("Generating the project") as status:
            generated = new_project(catalog, directory, given, chosen, force, status.update, base)
    _print_result(out, catalog, generated, str(directory), given)


def _note_printer(err: Console) -> Callable[[str], None]:
    """Prints a note, such as an option added because another needs it."""
    return lambda note: err.print(f"Note: {note}", soft_wrap=True)


def _read_saved(catalog: Catalog, path: Path | None) -> SavedAnswers:
    from fwstart.answers_file import SavedAnswers, read_answers

    return read_answers(path, catalog.questions, catalog.frameworks) if path else SavedAnswers()


def _prompter(yes: bool, err: Console) -> TerminalPrompter | None:
    """Arrow-key prompts on a terminal; none with --yes or when stdin is not a terminal."""
    if yes:
        return None
    if not sys.stdin.isatty():
        err.print(
            "stdin is not a terminal, so fwstart asks nothing and takes the defaults for "
            "unanswered questions (pass --yes to say so and hide this notice).",
            soft_wrap=True,
        )
        return None
    from fwstart.prompter import TerminalPrompter

    return TerminalPrompter()


def _default_directory(saved: SavedAnswers, prompter: TerminalPrompter | None) -> str:
    default = saved.project_name or "my-project"
    return prompter.text("Project directory? (the DIR argument)", default) if prompter else default


def _framework_question(catalog: Catalog, recommended: str) -> Question:
    """The accept-or-override question, with the recommendation first and default."""
    from fwstart.questions import Question

    names = [recommended, *(name for name in catalog.frameworks if name != recommended)]
    labels = {name: catalog.frameworks[name].label for name in names}
    labels[recommended] += " (recommended)"
    return Question(
        key="framework",
        flag="--framework",
        kind="select",
        prompt="Framework? Enter accepts the recommendation",
        default=recommended,
        choices=labels,
        when={},
        require_one_when=None,
    )


def _print_result(
    out: Console, catalog: Catalog, generated: Generated, directory: str, given: Answers
) -> None:
    from fwstart import report, update_report

    out.print(report.summary(generated), soft_wrap=True)
    if kept := update_report.base_kept(generated.base):
        out.print(kept, soft_wrap=True)
    out.print(report.next_steps(generated), soft_wrap=True)
    command = report.replay_command(catalog, directory, given, generated.framework.name)
    out.print(f"Same project again, without questions:\n  {command}", soft_wrap=True)


@app.command(short_help="Show which framework fits, with reasons; generate nothing.")
@_reported
def recommend(
    goal: GoalOption = None,
    target: TargetOption = None,
    experience: ExperienceOption = None,
    stack: StackOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Show which framework fits, with reasons and scores, without generating anything."""
    from fwstart import report
    from fwstart.api import load_catalog
    from fwstart.questions import collect_answers

    catalog = load_catalog()
    flags = {"goal": goal, "targets": target, "experience": experience, "stack": stack}
    given = collect_answers(catalog.questions, catalog.check_answers(flags), None)
    verdict = catalog.recommend(given)
    if json_output:
        print(report.verdict_json(verdict))
    else:
        _console().print(report.verdict_table(catalog, verdict))


@app.command()
@_reported
def update(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="The project to update [default: .].", show_default=False
        ),
    ] = Path("."),
    add_target: Annotated[
        list[str] | None,
        typer.Option(metavar="TARGET", help="Add mobile, web, edge or server; repeat for several."),
    ] = None,
    remove_target: Annotated[
        list[str] | None,
        typer.Option(metavar="TARGET", help="Remove a target; repeat for several."),
    ] = None,
    with_: Annotated[
        list[str] | None,
        typer.Option(
            "--with",
            metavar="OPTION",
            help="Add tracking, tuning, registry or monitoring; repeat for several.",
        ),
    ] = None,
    without: Annotated[
        list[str] | None,
        typer.Option(metavar="OPTION", help="Remove an option; repeat for several."),
    ] = None,
    framework: Annotated[
        str | None,
        typer.Option(
            metavar="FRAMEWORK", help="Refused unless the project's own: another is a new project."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    allow_dirty: Annotated[
        bool, typer.Option("--allow-dirty", help="Update a git tree with uncommitted changes.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Outside git, change files without asking.")
    ] = False,
) -> None:
    """Merge a newer template or changed targets into a project.

    Exit status: 0 updated, 3 updated with conflicts to resolve, 1 refused or failed.
    """
    from fwstart import update_report
    from fwstart.api import load_catalog
    from fwstart.update import AnswerChanges, update_project

    out, err = _console(), _console(stderr=True)
    changes = AnswerChanges(
        tuple(add_target or ()),
        tuple(remove_target or ()),
        framework,
        tuple(with_ or ()),
        tuple(without or ()),
    )
    with err.status("Updating the project") as status:
        result = update_project(
            load_catalog(),
            directory,
            changes,
            dry_run=dry_run,
            allow_dirty=allow_dirty,
            confirm=lambda plan: _confirm_update(plan, yes, err, status.stop),
            on_step=status.update,
            on_note=_note_printer(err),
        )
    if note := update_report.base_note(result.plan):
        err.print(f"Note: {note}", soft_wrap=True)
    if result.plan.changes and not result.written and not dry_run:
        err.print("Nothing was written.")
        raise typer.Exit(EXIT_USER_ERROR)
    if result.plan.changes:
        out.print(update_report.changes(result.plan), soft_wrap=True)
    out.print(update_report.outcome(result), soft_wrap=True)
    if result.plan.conflicts:
        raise typer.Exit(EXIT_CONFLICTS)


def _confirm_update(
    plan: UpdatePlan, yes: bool, err: Console, stop_spinner: Callable[[], None]
) -> bool:
    """In git, say how to undo; outside git, ask first (or --yes)."""
    from fwstart import update_report
    from fwstart.errors import InputError

    if plan.undo:
        err.print(f"If this is interrupted, {plan.undo} puts the project back.", soft_wrap=True)
        return True
    if yes:
        return True
    if not sys.stdin.isatty():
        raise InputError(
            f"{plan.project} is not in git, so nothing could undo the update.",
            "Pass --yes to update it anyway, or put it under git first (git init, commit).",
        )
    stop_spinner()
    return typer.confirm(update_report.confirm_question(plan), default=False, err=True)


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="fwstart")
    except MemoryError:  # while typer parses the command line, before a command runs
        sys.stderr.write(OUT_OF_MEMORY)
        sys.exit(EXIT_USER_ERROR)
