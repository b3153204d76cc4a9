"""A review's inputs, locks and crashes: inputs changed while a review is open (every write
refused, naming the file), stale tables (run.yaml's gate overrides not the ones scored), the
review lock beside the output folder and the audit trail's file lock, a signature or supersede
left half done by a process that ended, an unreadable signatures.json, a read-only or
hard-linked run.yaml and a symlinked output folder."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from assaykit.errors import AssayKitError
from assaykit.review import open_review
from assaykit.review.audit import append, entries, read_lines, verify_lines
from assaykit.review.errors import ReviewError
from assaykit.review.lock import ReviewBusy, lock_path
from assaykit.review.runyaml import RunYamlError
from assaykit.review.signatures import check_signatures
from assaykit.review.verify import verify_review

from .conftest import bigger


def _csv_row(out: Path, well: str) -> dict[str, str]:
    import csv

    with (out / "samples.csv").open(newline="") as handle:
        return next(r for r in csv.DictReader(handle) if r["well"] == well)


def _swap_a1_a2(plate: Path) -> None:
    lines = plate.read_text().splitlines(keepends=True)
    a1 = next(i for i, line in enumerate(lines) if line.startswith("A1,"))
    a2 = next(i for i, line in enumerate(lines) if line.startswith("A2,"))
    c1, c2 = lines[a1].split(",")[4], lines[a2].split(",")[4]
    lines[a1] = lines[a1].replace(f",{c1},", f",{c2},")
    lines[a2] = lines[a2].replace(f",{c2},", f",{c1},")
    plate.write_text("".join(lines))


def _append_byte(path: Path) -> None:
    with path.open("ab") as handle:
        handle.write(b"\0")


def _edits(run: Path) -> list[tuple[str, Callable[[], None]]]:
    fcs = sorted(run.glob("*.fcs"))[3]
    return [("plate_map.csv", lambda: _swap_a1_a2(run / "plate_map.csv")),
            ("beads_lot.yaml", lambda: (run / "beads_lot.yaml").write_text(
                (run / "beads_lot.yaml").read_text() + "# edited\n")),
            (fcs.name, lambda: _append_byte(fcs)),
            ("Specimen_new.fcs", lambda: shutil.copyfile(fcs, run / "Specimen_new.fcs"))]


# --- C1: inputs changed while the review is open --------------------------------------------------


@pytest.mark.parametrize("which", [0, 1, 2, 3], ids=["plate map", "bead lot", "an FCS file", "an FCS file added"])
def test_an_input_changed_during_the_review_refuses_every_write(scored_run: tuple[Path, Path], which: int) -> None:
    run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        polygon = bigger(review.gate("A1"))
        name, edit = _edits(run)[which]
        before_yaml = (run / "run.yaml").read_bytes()
        before_audit = len(read_lines(out / "audit.jsonl"))
        edit()
        for act in (lambda: review.change_gate("A1", polygon, "granulocytes"),
                    lambda: review.exclude("A2", "clotted"),
                    lambda: review.accept("A3"),
                    lambda: review.sign("reviewed")):
            with pytest.raises(ReviewError, match="reload the review") as refused:
                act()
            assert name in str(refused.value) and "\n" not in str(refused.value)
        assert (run / "run.yaml").read_bytes() == before_yaml  # nothing written
        assert len(read_lines(out / "audit.jsonl")) == before_audit
        assert not (out / "signatures.json").exists()


def test_an_input_touched_but_not_changed_is_no_refusal(scored_run: tuple[Path, Path]) -> None:
    run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        os.utime(run / "plate_map.csv", (1, 1))  # its times changed, its bytes the same: hashed, not refused
        review.accept("A1")
        assert review.sign("reviewed")["meaning"] == "reviewed"


# --- C2: stale tables -----------------------------------------------------------------------------


def test_an_override_typed_after_a_signature_makes_the_approval_a_new_version(scored_run: tuple[Path, Path]) -> None:
    run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        assert review.stale() == ""
        review.sign("reviewed")
    assert _csv_row(out, "A1")["verdict"].startswith("reportable")
    signed = (out / "samples.csv").read_bytes()
    with (run / "run.yaml").open("a") as handle:
        handle.write("gate_overrides:\n  A1:\n    exclude: true\n    reason: clotted, typed by hand\n")
    with open_review(out, reviewer="Bob") as review:
        assert "Specimen_001_A1_A01.fcs" in review.stale() and review.stale() in review.notes
        assert entries(out / "audit.jsonl")[-1]["stale"] == review.stale()
        assert next(r for r in review.plate() if r["well"] == "A1")["verdict"] == "withheld"  # what Bob sees
        with pytest.raises(ReviewError, match='no current "reviewed" signature'):
            review.sign("approved")  # the stale tables are not approved: a new version, to be reviewed first
    assert (out / "versions" / "1" / "samples.csv").read_bytes() == signed  # the signed version kept
    with open_review(out, reviewer="Carol") as review:
        review.sign("reviewed")  # the new version's first signature scores it from run.yaml
        assert review.stale() == ""
    assert _csv_row(out, "A1")["verdict"] == "withheld"  # what score makes of run.yaml
    with open_review(out, reviewer="Bob") as review:
        review.sign("approved")
    checks = check_signatures(out)
    assert [(c.n, c.meaning, c.status, c.holds) for c in checks] == [
        (1, "reviewed", "superseded", True), (2, "reviewed", "current", True), (3, "approved", "current", True)]
    assert verify_review(out, jobs=1).whole


def test_a_fresh_review_of_a_scored_run_is_not_stale_after_a_change_is_signed(
        scored_run: tuple[Path, Path]) -> None:
    _run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        review.change_gate("A1", bigger(review.gate("A1")), "granulocytes outside the gate")
        assert "Specimen_001_A1_A01.fcs" in review.stale()  # changed, not yet scored
        review.sign("reviewed")
        assert review.stale() == ""
    with open_review(out, reviewer="Bob") as review:
        assert review.stale() == "" and review.notes == ()
        digest = review.sign("approved")["outputs_sha256"]  # the reviewed tables, not scored again
    assert [(c.status, c.holds) for c in check_signatures(out)] == [("current", True), ("current", True)]
    assert json.loads((out / "signatures.json").read_text())["signatures"][0]["outputs_sha256"] == digest


# --- C6: the review lock beside the outputs, the audit's file lock ---------------------------------


def test_the_lock_is_found_whatever_the_temporary_folder(scored_run: tuple[Path, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _run, out = scored_run
    monkeypatch.delenv("ASSAYKIT_REVIEW_LOCKS", raising=False)
    assert lock_path(out) == out.parent / ".out.review.lock"
    for user in ("alice", "bob"):
        (tmp_path / user).mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "alice"))
    monkeypatch.setattr(tempfile, "tempdir", None)
    with open_review(out, reviewer="Alice"):
        assert lock_path(out).is_file()
        monkeypatch.setenv("TMPDIR", str(tmp_path / "bob"))
        monkeypatch.setattr(tempfile, "tempdir", None)
        with pytest.raises(ReviewBusy, match=f"pid {os.getpid()}"):
            open_review(out, reviewer="Bob")
    assert not lock_path(out).exists()  # released, and gone


def _appender(path: str, n: int) -> None:
    for i in range(n):
        append(Path(path), action="accept", reviewer=f"p{os.getpid()}", tube=str(i))


def test_concurrent_appends_never_fork_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    context = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    workers = [context.Process(target=_appender, args=(str(path), 75)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    lines = read_lines(path)
    assert len(lines) == 300 and verify_lines(lines) == []
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, 301))


# --- C7: a signature or supersede left half done --------------------------------------------------


KILL = """
import os, sys
from pathlib import Path
from assaykit.review import open_review
from assaykit.review import signatures
def killed(*args, **kwargs):
    os._exit(9)
