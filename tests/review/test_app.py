"""The review app's routes and security rules (Starlette's TestClient), over a stand-in review
object with hostile names: the app's own behaviour (token, cookie, Host, Origin, CSRF, POST only,
no path from a request reaching the file system, names escaped, display -> scale conversion),
independent of the library behind it (tests/review/test_review_web.py drives the real one)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest
from starlette.testclient import TestClient

from assaykit.errors import AssayKitError
from assaykit.gating.transforms import Transform
from assaykit.review import HandWrittenError, Review
from assaykit.review.app import CSP, cookie_name, create_app

PORT = 8765
ORIGIN = f"http://127.0.0.1:{PORT}"
TOKEN = "t" * 43
CSRF = "c" * 43
BASE = "/" + "b" * 24 + "/"  # the app's secret path
HOSTILE = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'


def _panel(population: str, parent: str) -> dict[str, Any]:
    return {"population": population, "parent": parent, "count": 10, "percent_of_parent": 50.0,
            "x_label": f"{HOSTILE} (FL3)", "y_label": "SSC-A", "x_edges": [0.0, 0.5, 1.0],
            "y_edges": [0.0, 0.5, 1.0], "counts": [[1, 2], [3, 4]],
            "outlines": [[[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]], "bounds": [],
            "x_ticks": [[0.0, "0"], [0.5, "$10^{2}$"]], "y_ticks": [[0.0, "0"]]}


class StandIn:
    """The review's methods the app calls, recording each change."""

    def __init__(self, out_dir: Path, reviewer: str = "A") -> None:
        self.out_dir = out_dir
        self.reviewer = reviewer
        self.calls: list[tuple[Any, ...]] = []
        self.views: list[str] = []
        self.entries: dict[str, Any] = {}
        self.hand_written: set[str] = set()
        self.ungated: set[str] = set()
        self._tubes = [{"key": "A1", "file": f"{HOSTILE}.fcs", "well": "A1", "patient": HOSTILE, "timepoint": "D1",
                        "condition": "unstimulated", "role": "sample"},
                       {"key": "A2", "file": "b.fcs", "well": "A2", "patient": "P2", "timepoint": "D1",
                        "condition": "IFN-gamma", "role": "sample"}]

    def set_reviewer(self, name: str) -> str:
        self.reviewer = " ".join(name.split())
        self.calls.append(("reviewer", self.reviewer))
        return self.reviewer

    def tubes(self) -> list[dict[str, Any]]:
        return [{**t, "entry": self.entries.get(t["key"]), "hand_written": False} for t in self._tubes]

    def tube(self, key: str) -> dict[str, Any]:
        return next(t for t in self.tubes() if t["key"] == key)

    def _row(self, key: str) -> dict[str, Any]:
        excluded = (self.entries.get(key) or {}).get("exclude")
        return {"hladr_abc": None if excluded else 1234.5, "verdict": "withheld" if excluded else "reportable",
                "verdict_reasons": f"{HOSTILE};other"}

    readout_population = "monocytes"
    _need_name = Review._need_name  # the library's rule for a reviewer's name

    def plate(self) -> list[dict[str, Any]]:
        return [{"file": t["file"], **self._row(t["key"])} for t in self.tubes()]

    def figure(self, key: str) -> dict[str, Any]:
        if key in self.ungated:
            raise AssayKitError(f"{key}: no monocyte population found")
        return {"panels": [_panel("cells", "root"), _panel("monocytes", "cells")]}

    AUTO: ClassVar[list[list[float]]] = [[123.456789012345, 1234.56789012345], [876.54321098765, 1111.11111111111],
            [555.555555555555, 76543.2109876543], [123.456789012345, 1234.56789012345]]  # closed

    def gate(self, key: str) -> dict[str, Any]:
        if key in self.ungated:
            raise AssayKitError(f"{key}: no monocyte population found")
        entry = self.entries.get(key) or {}
        if isinstance(entry.get("gate"), dict):
            return {"vertices": entry["gate"]["vertices"], "source": "run.yaml"}
        return {"vertices": self.AUTO, "source": "auto"}

    def transforms(self, key: str) -> tuple[Transform, Transform]:
        return Transform("linear", t=1000.0), Transform("log", t=100000.0, m=5.0)

    def _measured(self, key: str, gate: Any = None) -> dict[str, Any]:
        return {"tube": key, "row": self._row(key), "patient": {"patient": HOSTILE, "state": "immunoparalysis"},
                "restoration": [{"condition": HOSTILE, "abc": 1.0, "verdict": "reportable"}], "gate": gate}

    def measure(self, key: str) -> dict[str, Any]:
        return self._measured(key)

    def preview(self, key: str, polygon: list[list[float]]) -> dict[str, Any]:
        self.calls.append(("preview", key, polygon))
        return self._measured(key, polygon)

    def change_gate(self, key: str, polygon: list[list[float]], reason: str, **kw: Any) -> dict[str, Any]:
        if not reason.strip():
            raise AssayKitError("a reason is required (1 to 500 characters)")
        if key in self.hand_written and not kw.get("replace_hand_written"):
            raise HandWrittenError(f"tube {key} has a gate override written by hand in run.yaml; confirm")
        self.calls.append(("change", key, polygon, reason, kw))
        self.entries[key] = {"reason": reason, "gate": {"vertices": polygon}, "reviewed": {"by": self.reviewer}}
        return self._measured(key, polygon)

    def exclude(self, key: str, reason: str, **kw: Any) -> dict[str, Any]:
        self.calls.append(("exclude", key, reason))
        self.entries[key] = {"reason": reason, "exclude": True}
        return self._measured(key)

    def accept(self, key: str) -> dict[str, Any]:
        self.calls.append(("accept", key))
        return self._measured(key)

    def revert(self, key: str, reason: str, **kw: Any) -> dict[str, Any]:
        self.calls.append(("revert", key, reason))
        self.entries.pop(key, None)
        return self._measured(key)

    def accepted(self) -> list[str]:  # the library's rule: the last action on the tube is an accept
        last = {c[1]: c[0] for c in self.calls if c[0] in ("accept", "change", "exclude", "revert")}
        return [t["key"] for t in self._tubes if last.get(t["key"]) == "accept"]

    def view(self, key: str) -> bool:
        if key in self.views:
            return False
        self.views.append(key)  # kept apart from the changes (self.calls)
        return True

    def viewed(self) -> dict[str, Any]:
        seen = set(self.views)
        keys = [t["key"] for t in self._tubes]
        return {"tubes_viewed": len(seen), "tubes_total": len(keys), "tubes_not_viewed": [k for k in keys
                                                                                         if k not in seen]}

    def sign(self, meaning: str, name: str) -> dict[str, Any]:
        self.calls.append(("sign", meaning, name))
        return {"meaning": meaning, "name": name}

    def signatures(self) -> list[dict[str, Any]]:
        return [{"meaning": c[1], "name": c[2], "at": "2026-12-06T00:00:00Z", "outputs_sha256": "0" * 64,
                 "status": "current"} for c in self.calls if c[0] == "sign"]


