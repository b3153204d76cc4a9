"""Issue 30 review, third pass (A2, A5, A6, A7, A15): a tube whose gating failed can be excluded
or gated by hand; a change can be reverted (run.yaml back byte for byte); a change that changes
nothing is refused and writes nothing; an acceptance is remembered across sessions; the editor's
polygon has no near-duplicate vertices."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml
from starlette.testclient import TestClient

from assaykit.review import ReviewError, open_review
from assaykit.review.app import MERGE_FRACTION, create_app, merge_near
from assaykit.review.audit import entries

from .conftest import bigger

TOKEN, CSRF, PORT = "t" * 43, "c" * 43, 8765
BASE = "/" + "s" * 24 + "/"
ORIGIN = f"http://127.0.0.1:{PORT}"
HEADERS = {"origin": ORIGIN, "x-csrf-token": CSRF, "content-type": "application/json"}


@pytest.fixture(scope="module")
def failing_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 patients x 2 conditions at 0.02-0.05 % monocytes: the automatic monocyte gate fails."""
    from assaykit.simulate import RunSpec, write_run

    return write_run(tmp_path_factory.mktemp("failing-src") / "run",
                     RunSpec(patients=2, conditions=("unstimulated", "IFN-gamma"), monocyte_percent=(0.02, 0.05)))


