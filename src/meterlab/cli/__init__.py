"""The `meterlab` command line: one module per command group (run: run/resume/plan/validate/report; lab,
instruments, calibration, records, users, evaluation, readings, demo). The top layer: the only package that imports across the tree."""

from __future__ import annotations

import typer
from typer.core import TyperArgument

from meterlab import __version__
from meterlab.cli.bench import bench_app
from meterlab.cli.calibration import calibration_app
from meterlab.cli.evaluation import evaluation_app
from meterlab.cli.fuzz import fuzz
from meterlab.cli.instruments import instruments_app
from meterlab.cli.lab import lab_app
from meterlab.cli.people import users_app
from meterlab.cli.procedures import procedures_app
from meterlab.cli.readings import readings_app
from meterlab.cli.records import records_app
from meterlab.cli import run as run_commands
from meterlab.cli.serve import serve

_argument_type = getattr(TyperArgument, "display_type_rich", None)


def _argument_type_without_lists(self: TyperArgument, ctx) -> str | None:
    """Typer labels a repeated argument with its Python type ("PATH <list[Path]>"); the argument's name and the
    "..." of the usage line already say it repeats, so the help shows no type for it."""
    return None if self.nargs != 1 else _argument_type(self, ctx)


if _argument_type is not None:  # the Typer versions that print the type at all
    TyperArgument.display_type_rich = _argument_type_without_lists  # type: ignore[method-assign]

app = typer.Typer(
    name="meterlab",
    help="Automated OIML R 49 / R 137 type-approval testing of water and gas meters.",
    no_args_is_help=True,
    add_completion=False,
    # Typer >= 0.2x renders help with its own Rich panels, which print a type label for every parameter, flags
    # included ("--yes <bool>", "--help <bool>"); its plain formatter, the one click always had, does not.
    rich_markup_mode=None,
)
app.add_typer(procedures_app, name="procedures")
app.add_typer(lab_app, name="lab")
app.add_typer(instruments_app, name="instruments")
app.add_typer(calibration_app, name="calibration")
app.add_typer(records_app, name="records")
app.add_typer(users_app, name="users")
app.add_typer(evaluation_app, name="evaluation")
app.add_typer(readings_app, name="readings")
app.add_typer(bench_app, name="bench")
for command in (run_commands.run, run_commands.resume, run_commands.plan, run_commands.validate, run_commands.report,
                serve, fuzz):
    app.command()(command)


@app.command()
def version() -> None:
    """Print the software version (it is recorded with every run)."""
    typer.echo(__version__)


@app.command()
def demo(
    profile: str = typer.Option("r49-2013", help="Standard profile to use."),
) -> None:
    """Show the metrology core at work on a DN15 class 2 water meter (Q3 = 2.5 m³/h, R160)."""
    from meterlab.cli.demo import run_demo

    run_demo(profile)


def main() -> None:  # pragma: no cover - console entry
    app()
