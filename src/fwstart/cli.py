"""The `fwstart` command: parse flags, call the library, print, choose the exit code.

`new` and `recommend` are here, `update` in cli_update.py, and what they share (consoles,
errors turned into messages and exit codes) in cli_common.py: the only modules that print or
exit. Heavy imports (rich, cookiecutter, questionary) happen inside the commands, so
`fwstart --help` starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fwstart import __version__
from fwstart.cli_common import (
    EXIT_USER_ERROR,
    OUT_OF_MEMORY,
    console,
    note_printer,
    reported,
    state,
)
from fwstart.cli_update import update

if TYPE_CHECKING:
    from rich.console import Console

    from fwstart.answers_file import SavedAnswers
    from fwstart.api import Catalog, Generated
    from fwstart.prompter import TerminalPrompter
    from fwstart.questions import Answers, Question

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
    state["debug"] = debug


@app.command(short_help="Ask a few questions, show the recommendation, generate a starter.")
@reported
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

    out, err = console(), console(stderr=True)
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
    given = collect_answers(catalog.questions, known, prompter, note_printer(err))
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
@reported
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
        console().print(report.verdict_table(catalog, verdict))


app.command()(update)  # after the others: --help lists the commands in this order


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="fwstart")
    except MemoryError:  # while typer parses the command line, before a command runs
        sys.stderr.write(OUT_OF_MEMORY)
        sys.exit(EXIT_USER_ERROR)
