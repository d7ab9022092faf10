"""fwstart as a library: load the catalog, recommend, generate. Prints nothing."""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from fwstart import __version__
from fwstart.base import record_new
from fwstart.errors import InputError
from fwstart.naming import ProjectNames, project_names, stdlib_names
from fwstart.questions import (
    Answers,
    AnswerValue,
    Question,
    check_value,
    load_questions,
    with_implied,
)
from fwstart.registry import FrameworkSpec, load_frameworks
from fwstart.render import StepCallback, check_destination, render_project
from fwstart.resources import data_dir, templates_dir
from fwstart.rules import Recommendation, RuleBook, load_rules, recommend


@dataclass(frozen=True)
class Catalog:
    """Everything fwstart knows: its questions, frameworks and verdict rules."""

    questions: tuple[Question, ...]
    frameworks: Mapping[str, FrameworkSpec]
    rules: RuleBook

    @cached_property
    def by_key(self) -> dict[str, Question]:
        """The questions, by answer key."""
        return {question.key: question for question in self.questions}

    def check_answers(self, given: Mapping[str, object]) -> dict[str, AnswerValue]:
        """Validate answers given as flags; ``None`` or an empty list means not given.

        Raises:
            InputError: naming the valid values for the first unknown one.
        """
        return {
            key: check_value(self.by_key[key], value)
            for key, value in given.items()
            if value is not None and value != []
        }

    def completed(
        self, answers: Answers, on_note: Callable[[str], None] = lambda note: None
    ) -> Answers:
        """The answers with each choice that a chosen one needs (registry needs tracking)."""
        values = answers.as_dict()
        return Answers.from_dict(
            {key: with_implied(self.by_key[key], value, on_note) for key, value in values.items()}
        )

    def recommend(self, answers: Answers) -> Recommendation:
        """Return the verdict for ``answers``."""
        return recommend(answers, self.rules, self.frameworks)

    @cached_property
    def reserved_names(self) -> frozenset[str]:
        """Names a project's package may not take: the standard library's modules and
        everything any starter imports or depends on, whatever the answers."""
        return stdlib_names().union(*(spec.imports for spec in self.frameworks.values()))

    def check_location(self, destination: Path, force: bool = False) -> ProjectNames:
        """Check the project's directory and the names made from it, before any question.

        Raises:
            FwstartError: for a name that cannot make a package, or an unusable destination.
        """
        names = project_names(destination, reserved=self.reserved_names)
        check_destination(destination, force)
        return names

    def framework(self, name: str) -> FrameworkSpec:
        """Return a framework by key, or explain which keys exist.

        Raises:
            InputError: for an unknown framework.
        """
        if name not in self.frameworks:
            raise InputError(
                f"Unknown framework '{name}' (--framework).",
                f"Choose from: {', '.join(self.frameworks)}.",
            )
        return self.frameworks[name]


def load_catalog(data: Path | None = None, templates: Path | None = None) -> Catalog:
    """Load questions, frameworks and rules from fwstart's data and template folders."""
    data = data or data_dir()
    frameworks = load_frameworks(data / "frameworks.yaml", templates or templates_dir())
    return Catalog(
        questions=load_questions(data / "questions.yaml"),
        frameworks=frameworks,
        rules=load_rules(data / "rules.yaml", frameworks),
    )


@dataclass(frozen=True)
class Generated:
    """What ``new_project`` made."""

    path: Path
    names: ProjectNames
    framework: FrameworkSpec
    recommendation: Recommendation
    files: tuple[Path, ...]
    next_steps: tuple[str, ...]
    base: str = "none"  # where the pristine render was kept: git-init, git-ref, snapshot

    @property
    def overridden(self) -> bool:
        """True when the person chose another framework than the recommended one."""
        return self.framework.name != self.recommendation.framework


