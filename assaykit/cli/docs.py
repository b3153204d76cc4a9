"""``assaykit docs [TOPIC]``: the documentation pages shipped in the wheel (the repository's
docs/*.md, installed as the package ``assaykit._docs`` and read through importlib.resources, so
that they are there after ``pip install`` with no checkout)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import AssayKitError

DOCS_PACKAGE = "assaykit._docs"
ALIASES = {"strategy": "gating-strategy", "run.yaml": "scoring", "run-yaml": "scoring", "lot": "bead-calibration",
           "bead-lot": "bead-calibration", "beads": "bead-calibration", "fcs": "fcs-reader"}
"""Other names a topic is known by (what a user may type first)."""
REPOSITORY = "https://github.com/assaykit/assaykit"
REPOSITORY_PATHS = ("tests/", "benchmarks/", "sample_fcs", "../shared/", "assaykit/")
"""Where a page cites the source repository (its tests, benchmarks, demo run, shared data, code)."""


def topics() -> dict[str, str]:
    """Every shipped page: topic (its file name without .md) -> its title (the first heading)."""
    from importlib.resources import files

    found = {}
    for entry in sorted(files(DOCS_PACKAGE).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".md"):
            first = next((line for line in entry.read_text(encoding="utf-8").splitlines() if line.startswith("# ")),
                         "")
            found[entry.name[:-3]] = first[2:].strip()
    return found


def page(topic: str) -> str:
    """The Markdown text of ``topic`` (a page name or an alias); AssayKitError naming the topics
    when there is none."""
    from importlib.resources import files

    known = topics()
    name = "-".join(topic.strip().lower().replace("_", " ").split())  # "Plate map", plate_map: plate-map
    name = ALIASES.get(name, name[:-3] if name.endswith(".md") else name)
    if name not in known:
        raise AssayKitError(f"no documentation topic {topic!r} (topics: {', '.join(known)})")
    return files(DOCS_PACKAGE).joinpath(f"{name}.md").read_text(encoding="utf-8")


def docs(
    topic: Annotated[str | None, typer.Argument(help="The page to print (none: list the topics).",
                                                show_default=False)] = None,
) -> None:
    """Print a documentation page, or list them (title and other names of each).

    The pages ship with assaykit: every --help that points at documentation names a topic here.
    Topics: architecture, bead-calibration, benchmarks, exports, fcs-reader, gating-strategy, interop,
    ledger, plate-map, reliability, reports, review, scoring, simulator, validation (case, spaces and
    underscores do not matter: "plate map" and plate_map are plate-map; also: strategy, run.yaml,
    lot, beads, fcs).

    Example: assaykit docs;  assaykit docs plate-map;  assaykit docs run.yaml | less
    """
    if topic is not None:
        text = page(topic)
        typer.echo(text, nl=False)
        if any(where in text for where in REPOSITORY_PATHS):
            typer.echo(f"\n(Paths starting {', '.join(REPOSITORY_PATHS)} name files of the source repository, "
                       f"{REPOSITORY}, not of the installed package.)")
        return
    by_page: dict[str, list[str]] = {}
    for alias, name in ALIASES.items():
        by_page.setdefault(name, []).append(alias)
    for name, title in topics().items():
        also = f"  (also: {', '.join(by_page[name])})" if name in by_page else ""
        typer.echo(f"{name:<18}{title}{also}")
    typer.echo("\nassaykit docs TOPIC prints one page.")
