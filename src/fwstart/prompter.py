"""Arrow-key prompts on a real terminal (questionary), one question at a time."""

from fwstart.questions import Question


def _choices(question: Question, checked: tuple[str, ...] = ()) -> list:
    import questionary

    width = max(len(value) for value in question.choices) + 2
    return [
        questionary.Choice(f"{value:<{width}}{help_text}", value=value, checked=value in checked)
        for value, help_text in question.choices.items()
    ]


class TerminalPrompter:
    """Asks with arrow-key menus; Ctrl-C raises KeyboardInterrupt before anything is written."""

    def select(self, question: Question) -> str:
        """Ask for one value; Enter takes the default."""
        import questionary

        choices = _choices(question)
        default = next(choice for choice in choices if choice.value == question.default)
        answer: str = questionary.select(
            question.prompt,
            choices=choices,
            default=default,
            instruction=f"(↑↓ and Enter; flag {question.flag})",
        ).unsafe_ask()
        return answer

    def checkbox(self, question: Question, require_one: bool) -> list[str]:
        """Ask for any number of values; space toggles, Enter confirms."""
        import questionary

        def validate(selected: list[str]) -> bool | str:
            return bool(selected) or not require_one or "Select at least one (space toggles)."

        default = question.default if isinstance(question.default, tuple) else ()
        answer: list[str] = questionary.checkbox(
            question.prompt,
            choices=_choices(question, default),
            validate=validate,
            instruction=f"(space toggles, Enter confirms; flag {question.flag}, repeatable)",
            erase_when_done=True,  # questionary would echo "done (2 selections)"
        ).unsafe_ask()
        _echo(question.prompt, ", ".join(answer) or "none")
        return answer

    def text(self, prompt: str, default: str) -> str:
        """Ask for a line of text; Enter takes the default."""
        import questionary

        answer: str = questionary.text(prompt, default=default).unsafe_ask()
        return answer


def _echo(prompt: str, answer: str) -> None:
    """The answered question, as questionary shows a select's, naming what was chosen."""
    from prompt_toolkit import print_formatted_text
    from prompt_toolkit.formatted_text import FormattedText
    from questionary.constants import DEFAULT_QUESTION_PREFIX, DEFAULT_STYLE

    tokens = [
        ("class:qmark", DEFAULT_QUESTION_PREFIX),
        ("class:question", f" {prompt} "),
        ("class:answer", answer),
    ]
    print_formatted_text(FormattedText(tokens), style=DEFAULT_STYLE)