@pytest.fixture
def review(tmp_path: Path) -> StandIn:
    return StandIn(tmp_path)


def _client(review: Any, login: bool = True, **kw: Any) -> TestClient:
    client = TestClient(create_app(review, token=TOKEN, csrf=CSRF, port=PORT, base=BASE), base_url=ORIGIN + BASE,
                        **kw)
    if login:
        first = client.get(f"{ORIGIN}/?token={TOKEN}", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == BASE
    return client


def _post(client: TestClient, url: str, body: Any, **headers: str) -> Any:
    sent = {"origin": ORIGIN, "x-csrf-token": CSRF, "content-type": "application/json", **headers}
    return client.post(url, content=json.dumps(body), headers={k: v for k, v in sent.items() if v})


def test_the_token_is_needed_on_every_request_assets_included(review: StandIn) -> None:
    client = _client(review, login=False)
    for url in ("/", "/tube/0", "/api/plate", "/static/review.js", "/static/review.css", "/static/nothing"):
        answer = client.get(url)
        assert answer.status_code == 403, url
        assert answer.headers["content-security-policy"] == CSP
        assert "<" not in answer.text
    assert client.get("/?token=" + "x" * 43).status_code == 403
    for name, value in ((cookie_name(PORT), "x" * 43), (cookie_name(PORT + 1), TOKEN)):  # another review's cookie
        client.cookies.clear()
        client.cookies.set(name, value)
        assert client.get("/").status_code == 403


def test_the_token_moves_from_the_address_to_a_strict_httponly_cookie(review: StandIn) -> None:
    client = _client(review, login=False)
    first = client.get(f"/tube/1?token={TOKEN}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == BASE + "tube/1"  # out of the address bar
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{cookie_name(PORT)}={TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert f"Path={BASE}" in cookie.split("; ")  # sent to the app's secret path only, on any port
    for url in ("/", "/tube/1", "/api/plate", "/static/review.js"):
        assert client.get(url).status_code == 200, url
    assert client.get("/static/review.js").headers["content-type"].startswith("text/javascript")


def test_a_foreign_host_header_is_refused_even_with_the_token(review: StandIn) -> None:
    client = _client(review)
    for host in ("evil.example", f"evil.example:{PORT}", f"127.0.0.1:{PORT + 1}", "127.0.0.1", ""):
        assert client.get("/", headers={"host": host}).status_code == 403, host
    assert client.get("/", headers={"host": f"localhost:{PORT}"}).status_code == 200


def test_changes_only_by_post_with_csrf_and_own_origin(review: StandIn) -> None:
    client = _client(review)
    body = {"polygon": [[0.1, 0.5], [0.5, 0.5], [0.5, 0.9]], "reason": "debris in the gate"}
    url = "/api/tube/0/change"
    assert client.get(url).status_code == 405
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
        assert client.request(method, url).status_code == 405, method
    refused = [_post(client, url, body, **{"x-csrf-token": ""}),
               _post(client, url, body, **{"x-csrf-token": "c" * 42 + "d"}),
               _post(client, url, body, origin=""),
               _post(client, url, body, origin="http://evil.example"),
               _post(client, url, body, origin=f"http://127.0.0.1:{PORT + 1}"),
               _post(client, url, body, **{"sec-fetch-site": "cross-site"}),
               _post(client, url, body, **{"content-type": "text/plain"}),
               _post(client, f"{url}?token={TOKEN}", body)]
    assert [r.status_code for r in refused] == [403, 403, 403, 403, 403, 403, 415, 403]
    assert review.calls == [] and review.entries == {}  # nothing reached the review
    done = _post(client, url, body)
    assert done.status_code == 200, done.text
    assert [c[0] for c in review.calls] == ["change"]


def test_a_drawn_polygon_reaches_the_library_in_scale_values(review: StandIn) -> None:
    client = _client(review)
    polygon = [[0.1, 0.6], [0.5, 0.6], [0.5, 1.0]]
    answer = _post(client, "/api/tube/1/change", {"polygon": polygon, "reason": " debris  in the gate "})
    assert answer.status_code == 200, answer.text
    _, key, scale, reason, _ = review.calls[-1]
    assert key == "A2" and reason == " debris  in the gate "
    # x linear over 0..1000; y log, 5 decades below 100,000: 10^(5 * (y - 1)) * 100,000
    expected = [[100.0, 100000 * 10 ** -2.0], [500.0, 100000 * 10 ** -2.0], [500.0, 100000.0]]
    assert [v for p in scale for v in p] == pytest.approx([v for p in expected for v in p], rel=1e-12)
    doc = answer.json()["result"]
    assert doc["tube"]["status"] == "changed" and doc["tube"]["hladr_abc"] == 1234.5
    assert doc["tube"]["verdict_reasons"] == [HOSTILE, "other"]
    assert doc["restoration"][0]["condition"] == HOSTILE and doc["patient"]["state"] == "immunoparalysis"
    # the plate draws the saved gate back where it was drawn (scale values through forward)
    shown = client.get("/api/plate").json()["tubes"]
    assert shown[0]["gate_display"] is None
    assert [v for p in shown[1]["gate_display"] for v in p] == pytest.approx([v for p in polygon for v in p], abs=1e-9)


def test_bad_changes_are_refused_with_one_line(review: StandIn) -> None:
    client = _client(review)
    url = "/api/tube/0/change"
    cases = [({"polygon": [[0, 0], [1, 1]], "reason": "r"}, 400),
             ({"polygon": [[0, 0], [1, 1], ["x", 1]], "reason": "r"}, 400),
             ({"polygon": [[0, 0], [1, 1], [1e308 * 10, 1]], "reason": "r"}, 400),
             ({"polygon": [[0, 0]] * 201, "reason": "r"}, 400),
             ({"polygon": [[0, 0], [1, 0], [1, 1]]}, 400),
             ({"polygon": [[0, 0], [1, 0], [1, 1]], "reason": "   "}, 409)]  # the library's rule
    for body, status in cases:
        answer = _post(client, url, body)
        assert answer.status_code == status, (body, answer.text)
        assert "\n" not in answer.json()["error"]
    assert _post(client, url, [1, 2]).status_code == 400
    assert client.post(url, content=b"{not json", headers={"origin": ORIGIN, "x-csrf-token": CSRF,
                                                            "content-type": "application/json"}).status_code == 400
    huge = {"polygon": [[0, 0], [1, 0], [1, 1]], "reason": "x" * 70000}
    assert _post(client, url, huge).status_code == 413
    assert review.calls == []


def test_no_path_from_a_request_reaches_the_file_system(review: StandIn) -> None:
    client = _client(review)
    for url in ("/static/../app.py", "/static/..%2fapp.py", "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
                "/static/app.py", "/static/__init__.py", "/static/", "/static/review.js%00.css",
                "/static//etc/passwd", "/tube/-1", "/tube/2", "/tube/0x1", "/tube/..%2f..%2fetc%2fpasswd",
                "/tube/%2e%2e", "/tube/9999999", "/etc/passwd", "/audit.jsonl", "/run.yaml"):
        answer = client.get(url)
        assert answer.status_code == 404, url
        assert "root:" not in answer.text and "def " not in answer.text and "[build-system]" not in answer.text


def test_hostile_names_are_never_markup(review: StandIn) -> None:
    client = _client(review)
    for url in ("/", "/tube/0"):
        page = client.get(url).text
        assert "<script>alert" not in page and "<img" not in page
        assert page.count("</script>") == 2  # the data block's and review.js's: no name closes a script
        data = re.search(r'<script type="application/json" id="review-data">(.*?)</script>', page, re.S)
        assert data is not None
        doc = json.loads(data.group(1))  # the names arrive whole, as data
        assert doc["tubes"][0]["patient"] == HOSTILE and doc["tubes"][0]["file"] == f"{HOSTILE}.fcs"
        assert len(re.findall("<script", page)) == 2  # the data block and review.js, nothing else
    script = client.get("/static/review.js").text  # names go on the page as textContent, never as markup
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", script)


def test_a_page_asks_for_the_name_when_none_was_given(review: StandIn) -> None:
    review.reviewer = ""
    client = _client(review)
    data = json.loads(re.search(r'id="review-data">(.*?)</script>', client.get("/").text, re.S).group(1))
    assert data["reviewer"] is None
    # one rule for the name given here and the name each change records (the library's): a name
    # with a format character (right-to-left override, zero-width space) is refused here, and the
    # name can still be given after -- never set here and then refused by every change
    for bad in ("Eve\u202egnp.exe", "Al\u200bice", "Bob\u0080", "Ann\x07", "Zed\ufeff", "x" * 201):
        refused = _post(client, "/api/reviewer", {"name": bad})
        assert refused.status_code == 400 and "name" in refused.json()["error"], bad
        assert review.reviewer == ""
        with pytest.raises(AssayKitError):
            review.reviewer = bad
            Review._need_name(review)  # the library refuses it too
        review.reviewer = ""
    assert _post(client, "/api/reviewer", {"name": "  B.  Lab "}).json() == {"reviewer": "B. Lab"}
    assert review.reviewer == "B. Lab"
    assert _post(client, "/api/reviewer", {"name": "C"}).status_code == 409  # set once
    assert review.reviewer == "B. Lab"


def test_accept_exclude_and_sign(review: StandIn) -> None:
    client = _client(review)
    assert _post(client, "/api/tube/1/accept", {}).json()["result"]["tube"]["status"] == "accepted"
    excluded = _post(client, "/api/tube/0/exclude", {"reason": "clotted sample"}).json()["result"]["tube"]
    assert excluded["status"] == "excluded" and excluded["verdict"] == "withheld" and excluded["hladr_abc"] is None
    assert _post(client, "/api/sign", {"meaning": "approved", "name": "B"}).json()["signatures"][0]["name"] == "B"
    assert _post(client, "/api/sign", {"meaning": "owner", "name": "B"}).status_code == 400
    assert [c[0] for c in review.calls] == ["accept", "exclude", "sign"]
    plate = client.get("/api/plate").json()
    assert [t["status"] for t in plate["tubes"]] == ["excluded", "accepted"]
    assert "csrf" in plate and plate["signatures"][0]["meaning"] == "approved"


def test_websockets_are_refused(review: StandIn) -> None:
    client = _client(review)
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as socket:
        socket.receive_text()


def test_a_hand_written_entry_is_replaced_only_when_confirmed(review: StandIn) -> None:
    review.hand_written.add("A2")
    client = _client(review)
    body = {"polygon": [[0.1, 0.6], [0.5, 0.6], [0.5, 1.0]], "reason": "the hand-written gate misses monocytes"}
    refused = _post(client, "/api/tube/1/change", body)
    assert refused.status_code == 409 and refused.json()["code"] == "hand_written"  # the page asks to confirm
    assert review.calls == []
    assert _post(client, "/api/tube/1/change", {**body, "confirm": "yes"}).json()["code"] == "hand_written"
    done = _post(client, "/api/tube/1/change", {**body, "confirm": True})
    assert done.status_code == 200 and review.calls[-1][4] == {"replace_hand_written": True}
    other = _post(client, "/api/tube/0/change", {**body, "reason": " "})
    assert other.json()["code"] == "refused"


def test_a_tube_that_cannot_be_gated_still_opens_and_can_be_excluded(review: StandIn) -> None:
    review.ungated.add("A2")
    client = _client(review)
    page = client.get("/tube/1")
    assert page.status_code == 200
    data = json.loads(re.search(r'id="review-data">(.*?)</script>', page.text, re.S).group(1))
    assert data["tube"]["panels"] == [] and data["tube"]["figure_problem"] == "A2: no monocyte population found"
    assert _post(client, "/api/tube/1/exclude", {"reason": "no monocytes"}).json()["result"]["tube"]["status"] == \
        "excluded"


def test_the_cookie_never_reaches_another_path_and_the_app_is_only_below_its_secret_path(review: StandIn) -> None:
    # Cookies are not kept apart by port: another server on 127.0.0.1 gets whatever cookie the
    # browser sends to its path. The token's cookie is sent to the app's secret path only.
    from http.cookiejar import Cookie, CookieJar
    from urllib.request import Request

    client = _client(review)
    jar = CookieJar()
    for cookie in client.cookies.jar:
        jar.set_cookie(cookie)
    assert [c.path for c in jar] == [BASE]

    def sent(url: str) -> str:
        request = Request(url)
        jar.add_cookie_header(request)
        return request.get_header("Cookie") or ""

    assert TOKEN in sent(f"{ORIGIN}{BASE}api/plate")
    for other in ("http://127.0.0.1:8111/", "http://127.0.0.1:8111/api/plate", f"http://127.0.0.1:8111/{'b' * 23}/",
                  f"{ORIGIN}/", f"{ORIGIN}/static/review.js"):
        assert TOKEN not in sent(other), other
    assert isinstance(Cookie, type)
    plain_client = TestClient(client.app, base_url=ORIGIN)
    plain_client.cookies.set(cookie_name(PORT), TOKEN)  # even with the token, nothing outside the secret path
    for url in ("/", "/api/plate", "/static/review.js", "/tube/0", BASE[:-1], "/" + "b" * 23 + "/"):
        answer = plain_client.get(url)
        assert answer.status_code == 404 and "b" * 20 not in answer.text, url
    assert plain_client.get(BASE).status_code == 200


def test_a_login_lands_only_on_the_apps_own_address(review: StandIn) -> None:
    client = _client(review, login=False)
    for url, where in ((f"{ORIGIN}//evil.example/?token={TOKEN}", BASE),
                       (f"{ORIGIN}/%0d%0aX:%20y?token={TOKEN}", BASE),
                       (f"{ORIGIN}/\\evil.example?token={TOKEN}", BASE),
                       (f"{ORIGIN}{BASE}tube/%C2%B2?token={TOKEN}", BASE),
                       (f"{ORIGIN}{BASE}%0d%0aSet-Cookie:%20x=1?token={TOKEN}", BASE),
                       (f"{ORIGIN}{BASE}tube/12?token={TOKEN}", BASE + "tube/12"),
                       (f"{ORIGIN}/tube/1?token={TOKEN}", BASE)):
        answer = client.get(url, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == where, url
        assert list(answer.headers.keys()).count("set-cookie") == 1
    assert client.post(f"{ORIGIN}/?token={TOKEN}", content="{}", headers={"origin": ORIGIN}).status_code == 403


def test_odd_paths_and_deep_json_are_refused_not_server_errors(review: StandIn) -> None:
    client = _client(review, raise_server_exceptions=False)
    for url in ("/tube/%C2%B2", "/tube/\u0663", "/tube/%EF%BC%91", "/tube/1%0d%0aX:%20y", "/tube/0/",
                "/%0d%0aX:%20y", f"{ORIGIN}{BASE}/evil.example/", f"{ORIGIN}//evil.example/", "/static/review.js/"):
        answer = client.get(url, follow_redirects=False)
        assert answer.status_code in (403, 404), (url, answer.status_code)  # 403: no cookie outside the base
        assert "location" not in answer.headers
    for body in ("[" * 30000, '{"polygon": ' + "[" * 30000 + "]" * 30000 + "}", '{"a":' * 20000 + "1" + "}" * 20000):
        answer = client.post("/api/tube/0/preview", content=body,
                             headers={"origin": ORIGIN, "x-csrf-token": CSRF, "content-type": "application/json"})
        assert answer.status_code in (400, 413) and answer.json()["error"], answer.status_code
    assert _post(client, "/api/tube/%C2%B2/preview", {"polygon": [[0, 0], [1, 0], [1, 1]]}).status_code == 404


def test_a_one_time_code_logs_in_once(review: StandIn) -> None:
    app = create_app(review, token=TOKEN, csrf=CSRF, port=PORT, base=BASE)
    used: list[bool] = []
    code = app.one_time_code(used=lambda: used.append(True))
    expired = app.one_time_code(seconds=-1)
    client = TestClient(app, base_url=ORIGIN + BASE)
    assert client.get(f"{ORIGIN}/?code=wrong", follow_redirects=False).status_code == 403
    first = client.get(f"{ORIGIN}/?code={code}", follow_redirects=False)  # a page of this origin moves on
    assert first.status_code == 200 and f'content="0; url={BASE}"' in first.text and used == [True]
    assert client.get("/").status_code == 200
    client.cookies.clear()
    assert client.get(f"{ORIGIN}/?code={code}", follow_redirects=False).status_code == 403  # once only
    assert client.get(f"{ORIGIN}/?code={expired}", follow_redirects=False).status_code == 403
    assert client.get("/").status_code == 403


def test_an_untouched_vertex_goes_back_in_its_exact_scale_values(review: StandIn) -> None:
    # Dragging one vertex sends only that vertex's new position: the others go back as the scale
    # values the server gave (never through display coordinates and pixels, which drift).
    client = _client(review)
    page = client.get("/tube/1").text
    edit = json.loads(re.search(r'id="review-data">(.*?)</script>', page, re.S).group(1))["tube"]["gate_edit"]
    assert edit["scale"] == StandIn.AUTO[:3] and edit["source"] == "auto"  # closed: each vertex once
    tx, ty = review.transforms("A2")
    assert edit["display"][2] == pytest.approx([float(tx.forward([555.555555555555])[0]),
                                                float(ty.forward([76543.2109876543])[0])], rel=1e-12)
    moved = [0.5, 0.75]
    body = {"polygon": [{"scale": edit["scale"][0]}, moved, {"scale": edit["scale"][2]}], "reason": "debris"}
    answer = _post(client, "/api/tube/1/change", body)
    assert answer.status_code == 200, answer.text
    sent = review.calls[-1][2]
    assert sent[0] == StandIn.AUTO[0] and sent[2] == StandIn.AUTO[2]  # exactly, not approximately
    assert sent[1] == pytest.approx([500.0, 100000 * 10 ** (5 * (0.75 - 1))], rel=1e-12)
    doc = answer.json()["result"]
    assert doc["gate_edit"]["scale"] == sent and doc["gate_edit"]["source"] == "run.yaml"  # the saved gate
    assert [p["population"] for p in doc["panels"]] == ["cells", "monocytes"]  # the captions' counts, as now
    assert "panels" not in _post(client, "/api/tube/1/preview", {"polygon": body["polygon"]}).json()["result"]
    for bad in ({"scale": [1.0]}, {"scale": [1.0, float("1e13")]}, {"scale": [1, 2], "x": 1}, {"display": [0, 0]},
                {"scale": [True, 1.0]}):
        refused = _post(client, "/api/tube/1/preview", {"polygon": [bad, moved, moved]})
        assert refused.status_code == 400, bad


def test_revert_accept_state_and_views_of_posts(review: StandIn) -> None:
    client = _client(review)
    assert _post(client, "/api/tube/0/accept", {}).json()["result"]["tube"]["status"] == "accepted"
    assert review.views == []  # the plate's `a`: no tube page open, no view
    assert _post(client, "/api/tube/1/exclude", {"reason": "clot"}).json()["result"]["tube"]["status"] == "excluded"
    assert review.views == ["A2"]  # a change comes from the tube's page: its view is recorded (once)
    reverted = _post(client, "/api/tube/1/revert", {"reason": "no clot"})
    assert reverted.status_code == 200 and reverted.json()["result"]["tube"]["status"] == "automatic"
    assert review.calls[-1] == ("revert", "A2", "no clot") and review.views == ["A2"]
    assert _post(client, "/api/tube/1/revert", {}).status_code == 400  # a reason is required
    plate = {t["key"]: t["status"] for t in client.get("/api/plate").json()["tubes"]}
    assert plate == {"A1": "accepted", "A2": "automatic"}  # the library's accepted(), not the app's memory
    review.calls.append(("exclude", "A1", "later"))  # a later change: the acceptance no longer holds
    review.entries["A1"] = {"reason": "later", "exclude": True}
    assert {t["key"]: t["status"] for t in client.get("/api/plate").json()["tubes"]}["A1"] == "excluded"
