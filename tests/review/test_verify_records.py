"""What a reviewed folder's records prove (issue 30, points 5 and 6): a page edited with its
manifest entry updated, and the review's records removed, are found by `assaykit verify`; a
signed folder is never replaced by the library without keeping its signed version."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from assaykit.review import open_review, verify_review


def _relist(out: Path, rel: str) -> None:
    """The manifest's size and sha256 of ``rel`` updated to the file as it is now (what someone
    covering an edit does)."""
    manifest = json.loads((out / "manifest.json").read_text())
    data = (out / rel).read_bytes()
    manifest["files"][rel] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


@pytest.fixture
def signed(scored_run):
    run, out = scored_run
    with open_review(out, reviewer="Alice") as review:
        review.sign("reviewed")
    return run, out


def _verify_cli(out: Path):
    from typer.testing import CliRunner

    from assaykit.cli import app

    return CliRunner().invoke(app, ["verify", str(out)])


def test_a_signed_folder_verifies_whole_and_its_pages_are_the_ones_drawn(signed):
    _, out = signed
    check = verify_review(out, jobs=1)
    assert check.pages == () and check.whole
    assert "Reviewed by Alice" in (out / "patients" / "P01.html").read_text()
    result = _verify_cli(out)
    assert result.exit_code == 0, result.output


def test_a_page_edited_with_its_manifest_entry_updated_is_named(signed):
    _, out = signed
    page = out / "patients" / "P01.html"
    page.write_text(page.read_text().replace("Reviewed by Alice", "Approved by Mallory"))
    _relist(out, "patients/P01.html")
    from assaykit.scoring.tables import verify_outputs

    assert verify_outputs(out) == []  # the manifest alone vouches for the edit
    check = verify_review(out, jobs=1)
    assert [(p.page, p.code) for p in check.pages] == [("patients/P01.html", "edited")]
    assert not check.whole
    result = _verify_cli(out)
    assert result.exit_code == 1
    assert "patients/P01.html is not what the signed tables draw: edited after" in result.output


def test_a_pdf_edited_and_a_foreign_page_listed_are_named(signed):
    _, out = signed
    pdf = out / "patients" / "P02.pdf"
    pdf.write_bytes(pdf.read_bytes() + b"%edited\n")
    _relist(out, "patients/P02.pdf")
    (out / "patients" / "P09.html").write_text("<html>Approved by Mallory</html>")
    _relist(out, "patients/P09.html")
    check = verify_review(out, jobs=1)
    assert sorted((p.page, p.code) for p in check.pages) == [("patients/P02.pdf", "edited"),
                                                              ("patients/P09.html", "not_drawn")]


def test_removing_the_audit_trail_and_signatures_is_found_by_the_pages(signed):
    _, out = signed
    (out / "audit.jsonl").unlink()
    (out / "signatures.json").unlink()
    check = verify_review(out, jobs=1)
    # every page shows the signature block; drawn again without signatures.json they say "Not signed"
    assert sorted(p.page for p in check.pages if p.code == "edited") == [
        "index.html", "patients/P01.html", "patients/P01.pdf", "patients/P02.html", "patients/P02.pdf"]
    result = _verify_cli(out)
    assert result.exit_code == 1 and "index.html is not what the signed tables draw" in result.output


def test_a_folder_never_reviewed_verifies_whole_and_its_pages_are_compared_too(scored_run):
    _, out = scored_run
    assert verify_review(out, jobs=1).whole
    page = out / "index.html"
    page.write_text(page.read_text().replace("Not signed", "Approved by Mallory"))
    _relist(out, "index.html")
    assert [(p.page, p.code) for p in verify_review(out, jobs=1).pages] == [("index.html", "edited")]
