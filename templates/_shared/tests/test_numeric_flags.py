"""Every numeric flag takes a finite number in its range, and anything else is a usage error
(exit 2, the flag named, no traceback) before anything loads or starts: never a service that
hangs every request, answers 413 to everything, takes a default silently or crashes."""

import pytest

from {{ cookiecutter.package_name }} import {{ "monitor, " if cookiecutter.monitoring else "" }}predict{{ ", serve" if cookiecutter.server else "" }}

PREDICT = [("--limit", "-1"), ("--limit", "2.5")]
{%- if cookiecutter.monitoring %}
MONITOR = [
    ("--threshold", "nan"),
    ("--threshold", "inf"),
    ("--threshold", "0"),
    ("--min-samples", "0"),
]
{%- endif %}
{%- if cookiecutter.server %}
SERVE = [
    ("--max-delay-ms", "inf"),
    ("--max-delay-ms", "nan"),
    ("--max-delay-ms", "-1"),
    ("--max-delay-ms", "60000"),  # longer than --timeout: every batch would miss it
    ("--timeout", "nan"),
    ("--timeout", "inf"),
    ("--timeout", "0"),
    ("--timeout", "-1"),
    ("--max-body-bytes", "-5"),
    ("--max-body-bytes", "0"),
    ("--max-body-bytes", "1e6"),
    ("--max-batch", "0"),
    ("--max-batch", "nan"),
    ("--workers", "0"),
    ("--workers", "inf"),
    ("--threads", "-1"),
    ("--port", "-1"),
{%- if cookiecutter.monitoring %}
    ("--sample-log-mb", "inf"),
    ("--sample-log-mb", "0"),
    ("--sample-log-mb", "nan"),
    ("--sample-rate", "nan"),
    ("--sample-rate", "1.5"),
    ("--sample-rate", "-0.1"),
{%- endif %}
]
{%- endif %}


def refused(main, capsys, *arguments: str) -> tuple[int | str | None, str]:
    """The exit code of a run that argparse stopped, and what it printed."""
    with pytest.raises(SystemExit) as stopped:
        main(list(arguments))
    return stopped.value.code, capsys.readouterr().err


@pytest.mark.parametrize(("flag", "value"), PREDICT)
def test_predict_refuses_numbers_out_of_range(tmp_path, capsys, flag, value):
    code, err = refused(predict.main, capsys, str(tmp_path / "digits.npz"), flag, value)
    assert code == 2 and flag in err and "Traceback" not in err
{%- if cookiecutter.monitoring %}


@pytest.mark.parametrize(("flag", "value"), MONITOR)
def test_monitor_refuses_numbers_out_of_range(tmp_path, capsys, flag, value):
    code, err = refused(monitor.main, capsys, "--artifacts", str(tmp_path), flag, value)
    assert code == 2 and flag in err and "Traceback" not in err
{%- endif %}
{%- if cookiecutter.server %}


@pytest.mark.parametrize(("flag", "value"), SERVE)
def test_serve_refuses_numbers_out_of_range(tmp_path, capsys, flag, value):
    # An empty folder: a flag that got through would be answered "no manifest" (exit 1).
    code, err = refused(serve.main, capsys, "--artifacts", str(tmp_path), flag, value)
    assert code == 2 and flag in err and "Traceback" not in err
{%- endif %}
