"""``assaykit strategy list|show``: the gating strategies assaykit ships."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import shipped_text

app = typer.Typer(help="The gating strategies assaykit ships: list them, print one to copy and edit "
                       "(`assaykit docs gating-strategy`).", no_args_is_help=True, rich_markup_mode=None)


@app.command("list")
def strategy_list() -> None:
    """List the shipped gating strategies (name and title).

    Example: assaykit strategy list
    """
    from .._io.shipped import shipped_names
    from ..gating import load_strategy

    for name in shipped_names():
        typer.echo(f"{name:<24}{load_strategy(name).title}".rstrip())


@app.command("show")
def strategy_show(
    name: Annotated[str, typer.Argument(help="Name of a shipped strategy.")] = "monocyte-hladr",
) -> None:
    """Print a shipped gating strategy (YAML) for a lab to copy and edit, then pass with --strategy FILE.

    Example: assaykit strategy show monocyte-hladr > my-lab.yaml
    """
    typer.echo(shipped_text(name, "", "strategy"), nl=False)
