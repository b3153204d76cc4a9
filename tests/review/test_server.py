"""``assaykit review`` as a process over real HTTP (uvicorn on 127.0.0.1): the printed address, the
token on the wire, the reviewer's name from the environment or the page, a refused port, and a
clean end on SIGTERM (exit 0, audit "close", the run free again)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from assaykit.review.server import listening_socket, reviewer_name

ASSAYKIT = [sys.executable, "-m", "assaykit.cli"]


def _start(out: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([*ASSAYKIT, "review", str(out), "--no-browser", *extra], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    assert process.stdout is not None
    for _ in range(5):
        line = process.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{43}))\s*$", line)
        if found:
            return process, found.group(1)
    process.kill()
    raise AssertionError(f"no address printed: {process.communicate()}")


def test_served_over_http_with_the_name_from_the_page(scored_run: tuple[Path, Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _, out = scored_run
    monkeypatch.delenv("ASSAYKIT_REVIEWER", raising=False)
    process, url = _start(out)
    try:
        origin = url.split("/?")[0]
        port = int(origin.rsplit(":", 1)[1])
        with httpx2.Client(base_url=origin, timeout=30) as client:
            assert client.get("/").status_code == 403  # no token
            assert client.get("/static/review.css").status_code == 403
            assert client.get("/", headers={"host": f"rebound.example:{port}"}).status_code == 403
            first = client.get(url.replace(origin, ""), follow_redirects=False)
            base = first.headers["location"]
            assert first.status_code == 303 and re.fullmatch(r"/[A-Za-z0-9_-]{24}/", base)
            assert client.get("/").status_code == 403  # the cookie is for the app's secret path only
            page = client.get(base)
            assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
            data = json.loads(re.search(r'id="review-data">(.*?)</script>', page.text, re.S).group(1))
            assert data["reviewer"] is None  # neither --reviewer nor ASSAYKIT_REVIEWER: the page asks
            csrf = data["csrf"]
            headers = {"origin": origin, "x-csrf-token": csrf, "content-type": "application/json"}
            refused = client.post(base + "api/tube/0/accept", content="{}", headers=headers)
            assert refused.status_code == 409 and "name" in refused.json()["error"]  # no name, no action
            rtl = client.post(base + "api/reviewer", content=json.dumps({"name": "Eve\u202egnp.exe"}), headers=headers)
            assert rtl.status_code == 400  # the library's rule, before it is set: the name can still be given
            named = client.post(base + "api/reviewer", content=json.dumps({"name": "D. Night"}), headers=headers)
            assert named.json() == {"reviewer": "D. Night"}
            accepted = client.post(base + "api/tube/0/accept", content="{}", headers=headers)
            assert accepted.status_code == 200, accepted.text
            assert accepted.json()["result"]["tube"]["status"] == "accepted"
    finally:
        process.send_signal(signal.SIGTERM)
        rest, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "review closed" in rest
    audit = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    assert [e["action"] for e in audit] == ["open", "reviewer", "accept", "close"]  # the name's setting recorded
    assert audit[1]["reviewer"] == audit[2]["reviewer"] == "D. Night"
    with socket.socket() as probe:  # the port was given back
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    process, url = _start(out, env={"ASSAYKIT_REVIEWER": "E"})  # the lock was released; the name from the env
    try:
        with httpx2.Client(timeout=30) as client:
            page = client.get(url, follow_redirects=True)
            data = json.loads(re.search(r'id="review-data">(.*?)</script>', page.text, re.S).group(1))
            assert data["reviewer"] == "E"
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode == 0


def test_the_browser_gets_no_token_on_its_command_line(scored_run: tuple[Path, Path], tmp_path: Path) -> None:
    # A browser's arguments are visible to every user in `ps`: the browser is given a page only
    # this user can read, which forwards it with a code that works once.
    _, out = scored_run
    record = tmp_path / "browser-argv.json"
    browser = tmp_path / "browser.py"
    browser.write_text(f"import json, sys\nopen({str(record)!r}, 'w').write(json.dumps(sys.argv))\n")
    env = {**os.environ, "BROWSER": f"{sys.executable} {browser} %s", "ASSAYKIT_REVIEWER": "A"}
    process = subprocess.Popen([*ASSAYKIT, "review", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        assert process.stdout is not None
        url = ""
        for _ in range(5):
            found = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=([A-Za-z0-9_-]{43})", process.stdout.readline())
            if found:
                origin, token = found.group(1), found.group(2)
                break
        else:
            raise AssertionError("no address printed")
        for _ in range(600):
            if record.exists() and record.read_text():
                break
            time.sleep(0.1)
        argv = json.loads(record.read_text())
        assert token not in " ".join(argv) and "code=" not in " ".join(argv)
        page = Path(argv[-1].removeprefix("file://"))
        assert argv[-1].startswith("file:///") and page.is_file()
        assert page.stat().st_mode & 0o777 == 0o600 and page.parent.stat().st_mode & 0o777 == 0o700
        url = re.search(r'url=(http://127\.0\.0\.1:\d+/\?code=[A-Za-z0-9_-]{43})"', page.read_text()).group(1)
        assert url.startswith(origin + "/")
        with httpx2.Client(timeout=30) as client:
            first = client.get(url, follow_redirects=False)
            assert first.status_code == 200 and first.headers["set-cookie"].startswith("assaykit_review_")
            base = re.search(r'content="0; url=(/[A-Za-z0-9_-]{24}/)"', first.text).group(1)
            assert client.get(origin + base).status_code == 200
            assert not page.exists() and not page.parent.exists()  # used: gone
        with httpx2.Client(timeout=30) as other:
            assert other.get(url, follow_redirects=False).status_code == 403  # once only
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode == 0


def test_a_port_in_use_is_one_line_and_exit_2(scored_run: tuple[Path, Path]) -> None:
    _, out = scored_run
    with listening_socket(None) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run([*ASSAYKIT, "review", str(out), "--no-browser", "--reviewer", "A", "--port", str(port)],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"127.0.0.1:{port}" in done.stderr
    assert not (out / "audit.jsonl").exists()  # nothing was opened


def test_a_reviewer_name_that_cannot_be_recorded_is_refused_before_anything_opens(
        scored_run: tuple[Path, Path]) -> None:
    _, out = scored_run
    for option, env in ((["--reviewer", "Eve\u202egnp.exe"], {}), ([], {"ASSAYKIT_REVIEWER": "Al\u200bice"})):
        done = subprocess.run([*ASSAYKIT, "review", str(out), "--no-browser", *option], capture_output=True,
                              text=True, timeout=120, env={**os.environ, **env})
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "name" in done.stderr, done.stderr
        assert not (out / "audit.jsonl").exists()  # nothing was opened


def test_listening_is_on_loopback_only_and_the_name_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    with listening_socket(None) as sock:
        assert sock.getsockname()[0] == "127.0.0.1" and sock.getsockname()[1] > 0
    assert reviewer_name("  A.   B ") == "A. B"
    monkeypatch.delenv("ASSAYKIT_REVIEWER", raising=False)
    assert reviewer_name(None) is None and reviewer_name("   ") is None
    monkeypatch.setenv("ASSAYKIT_REVIEWER", " F ")
    assert reviewer_name(None) == "F" and reviewer_name("G") == "G"


def test_opening_is_said_only_when_the_open_takes_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A second review of a run is refused at once: the user sees the refusal, not "opening ..."
    # then the refusal; an open that measures every tube (slow) says it is opening.
    import time as clock

    import assaykit.review
    from assaykit.review import ReviewBusy
    from assaykit.review.server import OPENING_NOTICE_SECONDS, serve

    def refused(wait: float) -> Any:
        def open_review(out_dir: Path, **_: Any) -> None:
            clock.sleep(wait)
            raise ReviewBusy("another review of this run is open (pid 1); close it first", out_dir)
        return open_review

    for wait, said in ((0.0, 0), (OPENING_NOTICE_SECONDS + 0.5, 1)):
        lines: list[str] = []
        monkeypatch.setattr(assaykit.review, "open_review", refused(wait))
        with pytest.raises(ReviewBusy):
            serve(tmp_path, reviewer="A", open_browser=False, announce=lines.append)
        assert len(lines) == said and all(line.startswith("opening the review of") for line in lines), lines


def test_loading_the_page_again_reads_a_run_yaml_changed_on_disk(scored_run: tuple[Path, Path]) -> None:
    # run.yaml edited by hand while the review is open: the review refuses to write over it, and
    # loading the page again really reads it again (the review reopened), as the refusal says.
    from starlette.testclient import TestClient

    from assaykit.review import open_review
    from assaykit.review.app import create_app

    run, out = scored_run
    first = open_review(out, reviewer="A")
    token, csrf, port = "t" * 43, "c" * 43, 8765
    app = create_app(first, token=token, csrf=csrf, port=port)
    origin = f"http://127.0.0.1:{port}"
    headers = {"origin": origin, "x-csrf-token": csrf, "content-type": "application/json"}
    try:
        client = TestClient(app, base_url=origin + app.base)
        client.get(f"{origin}/?token={token}", follow_redirects=False)
        with (run / "run.yaml").open("a") as handle:
            handle.write("# a note the lab added by hand\n")
        refused = client.post("api/tube/0/exclude", content=json.dumps({"reason": "clotted"}), headers=headers)
        assert refused.status_code == 409 and "changed on disk" in refused.json()["error"]
        assert client.get("").status_code == 200  # the page loaded again: run.yaml read again
        assert app.web.review is not first and first._lock is None  # the first review closed
        done = client.post("api/tube/0/exclude", content=json.dumps({"reason": "clotted"}), headers=headers)
        assert done.status_code == 200, done.text
        assert done.json()["result"]["tube"]["status"] == "excluded"
        assert "# a note the lab added by hand" in (run / "run.yaml").read_text()
        assert client.get("").status_code == 200 and app.web.review is not first  # not reopened again
        reopened = app.web.review
        assert client.get("tube/1").status_code == 200 and app.web.review is reopened
    finally:
        app.web.review.close()
        first.close()
    audit = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    # a change from tube 0's page records its view in each session it reaches (the refused one too),
    # never an exclusion without a view in its session; then tube/1 opened
    assert [(e["action"], e.get("tube")) for e in audit] == [
        ("open", None), ("view", "A1"), ("close", None), ("open", None), ("view", "A1"), ("exclude", "A1"),
        ("view", "A2"), ("close", None)]
    assert audit[3]["reviewer"] == "A" and audit[5]["reviewer"] == "A"


def test_ctrl_c_while_signing_waits_for_the_signature(scored_run: tuple[Path, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # a signature (its re-score) that takes longer than uvicorn's usual grace period: Ctrl-C
    # waits for it, the browser gets its answer, and the review closes with no traceback
    import threading

    import assaykit.review.signatures as signatures
    from assaykit.review.server import serve

    _, out = scored_run
    real = signatures.sign

    def slow(review: Any, meaning: str, name: str) -> Any:
        started.set()
        time.sleep(8)  # longer than the 5 s uvicorn gave before
        return real(review, meaning, name)

    started = threading.Event()
    monkeypatch.setattr(signatures, "sign", slow)
    answers: list[Any] = []

    def browser(url: str) -> None:
        def run() -> None:
            origin = url.split("/?")[0]
            with httpx2.Client(base_url=origin, timeout=120) as client:
                base = client.get(url.replace(origin, ""), follow_redirects=False).headers["location"]
                data = json.loads(re.search(r'id="review-data">(.*?)</script>', client.get(base).text, re.S).group(1))
                headers = {"origin": origin, "x-csrf-token": data["csrf"], "content-type": "application/json"}
                answers.append(client.post(base + "api/sign", content=json.dumps({"meaning": "reviewed", "name": "A"}),
                                           headers=headers))

        threading.Thread(target=run, daemon=True).start()

        def interrupt() -> None:
            started.wait(60)
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the signature is being recorded

        threading.Thread(target=interrupt, daemon=True).start()

    lines: list[str] = []
    serve(out, reviewer="A", open_browser=False, announce=lines.append, on_ready=browser)
    deadline = time.monotonic() + 30
    while not answers and time.monotonic() < deadline:
        time.sleep(0.1)
    assert answers and answers[0].status_code == 200, answers
    assert answers[0].json()["result"]["meaning"] == "reviewed"
    assert lines[-1] == "review closed"
    actions = [json.loads(line)["action"] for line in (out / "audit.jsonl").read_text().splitlines()]
    assert actions[-2:] == ["sign", "close"]