@pytest.fixture
def failing_run(failing_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    from assaykit.scoring import score_run

    monkeypatch.setenv("ASSAYKIT_LEDGER", str(tmp_path / "ledger.sqlite"))
    monkeypatch.setenv("ASSAYKIT_REVIEW_LOCKS", str(tmp_path))
    run = tmp_path / "run"
    shutil.copytree(failing_source, run)
    out = tmp_path / "out"
    score_run(run, out=out, jobs=1, use_default_ledger=True)
    return run, out


def _failed(review) -> str:  # type: ignore[no-untyped-def]
    for tube in review.tubes():
        if review.figure(tube.key).get("problem"):
            return str(tube.key)
    raise AssertionError("no tube's gating failed")


def test_a_failed_tube_is_excluded_drawn_by_hand_and_never_accepted(failing_run: tuple[Path, Path]) -> None:
    run, out = failing_run
    with open_review(out, reviewer="Ann") as review:
        key = _failed(review)
        figure = review.figure(key)
        panels = {p["population"]: p for p in figure["panels"]}
        gate = panels[review.readout_population]
        assert gate["no_gate"] is True and gate["count"] is None and gate["outlines"] == []
        parent = panels[gate["parent"]]
        # the monocyte panel shows every event of its parent, binned
        assert sum(sum(column) for column in gate["counts"]) == parent["count"]
        assert list(panels)[-1] == review.readout_population  # no panel after the gate that failed
        with pytest.raises(ReviewError, match="has no gate to accept"):
            review.accept(key)
        excluded = review.exclude(key, "no monocytes")
        assert "excluded_by_reviewer" in str(excluded.row["qc_flags"])
        entry = yaml.safe_load(run.joinpath("run.yaml").read_text())["gate_overrides"][key]
        assert entry["exclude"] is True and entry["reason"] == "no monocytes"
        # a gate drawn by hand on the parent's events: the tube is measured with it
        tx, ty = review.transforms(key)
        box = [[0.3, 0.1], [0.9, 0.1], [0.9, 0.6], [0.3, 0.6]]
        polygon = [[float(tx.inverse([x])[0]), float(ty.inverse([y])[0])] for x, y in box]
        drawn = review.change_gate(key, polygon, "drawn by hand: the automatic gate found none")
        assert drawn.row["monocytes"] > 0 and not drawn.row.get("error")
    found = [e for e in entries(out / "audit.jsonl") if e["action"] in ("exclude", "change")]
    assert found[0]["before"]["gate"] is None and "monocyte" in found[0]["before"]["gate_problem"]
    assert found[1]["before"]["entry"]["exclude"] is True


def test_a_change_that_changes_nothing_is_refused_and_writes_nothing(scored_run: tuple[Path, Path]) -> None:
    run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        review.exclude("A2", "clot")
        polygon = bigger(review.gate("A3"))
        review.change_gate("A3", polygon, "debris")
        review.sign("reviewed")
        yaml_bytes, audit_bytes = run.joinpath("run.yaml").read_bytes(), out.joinpath("audit.jsonl").read_bytes()
        signatures = out.joinpath("signatures.json").read_bytes()
        for act in (lambda: review.exclude("A2", "  clot "), lambda: review.change_gate("A3", polygon, "debris"),
                    lambda: review.change_gate("A3", polygon, "another reason, same gate")):
            with pytest.raises(ReviewError, match="nothing written"):
                act()
            assert run.joinpath("run.yaml").read_bytes() == yaml_bytes
            assert out.joinpath("audit.jsonl").read_bytes() == audit_bytes
            assert out.joinpath("signatures.json").read_bytes() == signatures
            assert not out.joinpath("versions", "2").exists()
        review.exclude("A2", "clot, seen again")  # another reason: a change
        assert yaml.safe_load(run.joinpath("run.yaml").read_text())["gate_overrides"]["A2"]["reason"] == \
            "clot, seen again"


def test_revert_removes_the_entry_and_keeps_every_other_byte(scored_run: tuple[Path, Path]) -> None:
    run, out = scored_run
    path = run / "run.yaml"
    path.write_text(path.read_text() + "# the lab's note\ngate_overrides:\n  # kept\n  A6:\n    exclude: true\n"
                    "    reason: hand written\n")
    original = path.read_bytes()
    with open_review(out, reviewer="Ann") as review:
        automatic = {key: review.measure(key).row for key in ("A2", "A3")}
        with pytest.raises(ReviewError, match="gated automatically already"):
            review.revert("A2", "nothing to undo")
        review.change_gate("A2", bigger(review.gate("A2")), "debris")
        review.exclude("A3", "clot")
        back = review.revert("A2", "the automatic gate was right")
        assert back.row["hladr_abc"] == automatic["A2"]["hladr_abc"]  # measured with the automatic gate again
        included = review.revert("A3", "no clot after all")
        assert included.row["verdict"] == automatic["A3"]["verdict"]
        assert included.row["hladr_abc"] == automatic["A3"]["hladr_abc"]
        assert path.read_bytes() == original
        assert review.gate("A2")["source"] == "auto" and review.tube("A2").entry is None
        with pytest.raises(ReviewError):  # a hand-written entry: confirmed first
            review.revert("A6", "include it")
    reverts = [e for e in entries(out / "audit.jsonl") if e["action"] == "revert"]
    assert [e["tube"] for e in reverts] == ["A2", "A3"]
    assert reverts[0]["before"]["entry"]["reason"] == "debris" and reverts[0]["after"]["entry"] is None
    assert reverts[1]["before"]["entry"]["exclude"] is True and reverts[1]["reason"] == "no clot after all"


def test_an_acceptance_is_remembered_in_the_next_session(scored_run: tuple[Path, Path]) -> None:
    _, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        review.accept("A3")
        review.accept("A4")
    with open_review(out, reviewer="Bob") as review:
        assert review.accepted() == ["A3", "A4"]
        client = TestClient(create_app(review, token=TOKEN, csrf=CSRF, port=PORT, base=BASE), base_url=ORIGIN + BASE)
        assert client.get(f"{ORIGIN}/?token={TOKEN}", follow_redirects=False).status_code == 303
        plate = {t["key"]: t["status"] for t in client.get("/api/plate").json()["tubes"]}
        assert plate["A3"] == plate["A4"] == "accepted" and plate["A2"] == "automatic"
        review.exclude("A4", "clot")  # a later change: the acceptance no longer holds
        review.revert("A4", "no clot")
        assert review.accepted() == ["A3"]


def test_the_app_reverts_and_records_the_view_of_a_reopened_review(scored_run: tuple[Path, Path]) -> None:
    run, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        app = create_app(review, token=TOKEN, csrf=CSRF, port=PORT, base=BASE)
        client = TestClient(app, base_url=ORIGIN + BASE)
        assert client.get(f"{ORIGIN}/?token={TOKEN}", follow_redirects=False).status_code == 303
        number = next(i for i, t in enumerate(review.tubes()) if t.key == "A2")
        assert client.get(f"/tube/{number}").status_code == 200
        run.joinpath("run.yaml").write_text(run.joinpath("run.yaml").read_text() + "# edited by hand\n")
        assert client.get("/").status_code == 200  # run.yaml read again: a new session
        excluded = client.post(f"/api/tube/{number}/exclude", content=json.dumps({"reason": "clot"}), headers=HEADERS)
        assert excluded.status_code == 200 and excluded.json()["result"]["tube"]["status"] == "excluded"
        again = client.post(f"/api/tube/{number}/exclude", content=json.dumps({"reason": "clot"}), headers=HEADERS)
        assert again.status_code == 409 and "nothing written" in again.json()["error"]
        reverted = client.post(f"/api/tube/{number}/revert", content=json.dumps({"reason": "no clot"}),
                               headers=HEADERS)
        assert reverted.status_code == 200 and reverted.json()["result"]["tube"]["status"] == "automatic"
        app.web.review.close()
    actions = [(e["action"], e.get("tube")) for e in entries(out / "audit.jsonl")]
    second = actions[max(i for i, a in enumerate(actions) if a[0] == "open"):]
    assert second[:4] == [("open", None), ("view", "A2"), ("exclude", "A2"), ("revert", "A2")]


def test_the_editors_polygon_has_no_near_duplicate_vertices(scored_run: tuple[Path, Path]) -> None:
    from assaykit.review.app import ReviewWeb

    _, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        web = ReviewWeb(review, csrf=CSRF, base=BASE)
        for tube in review.tubes():
            gate = review.gate(tube.key)
            panel = web.gate_panel(web.panels(tube.key)[0])
            edit = web.gate_edit(tube.key, panel)
            assert edit is not None and panel is not None
            width = panel["x_edges"][-1] - panel["x_edges"][0]
            height = panel["y_edges"][-1] - panel["y_edges"][0]
            shown = edit["display"]
            for i, a in enumerate(shown):  # the closing pair included (i - 1 wraps)
                b = shown[i - 1]
                assert math.hypot((a[0] - b[0]) / width, (a[1] - b[1]) / height) >= MERGE_FRACTION
            # every vertex kept is one of the gate's, exactly (sent back untouched, never through pixels)
            assert all(v in gate["vertices"] for v in edit["scale"]) and len(edit["scale"]) >= 3
            # the automatic polygon's near-duplicate closing vertex is gone
            first, last = gate["vertices"][0], gate["vertices"][-1]
            if first != last and math.dist(first, last) < 1e-3 * max(abs(c) for c in first + last):
                assert len(edit["scale"]) < len(gate["vertices"])


def test_merge_near_merges_runs_and_the_closing_vertex() -> None:
    square = [[0.0, 0.0], [0.001, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.002]]
    assert merge_near(square, (1.0, 1.0)) == [0, 2, 3, 4]
    circle = [[math.cos(t / 200 * 2 * math.pi), math.sin(t / 200 * 2 * math.pi)] for t in range(201)]
    kept = merge_near(circle, (2.0, 2.0))
    assert 40 < len(kept) < 110 and kept[0] == 0  # about 2 pi / (2 * 0.03) vertices
    assert merge_near([[0.0, 0.0], [0.0, 0.001], [0.001, 0.0]], (1.0, 1.0)) == [0, 1, 2]  # never below 3


def test_the_page_of_a_failed_tube_offers_its_parents_events_to_draw_on(failing_run: tuple[Path, Path]) -> None:
    import re

    _, out = failing_run
    with open_review(out, reviewer="Ann") as review:
        key = _failed(review)
        number = next(i for i, t in enumerate(review.tubes()) if t.key == key)
        client = TestClient(create_app(review, token=TOKEN, csrf=CSRF, port=PORT, base=BASE), base_url=ORIGIN + BASE)
        assert client.get(f"{ORIGIN}/?token={TOKEN}", follow_redirects=False).status_code == 303
        page = client.get(f"/tube/{number}")
        data = json.loads(re.search(r'id="review-data">(.*?)</script>', page.text, re.S).group(1))["tube"]
        assert "monocyte" in data["figure_problem"] and data["gate_edit"] is None
        gate = data["panels"][-1]
        assert gate["population"] == review.readout_population and gate["no_gate"] is True
        refused = client.post(f"/api/tube/{number}/accept", content="{}", headers=HEADERS)
        assert refused.status_code == 409 and "no gate to accept" in refused.json()["error"]
        drawn = [[0.3, 0.1], [0.9, 0.1], [0.9, 0.6], [0.3, 0.6]]  # display coordinates of the panel
        saved = client.post(f"/api/tube/{number}/change", headers=HEADERS,
                            content=json.dumps({"polygon": drawn, "reason": "drawn by hand"}))
        assert saved.status_code == 200, saved.text
        result = saved.json()["result"]
        assert result["tube"]["status"] == "changed" and result["figure_problem"] == ""
        assert result["gate_edit"]["source"] == "run.yaml" and len(result["gate_edit"]["display"]) == 4
        for got, want in zip(result["gate_edit"]["display"], drawn, strict=True):
            assert got == pytest.approx(want, abs=1e-9)  # the drawn polygon, through the transforms and back


def test_the_pages_signature_block_names_another_session() -> None:
    from assaykit.report.signed import signature_lines

    base = {"meaning": "approved", "at": "2026-12-06T00:00:00+00:00", "outputs_sha256": "0" * 64}
    other, own = signature_lines([{**base, "name": "Bob", "session_reviewer": "Ann"}]), \
        signature_lines([{**base, "name": "Ann", "session_reviewer": "Ann"}])
    assert other[0].startswith("Approved by Bob, 2026-12-06 00:00:00 UTC") and "(signed in Ann's session)" in other[0]
    assert "session" not in own[0]
