"""The review web app (``assaykit review``): a Starlette application over one open
:class:`~assaykit.review.Review`. The app draws and forwards; the library gates, measures, writes
run.yaml, the audit trail and the signatures (docs/review.md).

Security (docs/review.md, "Security"), enforced for every request by :class:`_Guard` before any
route runs:

- the Host header must be the server's own (``127.0.0.1:PORT`` or ``localhost:PORT``): a page of
  another site whose name was made to resolve to 127.0.0.1 (DNS rebinding) is refused;
- the random token: in the URL of the first request (then moved to an HttpOnly, SameSite=Strict
  cookie and dropped from the address by a redirect) or in that cookie; every request without it,
  the stylesheet and scripts included, is 403. The app lives under a secret path (``/<secret>/``,
  random per launch) and the cookie is sent to that path only: browsers keep cookies apart by host,
  not by port, so another server on 127.0.0.1 must not be on the cookie's path. A login lands on
  the app's own address only (never a path taken from the request). The browser is opened on a
  private launcher page with a one-time code (:mod:`.server`), never with the token in its
  arguments;
- a request's path or body never makes a server error: a tube is ASCII digits, a body nested
  deeper than the JSON parser goes is 400;
- only GET, HEAD and POST; a POST changes something only with the page's CSRF token in its
  ``X-CSRF-Token`` header and an Origin that is the server's own, and a JSON body of at most 64 kB;
- nothing is read from a path in a request: tubes are numbers into the plate, assets a fixed set
  of names loaded from the package at start;
- every name (FCS keyword, plate-map value, reason) reaches the page as JSON in a
  ``<script type="application/json">`` block (Jinja's ``tojson``) or a POST's answer, and is put
  on the page with ``textContent`` only; a strict Content-Security-Policy forbids inline scripts.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, is_dataclass
from http.cookies import SimpleCookie
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from .._io.names import printable
from ..errors import AssayKitError
from .names import name_problem

MAX_BODY = 64 * 1024  # bytes of a POST's JSON
MAX_REASON = 500  # characters, as run.yaml's gate_overrides (scoring/overrides.py)
MAX_VERTICES = 200
TUBE_ID = re.compile(r"[0-9]{1,6}")
LANDING = re.compile(r"(tube/[0-9]{1,6})?")  # where a login may land, below the app's base
CODE_SECONDS = 120.0  # how long a one-time code (the browser's launcher page) is valid
ASSET_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".svg": "image/svg+xml", ".png": "image/png"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store"),
           (b"x-frame-options", b"DENY"), (b"cross-origin-resource-policy", b"same-origin")]

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def cookie_name(port: int) -> str:
    """The token cookie's name: one per port, so two reviews on one machine never share one."""
    return f"assaykit_review_{port}"


def _assets() -> dict[str, tuple[bytes, str]]:
    """Every file of ``static/`` (shipped in the wheel) by name: bytes and content type."""
    out = {}
    for item in resources.files("assaykit.review").joinpath("static").iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in ASSET_TYPES:
            out[item.name] = (item.read_bytes(), ASSET_TYPES[suffix])
    return out


