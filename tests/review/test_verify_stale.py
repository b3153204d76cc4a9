"""Review records and numbers (issue 30 review, B1, B3, B10, B12): a review's changes reach the
outputs when it closes, and `assaykit verify` names outputs scored before them; approval waits
for the review's signature; a re-score that supersedes signatures says so; verify's messages
name what changed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from assaykit.review import audit as audit_log
from assaykit.review import open_review, verify_review


def _verify_cli(out: Path):
    from typer.testing import CliRunner

    from assaykit.cli import app

    return CliRunner().invoke(app, ["verify", str(out)])


def _row(out: Path, well: str) -> pd.Series:
    samples = pd.read_csv(out / "samples.csv")
    return samples[samples["well"] == well].iloc[0]


def test_closing_a_review_scores_its_changes_into_the_outputs(scored_run):
    _, out = scored_run
    assert _row(out, "A1")["verdict"].startswith("reportable")
    with open_review(out, reviewer="Ann") as review:  # the library's context manager closes it
        review.exclude("A1", "clotted")
    row = _row(out, "A1")
    assert row["verdict"] == "withheld" and "excluded_by_reviewer" in row["verdict_reasons"]
    assert "excluded by the reviewer: clotted" in (out / "patients" / "P01.html").read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    change = next(e["seq"] for e in audit_log.entries(out / "audit.jsonl") if e["action"] == "exclude")
    assert manifest["scored_from"]["audit_entries"] >= change  # scored after the change
    check = verify_review(out, jobs=1)
    assert check.stale is None and check.whole
    result = _verify_cli(out)
    assert result.exit_code == 0 and "whole" in result.output, result.output
    # closed with nothing changed since: nothing scored again, nothing said
    run_id = manifest["run_id"]
    review = open_review(out, reviewer="Ann")
    assert review.close() == ""
    assert json.loads((out / "manifest.json").read_text())["run_id"] == run_id


def test_close_says_what_it_scored(scored_run):
    _, out = scored_run
    review = open_review(out, reviewer="Ann")
    review.exclude("A2", "clotted")
    said = review.close()
    seq = next(e["seq"] for e in audit_log.entries(out / "audit.jsonl") if e["action"] == "exclude")
    assert said == f"the review's changes (audit entry {seq}) scored into {out}: tables and pages updated"
    assert _row(out, "A2")["verdict"] == "withheld"


def test_verify_names_outputs_scored_before_review_changes(scored_run, monkeypatch):
    from assaykit.review import signatures

    _, out = scored_run
    monkeypatch.setattr(signatures, "rescore_reviewed", lambda review: "")  # a review killed before it closed
    with open_review(out, reviewer="Ann") as review:
        review.exclude("A1", "clotted")
        review.exclude("A2", "clotted too")
    seqs = [e["seq"] for e in audit_log.entries(out / "audit.jsonl") if e["action"] == "exclude"]
    check = verify_review(out, jobs=1)
    assert check.stale is not None and check.stale.changes == tuple(seqs) and not check.whole
    result = _verify_cli(out)
    assert result.exit_code == 1
    assert (f"the outputs were scored before review changes (audit entries {seqs[0]}-{seqs[1]}): run `assaykit "
            "score`") in result.output
    assert "whole" not in result.output


def test_verify_names_a_run_yaml_changed_since_scoring(scored_run):
    run, out = scored_run
    assert verify_review(out, jobs=1).stale is None
    (run / "run.yaml").write_text((run / "run.yaml").read_text() + "# a note\n")
    check = verify_review(out, jobs=1)
    assert check.stale is not None and check.stale.run_yaml and check.stale.changes == ()
    result = _verify_cli(out)
    assert result.exit_code == 1 and "scored from another run.yaml" in result.output


def test_approval_waits_for_a_reviewed_signature_and_verify_flags_an_early_one(scored_run, monkeypatch):
    from assaykit.review import signatures
    from assaykit.review.errors import ReviewError

    _, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        with pytest.raises(ReviewError, match='this version has no current "reviewed" signature'):
            review.sign("approved", "Bob")
        assert not (out / "signatures.json").exists()
        monkeypatch.setattr(signatures, "signing_problem", lambda *a: "")  # what an older assaykit allowed
        review.sign("approved", "Bob")
        review.sign("reviewed", "Ann")
    checks = {c.meaning: c for c in signatures.check_signatures(out)}
    assert checks["reviewed"].holds
    assert checks["approved"].holds and checks["approved"].approved_early and not checks["reviewed"].approved_early
    assert not verify_review(out, jobs=1).whole
    result = _verify_cli(out)
    assert result.exit_code == 1 and 'signed before any "reviewed" signature of its version' in result.output


def test_a_rescore_that_supersedes_signatures_says_so_and_verify_notes_the_unsigned_outputs(scored_run):
    from typer.testing import CliRunner

    from assaykit.cli import app

    run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        review.sign("reviewed")
    with open_review(out, reviewer="Bob") as review:
        review.sign("approved")
    doc = __import__("yaml").safe_load((run / "run.yaml").read_text()) or {}
    doc.setdefault("thresholds", {})["normal_abc"] = 16000.0  # other outputs from the same tubes
    (run / "run.yaml").write_text(__import__("yaml").safe_dump(doc))
    result = CliRunner().invoke(app, ["score", str(run), "--out", str(out), "--jobs", "1"])
    assert "signatures 1, 2 superseded (version 1 kept under versions/1): review and sign again" in result.output
    assert (out / "versions" / "1" / "samples.csv").is_file()
    result = _verify_cli(out)
    assert result.exit_code == 0, result.output
    assert "the current outputs are not signed" in result.output


def test_verify_says_the_pages_miss_signatures_json_not_that_each_was_edited(scored_run):
    _, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        review.sign("reviewed")
    with open_review(out, reviewer="Bob") as review:
        review.sign("approved")
    path = out / "signatures.json"
    doc = json.loads(path.read_text())
    removed = doc["signatures"].pop()
    path.write_text(json.dumps(doc, indent=1) + "\n")
    result = _verify_cli(out)
    assert result.exit_code == 1
    pages = [p for p in json.loads((out / "manifest.json").read_text())["files"] if p.endswith((".html", ".pdf"))]
    assert f"the pages ({len(pages)} of {len(pages)}) do not show signatures.json's signatures" in result.output
    assert "edited after it was written" not in result.output
    assert (f"the signature of audit entry {removed['audit_seq']} (approved by Bob, missing)" in result.output)
    assert "signature 0" not in result.output


def test_a_withheld_control_withholds_the_comparison_not_the_drugs_own_value(scored_run):
    import re

    _, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        review.exclude("A1", "clotted")  # P01 D3's unstimulated control
        view = review.measure("A2")  # its IFN-gamma tube, reportable on its own
    drug = _row(out, "A2")
    assert drug["verdict"].startswith("reportable") and drug["hladr_abc"] > 0
    restoration = pd.read_csv(out / "restoration.csv")
    comparison = restoration[restoration["file"] == drug["file"]].iloc[0]
    assert comparison["verdict"] == "withheld" and comparison["abc"] == pytest.approx(drug["hladr_abc"])
    assert pd.isna(comparison["fold_change"])
    page = (out / "patients" / "P01.html").read_text()
    row = next(r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S) if "<td>IFN-gamma</td>" in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[2] == f"{drug['hladr_abc']:,.0f}" and "withheld (MFI" not in row  # the drug's own, reportable
    assert cells[3] == "control withheld" and "immunoparalysis" not in cells[6] and "withheld:" in cells[8]
    shown = next(r for r in view.restoration if r["file"] == drug["file"])  # what the review page draws from
    assert shown["abc"] == pytest.approx(drug["hladr_abc"]) and shown["control_abc"] is None


def test_pages_say_which_gates_were_corrected_in_review(scored_run):
    from tests.review.conftest import bigger

    _, out = scored_run
    assert "Gating: automatic, strategy" in (out / "patients" / "P01.html").read_text()
    with open_review(out, reviewer="Ann") as review:
        review.change_gate("A2", bigger(review.gate("A2")), "granulocytes outside the gate")
    page = (out / "patients" / "P01.html").read_text()
    condition = _row(out, "A2")["condition"]
    assert f"Gating: automatic, except {condition} (A2): corrected in review by Ann, strategy" in page
    assert f"in gating order: automatic, except {condition} (A2): corrected in review by Ann." in page
    other = (out / "patients" / "P02.html").read_text()  # P02's own tubes: all automatic
    assert "in gating order: automatic." in other
