"""run.yaml's other bytes are kept by every write of the review (hypothesis over YAML layouts
with comments); what cannot be edited in place is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from assaykit.review.runyaml import RunYamlError, check_edit, set_entry, write_entry

PATH = Path("run.yaml")
VALUE = {"reason": "granulocytes in the gate",
         "gate": {"type": "polygon", "dims": ["CD14", "SSC-A"], "vertices": [[900.5, 20000], [6e4, 2e4], [6e4, 1.2e5]]},
         "reviewed": {"by": "Ann O'Neil: \"QA\"", "at": "2026-12-05T23:00:00+00:00", "audit": 7}}

comments = st.lists(st.text(alphabet="abc XYZ:#-'é", max_size=12).map(lambda t: "# " + t.replace("\n", " ")),
                    max_size=2)
blank = st.sampled_from(["", "\n"])


@st.composite
def layouts(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A run.yaml: options and a gate_overrides block (absent, empty, or with hand-written
    entries), comments and blank lines between them; and every comment line written."""
    lines: list[str] = []
    written: list[str] = []

    def comment() -> None:
        for c in draw(comments):
            lines.append(c)
            written.append(c)
        if draw(blank):
            lines.append("")

    comment()
    options = draw(st.permutations(["plate_map: plate_map.csv", "lot: beads_lot.yaml  # the lot",
                                    "control: 'unstimulated'", "jobs: 2"]))
    where = draw(st.integers(0, len(options)))
    mode = draw(st.sampled_from(["absent", "empty", "entries"]))
    indent = draw(st.sampled_from([2, 4]))
    for i, option in enumerate([*options, None]):
        if i == where and mode != "absent":
            tail = draw(st.sampled_from(["", "  # set by hand"]))
            lines.append("gate_overrides:" + tail)
            if tail:
                written.append(tail.strip())
            if mode == "entries":
                for key in draw(st.lists(st.sampled_from(["B3", "C4", "P07_D3.fcs"]), min_size=1, max_size=3,
                                         unique=True)):
                    for c in draw(comments):
                        lines.append(" " * indent + c)
                        written.append(c)
                    lines.append(" " * indent + f"{key}:")
                    lines.append(" " * indent * 2 + "reason: checked by hand")
                    lines.append(" " * indent * 2 + "gate: {type: polygon, dims: [CD14, SSC-A], "
                                                     "vertices: [[1, 2], [3, 4], [5, 6]]}")
                    if draw(blank):
                        lines.append("")
        if option is not None:
            lines.append(option)
            comment()
    text = "\n".join(lines) + draw(st.sampled_from(["\n", ""]))
    return text, written


@settings(max_examples=150, deadline=None)
@given(layouts(), st.sampled_from(["A1", "B3", "P07_D3.fcs"]))
def test_every_other_byte_is_kept(layout: tuple[str, list[str]], key: str) -> None:
    text, written = layout
    edit = set_entry(text, key, VALUE, PATH)
    check_edit(text, edit.text, key, VALUE, PATH)
    doc = yaml.safe_load(edit.text)
    assert doc["gate_overrides"][key] == VALUE
    new = edit.text
    prefix, suffix = new[:edit.start], new[edit.end:]
    existing = (yaml.safe_load(text) or {}).get("gate_overrides") or {}
    if key not in existing:  # a new entry: the file around it is the file as it was, byte for byte
        assert prefix + suffix in (text, text + "\n")
    else:  # a hand-written entry replaced: what precedes and follows it is kept
        assert text.startswith(prefix) and (text.endswith(suffix) or (text + "\n").endswith(suffix))
    kept = [line for line in new.splitlines() if line.lstrip().startswith("#") or "#" in line]
    for comment in written:
        assert any(comment in line for line in kept), comment


def test_write_entry_refuses_a_file_changed_since_it_was_read(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("plate_map: plate_map.csv\n")
    with pytest.raises(RunYamlError, match="changed on disk"):
        write_entry(path, "0" * 64, "A1", VALUE)
    assert path.read_text() == "plate_map: plate_map.csv\n"


@pytest.mark.parametrize(("text", "why"), [
    ("gate_overrides: {B3: {reason: x, gate: {type: polygon}}}\n", "flow style"),
    ("base: &g {type: polygon}\ngate_overrides:\n  B3:\n    reason: x\n    gate: *g\n", "anchor"),
    ("gate_overrides:\n  B3: &e\n    reason: x\n", "anchor"),
    ("- a list\n", "not a mapping"),
    ("gate_overrides: ~\n", "null"),
])
def test_what_cannot_be_edited_in_place_is_refused_by_name(text: str, why: str) -> None:
    with pytest.raises(RunYamlError, match=why):
        set_entry(text, "A1", VALUE, PATH)


def test_an_entry_is_replaced_in_place_and_removed(tmp_path: Path) -> None:
    text = ("# lab run\nplate_map: plate_map.csv\ngate_overrides:\n  # first\n  B3:\n    reason: x\n"
            "    gate: {type: polygon}\n  C4:\n    reason: y\n    gate: {type: polygon}\nlot: l.yaml  # lot\n")
    edit = set_entry(text, "B3", VALUE, PATH)
    assert edit.text.startswith("# lab run\nplate_map: plate_map.csv\ngate_overrides:\n  # first\n  B3:\n")
    assert edit.text.endswith("  C4:\n    reason: y\n    gate: {type: polygon}\nlot: l.yaml  # lot\n")
    gone = set_entry(edit.text, "B3", None, PATH)
    assert gone.text == ("# lab run\nplate_map: plate_map.csv\ngate_overrides:\n  # first\n  C4:\n    reason: y\n"
                         "    gate: {type: polygon}\nlot: l.yaml  # lot\n")


def test_a_crlf_file_keeps_crlf_and_a_replaced_entry_keeps_its_comments_in_the_edit() -> None:
    import yaml

    from assaykit.review.runyaml import set_entry

    lf = ("lot: beads.yaml\n"
          "gate_overrides:\n"
          "  A3:   # ticket 1234\n"
          "    reason: smear  # by hand\n"
          "    exclude: true\n"
          "control: unstimulated\n")
    crlf = lf.replace("\n", "\r\n")
    value = {"reason": "clot", "exclude": True}
    edit = set_entry(crlf, "A3", value, Path("run.yaml"))
    assert edit.text.count("\n") == edit.text.count("\r\n")  # no bare LF: not a mixed file
    assert edit.text.startswith("lot: beads.yaml\r\ngate_overrides:\r\n")
    assert edit.text.endswith("control: unstimulated\r\n")
    assert yaml.safe_load(edit.text)["gate_overrides"]["A3"] == value
    assert edit.replaced == "  A3:   # ticket 1234\r\n    reason: smear  # by hand\r\n    exclude: true\r\n"
    assert set_entry(lf, "A3", value, Path("run.yaml")).replaced == edit.replaced.replace("\r\n", "\n")
    assert set_entry(lf, "B1", value, Path("run.yaml")).replaced == ""  # added, nothing replaced
