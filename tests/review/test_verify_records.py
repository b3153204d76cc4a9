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


# --- every path that replaces a signed output folder keeps the signed version, or refuses ----------


def _signed_state(out: Path) -> tuple[bytes, bytes]:
    return (out / "restoration.csv").read_bytes(), (out / "signatures.json").read_bytes()


def test_library_score_run_refuses_a_signed_folder_and_leaves_it_as_it_was(signed):
    from assaykit.errors import AssayKitError
    from assaykit.review.signatures import check_signatures
    from assaykit.scoring import score_run

    run, out = signed
    before = _signed_state(out)
    text = (run / "run.yaml").read_text()
    (run / "run.yaml").write_text(text.replace("control: unstimulated", "control: IFN-gamma"))
    with pytest.raises(AssayKitError) as caught:
        score_run(run, out=out, jobs=1, use_default_ledger=True)
    assert "holds signatures" in caught.value.message and "replace_signed=True" in caught.value.message
    assert _signed_state(out) == before
    assert [(c.status, c.holds) for c in check_signatures(out)] == [("current", True)]
    assert not (out / "versions").exists()


def test_library_score_run_inside_the_reviews_wrapper_keeps_the_signed_version(signed):
    from assaykit.review import audit as audit_log
    from assaykit.review.signatures import check_signatures, rescoring_signed
    from assaykit.scoring import score_run

    run, out = signed
    signed_table = (out / "restoration.csv").read_bytes()
    text = (run / "run.yaml").read_text()
    (run / "run.yaml").write_text(text.replace("control: unstimulated", "control: IFN-gamma"))
    with rescoring_signed(out, run) as keeping:
        assert keeping is True
        score_run(run, out=out, jobs=1, use_default_ledger=True, replace_signed=keeping)
    assert (out / "versions" / "1" / "restoration.csv").read_bytes() == signed_table
    assert (out / "restoration.csv").read_bytes() != signed_table
    assert [(c.status, c.holds) for c in check_signatures(out)] == [("superseded", True)]
    assert audit_log.entries(out / "audit.jsonl")[-1]["action"] == "supersede"


def test_a_superseded_only_folder_is_replaced_without_a_keyword(signed):
    """Only a current signature refuses: a superseded one's version is kept already (versions/<n>)."""
    from assaykit.review.signatures import check_signatures
    from assaykit.scoring import score_run

    run, out = signed
    with open_review(out, reviewer="Carol") as review:
        review.exclude("A2", "clotted sample")  # supersedes signature 1, versions/1 kept
    assert [c.status for c in check_signatures(out)] == ["superseded"]
    score_run(run, out=out, jobs=1, use_default_ledger=True)
    assert [(c.status, c.holds) for c in check_signatures(out)] == [("superseded", True)]


def test_build_reports_and_assaykit_report_on_a_signed_folder_keep_its_signatures(signed):
    from typer.testing import CliRunner

    from assaykit.cli import app
    from assaykit.report import build_reports
    from assaykit.review.signatures import check_signatures

    _, out = signed
    before = _signed_state(out)
    page = (out / "patients" / "P01.html").read_bytes()
    build_reports(out, jobs=1)
    result = CliRunner().invoke(app, ["report", str(out), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert _signed_state(out) == before and (out / "patients" / "P01.html").read_bytes() == page
    assert [(c.status, c.holds) for c in check_signatures(out)] == [("current", True)]
    assert not (out / "versions").exists()
    assert verify_review(out, jobs=1).whole


def test_a_study_score_refuses_a_signed_run_folder(review_source, tmp_path, monkeypatch):
    import shutil

    from typer.testing import CliRunner

    from assaykit.cli import app
    from assaykit.scoring.study import score_study

    monkeypatch.setenv("ASSAYKIT_LEDGER", str(tmp_path / "ledger.sqlite"))
    monkeypatch.setenv("ASSAYKIT_REVIEW_LOCKS", str(tmp_path))
    runs = [tmp_path / "day1", tmp_path / "day2"]
    for run in runs:
        shutil.copytree(review_source, run)
    root = tmp_path / "study"
    runner = CliRunner()
    result = runner.invoke(app, ["score", *map(str, runs), "--out", str(root), "--jobs", "1", "--no-report"])
    assert (root / "day1" / "manifest.json").is_file(), result.output
    with open_review(root / "day1", reviewer="Alice") as review:
        review.sign("reviewed")
    before = _signed_state(root / "day1")
    result = runner.invoke(app, ["score", *map(str, runs), "--out", str(root), "--jobs", "1", "--no-report"])
    assert result.exit_code != 0 and "holds signatures" in result.output, result.output
    study = score_study(runs, out=root, use_default_ledger=True, jobs=1)  # the other run scored, this one a row
    rows = {row["run"]: row for row in study.rows}
    assert "holds signatures" in rows["day1"]["error"] and rows["day2"]["error"] == ""
    assert _signed_state(root / "day1") == before
