"""The review library on a scored simulated run: re-measured by score's own functions, changes
written to run.yaml and the audit, a reviewed run re-scored to identical tables, one review at
a time, signatures superseded and still verifiable, records carried across re-scores."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from assaykit.review import (
    HandWrittenError,
    ReviewBusy,
    ReviewError,
    check_signatures,
    open_review,
    verify_review,
)
from assaykit.review.audit import entries
from tests.review.conftest import bigger


def _csv(folder: Path, name: str) -> bytes:
    return (folder / f"{name}.csv").read_bytes()


def test_a_change_is_remeasured_as_score_measures_it(scored_run: tuple[Path, Path], tmp_path: Path) -> None:
    """The AB/C shown after a change is the one `score` gives the reviewed run.yaml, and the
    reviewed run re-scored gives identical samples, restoration and patients tables."""
    from assaykit.scoring import score_run

    run, out = scored_run
    before = run.joinpath("run.yaml").read_bytes()
    with open_review(out, reviewer="Ann") as review:
        assert [t.key for t in review.tubes()][:3] == ["A1", "A2", "A3"]
        unchanged = review.measure("A1")
        gate = review.gate("A1")
        assert gate["type"] == "polygon" and gate["dims"] == ["CD14", "SSC-A"] and gate["source"] == "auto"
        polygon = bigger(gate)
        preview = review.preview("A1", polygon)
        assert run.joinpath("run.yaml").read_bytes() == before  # a preview writes nothing
        assert preview.row["monocytes"] > unchanged.row["monocytes"]
        assert preview.row["hladr_abc"] != unchanged.row["hladr_abc"]
        changed = review.change_gate("A1", polygon, "granulocytes outside the gate")
        assert changed.row["hladr_abc"] == preview.row["hladr_abc"]
        assert len(changed.restoration) == 2 and changed.patient is not None
        excluded = review.exclude("A5", "clotted tube")
        assert excluded.row["verdict"] == "withheld" and excluded.row["hladr_abc"] is None
        assert "excluded_by_reviewer" in excluded.row["verdict_reasons"]
    again = score_run(run, out=tmp_path / "again", jobs=1, use_default_ledger=True)
    samples = again.samples.set_index("well")
    assert samples.loc["A1", "hladr_abc"] == pytest.approx(changed.row["hladr_abc"], rel=1e-12)
    assert samples.loc["A5", "verdict"] == "withheld"
    assert "excluded_by_reviewer" in samples.loc["A5", "verdict_reasons"]
    assert "[gate_set_by_hand] gate corrected in review by Ann: granulocytes outside the gate" \
        in samples.loc["A1", "qc_flags"]
    restored = {r["condition"]: r for r in changed.restoration}
    rows = again.restoration.set_index(["patient", "condition"])
    for condition, row in restored.items():
        assert rows.loc[("P01", condition), "fold_change"] == pytest.approx(row["fold_change"], rel=1e-12)
    third = score_run(run, out=tmp_path / "third", jobs=1, use_default_ledger=True)
    for name in ("samples", "restoration", "patients"):
        assert _csv(tmp_path / "again", name) == _csv(tmp_path / "third", name)
    assert third.samples.equals(again.samples)


def test_the_audit_records_who_what_and_why(scored_run: tuple[Path, Path]) -> None:
    import hashlib

    run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        gate = review.gate("A2")
        yaml_before = hashlib.sha256(run.joinpath("run.yaml").read_bytes()).hexdigest()
        review.change_gate("A2", bigger(gate), "  doublets   inside ")
        review.accept("A3")
    found = entries(out / "audit.jsonl")
    assert [e["action"] for e in found] == ["open", "change", "accept", "close"]
    change = found[1]
    assert change["reviewer"] == "Ann" and change["os_user"] and change["host"]
    assert change["reason"] == "doublets inside" and change["tube"] == "A2"
    assert change["before"]["gate"]["source"] == "auto" and change["after"]["gate"]["vertices"] == bigger(gate)
    assert change["run_yaml_before"] == yaml_before
    assert change["run_yaml_after"] == hashlib.sha256(run.joinpath("run.yaml").read_bytes()).hexdigest()
    import yaml

    entry = yaml.safe_load(run.joinpath("run.yaml").read_text())["gate_overrides"]["A2"]
    assert entry["reviewed"]["by"] == "Ann" and entry["reviewed"]["audit"] == change["seq"] == 2
    assert verify_review(out).whole


def test_a_second_review_of_the_run_is_refused(scored_run: tuple[Path, Path]) -> None:
    _run, out = scored_run
    first = open_review(out, reviewer="Ann")
    try:
        with pytest.raises(ReviewBusy, match=f"another review of this run is open \\(pid {os.getpid()} on "):
            open_review(out, reviewer="Bob")
    finally:
        first.close()
    open_review(out, reviewer="Bob").close()  # released


def test_a_stale_lock_is_taken_over_and_said(scored_run: tuple[Path, Path]) -> None:
    from assaykit.review.lock import lock_path

    _run, out = scored_run
    lock_path(out).write_text(json.dumps({"pid": 999999, "host": "gone", "since": "2026-01-01T00:00:00+00:00"}))
    open_review(out, reviewer="Ann").close()
    opened = entries(out / "audit.jsonl")[0]
    assert opened["action"] == "open" and "pid 999999 on gone" in opened["taken_over"]


def test_a_hand_written_entry_needs_confirmation(scored_run: tuple[Path, Path]) -> None:
    run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        polygon = bigger(review.gate("A1"))
    hand = ("gate_overrides:\n  A1:  # by hand\n    reason: checked against FlowJo\n"
            f"    gate: {{type: polygon, dims: [CD14, SSC-A], vertices: {json.dumps(polygon)}}}\n")
    run.joinpath("run.yaml").write_text(run.joinpath("run.yaml").read_text() + hand)
    with open_review(out, reviewer="Ann") as review:
        tube = review.tube("A1")
        assert tube.hand_written and tube.entry is not None and review.gate("A1")["source"] == "run.yaml"
        with pytest.raises(HandWrittenError):
            review.exclude("A1", "lipaemic")
        review.exclude("A1", "lipaemic", replace_hand_written=True)
    change = entries(out / "audit.jsonl")[-2]
    assert change["replaced_hand_written"] is True and change["before"]["entry"]["reason"] == "checked against FlowJo"


def test_run_yaml_changed_meanwhile_is_refused(scored_run: tuple[Path, Path]) -> None:
    run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        run.joinpath("run.yaml").write_text(run.joinpath("run.yaml").read_text() + "# edited elsewhere\n")
        with pytest.raises(Exception, match="changed on disk"):
            review.exclude("A1", "clot")
    assert "exclude" not in [e["action"] for e in entries(out / "audit.jsonl")]


def test_a_change_needs_a_reason_and_a_name(scored_run: tuple[Path, Path]) -> None:
    _run, out = scored_run
    with open_review(out) as review:
        with pytest.raises(ReviewError, match="reviewer's name"):
            review.exclude("A1", "clot")
        review.reviewer = "Ann"
        for reason in ("", "   ", "...", "a\x1b[31m"):
            with pytest.raises(ReviewError, match="reason"):
                review.exclude("A1", reason)
        with pytest.raises(ReviewError, match="no blood tube"):
            review.exclude("H12", "the bead tube")


def test_signatures_superseded_after_a_change_still_hold_against_their_version(
        scored_run: tuple[Path, Path]) -> None:
    _run, out = scored_run
    assert "Not signed" in (out / "index.html").read_text()
    with open_review(out, reviewer="Ann") as review:
        review.change_gate("A1", bigger(review.gate("A1")), "granulocytes outside the gate")
        reviewed = review.sign("reviewed")
        with pytest.raises(ReviewError, match="approver must be another person"):
            review.sign("approved", "ANN")
    with open_review(out, reviewer="Bob") as review:  # one session holds one role (D10)
        approved = review.sign("approved", "Bob")
        assert approved["outputs_sha256"] == reviewed["outputs_sha256"]
        page = (out / "index.html").read_text()
        assert "Approved by Bob" in page and "Reviewed by Ann" in page
        assert "Reviewed by Ann" in next((out / "patients").glob("*.html")).read_text()
        signed_samples = _csv(out, "samples")
        review.change_gate("A2", bigger(review.gate("A2")), "second look")
    checks = check_signatures(out)
    assert [(c.n, c.status, c.holds) for c in checks] == [(1, "superseded", True), (2, "superseded", True)]
    assert (out / "versions" / "1" / "samples.csv").read_bytes() == signed_samples
    assert "superseded: version 1 kept" in (out / "index.html").read_text()
    actions = [e["action"] for e in entries(out / "audit.jsonl")]
    # the change written (run.yaml, then its audit entry) before the signatures are marked superseded
    assert actions.count("sign") == 2 and actions.index("supersede") == actions.index("change", 3) + 1
    kept = out / "versions" / "1" / "samples.csv"
    kept.write_bytes(kept.read_bytes().replace(b"P01", b"P09", 1))
    assert not check_signatures(out)[0].holds


def test_the_approver_may_review_when_the_lab_allows_it(scored_run: tuple[Path, Path]) -> None:
    run, out = scored_run
    run.joinpath("run.yaml").write_text(run.joinpath("run.yaml").read_text()
                                        + "review: {approver_may_review: true}\n")
    with open_review(out, reviewer="Ann") as review:
        review.sign("reviewed")
        review.sign("approved")
    assert [c.holds for c in check_signatures(out)] == [True, True]


def test_records_are_carried_across_a_rescore_and_verified(scored_run: tuple[Path, Path]) -> None:
    """score and report replace the output folder but keep audit.jsonl, signatures.json and
    versions/; `assaykit verify` checks the chain and the signatures, and names a tampered line."""
    from typer.testing import CliRunner

    from assaykit.cli import app
    from assaykit.scoring import score_run

    run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        review.exclude("A2", "clot")
        review.sign("reviewed")
    audit = (out / "audit.jsonl").read_bytes()
    page = next((out / "patients").glob("P01*.html")).read_text()
    assert "excluded by the reviewer: clot" in page  # the withheld tube's reason, on its page
    from assaykit.ledger import open_ledger

    with open_ledger(json.loads((out / "manifest.json").read_text())["ledger"]["location"]) as ledger:
        tubes = ledger.export()["tubes"].decode()
    assert "excluded_by_reviewer" in next(line for line in tubes.splitlines() if "_A2_" in line)
    from assaykit.review.signatures import rescoring_signed

    with rescoring_signed(out, run) as keeping:  # a signed folder: the library re-scores it inside the review's wrapper
        score_run(run, out=out, jobs=1, use_default_ledger=True, replace_signed=keeping)
    assert (out / "audit.jsonl").read_bytes() == audit and (out / "signatures.json").exists()
    runner = CliRunner()
    result = runner.invoke(app, ["verify", str(out)])
    # re-scored from the same inputs: the same numbers and gates (the run id is not signed), the signature holds
    assert result.exit_code == 0 and "signature 1 (reviewed by Ann, current): holds" in result.output
    lines = audit.splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"clot"', b'"ok"')
    (out / "audit.jsonl").write_bytes(b"".join(lines))
    result = runner.invoke(app, ["verify", str(out)])
    assert result.exit_code == 1 and "audit.jsonl line 2: " in result.output and "audit.jsonl line 3: " in result.output


def test_a_ledger_fault_never_loses_the_file_entry(scored_run: tuple[Path, Path]) -> None:
    from assaykit.scoring.tables import MANIFEST

    _run, out = scored_run
    manifest = json.loads((out / MANIFEST).read_text())
    with open_review(out, reviewer="Ann") as review:
        ledger = Path(manifest["ledger"]["location"])
        ledger.write_bytes(b"not a database")  # the ledger broken under the review
        review.exclude("A1", "clot")
        assert "not copied to the ledger" in review.ledger_problem
    assert [e["action"] for e in entries(out / "audit.jsonl")] == ["open", "exclude", "close"]


def test_the_plate_and_figures_follow_the_changes(scored_run: tuple[Path, Path]) -> None:
    import csv

    _run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        with (out / "samples.csv").open(newline="") as handle:
            scored = {r["well"]: r for r in csv.DictReader(handle)}
        plate = {r["well"]: r for r in review.plate()}
        assert set(plate) == set(scored)
        assert all(plate[w]["hladr_abc"] == pytest.approx(float(scored[w]["hladr_abc"]), rel=1e-6)
                   for w in scored if scored[w]["hladr_abc"])
        polygon = bigger(review.gate("A1"))
        figure = review.figure("A1", polygon)
        monocytes = next(p for p in figure["panels"] if p["population"] == "monocytes")
        shown = review.preview("A1", polygon)
        assert monocytes["count"] == shown.row["monocytes"] and monocytes["x_ticks"]
        review.exclude("A2", "clot")
        assert {r["well"]: r for r in review.plate()}["A2"]["verdict"] == "withheld"


@pytest.mark.parametrize("reason", ["x: y # not a comment", "quotes ' and \" and {braces} [and] &a *b !c",
                                    "<script>alert(1)</script>", "Ärzte – naïve ✓", "- a list? no", "null"])
def test_hostile_reasons_are_written_and_read_back_as_given(scored_run: tuple[Path, Path], reason: str) -> None:
    import yaml

    run, out = scored_run
    with open_review(out, reviewer="O'Neil: <b>") as review:
        review.exclude("A1", reason)
    entry = yaml.safe_load(run.joinpath("run.yaml").read_text())["gate_overrides"]["A1"]
    assert entry["reason"] == reason and entry["reviewed"]["by"] == "O'Neil: <b>"
    assert entries(out / "audit.jsonl")[1]["reason"] == reason
    assert verify_review(out).whole


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="no pdftotext on this machine (poppler-utils)")
def test_the_pdf_carries_the_signature_block(scored_run: tuple[Path, Path]) -> None:
    import subprocess

    _run, out = scored_run
    pdf = next((out / "patients").glob("P01*.pdf"))

    def text() -> str:
        return " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True,
                                       text=True).stdout.split())

    assert "Signatures: Not signed" in text()
    with open_review(out, reviewer="Ann") as review:
        signature = review.sign("reviewed")
    shown = text()
    assert f"Reviewed by Ann, {signature['at'].replace('T', ' ').replace('+00:00', ' UTC')}" in shown
    assert signature["outputs_sha256"][:12] in shown
