"""``assaykit inspect``: describe FCS files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .._io.names import printable
from ..errors import AssayKitError
from ._common import JsonOption, print_json, report


def _describe(sample: Any, keywords: bool) -> str:
    info = sample.to_dict()
    lines = [
        f"{sample.path}",
        f"  FCS {info['version']}  instrument: {info['cytometer'] or '-'}  date: {info['date'] or '-'}",
        f"  events: {info['events']}  dataset: {info['dataset'] + 1} of {info['n_datasets']}  "
        f"spillover: {'yes (' + sample.spillover.keyword + ')' if sample.spillover else 'no'}",
        "  #   $PnN                      $PnS                      range",
    ]
    for channel in info["channels"]:
        lines.append(f"  {channel['index']:<3} {channel['name']:<25} {channel['marker'] or '-':<25} "
                     f"{channel['range']:g}")
    for note in sample.notes:
        lines.append(f"  note: {note}")
    if keywords:
        lines.append("  TEXT keywords:")
        lines.extend(f"    {key} = {value}" for key, value in sample.keywords.items())
    return "\n".join(printable(line) for line in lines)  # a name's own line break escaped, never a line


def inspect(
    files: Annotated[list[Path], typer.Argument(help="FCS files (.fcs, .lmd).", show_default=False)],
    as_json: JsonOption = False,
    keywords: Annotated[bool, typer.Option("--keywords", help="Also dump every TEXT keyword.")] = False,
    dataset: Annotated[int | None, typer.Option(help="Dataset to read (0-based; default: see "
                                                     "`assaykit docs fcs-reader`).")] = None,
) -> None:
    """Describe FCS files: version, instrument, date, events, datasets, channels, spillover.

    A file that cannot be read is one error line; the others are still described (exit 2).

    Example: assaykit inspect demo/*.fcs --json   (demo: a run written by `assaykit simulate demo`)
    """
    from ..fcs import read_fcs

    failed = False
    described: list[dict] = []
    for path in files:
        try:
            sample = read_fcs(path, dataset=dataset)
        except AssayKitError as error:
            report(error)
            failed = True
            continue
        if as_json:
            entry = sample.to_dict()
            if keywords:
                entry["keywords"] = dict(sample.keywords)
            described.append(entry)
        else:
            typer.echo(_describe(sample, keywords))
    if as_json:
        print_json(described if len(files) != 1 else (described[0] if described else None))
    if failed:
        raise typer.Exit(2)
