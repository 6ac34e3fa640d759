"""`meterlab users ...`: the people who may sign results off, with their roles (docs/records.md)."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from meterlab.cli.records import open_store, read_password
from meterlab.errors import MeterlabError
from meterlab.records.people import ROLES, add_user, users
from meterlab.records.store import DEFAULT_URL

users_app = typer.Typer(help="People who sign results off: add, list.", no_args_is_help=True)
console = Console() if sys.stdout.isatty() else Console(width=140)


@users_app.command()
def add(
    name: str = typer.Argument(..., help="The person's name, as reports are to print it."),
    role: list[str] = typer.Option(..., "--role", metavar="ROLE", help=f"One of {', '.join(ROLES)}; repeat for several."),
    db: str = typer.Option(DEFAULT_URL, help="Records database."),
    password_stdin: bool = typer.Option(False, help="Read the password from standard input instead of a prompt."),
) -> None:
    """Add a person with their roles; the password is stored as a salted scrypt hash, in the chain."""
    store = open_store(db, create=True)
    try:
        entry = add_user(store, name, role, read_password(password_stdin, confirm=True))
    except MeterlabError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    console.print(f"{name} added as {', '.join(entry.payload['roles'])} (entry {entry.seq})")


@users_app.command("list")
def list_users(db: str = typer.Option(DEFAULT_URL, help="Records database.")) -> None:
    """The people and their roles."""
    store = open_store(db)
    table = Table(title=f"users in {store.url}", title_justify="left")
    for column in ("name", "roles"):
        table.add_column(column)
    for user in users(store).values():
        table.add_row(user.name, ", ".join(user.roles))
    console.print(table)
