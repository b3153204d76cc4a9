"""audit.jsonl: a hash chain whose every tamper (edit, removal, reorder, insertion) is named by
its line; the ledger's copy catches what the chain alone cannot (the last line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assaykit.review import audit
from assaykit.review.audit import GENESIS, append, line_hash, read_lines, verify_audit, verify_lines


def _chain(folder: Path, n: int = 6) -> Path:
    path = folder / audit.AUDIT
    for i in range(n):
        append(path, action="change", reviewer="Ann", tube=f"A{i + 1}", reason=f"reason {i}")
    return path


def _write(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_the_chain_links_each_line_to_the_one_before(tmp_path: Path) -> None:
    path = _chain(tmp_path)
    lines = read_lines(path)
    docs = [json.loads(line) for line in lines]
    assert [d["seq"] for d in docs] == [1, 2, 3, 4, 5, 6]
    assert docs[0]["prev"] == GENESIS
    assert all(docs[i]["prev"] == line_hash(lines[i - 1]) for i in range(1, 6))
    assert docs[2]["reviewer"] == "Ann" and docs[2]["action"] == "change" and docs[2]["os_user"] is not None
    assert verify_lines(lines) == [] and verify_audit(tmp_path) == []


@pytest.mark.parametrize(("tamper", "line"), [
    ("edit", 4),      # line 3 edited: line 4's prev no longer matches it
    ("remove", 3),    # line 3 removed: the old line 4, now line 3, says seq 4
    ("reorder", 2),   # lines 2 and 3 swapped: line 2 says seq 3
    ("insert", 3),    # a line inserted as line 3: it says seq 2 (a copy of line 2)
])
def test_each_tamper_is_named_by_its_line(tmp_path: Path, tamper: str, line: int) -> None:
    path = _chain(tmp_path)
    lines = read_lines(path)
    if tamper == "edit":
        lines[2] = lines[2].replace(b'"reason 2"', b'"reason X"')
    elif tamper == "remove":
        del lines[2]
    elif tamper == "reorder":
        lines[1], lines[2] = lines[2], lines[1]
    else:
        lines.insert(2, lines[1])
    _write(path, lines)
    problems = verify_audit(tmp_path)
    assert problems, tamper
    assert problems[0].line == line, problems
    assert str(problems[0]).startswith(f"audit.jsonl line {line}: ")


def test_an_edited_last_line_is_caught_by_its_anchor(tmp_path: Path) -> None:
    path = _chain(tmp_path, 3)
    lines = read_lines(path)
    anchors = {3: line_hash(lines[2])}
    lines[2] = lines[2].replace(b"Ann", b"Eve")
    _write(path, lines)
    assert verify_lines(read_lines(path)) == []  # the chain alone cannot see it
    problems = verify_audit(tmp_path, anchors)
    assert [p.line for p in problems] == [3]
    _write(path, lines[:2])  # cut off the end
    assert any("missing" in p.what for p in verify_audit(tmp_path, anchors))


def test_a_line_that_is_not_json_is_named(tmp_path: Path) -> None:
    path = _chain(tmp_path, 3)
    lines = read_lines(path)
    lines[1] = b"not json"
    _write(path, lines)
    assert [p.line for p in verify_audit(tmp_path)][:2] == [2, 3]