signatures.{target} = killed
review = open_review(Path(sys.argv[1]), reviewer="Ann")
{act}
"""


def _killed(out: Path, target: str, act: str) -> None:
    done = subprocess.run([sys.executable, "-c", KILL.format(target=target, act=act), str(out)],
                          capture_output=True, timeout=600, env=os.environ.copy())
    assert done.returncode == 9, done.stderr.decode()[-2000:]


def test_a_sign_killed_before_signatures_json_is_recorded_and_not_removed(scored_run: tuple[Path, Path]) -> None:
    _run, out = scored_run
    _killed(out, "_write", "review.sign('reviewed')")
    assert entries(out / "audit.jsonl")[-1]["action"] == "sign" and not (out / "signatures.json").exists()
    before = check_signatures(out)
    assert [(c.status, c.holds) for c in before] == [("missing", False)]  # unrecorded yet: as if removed
    with open_review(out, reviewer="Ann") as review:
        sign_seq = next(e["seq"] for e in entries(out / "audit.jsonl") if e["action"] == "sign")
        assert any("sign not completed: the process ended" in n for n in review.notes)
        review.sign("reviewed")
    docs = entries(out / "audit.jsonl")
    unfinished = [e for e in docs if e["action"] == "unfinished"]
    assert [(e["of"], e["entry"]) for e in unfinished] == [("sign", sign_seq)]
    checks = check_signatures(out)
    assert [(c.status, c.holds) for c in checks] == [("current", True), ("unfinished", True)]
    assert checks[1].line().startswith("unfinished signature (reviewed by Ann)")
    assert verify_review(out, jobs=1).whole
    with open_review(out, reviewer="Bob"):  # recorded once
        pass
    assert len([e for e in entries(out / "audit.jsonl") if e["action"] == "unfinished"]) == 1


def test_a_removed_signature_is_still_named_removed(scored_run: tuple[Path, Path]) -> None:
    _run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        review.sign("reviewed")
    (out / "signatures.json").write_text('{"signatures": []}\n')
    with open_review(out, reviewer="Bob"):  # the last entry is "close": nothing recorded as unfinished
        pass
    assert not [e for e in entries(out / "audit.jsonl") if e["action"] == "unfinished"]
    assert [(c.status, c.holds) for c in check_signatures(out)] == [("missing", False)]
    assert not verify_review(out, jobs=1).whole


def test_a_supersede_killed_before_signatures_json_is_recorded_and_its_copy_removed(
        scored_run: tuple[Path, Path]) -> None:
    _run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        polygon = bigger(review.gate("A1"))
        review.sign("reviewed")
    _killed(out, "_mark_superseded", f"review.change_gate('A1', {polygon!r}, 'granulocytes')")
    assert entries(out / "audit.jsonl")[-1]["action"] == "supersede" and (out / "versions" / "1").is_dir()
    with open_review(out, reviewer="Bob") as review:
        assert any("supersede not completed" in n for n in review.notes)
        assert "Specimen_001_A1_A01.fcs" in review.stale()  # run.yaml changed, the signed tables not re-scored
        assert not (out / "versions" / "1").exists()  # the ended process's copy removed
        assert [(c.status, c.holds) for c in check_signatures(out)] == [("current", True)]
    # closing scores the change in (the review's changes reach the outputs): the signed version kept anew
    assert (out / "versions" / "1" / "samples.csv").is_file()
    assert [(c.status, c.holds) for c in check_signatures(out)] == [("superseded", True)]
    assert verify_review(out, jobs=1).whole


def test_a_failed_signatures_write_is_recorded_at_once(scored_run: tuple[Path, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from assaykit.review import signatures

    _run, out = scored_run

    def full(*args: object, **kwargs: object) -> None:
        raise AssayKitError("no space left on device", out / "signatures.json")

    with open_review(out, reviewer="Ann") as review:
        monkeypatch.setattr(signatures, "_write", full)
        with pytest.raises(AssayKitError, match="no space"):
            review.sign("reviewed")
        last = entries(out / "audit.jsonl")[-1]
        assert last["action"] == "unfinished" and last["reason"] == "sign not completed: signatures.json could " \
                                                                    "not be written"
    assert verify_review(out, jobs=1).whole


# --- C8: signatures.json that cannot be read ------------------------------------------------------


@pytest.mark.parametrize("damage", [b'{"signatures": [{"n": 1', b"not json", b'{"signatures":[1,"x",null]}', b"[]"],
                         ids=["cut", "not JSON", "not signatures", "a list"])
def test_an_unreadable_signatures_json_is_never_signed_over(scored_run: tuple[Path, Path], damage: bytes) -> None:
    _run, out = scored_run
    with open_review(out, reviewer="Alice") as review:
        review.sign("reviewed")
    (out / "signatures.json").write_bytes(damage)
    with pytest.raises(AssayKitError, match=r"signatures.json cannot be read \(") as refused:
        open_review(out, reviewer="Bob")
    assert refused.value.path == out / "signatures.json"
    assert (out / "signatures.json").read_bytes() == damage  # never written over
    checks = check_signatures(out)
    assert [(c.status, c.holds) for c in checks] == [("unreadable", False)]
    assert checks[0].line().startswith("signatures.json cannot be read (") and "removed" not in checks[0].line()
    assert not verify_review(out, jobs=1).whole


# --- C11: run.yaml read-only or hard-linked -------------------------------------------------------


def test_a_read_only_run_yaml_makes_the_review_read_only(scored_run: tuple[Path, Path]) -> None:
    run, out = scored_run
    yaml = run / "run.yaml"
    before = yaml.read_bytes()
    yaml.chmod(0o444)
    try:
        with open_review(out, reviewer="Ann") as review:
            assert review.read_only == "run.yaml is read-only: the review cannot record changes"
            assert any(review.read_only in n for n in review.notes)
            with pytest.raises(RunYamlError, match=r"run\.yaml is read-only"):
                review.change_gate("A1", bigger(review.gate("A1")), "granulocytes")
            with pytest.raises(RunYamlError, match=r"run\.yaml is read-only"):
                review.exclude("A2", "clotted")
        assert yaml.read_bytes() == before and stat.S_IMODE(yaml.stat().st_mode) == 0o444
    finally:
        yaml.chmod(0o644)


def test_run_yaml_made_read_only_or_linked_while_open_is_refused_at_the_write(scored_run: tuple[Path, Path]) -> None:
    run, out = scored_run
    yaml = run / "run.yaml"
    with open_review(out, reviewer="Ann") as review:
        assert review.read_only == ""
        yaml.chmod(0o444)
        with pytest.raises(RunYamlError, match="read-only"):
            review.exclude("A2", "clotted")
        yaml.chmod(0o644)
        os.link(yaml, run.parent / "keep.yaml")
        with pytest.raises(RunYamlError, match=r"run\.yaml has 2 hard links"):
            review.exclude("A2", "clotted")
        assert os.stat(yaml).st_ino == os.stat(run.parent / "keep.yaml").st_ino


def test_a_hard_linked_run_yaml_makes_the_review_read_only(scored_run: tuple[Path, Path]) -> None:
    run, out = scored_run
    os.link(run / "run.yaml", run.parent / "keep.yaml")
    with open_review(out, reviewer="Ann") as review:
        assert review.read_only.startswith("run.yaml has 2 hard links:")
        with pytest.raises(RunYamlError, match="2 hard links"):
            review.change_gate("A1", bigger(review.gate("A1")), "granulocytes")
    assert (run / "run.yaml").read_bytes() == (run.parent / "keep.yaml").read_bytes()


# --- C12: a symlinked output folder ---------------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"])
def test_a_symlinked_output_folder_is_refused_at_open(scored_run: tuple[Path, Path], slash: str) -> None:
    _run, out = scored_run
    link = out.parent / "linked"
    link.symlink_to(out, target_is_directory=True)
    with pytest.raises(AssayKitError, match="symbolic link"):
        open_review(str(link) + slash, reviewer="Ann")
    assert not (out / "audit.jsonl").exists()


def test_an_unfinished_supersede_makes_no_new_version_for_the_approver_rule(tmp_path: Path) -> None:
    """A supersede an "unfinished" entry records as not completed left the signatures current:
    the version's entries (who changed it, who may approve it) run on past it."""
    from assaykit.review.signatures import _version_entries

    docs = [{"action": "open", "reviewer": "Ann"}, {"action": "change", "reviewer": "Ann"},
            {"action": "supersede", "reviewer": "Ann"}, {"action": "change", "reviewer": "Eve"},
            {"action": "supersede", "reviewer": "Eve"},
            {"action": "unfinished", "of": "supersede", "entry": 5, "reviewer": ""},
            {"action": "open", "reviewer": "Eve"}]
    (tmp_path / "audit.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    assert [d["action"] for d in _version_entries(tmp_path)] == [
        "change", "supersede", "change", "supersede", "unfinished", "open"]  # from the completed supersede's change
    docs[5]["entry"] = 99  # no record of it ending: the last supersede is the boundary
    (tmp_path / "audit.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    assert [d["action"] for d in _version_entries(tmp_path)] == ["change", "supersede", "unfinished", "open"]
