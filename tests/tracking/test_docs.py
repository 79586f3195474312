"""The README's tracking and registry commands exist as written."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands():
    text = README.read_text()
    section = text[text.index("## Track experiments"):text.index("## What it does inside")]
    return sorted({tuple(m.split()[1:3]) for m in re.findall(r"^mlexpert (?:runs|registry) \w+",
                                                               section, flags=re.M)})


def test_the_section_lists_every_command():
    assert {c[1] for c in _commands() if c[0] == "registry"} == \
        {"register", "promote", "show"} and ("runs", "list") in _commands()


@pytest.mark.parametrize("group, verb", [*_commands(), ("runs", "sync"), ("registry", "list"),
                                         ("registry", "archive")])
def test_readme_command_has_help(group, verb):
    from typer.testing import CliRunner

    from mlexpert.cli import app

    assert CliRunner().invoke(app, [group, verb, "--help"]).exit_code == 0
