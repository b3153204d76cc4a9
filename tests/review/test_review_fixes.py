"""Review fixes (issue 30's reviews): the run folder the review uses is the one score used,
whatever the current folder; the options score ran with are the ones signing re-scores with."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assaykit.errors import AssayKitError
from assaykit.review import open_review


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_review_opens_the_run_folder_score_used_from_any_folder(scored_run, tmp_path, monkeypatch):
    run, out = scored_run
    assert Path(_manifest(out)["run_dir"]) == run.resolve()
    other = tmp_path / "elsewhere"
    (other / "run").mkdir(parents=True)
    shutil.copy(run / "plate_map.csv", other / "run" / "plate_map.csv")  # a decoy run folder named "run"
    monkeypatch.chdir(other)
    with open_review(out, reviewer="Carol") as review:
        assert review.run_dir == run.resolve()


def test_an_old_relative_run_dir_resolving_to_another_run_is_refused(scored_run, tmp_path, monkeypatch):
    run, out = scored_run
    doc = _manifest(out)
    doc["run_dir"] = "run"  # as score recorded it before issue 29: relative, as typed
    (out / "manifest.json").write_text(json.dumps(doc))
    decoy = tmp_path / "b"
    shutil.copytree(run, decoy / "run")
    first = sorted(decoy.glob("run/*.fcs"))[0]
    first.write_bytes(first.read_bytes() + b"x")  # another run's tube under the same name
    before = (decoy / "run" / "run.yaml").read_bytes() if (decoy / "run" / "run.yaml").exists() else None
    monkeypatch.chdir(decoy)
    with pytest.raises(AssayKitError) as caught:
        open_review(out, reviewer="Carol")
    assert f"{first.name} differs" in caught.value.message
    after = (decoy / "run" / "run.yaml").read_bytes() if (decoy / "run" / "run.yaml").exists() else None
    assert after == before
    monkeypatch.chdir(tmp_path)  # the output folder's parent holds the run scored: found there
    with open_review(out, reviewer="Carol") as review:
        assert review.run_dir == run.resolve()


def test_a_run_scored_with_an_option_not_in_run_yaml_is_refused_naming_it(scored_run, tmp_path):
    from assaykit.scoring import score_run

    run, _ = scored_run
    out = tmp_path / "out-il"
    score_run(run, out=out, jobs=1, control="IFN-gamma")
    with pytest.raises(AssayKitError) as caught:
        open_review(out, reviewer="Rita")
    message = caught.value.message
    assert "control: scored with 'IFN-gamma', run.yaml gives 'unstimulated'" in message
    assert "plate map" not in message and "strategy" not in message
    text = (run / "run.yaml").read_text()
    assert "control: unstimulated" in text
    (run / "run.yaml").write_text(text.replace("control: unstimulated", "control: IFN-gamma"))  # in run.yaml: opens
    with open_review(out, reviewer="Rita") as review:
        assert review._state.inputs.options.control == "IFN-gamma"


def test_a_failed_run_yaml_write_leaves_no_audit_entry_and_no_superseded_signature(scored_run, monkeypatch):
    from assaykit.review import audit as audit_log
    from assaykit.review import runyaml
    from assaykit.review.runyaml import RunYamlError

    run, out = scored_run
    with open_review(out, reviewer="Alice") as review:
        review.sign("reviewed")
        head = audit_log.head(out / "audit.jsonl")
        yaml_before = (run / "run.yaml").read_bytes()

        def full(*args, **kwargs):
            raise RunYamlError("no space left on device", run / "run.yaml")

        monkeypatch.setattr(runyaml, "write_atomic", full, raising=False)
        import assaykit._io.atomic as atomic

        monkeypatch.setattr(atomic, "write_atomic", full)
        with pytest.raises(RunYamlError):
            review.exclude("A2", "clotted sample")
        monkeypatch.undo()
        assert audit_log.head(out / "audit.jsonl") == head
        assert (run / "run.yaml").read_bytes() == yaml_before
        assert [s["status"] for s in review.signatures()] == ["current"]
        assert not (out / "versions").exists()


def test_run_yaml_mode_kept_and_a_symlinked_run_yaml_refused(scored_run, tmp_path):
    import os

    from assaykit.review.runyaml import RunYamlError

    run, out = scored_run
    os.chmod(run / "run.yaml", 0o640)
    with open_review(out, reviewer="Alice") as review:
        review.exclude("A2", "clotted sample")
    assert (run / "run.yaml").stat().st_mode & 0o777 == 0o640
    assert "exclude: true" in (run / "run.yaml").read_text()
    real = tmp_path / "shared-run.yaml"
    real.write_bytes((run / "run.yaml").read_bytes())
    (run / "run.yaml").unlink()
    (run / "run.yaml").symlink_to(real)
    before = real.read_bytes()
    with open_review(out, reviewer="Alice") as review, pytest.raises(RunYamlError) as caught:
        review.exclude("A3", "clotted sample")
    assert "symbolic link" in caught.value.message
    assert (run / "run.yaml").is_symlink() and real.read_bytes() == before


@pytest.fixture
def signed_twice(scored_run):
    _, out = scored_run
    with open_review(out, reviewer="Alice") as review:
        review.sign("reviewed")
    with open_review(out, reviewer="Bob") as review:  # one session holds one role (D10)
        review.sign("approved", "Bob")
    return out


def _edit_signatures(out: Path, change) -> None:
    doc = json.loads((out / "signatures.json").read_text())
    change(doc["signatures"])
    (out / "signatures.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("tamper, why", [
    (lambda s: s[1].update(name="Dr Forged"), "its name is not the one audit entry"),
    (lambda s: (s[0].update(meaning="approved"), s[1].update(meaning="reviewed")), "its meaning is not the one"),
    (lambda s: s.append({**s[0], "n": 5, "meaning": "approved", "name": "Dr Forged"}), "same audit entry"),
    (lambda s: s.append({**s[0], "n": 6, "status": "superseded", "kept_in": "../../other/out"}),
     "is not a versions/<n> folder"),
    (lambda s: s.pop(), "has none for it (removed)"),
])
def test_verify_finds_an_edited_forged_or_removed_signature(signed_twice, tamper, why):
    from assaykit.review.signatures import check_signatures

    out = signed_twice
    assert [c.holds for c in check_signatures(out)] == [True, True]
    _edit_signatures(out, tamper)
    broken = [c for c in check_signatures(out) if not c.holds]
    assert broken and any(why in c.why for c in broken), [c.line() for c in check_signatures(out)]


def test_verify_finds_signatures_json_removed(signed_twice):
    from assaykit.review.verify import verify_review

    (signed_twice / "signatures.json").unlink()
    check = verify_review(signed_twice)
    assert not check.whole
    assert sorted((c.meaning, c.name, c.status) for c in check.signatures) == [
        ("approved", "Bob", "missing"), ("reviewed", "Alice", "missing")]


def test_score_on_a_signed_run_keeps_the_signed_version_and_supersedes_only_when_the_outputs_change(scored_run):
    from typer.testing import CliRunner

    from assaykit.cli import app
    from assaykit.review import audit as audit_log
    from assaykit.review.signatures import check_signatures

    run, out = scored_run
    with open_review(out, reviewer="Alice") as review:
        review.sign("reviewed")
    with open_review(out, reviewer="Bob") as review:  # one session holds one role (D10)
        review.sign("approved", "Bob")
        # while a review holds the run, score is refused and the signed outputs stay as they are
        signed = (out / "restoration.csv").read_bytes()
        busy = CliRunner().invoke(app, ["score", str(run), "--out", str(out), "--jobs", "1"])
        assert busy.exit_code != 0 and "another review of this run is open" in busy.output, busy.output
        assert (out / "restoration.csv").read_bytes() == signed
    runner = CliRunner()
    result = runner.invoke(app, ["score", str(run), "--out", str(out), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert [(c.status, c.holds) for c in check_signatures(out)] == [("current", True), ("current", True)]
    assert not (out / "versions").exists()
    text = (run / "run.yaml").read_text()
    (run / "run.yaml").write_text(text.replace("control: unstimulated", "control: IFN-gamma"))
    result = runner.invoke(app, ["score", str(run), "--out", str(out), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert (out / "restoration.csv").read_bytes() != signed
    assert (out / "versions" / "1" / "restoration.csv").read_bytes() == signed
    checks = check_signatures(out)
    assert [(c.status, c.holds) for c in checks] == [("superseded", True), ("superseded", True)], \
        [c.line() for c in checks]
    last = audit_log.entries(out / "audit.jsonl")[-1]
    assert last["action"] == "supersede" and last["signatures"] == [1, 2] and "assaykit score" in last["reason"]
    assert "superseded: version 1 kept" in (out / "index.html").read_text()
    result = runner.invoke(app, ["verify", str(out)])
    assert result.exit_code == 0, result.output


def test_pages_say_a_signature_does_not_hold_over_outputs_nobody_signed(scored_run):
    from assaykit.report import build_reports
    from assaykit.scoring import score_run

    run, out = scored_run
    with open_review(out, reviewer="Alice") as review:
        review.sign("reviewed")
    assert "DOES NOT HOLD" not in (out / "index.html").read_text()
    text = (run / "run.yaml").read_text()
    (run / "run.yaml").write_text(text.replace("control: unstimulated", "control: IFN-gamma"))
    # the explicit keyword without the review's wrapper (a caller that keeps nothing): the pages must say so
    score_run(run, out=out, jobs=1, use_default_ledger=True, replace_signed=True)
    build_reports(out, jobs=1)
    page = (out / "index.html").read_text()
    assert "Reviewed by Alice" in page and "DOES NOT HOLD: these outputs are not the ones signed" in page


def test_the_ledger_copy_follows_the_audit_trail_not_the_output_path(scored_run, tmp_path):
    from assaykit.report import build_reports
    from assaykit.review.verify import verify_review
    from assaykit.scoring import score_run

    run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        review.exclude("A2", "clotted sample")
    assert verify_review(out).whole and verify_review(out).ledger_note == ""
    archived = tmp_path / "archived"
    shutil.copytree(out, archived)  # moved: the ledger's copy still found, a cut last line told
    lines = (archived / "audit.jsonl").read_bytes().splitlines(keepends=True)
    (archived / "audit.jsonl").write_bytes(b"".join(lines[:-1]))
    check = verify_review(archived)
    assert not check.whole and any("lines removed from the end" in p.what for p in check.problems)
    shutil.rmtree(out)  # the output path reused by a new run's trail: no false alarm
    score_run(run, out=out, jobs=1, use_default_ledger=True)
    build_reports(out, jobs=1)
    with open_review(out, reviewer="Ann"):
        pass
    check = verify_review(out)
    assert check.whole and check.ledger_note == "", [str(p) for p in check.problems]


def test_verify_says_when_it_could_not_consult_the_ledger(scored_run):
    from assaykit.review.verify import verify_review

    _, out = scored_run
    with open_review(out, reviewer="Ann"):
        pass
    location = json.loads((out / "manifest.json").read_text())["ledger"]["location"]
    Path(location).rename(location + ".moved")
    check = verify_review(out)  # a trail, no signature: said as a note (a signed folder: not whole)
    assert check.whole and [(p.code, p.fatal) for p in check.ledger_checks] == [("unreachable", False)]
    assert str(check.ledger_checks[0]).startswith("audit trail not compared with the ledger: ledger ")


def test_a_torn_last_audit_line_is_refused_at_open_and_never_extended(scored_run):
    _, out = scored_run
    with open_review(out, reviewer="Ann"):
        pass
    data = (out / "audit.jsonl").read_bytes()
    (out / "audit.jsonl").write_bytes(data[:-10])  # a write cut short
    with pytest.raises(AssayKitError) as caught:
        open_review(out, reviewer="Ann")
    assert "last line is torn" in caught.value.message
    assert (out / "audit.jsonl").read_bytes() == data[:-10]


def test_a_short_audit_write_is_an_error(tmp_path, monkeypatch):
    import os

    from assaykit.review import audit as audit_log

    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, data[:5]))
    with pytest.raises(AssayKitError) as caught:
        audit_log.append(tmp_path / "audit.jsonl", action="open", reviewer="Ann")
    assert "written only in part (5 of" in caught.value.message


@pytest.mark.parametrize("lookalike", ["Alíce", "\uff21\uff4c\uff49\uff43\uff45", "ALICE", " alice "])
def test_the_approver_is_not_the_reviewer_under_another_spelling(scored_run, lookalike):
    from assaykit.review.errors import ReviewError

    _, out = scored_run
    with open_review(out, reviewer="Alice") as review:
        review.sign("reviewed")
        with pytest.raises(ReviewError, match="the approver must be another person"):
            review.sign("approved", lookalike)


def test_signing_rules_both_ways_once_per_name_and_gate_changers(scored_run):
    from assaykit.review import audit as audit_log
    from assaykit.review.errors import ReviewError

    _, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        with pytest.raises(ReviewError, match="invisible"):
            review.sign("approved", "Al\u200bice")
        with pytest.raises(ReviewError, match='no current "reviewed" signature'):
            review.sign("approved", "Alice")  # approval waits for the review's signature
        assert not (out / "signatures.json").exists()
        review.sign("reviewed", "Bob Jones")
        sign = [e for e in audit_log.entries(out / "audit.jsonl") if e["action"] == "sign"][-1]
        assert sign["reviewer"] == "Bob Jones" and sign["session_reviewer"] == "Ann"
        with pytest.raises(ReviewError, match="has signed this version as reviewed already"):
            review.sign("reviewed", "bob jones")
        with pytest.raises(ReviewError, match=r"Alice \(in Ann's session\) signed this version as reviewer"):
            review.sign("approved", "Alice")  # the session that reviewed cannot approve (one role per session)
    with open_review(out, reviewer="Alice") as review:
        with pytest.raises(ReviewError, match="signed this version as reviewer; the approver must be another"):
            review.sign("approved", "bob jones")
        review.sign("approved", "Alice")
        with pytest.raises(ReviewError, match="has signed this version as approved already"):
            review.sign("approved", "Alice")
        with pytest.raises(ReviewError, match="approved this version; the reviewer must be another"):
            review.sign("reviewed", "alice")
    with open_review(out, reviewer="Dee") as review:
        review.exclude("A2", "clotted sample")  # a new version: whoever changed it may not approve it
    with open_review(out, reviewer="Carol") as review, \
            pytest.raises(ReviewError, match='no current "reviewed" signature'):
        review.sign("approved", "Carol")  # the new version: reviewed again first
    with open_review(out, reviewer="Dee") as review:
        review.sign("reviewed", "Dee")
        with pytest.raises(ReviewError, match=r"signed this version as reviewer"):
            review.sign("approved", "dee")
        with pytest.raises(ReviewError, match=r"Carol \(in Dee's session\)"):
            review.sign("approved", "Carol")  # nor under another name in the same session
    with open_review(out, reviewer="Carol") as review:
        review.sign("approved", "Carol")


def test_the_reviewer_name_is_one_rule_and_its_setting_is_recorded(scored_run):
    from assaykit.review import audit as audit_log
    from assaykit.review.errors import ReviewError

    _, out = scored_run
    with open_review(out) as review:
        with pytest.raises(ReviewError, match="invisible"):
            review.set_reviewer("Eve\u202egnp.exe")
        assert review.reviewer == ""
        review.set_reviewer("Eve Adams")
        review.exclude("A2", "clotted sample")
    actions = [(e["action"], e["reviewer"]) for e in audit_log.entries(out / "audit.jsonl")]
    assert actions[:3] == [("open", ""), ("reviewer", "Eve Adams"), ("exclude", "Eve Adams")]


def test_a_reason_s_lines_are_kept_in_the_audit_escaped(scored_run):
    from assaykit.review import audit as audit_log

    _, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        review.exclude("A2", "clotted sample\n\tsee ticket 12")
    entry = next(e for e in audit_log.entries(out / "audit.jsonl") if e["action"] == "exclude")
    assert entry["reason"] == "clotted sample see ticket 12"
    assert entry["reason_as_typed"] == "clotted sample\n\tsee ticket 12"
    line = next(li for li in (out / "audit.jsonl").read_bytes().splitlines() if b'"exclude"' in li)
    assert b"\\n\\t" in line  # escaped: one line each entry


def test_a_replaced_hand_written_entry_s_text_and_comments_go_into_the_audit(scored_run):
    from assaykit.review import audit as audit_log

    run, out = scored_run
    hand = "gate_overrides:\n  A3:   # ticket 1234\n    reason: smear on the slide  # by hand\n    exclude: true\n"
    with (run / "run.yaml").open("a") as handle:
        handle.write(hand)
    with open_review(out, reviewer="Ann") as review:
        review.exclude("A3", "clotted sample", replace_hand_written=True)
    entry = next(e for e in audit_log.entries(out / "audit.jsonl") if e["action"] == "exclude")
    assert entry["before"]["text"] == hand.split("\n", 1)[1]
    assert entry["replaced_hand_written"] is True
    assert "ticket 1234" not in (run / "run.yaml").read_text()


def test_a_hand_written_reviewed_key_does_not_pass_as_the_review_s(scored_run):
    run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        review.exclude("A2", "clotted sample")
        assert review.tube("A2").hand_written is False  # the review's own entry
    with (run / "run.yaml").open("a") as handle:
        handle.write("  A3:\n    reason: smear\n    exclude: true\n    reviewed: {by: Ann, at: x, audit: 1}\n")
    with open_review(out, reviewer="Ann") as review:
        assert review.tube("A2").hand_written is False
        assert review.tube("A3").hand_written is True  # audit entry 1 is the open, not a change of A3
