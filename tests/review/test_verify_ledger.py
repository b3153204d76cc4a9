"""What an editor of the output folder alone cannot forge while `assaykit verify` says whole
(docs/review.md "What verify can and cannot prove"): the ledger's copy of the audit trail is
found as `assaykit score` finds it, never through the (editable) manifest; entries added at the
end, a fabricated trail, and review records removed behind a changed run id are named; a signed
folder whose ledger cannot be reached is not whole. And a session holds one role per version
(D10), through the app."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from assaykit.report.signed import outputs_digest
from assaykit.review import open_review, verify_review


@pytest.fixture
def signed(scored_run):
    run, out = scored_run
    with open_review(out, reviewer="Alice") as review:
        review.sign("reviewed")
    with open_review(out, reviewer="Bob") as review:
        review.sign("approved")
    return run, out


def _codes(out: Path, **kw) -> list[tuple[str, bool, tuple[int, ...]]]:
    return [(p.code, p.fatal, p.seqs) for p in verify_review(out, jobs=1, **kw).ledger_checks]


def _lines(out: Path) -> list[bytes]:
    return (out / "audit.jsonl").read_bytes().split(b"\n")[:-1]


def _write_trail(out: Path, docs: list[dict]) -> list[str]:
    """audit.jsonl written as a chain of ``docs`` (seq and prev filled in); the lines' hashes."""
    prev, lines, hashes = "0" * 64, [], []
    for seq, doc in enumerate(docs, 1):
        line = json.dumps({**doc, "seq": seq, "prev": prev}, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True).encode()
        lines.append(line)
        prev = hashlib.sha256(line).hexdigest()
        hashes.append(prev)
    (out / "audit.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return hashes


def _forge_sign(out: Path, name: str, meaning: str) -> None:
    """rvh-forge.py: a consistent "sign" entry appended, and its signature."""
    lines = _lines(out)
    template = [json.loads(x) for x in lines if json.loads(x)["action"] == "sign"][-1]
    entry = {**template, "seq": len(lines) + 1, "prev": hashlib.sha256(lines[-1]).hexdigest(), "reviewer": name,
             "meaning": meaning, "session_reviewer": name}
    line = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    with (out / "audit.jsonl").open("ab") as handle:
        handle.write(line + b"\n")
    doc = json.loads((out / "signatures.json").read_text())
    doc["signatures"].append({**doc["signatures"][-1], "n": len(doc["signatures"]) + 1, "name": name,
                              "meaning": meaning, "session_reviewer": name, "audit_seq": entry["seq"],
                              "audit_line_sha256": hashlib.sha256(line).hexdigest()})
    (out / "signatures.json").write_text(json.dumps(doc, indent=1) + "\n")


def test_a_signed_folder_and_its_ledger_agree(signed):
    _, out = signed
    check = verify_review(out, jobs=1)
    assert check.ledger_checks == () and check.whole


def test_the_manifest_ledger_location_switches_nothing_off(signed):
    """D3: manifest.ledger.location set to "none" (unsigned): the ledger is still found."""
    _, out = signed
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["ledger"]["location"] = "none"
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    lines = _lines(out)
    edited = [*lines[:-1], lines[-1].replace(b'"Bob"', b'"Eve"')]  # the last line: only the ledger can tell
    (out / "audit.jsonl").write_bytes(b"\n".join(edited) + b"\n")
    check = verify_review(out, jobs=1)
    assert [p.line for p in check.problems] == [len(lines)] and not check.whole


def test_a_signed_folder_whose_ledger_is_gone_is_not_whole_and_named_ledger_confirms(signed, tmp_path, monkeypatch):
    _, out = signed
    moved = tmp_path / "moved.sqlite"
    (tmp_path / "ledger.sqlite").rename(moved)
    check = verify_review(out, jobs=1)
    assert [(p.code, p.fatal) for p in check.ledger_checks] == [("unreachable", True)] and not check.whole
    assert str(check.ledger_checks[0]).startswith("cannot confirm the signatures: ledger ")
    assert verify_review(out, jobs=1, ledger=str(moved)).whole
    monkeypatch.delenv("ASSAYKIT_LEDGER")  # the default beside the output folder: not there either
    assert _codes(out) == [("unreachable", True, ())]
    assert _codes(out, ledger="none") == [("unreachable", True, ())]


def test_a_signature_forged_at_the_end_is_named(signed):
    """D4: 7 entries in the ledger, 8 in the folder: entry 8 added outside a review."""
    _, out = signed
    n = len(_lines(out))
    _forge_sign(out, "Mallory", "approved")
    check = verify_review(out, jobs=1)
    assert check.problems == () and all(s.holds for s in check.signatures)  # the chain and signatures hold
    assert _codes(out) == [("not_in_ledger", True, (n + 1,))] and not check.whole
    assert f"audit entries {n + 1}-{n + 1} are not in the ledger" in str(check.ledger_checks[0])


def test_a_fabricated_trail_on_a_run_never_reviewed_is_named(scored_run):
    """D4: the ledger recorded the run (score) but never saw this trail."""
    _, out = scored_run
    manifest = json.loads((out / "manifest.json").read_text())
    digest = outputs_digest(manifest, out)
    hashes = _write_trail(out, [{"action": "open", "reviewer": "Ann"},
                                {"action": "sign", "reviewer": "Ann", "meaning": "reviewed", "outputs_sha256": digest,
                                 "run_id": manifest["run_id"], "version": 1}])
    (out / "signatures.json").write_text(json.dumps({"signatures": [
        {"n": 1, "meaning": "reviewed", "name": "Ann", "outputs_sha256": digest, "run_id": manifest["run_id"],
         "version": 1, "audit_seq": 2, "audit_line_sha256": hashes[1], "status": "current"}]}) + "\n")
    assert _codes(out) == [("unseen_trail", True, (1, 2))]
    assert not verify_review(out, jobs=1).whole


def test_review_records_removed_behind_a_changed_run_id_are_named(signed):
    """D5: audit.jsonl and signatures.json removed, run_id set to zeros: the ledger holds the
    trail of this run folder and signatures of these very outputs."""
    _, out = signed
    (out / "audit.jsonl").unlink()
    (out / "signatures.json").unlink()
    for name in ("manifest.json", "figure_data.json"):
        doc = json.loads((out / name).read_text())
        doc["run_id"] = "0" * 32
        (out / name).write_text(json.dumps(doc))
    assert _codes(out) == [("lost_trail", True, ())]
    assert "reviewed by Alice" in str(verify_review(out, jobs=1).ledger_checks[0])
    manifest = json.loads((out / "manifest.json").read_text())  # the run folder edited too: found by the digest
    manifest["run_dir"] = str(out / "elsewhere")
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert _codes(out) == [("lost_trail", True, ())]


def test_a_run_deleted_and_scored_again_is_no_false_alarm(signed):
    """The neighbour of D5: the folder deleted and scored again (a new run id, the ledger's
    latest), not reviewed yet: the earlier trail the ledger keeps is no problem."""
    import shutil

    from assaykit.scoring import score_run

    run, out = signed
    shutil.rmtree(out)
    score_run(run, out=out, jobs=1, use_default_ledger=True)
    assert _codes(out) == []


def test_entries_written_while_the_ledger_was_down_are_recorded_and_copied_again(scored_run, tmp_path, monkeypatch):
    """The review records the entries a ledger fault kept out (``ledger_missed``) and copies
    them when the ledger answers again: verify finds the ledger's copy whole."""
    from assaykit.review import ledger_copy

    _, out = scored_run
    real = ledger_copy.ledger_target
    with open_review(out, reviewer="Ann") as review:
        monkeypatch.setattr(ledger_copy, "ledger_target", lambda _o: str(tmp_path / "no" / "such" / "x.sqlite"))
        review.view("A1")
        assert review.ledger_problem.startswith("the audit entry 2 was not copied")
        review.view("A2")
        monkeypatch.setattr(ledger_copy, "ledger_target", real)
        review.view("A3")
        assert review.ledger_problem == ""
    missed = [json.loads(x).get("ledger_missed") for x in _lines(out)]
    assert missed == [None, None, [2], [2, 3], None]
    assert _codes(out) == []
    # the same trail, cut back to what the ledger held while it was down: a note, not a problem
    import sqlite3

    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        db.execute("DELETE FROM audit WHERE seq IN (2, 3)")
    assert _codes(out) == [("missed_in_fault", False, (2, 3))]


def test_one_session_cannot_hold_both_roles_through_the_app(scored_run):
    """D10: Kim's session signs "reviewed" as "Kim", then "approved" as "Bob Jones": refused."""
    from starlette.testclient import TestClient

    from assaykit.review.app import create_app

    origin, token, csrf, base = "http://127.0.0.1:8768", "t" * 43, "c" * 43, "/" + "d" * 24 + "/"
    headers = {"origin": origin, "x-csrf-token": csrf, "content-type": "application/json"}
    _, out = scored_run
    with open_review(out, reviewer="Kim") as review:
        client = TestClient(create_app(review, token=token, csrf=csrf, port=8768, base=base), base_url=origin + base)
        assert client.get(f"{origin}/?token={token}", follow_redirects=False).status_code == 303
        ok = client.post("/api/sign", content=json.dumps({"meaning": "reviewed", "name": "Kim"}), headers=headers)
        assert ok.status_code == 200, ok.text
        refused = client.post("/api/sign", content=json.dumps({"meaning": "approved", "name": "Bob Jones"}),
                              headers=headers)
        assert refused.status_code == 409, refused.text  # refused as a signing conflict
        assert "Bob Jones (in Kim's session) signed this version as reviewer" in refused.json()["error"]
    with open_review(out, reviewer="Bob Jones") as review:  # Bob's own session may
        client = TestClient(create_app(review, token=token, csrf=csrf, port=8768, base=base), base_url=origin + base)
        assert client.get(f"{origin}/?token={token}", follow_redirects=False).status_code == 303
        ok = client.post("/api/sign", content=json.dumps({"meaning": "approved", "name": "Bob Jones"}),
                         headers=headers)
        assert ok.status_code == 200, ok.text
    assert [(s["meaning"], s["name"]) for s in json.loads((out / "signatures.json").read_text())["signatures"]] == \
        [("reviewed", "Kim"), ("approved", "Bob Jones")]