class _Guard:
    """The ASGI middleware that enforces the security rules of the module docstring.

    The app lives under ``base`` (``/<secret>/``, random per launch): the token's cookie is set
    with ``Path=base``, so a browser sends it to no other path of 127.0.0.1 -- cookies are not kept
    apart by port, and another server on this machine (another port) must never receive it."""

    def __init__(self, app: Any, *, token: str, csrf: str, port: int, hosts: tuple[str, ...], base: str) -> None:
        self.app, self.token, self.csrf, self.port = app, token, csrf, port
        self.hosts = hosts
        self.origins = tuple(f"http://{host}" for host in hosts)
        self.cookie = cookie_name(port)
        self.base = base
        self.codes: dict[str, tuple[float, Callable[[], None] | None]] = {}
        self.codes_lock = threading.Lock()
        self.web: ReviewWeb | None = None

    def one_time_code(self, *, seconds: float = CODE_SECONDS, used: Callable[[], None] | None = None) -> str:
        """A code that logs a browser in once (``/?code=CODE``), within ``seconds`` of now; ``used``
        is called when it is (the launcher page holding it can go).

        Parameters
        ----------
        seconds : float
            How long the code is valid, in seconds.
        used : callable, optional
            Called (no arguments) when the code is used.
        """
        code = secrets.token_urlsafe(32)
        with self.codes_lock:
            self.codes[code] = (time.monotonic() + seconds, used)
        return code

    def _take_code(self, code: str) -> bool:
        with self.codes_lock:
            found = next((k for k in self.codes if hmac.compare_digest(k.encode(), code.encode("latin-1", "replace"))),
                         None)
            if found is None:
                return False
            until, used = self.codes.pop(found)
        if used is not None:
            used()
        return time.monotonic() <= until

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "token" in query or "code" in query:  # a login: the cookie, then the app's own address
            status, text = self._login(scope, headers, query)
            if status != 303:
                await _plain_response(send, status, text)
                return
            cookie = (b"set-cookie",
                      f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path={self.base}".encode())
            if "token" in query:  # typed or pasted: a redirect
                await send({"type": "http.response.start", "status": 303, "headers": [
                    (b"location", text.encode("ascii")), cookie, (b"content-length", b"0"), *HEADERS]})
                await send({"type": "http.response.body", "body": b""})
                return
            # A code arrives from the launcher page (file://): a redirect would stay part of that
            # cross-site navigation, and a browser sends no SameSite=Strict cookie on it. A page of
            # this origin that moves on (meta refresh) starts a same-site navigation that carries it.
            body = (f'<!DOCTYPE html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url={text}">'
                    f'<title>assaykit review</title><p><a href="{text}">Open the review</a></p>\n').encode("ascii")
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/html; charset=utf-8"), cookie,
                (b"content-length", str(len(body)).encode()), *HEADERS]})
            await send({"type": "http.response.body", "body": body})
            return
        refused = self._refused(scope, headers)
        if refused is not None:
            await _plain_response(send, refused[0], refused[1])
            return
        path = scope["path"]
        if not path.startswith(self.base):
            await _plain_response(send, 404, "not found")
            return
        inner = "/" + path[len(self.base):]
        scope = {**scope, "path": inner, "raw_path": inner.encode("utf-8"), "root_path": ""}

        async def guarded_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *(h for h in HEADERS if h[0] not in names)]}
            await send(message)

        await self.app(scope, receive, guarded_send)

    def _login(self, scope: dict[str, Any], headers: dict[str, str], query: dict[str, list[str]]) -> tuple[int, str]:
        """(303, where to) for a valid token or one-time code in a GET's query, else (status, why).
        Where to is always the app's own address: ``base``, or ``base`` + ``tube/N`` when that was
        asked -- never a path taken from the request (no header injection, no open redirect)."""
        if headers.get("host", "") not in self.hosts:
            return 403, "unknown host: open the address assaykit review printed"
        if scope["method"] not in ("GET", "HEAD"):
            return 403, "a change is never made from an address"
        if "token" in query:
            given = query["token"][-1]
            valid = hmac.compare_digest(given.encode("latin-1", "replace"), self.token.encode())
        else:
            valid = self._take_code(query["code"][-1])
            if not valid:
                return 403, "this one-time address was used or has expired: open the address assaykit review printed"
        if not valid:
            return 403, "no valid token: open the address assaykit review printed"
        path = scope["path"]
        rest = path[len(self.base):] if path.startswith(self.base) else ""
        return 303, self.base + (rest if LANDING.fullmatch(rest) else "")

    def _refused(self, scope: dict[str, Any], headers: dict[str, str]) -> tuple[int, str] | None:
        """(status, why) when the request breaks a rule; None when it may go on."""
        if headers.get("host", "") not in self.hosts:
            return 403, "unknown host: open the address assaykit review printed"
        method = scope["method"]
        if method not in ("GET", "HEAD", "POST"):
            return 405, "method not allowed"
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is no token
            jar = SimpleCookie()
        given = jar[self.cookie].value if self.cookie in jar else None
        if given is None or not hmac.compare_digest(given.encode("latin-1", "replace"), self.token.encode()):
            return 403, "no valid token: open the address assaykit review printed"
        if method == "POST":
            if headers.get("origin") not in self.origins:
                return 403, "cross-origin request refused"
            if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
                return 403, "cross-site request refused"
            if not hmac.compare_digest(headers.get("x-csrf-token", "").encode("latin-1", "replace"),
                                       self.csrf.encode()):
                return 403, "missing or wrong CSRF token: reload the page"
            if not headers.get("content-type", "").startswith("application/json"):
                return 415, "a change is sent as JSON"
        return None