def plan_project(
    catalog: Catalog, destination: Path, answers: Answers, framework: str, force: bool = False
) -> ProjectNames:
    """Check that a project can be generated, before anything is written.

    Raises:
        FwstartError: for an unusable name, framework, target or destination.
    """
    spec = catalog.framework(framework)
    if unsupported := [target for target in answers.targets if target not in spec.targets]:
        raise InputError(
            f"The {spec.label} starter cannot export to: {', '.join(unsupported)}.",
            f"Its targets are {', '.join(spec.targets)}; drop the others or choose another "
            "framework.",
        )
    return catalog.check_location(destination, force)


def new_project(
    catalog: Catalog,
    destination: Path,
    answers: Answers,
    framework: str | None = None,
    force: bool = False,
    on_step: StepCallback = lambda step: None,
    base: str = "git",
) -> Generated:
    """Generate a starter project.

    Args:
        catalog: fwstart's questions, frameworks and rules.
        destination: the project directory to create (or fill, with ``force``).
        answers: the person's answers.
        framework: an override of the recommendation; ``None`` takes it.
        force: allow a non-empty ``destination``; existing files are never replaced.
        on_step: called with a short description as each step starts.
        base: where to keep the render for ``fwstart update``: ``git`` (a new
            repository, or fwstart's ref in the enclosing one), ``snapshot``
            (``.fwstart/``) or ``none``.

    Raises:
        FwstartError: for bad input or a destination that cannot be used;
            nothing is written then.
    """
    destination = _tidy(destination)
    answers = catalog.completed(answers)  # as collect_answers leaves them, for other callers
    verdict = catalog.recommend(answers)
    spec = catalog.framework(framework or verdict.framework)
    names = plan_project(catalog, destination, answers, spec.name, force)
    files = render_project(
        spec.template,
        _context(catalog, names, answers, spec, verdict),
        destination,
        record=_record(names, answers, spec, verdict),
        user_text=[names.project],
        on_step=on_step,
    )
    steps = start_commands(destination / "README.md")
    if base != "none":
        message = f"Start {names.project} from fwstart {__version__}"
        base = record_new(destination, files, use_git=base == "git", message=message)
    return Generated(destination, names, spec, verdict, files, steps, base)


def _tidy(destination: Path) -> Path:
    """The absolute path, ``..`` and links above it resolved; the last part kept as typed."""
    destination = destination.expanduser().absolute()
    if destination.name in ("", ".."):
        return destination.resolve()
    return destination.parent.resolve() / destination.name


_START = re.compile(r"^## Start\n.*?^```bash\n(.*?)^```", re.M | re.S)


def start_commands(readme: Path) -> tuple[str, ...]:
    """The commands of the generated README's "Start" section, as the person reads them.

    They are the one source of the next steps fwstart prints, so the two never disagree.
    """
    try:
        match = _START.search(readme.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()
    return tuple(line for line in match[1].splitlines() if line.strip()) if match else ()


def _context(
    catalog: Catalog,
    names: ProjectNames,
    answers: Answers,
    spec: FrameworkSpec,
    verdict: Recommendation,
) -> dict[str, object]:
    """The template variables: names, answers and the verdict, all as plain data."""
    every_target = catalog.by_key["targets"].choices
    return {
        "project_name": names.project,
        "package_name": names.package,
        "distribution_name": names.distribution,
        "goal": answers.goal,
        **{target: target in answers.targets for target in every_target},
        "ci": answers.ci,
        **{option: option in answers.with_ for option in catalog.by_key["with"].choices},
        "verdict": {
            "recommended": catalog.frameworks[verdict.framework].label,
            "overridden": spec.name != verdict.framework,
            "reasons": [reason.text for reason in verdict.reasons],
            "against": [reason.text for reason in verdict.against],
            "answers": {key: _plain(value) for key, value in answers.as_dict().items()},
        },
        "fwstart_version": __version__,
    }


def _record(
    names: ProjectNames, answers: Answers, spec: FrameworkSpec, verdict: Recommendation
) -> dict[str, object]:
    """The .fwstart-answers.yml content: enough to replay the project."""
    return {
        "fwstart_version": __version__,
        "project_name": names.project,
        **answers.as_dict(),
        "framework": spec.name,
        "recommended": verdict.framework,
    }


def _plain(value: str | tuple[str, ...]) -> str:
    return ", ".join(value) if isinstance(value, tuple) else value
