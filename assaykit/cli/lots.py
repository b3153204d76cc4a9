"""``assaykit lots``: the bead lots assaykit ships."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import shipped_text


def lots(
    name: Annotated[str | None, typer.Argument(help="Print this shipped lot's YAML instead of the list.",
                                               show_default=False)] = None,
) -> None:
    """List the shipped bead lots (name, kit, lot, unit, values), or print one to copy and edit.

    The shipped lots are EXAMPLES: calibrate with the values on your own lot's certificate
    (`assaykit docs bead-calibration`).

    Example: assaykit lots;  assaykit lots quantibrite-pe-example > my-lot.yaml
    """
    if name is not None:
        typer.echo(shipped_text(name, "beads", "bead lot"), nl=False)
        return
    from .._io.shipped import shipped_names
    from ..beads import load_lot

    for lot_name in shipped_names("beads"):
        lot = load_lot(lot_name)
        values = ", ".join(f"{v:g}" for v in lot.values)
        typer.echo(f"{lot_name:<40}{lot.kit} lot {lot.lot} ({lot.unit}): {values}"
                   + ("  [example values]" if lot.example else ""))
