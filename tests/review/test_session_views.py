"""Which tubes a review opened: Review.view records audit "view" once per tube per session, a
"reviewed" signature records how many of the plate's tubes were viewed and which were not (the
pages' signature block says so), the app records a view when a tube's page is opened (not on a
redraw or a second opening), and naming the reviewer is an audit entry."""

from __future__ import annotations

import json
import re
from pathlib import Path

from starlette.testclient import TestClient

from assaykit.report.signed import signature_lines
from assaykit.review import open_review
from assaykit.review.app import create_app
from assaykit.review.audit import entries

PORT = 8766
ORIGIN = f"http://127.0.0.1:{PORT}"
TOKEN, CSRF, BASE = "t" * 43, "c" * 43, "/" + "b" * 24 + "/"


def test_views_are_recorded_once_and_signed_as_reviewed(scored_run: tuple[Path, Path]) -> None:
    _, out = scored_run
    with open_review(out, reviewer="Ann") as review:
        keys = [t.key for t in review.tubes()]
        assert review.viewed() == {"tubes_viewed": 0, "tubes_total": len(keys), "tubes_not_viewed": keys}
        assert review.view("A1") is True
        assert review.view("A1") is False and review.view("a1") is False  # once per tube per session
        assert review.view(review.tube("A3").file) is True  # by its file name: the same tube key
        assert review.viewed() == {"tubes_viewed": 2, "tubes_total": len(keys),
                                   "tubes_not_viewed": [k for k in keys if k not in ("A1", "A3")]}
        signature = review.sign("reviewed")
        assert (signature["tubes_viewed"], signature["tubes_total"]) == (2, len(keys))
        assert signature["tubes_not_viewed"] == [k for k in keys if k not in ("A1", "A3")]
    with open_review(out, reviewer="Bob") as review:  # one session holds one role (D10)
        approved = review.sign("approved", "Bob")
        assert "tubes_viewed" not in approved  # an approval records no views
    audit = entries(out / "audit.jsonl")
    views = [(e["tube"], e["reviewer"]) for e in audit if e["action"] == "view"]
    assert views == [("A1", "Ann"), ("A3", "Ann")]
    sign = next(e for e in audit if e["action"] == "sign")
    assert (sign["tubes_viewed"], sign["tubes_total"]) == (2, len(keys))
    signatures = json.loads((out / "signatures.json").read_text())["signatures"]
    lines = signature_lines(signatures)
    assert lines[1].endswith(f"(viewed 2 of {len(keys)} tubes)") and "viewed" not in lines[0]
    # the pages carry the block as signature_lines writes it
    page = (out / "index.html").read_text()
    assert f"(viewed 2 of {len(keys)} tubes)" in page
    with open_review(out, reviewer="Ann") as review:  # a new session: views counted again
        assert review.viewed()["tubes_viewed"] == 0
        assert review.view("A1") is True


def test_the_app_records_a_view_when_a_tube_page_opens(scored_run: tuple[Path, Path]) -> None:
    _, out = scored_run
    with open_review(out) as review:  # no name yet: the page asks for it
        client = TestClient(create_app(review, token=TOKEN, csrf=CSRF, port=PORT, base=BASE), base_url=ORIGIN + BASE)
        assert client.get(f"{ORIGIN}/?token={TOKEN}", follow_redirects=False).status_code == 303
        headers = {"origin": ORIGIN, "x-csrf-token": CSRF, "content-type": "application/json"}
        assert client.post("/api/reviewer", content=json.dumps({"name": "Cy"}), headers=headers).status_code == 200
        for number in (0, 0, 1, 0):  # tube 0 opened twice more: one view
            assert client.get(f"/tube/{number}").status_code == 200
        keys = [t.key for t in review.tubes()]
        data = json.loads(re.search(r'id="review-data">(.*?)</script>', client.get("/").text, re.S).group(1))
        assert data["viewed"] == {"tubes_viewed": 2, "tubes_total": len(keys), "tubes_not_viewed": keys[2:]}
    actions = [(e["action"], e["reviewer"], e.get("tube")) for e in entries(out / "audit.jsonl")]
    assert actions == [("open", "", None), ("reviewer", "Cy", None), ("view", "Cy", keys[0]),
                       ("view", "Cy", keys[1]), ("close", "Cy", None)]