async def _plain_response(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *HEADERS]})
    await send({"type": "http.response.body", "body": body})


class WebError(Exception):
    """A request the app refuses with ``status`` and a one-line ``message`` the page shows."""

    def __init__(self, status: int, message: str, code: str = "refused") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: ``to_dict()`` where it has one, a dataclass's fields, numpy
    arrays and numbers as lists and floats, non-finite numbers as None, every string as
    :func:`assaykit._io.names.printable` shows it (a control character or a byte that was not UTF-8
    as a backslash escape)."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return plain(value.to_dict())
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, Mapping):
        return {printable(str(k)): plain(v) for k, v in value.items()}
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, bool) or value is None:
        return value
    if hasattr(value, "tolist"):
        return plain(value.tolist())
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return printable(str(value))


def _reason(body: Mapping[str, Any]) -> str:
    """The reason of a POST, as typed (the library checks that it says why: one rule, one place)."""
    reason = body.get("reason")
    if not isinstance(reason, str) or len(reason) > 4 * MAX_REASON:
        raise WebError(400, "a reason is required")
    return reason


Vertex = tuple[bool, float, float]
"""A vertex of a POST's polygon: (in scale values?, x, y)."""


def _polygon(body: Mapping[str, Any]) -> list[Vertex]:
    """The polygon of a POST: 3 to MAX_VERTICES vertices, each ``[x, y]`` in display coordinates
    of the gate's panel (a vertex placed or moved on the page) or ``{"scale": [x, y]}`` (a vertex
    left where it was: the scale values the server gave, sent back exactly, never through pixels)."""
    points = body.get("polygon")
    if not isinstance(points, list) or not 3 <= len(points) <= MAX_VERTICES:
        raise WebError(400, f"a polygon of 3 to {MAX_VERTICES} vertices is required")
    out = []
    for point in points:
        scale = isinstance(point, dict)
        pair = point.get("scale") if isinstance(point, dict) and len(point) == 1 else point
        limit = 1e12 if scale else 10
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           and -limit <= v <= limit for v in pair)):
            raise WebError(400, 'each vertex is [x, y] or {"scale": [x, y]}, two finite numbers')
        out.append((scale, float(pair[0]), float(pair[1])))
    return out


def gate_problem(row: Mapping[str, Any]) -> str | None:
    """The message of the row's ``drawn_gate_implausible`` finding (a drawn gate of implausible
    share: the value is withheld; gating.plausibility), read by its code from the row's
    ``qc_flags`` cell; None when there is none.

    Parameters
    ----------
    row : mapping
        A samples.csv row (``qc_flags``: the findings cell).
    """
    from ..findings import FindingCode, parse_findings

    cell = row.get("qc_flags")
    found = parse_findings(cell) if isinstance(cell, str) else ()
    return next((f.message for f in found if f.code == FindingCode.DRAWN_GATE_IMPLAUSIBLE), None)


ROW_FIELDS = ("events", "monocytes", "monocytes_pct", "hladr_mfi", "hladr_abc", "qc_flags", "verdict",
              "verdict_reasons", "error")
"""What the page shows of a tube's samples.csv row."""


