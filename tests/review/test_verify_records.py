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
    # every page shows the signature block; drawn again without signatures.json they say "Not signed":
    # said once for the 5 pages, not page by page
    assert [(p.page, p.code, p.detail) for p in check.pages] == [("", "not_signatures", "5 of 5")]
    result = _verify_cli(out)
    assert result.exit_code == 1 and "the pages (5 of 5) do not show signatures.json's signatures" in result.output


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


# --- each `reviewed:` gate override checked against the audit entry it names ----------------------


def _rescore(run: Path, out: Path) -> None:
    from assaykit.report import build_reports
    from assaykit.scoring import score_run

    score_run(run, out=out, jobs=1, use_default_ledger=True)
    build_reports(out, jobs=1)


@pytest.fixture
def reviewed_run(scored_run):
    from tests.review.conftest import bigger

    run, out = scored_run
    with open_review(out, reviewer="Carol") as review:
        review.exclude("A2", "clotted sample")
        review.change_gate("A3", bigger(review.gate("A3")), "granulocytes inside the gate")
    _rescore(run, out)  # the outputs scored with the review's run.yaml (as `assaykit score` after a review)
    return run, out


def test_gate_overrides_the_review_wrote_verify_whole(reviewed_run):
    _, out = reviewed_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(o["file"] for o in manifest["gate_overrides"] if o.get("reviewed")) == [
        "Specimen_001_A2_A02.fcs", "Specimen_001_A3_A03.fcs"]
    check = verify_review(out, jobs=1)
    assert check.reviewed == () and check.whole, [str(p) for p in check.reviewed]


def test_a_hand_written_reviewed_key_is_named(reviewed_run):
    """HOSTILE 15: a run.yaml entry written by hand with a `reviewed:` key copied from a real one."""
    run, out = reviewed_run
    text = (run / "run.yaml").read_text()
    mark = next(line for line in text.splitlines() if "reviewed:" in line and "audit:" in line)
    (run / "run.yaml").write_text(text + f"  A4:\n    reason: looks fine to me\n    exclude: true\n{mark}\n")
    _rescore(run, out)
    check = verify_review(out, jobs=1)
    assert [(p.file, p.code) for p in check.reviewed] == [("Specimen_001_A4_A04.fcs", "not_that_change")]
    assert "another tube" in check.reviewed[0].detail and not check.whole
    result = _verify_cli(out)
    assert result.exit_code == 1 and "gate override of Specimen_001_A4_A04.fcs" in result.output


def test_a_reviewed_entry_naming_no_entry_or_kept_after_a_later_change_is_named(reviewed_run):
    run, out = reviewed_run
    text = (run / "run.yaml").read_text()
    (run / "run.yaml").write_text(text.replace("audit: ", "audit: 9", 1))  # A2's entry names 9N: none
    _rescore(run, out)
    assert [(p.file, p.code) for p in verify_review(out, jobs=1).reviewed] == [
        ("Specimen_001_A2_A02.fcs", "no_entry")]
    (run / "run.yaml").write_text(text)
    with open_review(out, reviewer="Carol") as review:
        review.exclude("A3", "clotted after all")  # A3's gate change replaced by an exclusion
    assert "clotted after all" in (run / "run.yaml").read_text()
    (run / "run.yaml").write_text(text)
    _rescore(run, out)  # run.yaml put back by hand: A3's older gate entry, which the audit changed since
    problems = verify_review(out, jobs=1).reviewed
    assert [(p.file, p.code) for p in problems] == [("Specimen_001_A3_A03.fcs", "changed_later")]


def test_removing_the_audit_trail_and_signatures_leaves_the_reviewed_overrides_named(reviewed_run):
    _, out = reviewed_run
    (out / "audit.jsonl").unlink()
    if (out / "signatures.json").exists():
        (out / "signatures.json").unlink()
    check = verify_review(out, jobs=1)
    assert sorted((p.file, p.code) for p in check.reviewed) == [
        ("Specimen_001_A2_A02.fcs", "no_trail"), ("Specimen_001_A3_A03.fcs", "no_trail")]
    assert not check.whole


# --- the ledger's copy of the audit trail: a signature of this scoring in a trail the folder lost --


def test_records_removed_and_pages_redrawn_are_found_by_the_ledgers_copy(signed):
    from typer.testing import CliRunner

    from assaykit.cli import app

    _, out = signed
    (out / "audit.jsonl").unlink()
    (out / "signatures.json").unlink()
    result = CliRunner().invoke(app, ["report", str(out), "--jobs", "1"])  # the pages now say "Not signed"
    assert result.exit_code == 0, result.output
    check = verify_review(out, jobs=1)
    assert check.pages == () and check.reviewed == ()
    assert [(t.code, t.meaning, t.reviewer, t.seq) for t in check.ledger] == [("no_trail", "reviewed", "Alice", 2)]
    result = _verify_cli(out)
    assert result.exit_code == 1
    assert "the ledger records this run's outputs reviewed by Alice" in result.output


def test_a_new_trail_in_place_of_the_signed_one_is_found(signed):
    _, out = signed
    (out / "audit.jsonl").unlink()
    (out / "signatures.json").unlink()
    with open_review(out, reviewer="Mallory"):
        pass  # a fresh audit trail (its own first line, its own ledger key)
    from assaykit.report import build_reports

    build_reports(out, jobs=1)
    assert [t.code for t in verify_review(out, jobs=1).ledger] == ["other_trail"]


def test_a_signed_folder_deleted_and_scored_again_is_no_false_alarm(signed):
    """HOSTILE 5's neighbour: the ledger's signatures are of the earlier scoring (its run id)."""
    import shutil

    run, out = signed
    shutil.rmtree(out)
    _rescore(run, out)
    check = verify_review(out, jobs=1)
    assert check.ledger == () and check.whole
    assert _verify_cli(out).exit_code == 0


def test_a_folder_deleted_and_scored_again_with_the_reviews_run_yaml_notes_the_earlier_trail(reviewed_run):
    """The run.yaml's `reviewed:` entries name entries of the deleted folder's trail: the ledger
    keeps them as written (a note, not a problem) once the new folder has a trail of its own; a
    folder with no trail at all is a problem (its records removed look the same)."""
    import shutil

    run, out = reviewed_run
    shutil.rmtree(out)
    _rescore(run, out)
    assert sorted(p.code for p in verify_review(out, jobs=1).reviewed) == ["no_trail", "no_trail"]
    with open_review(out, reviewer="Ann"):
        pass
    check = verify_review(out, jobs=1)
    assert sorted(p.code for p in check.reviewed) == ["earlier_trail", "earlier_trail"] and check.whole
    result = _verify_cli(out)
    assert result.exit_code == 0 and "earlier audit trail the ledger keeps" in result.output, result.output
