"""Help screens name what to give, not Typer's internal types: no "--yes <bool>", no "--meter <list[Path]>"."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from meterlab.cli import app


def _commands(command, path: tuple[str, ...] = ()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, path + (name,))


COMMANDS = [path for path, _ in _commands(typer.main.get_command(app))]


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "meterlab" for p in COMMANDS])
def test_help_shows_no_type_for_flags_and_a_name_for_repeated_parameters(path):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "list[" not in result.output, result.output  # options and repeated arguments alike