def tube_status(tube: Mapping[str, Any], accepted: bool = False) -> str:
    """How the tube is gated now, as the page names it: ``excluded``, ``changed`` (a gate the
    review wrote), ``hand_written`` (a run.yaml entry written by hand), ``accepted`` (its
    automatic gate accepted by a review of this output, in this session or an earlier one:
    :meth:`assaykit.review.Review.accepted`) or ``automatic``.

    Parameters
    ----------
    tube : mapping
        The tube as :meth:`assaykit.review.Review.tubes` gives it (``entry``, ``hand_written``).
    accepted : bool
        Whether the tube's gate as it stands was accepted.
    """
    entry = tube.get("entry") or {}
    if entry.get("exclude") is True:
        return "excluded"
    if tube.get("hand_written"):
        return "hand_written"
    if entry:
        return "changed"
    return "accepted" if accepted else "automatic"


MERGE_FRACTION = 0.03
"""Vertices of a gate nearer than this share of its panel's width and height (about 7 pixels of
the page's panel) are one vertex in the editor."""


def merge_near(points: list[list[float]], extent: tuple[float, float]) -> list[int]:
    """The indices of the vertices of the closed polygon ``points`` kept when each vertex nearer
    than :data:`MERGE_FRACTION` of ``extent`` to the last one kept (or, for the last vertices, to
    the first) is merged into it: an automatic polygon's closing vertex that repeats its first,
    an ellipse outline's vertices a few pixels apart. At least 3 are kept (the first ones when
    every vertex is near).

    Parameters
    ----------
    points : list of [x, y]
        The polygon's vertices, display coordinates.
    extent : (float, float)
        The panel's width and height in display coordinates.
    """
    import math

    width, height = (max(abs(v), 1e-12) for v in extent)

    def near(a: list[float], b: list[float]) -> bool:
        return math.hypot((a[0] - b[0]) / width, (a[1] - b[1]) / height) < MERGE_FRACTION

    kept: list[int] = []
    for i, p in enumerate(points):
        if not kept or not near(points[kept[-1]], p):
            kept.append(i)
    while len(kept) > 3 and near(points[kept[-1]], points[kept[0]]):
        kept.pop()
    return kept if len(kept) >= 3 else list(range(min(3, len(points))))


def _extent(panel: Mapping[str, Any] | None, points: list[list[float]]) -> tuple[float, float]:
    """The width and height of ``panel`` (its bin edges), else of ``points``."""
    xe = list((panel or {}).get("x_edges") or [])
    ye = list((panel or {}).get("y_edges") or [])
    if len(xe) > 1 and len(ye) > 1:
        return float(xe[-1]) - float(xe[0]), float(ye[-1]) - float(ye[0])
    if not points:
        return 1.0, 1.0
    return (max(p[0] for p in points) - min(p[0] for p in points),
            max(p[1] for p in points) - min(p[1] for p in points))


def _raw_key(tube: Any) -> str:
    """A tube's key as the library gave it (not escaped for display: the library looks it up)."""
    return str(tube["key"] if isinstance(tube, Mapping) else tube.key)


class ReviewWeb:
    """What the routes share: the open review, the templates, the assets, the figure data of the
    scored run (the plate's thumbnails) and one lock around every call into the review (the
    library is called from one request at a time)."""

    def __init__(self, review: Any, *, csrf: str, base: str) -> None:
        from jinja2 import Environment, PackageLoader, select_autoescape

        self.review = review
        self.csrf = csrf
        self.base = base
        self.lock = threading.Lock()
        self.assets = _assets()
        self.env = Environment(loader=PackageLoader("assaykit.review", "templates"),
                               autoescape=select_autoescape(default=True, default_for_string=True))
        self._thumbnails: dict[str, Any] | None = None

    # --- the library, one call at a time --------------------------------------------------------------
    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            try:
                return getattr(self.review, method)(*args, **kwargs)
            except AssayKitError as error:
                from . import HandWrittenError

                raise WebError(409, printable(str(error)),
                               "hand_written" if isinstance(error, HandWrittenError) else "refused") from None

    def reload_if_stale(self) -> bool:
        """Open the review again when run.yaml changed on disk since the review read it (edited by
        hand while the review was open: the review refuses to write over it), so that loading the
        page again really reads it again: the review closed (audit "close"), opened anew (audit
        "open", every tube measured) with the same reviewer. True when it was reopened; WebError
        409 when it cannot be (the review then stays closed: restart ``assaykit review``)."""
        from .._io.read import read_input
        from .runyaml import RunYamlError, sha256

        review = self.review
        read = getattr(getattr(review, "_state", None), "yaml_sha256", None)  # what the review read
        if read is None:
            return False
        with self.lock:
            if self.review is not review:
                return False  # reopened by another request meanwhile
            path = review.run_yaml
            try:
                data = read_input(path, RunYamlError, "run.yaml", 1 << 20) if path.exists() else b""
            except AssayKitError:
                return False  # the change itself says what is wrong with it
            if sha256(data) == read:
                return False
            from . import open_review

            name = review.reviewer
            review.close()
            try:
                self.review = open_review(review.out_dir, reviewer=name or None)
            except AssayKitError as error:
                raise WebError(409, printable(f"run.yaml changed on disk and the review could not read it again "
                                              f"({error}); restart assaykit review")) from None
            if name and not self.review.reviewer:
                self.review.reviewer = name
            self._thumbnails = None
            return True

    def thumbnails(self) -> dict[str, Any]:
        """The gate panel of each tube as ``score`` drew it (figure_data.json), by file name."""
        if self._thumbnails is None:
            from ..scoring import figure_data

            try:
                doc = figure_data.read(self.review.out_dir)
            except AssayKitError:
                doc = {"tubes": {}}
            self._thumbnails = {name: tube.get("panels", []) for name, tube in (doc.get("tubes") or {}).items()}
        return self._thumbnails

    def plate(self) -> list[dict[str, Any]]:
        """Every blood tube of the plate as the page shows it (``id``: its place on the plate), its
        samples.csv row as the run stands in the review, its gate panel as ``score`` drew it and,
        for a tube gated by run.yaml, that polygon in the panel's display coordinates."""
        thumbnails = self.thumbnails()
        rows = {str(row.get("file")): row for row in (plain(r) for r in self.call("plate"))}
        accepted = set(self.call("accepted"))
        population = plain(self.review.readout_population)
        out = []
        for number, item in enumerate(self.call("tubes")):
            tube = plain(item)
            panel = next((p for p in thumbnails.get(tube.get("file", ""), []) if p.get("population") == population),
                         None)
            out.append({**self.shown(tube, rows.get(tube.get("file", ""), {}), _raw_key(item) in accepted),
                        "id": number, "panel": panel,
                        "gate_display": self.gate_display(_raw_key(item), tube)})
        return out

    def gate_display(self, key: str, tube: Mapping[str, Any]) -> list[list[float]] | None:
        """The polygon of the tube's run.yaml gate in display coordinates (None: no such gate)."""
        gate = (tube.get("entry") or {}).get("gate")
        if not isinstance(gate, Mapping) or not isinstance(gate.get("vertices"), list) or not gate["vertices"]:
            return None
        tx, ty = self.call("transforms", key)
        xs = tx.forward([float(v[0]) for v in gate["vertices"]]).tolist()
        ys = ty.forward([float(v[1]) for v in gate["vertices"]]).tolist()
        return [[float(x), float(y)] for x, y in zip(xs, ys, strict=True)]

    def shown(self, tube: Mapping[str, Any], row: Mapping[str, Any], accepted: bool) -> dict[str, Any]:
        """A tube and its samples.csv row as the page shows them (``accepted``: its gate as it
        stands was accepted by a review)."""
        fields = {k: row.get(k) for k in ROW_FIELDS}
        reasons = fields.get("verdict_reasons")
        if isinstance(reasons, str):
            fields["verdict_reasons"] = [r for r in reasons.split(";") if r]
        return {**{k: tube.get(k) for k in ("key", "file", "well", "patient", "timepoint", "condition", "role",
                                            "hand_written")},
                **fields, "status": tube_status(tube, accepted),
                "gate_problem": gate_problem(row)}

    def key(self, tube_id: int) -> str:
        """The library's name of tube number ``tube_id`` of the plate (404 when there is none)."""
        tubes = self.call("tubes")
        if not 0 <= tube_id < len(tubes):
            raise WebError(404, "no such tube")
        return _raw_key(tubes[tube_id])

    def answer(self, key: str, result: Any) -> dict[str, Any]:
        """A re-measured tube (the library's answer) as the page shows it: the tube, its patient's
        restoration rows and patient row."""
        doc = plain(result)
        tube = plain(self.call("tube", key))
        accepted = _raw_key(self.call("tube", key)) in self.call("accepted")
        return {"tube": self.shown(tube, doc.get("row") or {}, accepted), "restoration": doc.get("restoration") or [],
                "patient": doc.get("patient"), "seconds": doc.get("seconds")}

    def to_scale(self, key: str, polygon: list[Vertex]) -> list[list[float]]:
        """``polygon`` in scale values: a vertex given in scale values as it is; one in display
        coordinates of the gate's panel (placed or moved on the page) through the inverse
        transforms of the gate's two markers for this tube, which the library gives."""
        drawn = [i for i, (scale, _, _) in enumerate(polygon) if not scale]
        out = [[x, y] for _, x, y in polygon]
        if drawn:
            tx, ty = self.call("transforms", key)
            xs = tx.inverse([polygon[i][1] for i in drawn]).tolist()
            ys = ty.inverse([polygon[i][2] for i in drawn]).tolist()
            for i, x, y in zip(drawn, xs, ys, strict=True):
                out[i] = [float(x), float(y)]
        return out

    def gate_edit(self, key: str, panel: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """The polygon the page edits: the tube's monocyte gate as the library gives it, in scale
        values (``scale``, what an untouched vertex is sent back as) and in the panel's display
        coordinates (``display``, where it is drawn), with no two vertices nearer than
        :data:`MERGE_FRACTION` of the gate's ``panel`` (:func:`merge_near`: a corner is one vertex
        that moves as one); None when the tube cannot be gated.

        Parameters
        ----------
        key : str
            The tube (the library's key).
        panel : mapping, optional
            The gate's panel (``x_edges``, ``y_edges``: its extent in display coordinates); None:
            the polygon's own extent.
        """
        try:
            gate = self.call("gate", key)
            tx, ty = self.call("transforms", key)
        except WebError:
            return None
        scale = [[float(x), float(y)] for x, y in gate["vertices"]]
        xs = tx.forward([v[0] for v in scale]).tolist()
        ys = ty.forward([v[1] for v in scale]).tolist()
        display = [[float(x), float(y)] for x, y in zip(xs, ys, strict=True)]
        kept = merge_near(display, _extent(panel, display))
        return {"scale": [scale[i] for i in kept], "display": [display[i] for i in kept],
                "source": plain(gate.get("source"))}

    def gate_panel(self, panels: list[Any]) -> Mapping[str, Any] | None:
        """The panel of the readout (monocyte) gate among ``panels`` (None when there is none).

        Parameters
        ----------
        panels : list of mapping
            A tube's panels as :meth:`panels` gives them.
        """
        population = plain(self.review.readout_population)
        return next((p for p in panels if isinstance(p, Mapping) and p.get("population") == population), None)

    def panels(self, key: str) -> tuple[list[Any], str]:
        """The tube's gating panels as the reports draw them, and the problem when it cannot be
        gated (its panels then [])."""
        try:  # a tube whose gating fails still opens: its monocyte panel has no gate (one is drawn by hand)
            doc = plain(self.call("figure", key))
            return doc["panels"], str(doc.get("problem") or "")
        except WebError as error:
            return [], str(error)

    def page(self, template: str, **context: Any) -> str:
        context.setdefault("data", {"csrf": self.csrf, "base": self.base})
        return self.env.get_template(template).render(base=self.base, **context)


def create_app(review: Any, *, token: str, csrf: str, port: int,
               hosts: tuple[str, ...] | None = None, base: str | None = None) -> Any:
    """The review app over ``review`` (an open :class:`~assaykit.review.Review`).

    Parameters
    ----------
    review : Review
        The open review (:func:`assaykit.review.open_review`).
    token : str
        The secret every request must carry (``secrets.token_urlsafe(32)``).
    csrf : str
        The secret every POST must carry in its ``X-CSRF-Token`` header (put in each page).
    port : int
        The TCP port the server listens on (its Host and Origin are checked against it).
    hosts : tuple of str, optional
        The Host headers accepted; default ``127.0.0.1:PORT`` and ``localhost:PORT``.
    base : str, optional
        The secret path the app lives under (``/<secret>/``; default a random one): the address a
        login lands on, and the only path the token's cookie is sent to.

    Returns the app (ASGI); its ``base`` is the path the app lives under, its
    ``one_time_code()`` makes a code for ``/?code=CODE`` (a login that works once) and its
    ``web.review`` is the review open now (a new one after run.yaml changed on disk: close that one).
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    if base is None:
        base = f"/{secrets.token_urlsafe(18)}/"
    if not re.fullmatch(r"/[A-Za-z0-9_-]{16,}/", base):
        raise ValueError("base is /<secret>/, a secret of 16 or more URL-safe characters")
    web = ReviewWeb(review, csrf=csrf, base=base)

    def _error(error: WebError, html: bool) -> Response:
        if html:
            return HTMLResponse(web.page("error.html", message=str(error), status=error.status),
                                status_code=error.status)
        return JSONResponse({"error": str(error), "code": error.code}, status_code=error.status)

    Handler = Callable[[Request], Awaitable[Response]]

    def endpoint(html: bool) -> Callable[[Handler], Handler]:
        def wrap(handler: Handler) -> Handler:
            async def run(request: Request) -> Response:
                try:
                    return await handler(request)
                except WebError as error:
                    return _error(error, html)
            return run
        return wrap

    async def threaded(fn: Callable[..., Any], *args: Any) -> Any:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(fn, *args)

    async def body(request: Request) -> dict[str, Any]:
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_BODY:
                raise WebError(413, "request too large")
        try:
            doc = json.loads(data or b"{}")
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
            raise WebError(400, "the request is not JSON") from None
        if not isinstance(doc, dict):
            raise WebError(400, "the request is not a JSON object")
        return doc

    def tube_id(request: Request) -> int:
        text = request.path_params["tube"]
        if not TUBE_ID.fullmatch(text):  # ASCII digits only: str.isdigit() takes "²", which int() refuses
            raise WebError(404, "no such tube")
        return int(text)

    def state() -> dict[str, Any]:
        """What every page starts from: the plate, the reviewer, the signatures."""
        web.reload_if_stale()
        return {"tubes": web.plate(), "reviewer": plain(web.review.reviewer or None),
                "signatures": plain(web.call("signatures")), "run": plain(web.review.out_dir.name), "csrf": csrf,
                "base": base, "viewed": plain(web.call("viewed"))}

    @endpoint(html=True)
    async def plate_page(request: Request) -> Response:
        doc = await threaded(state)
        return HTMLResponse(web.page("plate.html", data=doc))

    @endpoint(html=True)
    async def tube_page(request: Request) -> Response:
        number = tube_id(request)

        def build() -> dict[str, Any]:
            key = web.key(number)
            web.call("view", key)  # audit "view", once per tube per session (the sign dialog counts them)
            doc = state()
            panels, problem = web.panels(key)
            now = web.answer(key, web.call("measure", key))
            return {**doc, "tube": {**now["tube"], "id": number, "restoration": now["restoration"],
                                    "patient_row": now["patient"], "panels": panels, "figure_problem": problem,
                                    "gate_population": plain(web.review.readout_population),
                                    "gate_edit": web.gate_edit(key, web.gate_panel(panels)) if panels else None}}

        doc = await threaded(build)
        return HTMLResponse(web.page("tube.html", data=doc))

    @endpoint(html=False)
    async def plate_json(request: Request) -> Response:
        return JSONResponse(await threaded(state))

    def change(action: str) -> Callable[[Request], Awaitable[Response]]:
        @endpoint(html=False)
        async def handler(request: Request) -> Response:
            doc = await body(request)
            number = tube_id(request)
            confirm = {"replace_hand_written": True} if doc.get("confirm") is True else {}

            def run() -> dict[str, Any]:
                key = web.key(number)
                if action != "accept":  # only the tube's page previews, changes, excludes or reverts:
                    web.call("view", key)  # its view is open (a review reopened since records it again)
                if action == "preview":
                    result = web.call("preview", key, web.to_scale(key, _polygon(doc)))
                elif action == "change":
                    polygon, reason = _polygon(doc), _reason(doc)
                    result = web.call("change_gate", key, web.to_scale(key, polygon), reason, **confirm)
                elif action == "exclude":
                    result = web.call("exclude", key, _reason(doc), **confirm)
                elif action == "revert":
                    result = web.call("revert", key, _reason(doc), **confirm)
                else:
                    result = web.call("accept", key)
                answer = web.answer(key, result)
                if action != "preview":  # saved: the panels (counts in their captions) and the gate as they are now
                    answer["panels"], answer["figure_problem"] = web.panels(key)
                    answer["gate_edit"] = web.gate_edit(key, web.gate_panel(answer["panels"]))
                return answer

            return JSONResponse({"result": await threaded(run), "id": number})
        return handler

    @endpoint(html=False)
    async def sign(request: Request) -> Response:
        doc = await body(request)
        meaning, name = doc.get("meaning"), doc.get("name")
        if meaning not in ("reviewed", "approved"):
            raise WebError(400, "meaning is reviewed or approved")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise WebError(400, "a signer's name is required")
        answer = await threaded(web.call, "sign", meaning, " ".join(name.split()))
        web._thumbnails = None  # signing re-scores the run: its figure data is new
        return JSONResponse({"result": plain(answer), "signatures": plain(await threaded(web.call, "signatures"))})

    @endpoint(html=False)
    async def set_reviewer(request: Request) -> Response:
        doc = await body(request)
        name = doc.get("name")
        if not isinstance(name, str):
            raise WebError(400, "a reviewer's name is required")
        problem = name_problem(name)  # the one rule every action's name is held to
        if problem:
            raise WebError(400, problem)
        with web.lock:
            review = web.review
            if review.reviewer:
                raise WebError(409, "the reviewer's name is already set")
            review.set_reviewer(name)  # quick: one audit line
        return JSONResponse({"reviewer": plain(review.reviewer)})

    async def asset(request: Request) -> Response:
        found = web.assets.get(request.path_params["name"])
        if found is None:
            return Response("not found\n", status_code=404, media_type="text/plain")
        return Response(found[0], media_type=found[1])

    routes = [Route("/", plate_page, methods=["GET"]),
              Route("/tube/{tube}", tube_page, methods=["GET"]),
              Route("/api/plate", plate_json, methods=["GET"]),
              *(Route(f"/api/tube/{{tube}}/{action}", change(action), methods=["POST"])
                for action in ("preview", "change", "exclude", "accept", "revert")),
              Route("/api/sign", sign, methods=["POST"]),
              Route("/api/reviewer", set_reviewer, methods=["POST"]),
              Route("/static/{name}", asset, methods=["GET"])]
    inner = Starlette(routes=routes)
    inner.router.redirect_slashes = False  # no redirect built from a request's path
    allowed = hosts if hosts is not None else (f"127.0.0.1:{port}", f"localhost:{port}")
    guard = _Guard(inner, token=token, csrf=csrf, port=port, hosts=allowed, base=base)
    guard.web = web  # the review open now (web.review: reopened when run.yaml changed on disk)
    return guard
