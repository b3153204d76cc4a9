"""``assaykit review`` end to end in a real browser (Chromium through Selenium, tests/review/conftest.py):
a simulated run scored, the review served by the command itself, the plate opened, a tube opened,
a vertex of the monocyte gate dragged, a reason given, the AB/C seen to change (and to be what the
library measures for the saved gate), the run signed "reviewed" as B in A's session and "approved"
by C in a session of C's own; then
``assaykit score`` on the run folder reproduces the reviewed tables and a tampered audit line makes
``assaykit verify`` exit 1.

ASSAYKIT_REVIEW_SCREENSHOTS=DIR saves the plate and tube views as PNG there (docs/img/ holds the
ones docs/review.md shows: ``ASSAYKIT_REVIEW_SCREENSHOTS=docs/img pytest tests/review/test_browser.py``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import browser_missing

pytestmark = pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "browser found")

ASSAYKIT = [sys.executable, "-m", "assaykit.cli"]
TABLES = ("samples.csv", "restoration.csv", "patients.csv")


def _run(args: list[str], **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run([*ASSAYKIT, *args], capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run folder, output folder): a simulated plate (3 patients x 2 conditions) scored."""
    base = tmp_path_factory.mktemp("review-e2e")
    run, out = base / "run", base / "out"
    made = _run(["simulate", str(run), "--patients", "3", "--conditions", "unstimulated,IFN-gamma",
                 "--events", "30000", "--seed", "5"])
    assert made.returncode == 0, made.stderr
    # recorded in the default ledger beside the output folder: what verify checks the review against
    done = _run(["score", str(run), "--out", str(out), "--ledger", str(base / "assaykit-ledger.sqlite"), "--jobs", "1"])
    assert done.returncode in (0, 1), done.stderr
    return run, out


class Served:
    """``assaykit review OUT --no-browser --reviewer A`` running in its own process."""

    def __init__(self, out: Path, *extra: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("ASSAYKIT_REVIEWER", None)
        self.process = subprocess.Popen([*ASSAYKIT, "review", str(out), "--no-browser", *extra],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        deadline = time.monotonic() + 120
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                err = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError(f"assaykit review ended: {err}")
            self.lines.append(line)
            found = re.search(r"(http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]{43})", line)
            if found:
                self.url = found.group(1)
                self.origin = self.url.split("/?")[0]
                return
        raise AssertionError("no address printed within 120 s")

    def stop(self) -> tuple[int, str, str]:
        """Ctrl-C, as a user stops it; (exit code, the rest of stdout, stderr)."""
        self.process.send_signal(signal.SIGINT)
        rest, err = self.process.communicate(timeout=60)
        return self.process.returncode, rest, err


def _wait(driver: Any, condition: Any, timeout: float = 30) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _text(driver: Any, element_id: str) -> str:
    return str(driver.find_element("id", element_id).text)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _shot(driver: Any, name: str) -> None:
    folder = os.environ.get("ASSAYKIT_REVIEW_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        size = driver.get_window_size()
        driver.set_window_size(size["width"], 1100)  # the monocyte panel's caption above the message bar
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(Path(folder) / name))
        driver.set_window_size(size["width"], size["height"])


def _drag_a_vertex(driver: Any) -> None:
    """Drag the gate's leftmost vertex (lowest CD14: where debris and lymphocytes reach into the
    gate) 40 % of the way toward the gate's centroid: the polygon shrinks onto the CD14-bright
    monocytes, so fewer events are in the gate, and the vertex stays on the data."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = driver.find_element("id", "gate-canvas")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)  # offsets: from its centre
    vertices = json.loads(canvas.get_attribute("data-vertices"))
    width, height = canvas.size["width"], canvas.size["height"]
    inside = [v for v in vertices if 60 < v[0] < width - 12 and 12 < v[1] < height - 46]
    cx = sum(v[0] for v in inside) / len(inside)
    cy = sum(v[1] for v in inside) / len(inside)
    vx, vy = min(inside, key=lambda v: v[0])  # the leftmost: the low-CD14 corner
    dx, dy = round((cx - vx) * 0.4), round((cy - vy) * 0.4)
    actions = ActionChains(driver)
    actions.move_to_element_with_offset(canvas, vx - width / 2, vy - height / 2).click_and_hold()
    for step in range(1, 6):
        actions.move_by_offset(dx // 5 if step < 5 else dx - 4 * (dx // 5), dy // 5 if step < 5 else dy - 4 * (dy // 5))
    actions.release().perform()
    moved = json.loads(canvas.get_attribute("data-vertices"))
    assert moved != vertices


def test_review_in_chromium_end_to_end(scored: tuple[Path, Path], chrome: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    run, out = scored
    server = Served(out, "--reviewer", "A")
    try:
        busy = _run(["review", str(out), "--no-browser", "--reviewer", "C"])  # one review per run folder
        assert busy.returncode == 2 and len(busy.stderr.strip().splitlines()) == 1, busy.stderr
        assert busy.stdout == ""  # refused at once: no "opening ..." before the refusal
        assert str(server.process.pid) in busy.stderr

        # the plate: a thumbnail per blood tube, with its verdict and AB/C
        chrome.get(server.url)
        home = chrome.current_url  # the token moved to the cookie; the app lives under a secret path
        assert re.fullmatch(re.escape(server.origin) + r"/[A-Za-z0-9_-]{24}/", home)
        cards = _wait(chrome, lambda d: d.find_elements(By.CSS_SELECTOR, ".card"))
        samples = (out / "samples.csv").read_text().splitlines()
        assert len(cards) == len([s for s in samples[1:] if ",sample," in s])
        assert _text(chrome, "reviewer-name") == "A"
        assert all(c.find_element(By.CSS_SELECTOR, ".abc-value").text for c in cards)
        _shot(chrome, "review-plate.png")
        body = chrome.find_element(By.TAG_NAME, "body")
        body.send_keys("j")  # keyboard: next tube, then open it
        selected = chrome.find_element(By.CSS_SELECTOR, ".card.selected")
        assert selected.get_attribute("data-id") == "1"
        selected.send_keys(Keys.ENTER)
        _wait(chrome, lambda d: d.current_url.endswith("/tube/1"))

        # one tube: every gating step drawn; drag a vertex, see the preview, give a reason, save
        _wait(chrome, lambda d: d.find_element(By.ID, "gate-canvas").get_attribute("data-vertices"))
        assert len(chrome.find_elements(By.CSS_SELECTOR, ".panel canvas")) == 4  # cells .. not_granulocytes, monocytes
        before = _number(_text(chrome, "abc"))
        page_data = json.loads(chrome.find_element(By.ID, "review-data").get_attribute("textContent"))
        gate_before = page_data["tube"]["gate_edit"]["scale"]  # the automatic gate, in scale values
        caption = chrome.find_elements(By.CSS_SELECTOR, ".panel.editable figcaption")[0].text
        _drag_a_vertex(chrome)
        _wait(chrome, lambda d: _text(d, "preview-abc") not in ("", "-"))
        preview = _number(_text(chrome, "preview-abc"))
        assert preview != before
        chrome.find_element(By.ID, "save").click()  # no reason: refused on the page
        _wait(chrome, lambda d: "reason" in _text(d, "message"))
        caption_preview = chrome.find_elements(By.CSS_SELECTOR, ".panel.editable figcaption")[0].text
        assert caption_preview != caption  # the gate's caption counts the previewed gate
        chrome.find_element(By.ID, "reason").send_keys("debris inside the gate")
        chrome.find_element(By.ID, "save").click()
        _wait(chrome, lambda d: _text(d, "gate-status") == "changed")
        after = _number(_text(chrome, "abc"))
        assert after == preview and after != before
        rows = chrome.find_elements(By.CSS_SELECTOR, "#patient-table tbody tr")
        assert rows and all(len(r.find_elements(By.TAG_NAME, "td")) == 6 for r in rows)
        _shot(chrome, "review-tube.png")

        # the library measured what the page shows: run.yaml holds the reviewed gate and reason
        doc = __import__("yaml").safe_load((run / "run.yaml").read_text())
        entry = next(iter(doc["gate_overrides"].values()))
        assert entry["reason"] == "debris inside the gate" and entry["reviewed"]["by"] == "A"
        saved = entry["gate"]["vertices"]
        assert len(saved) == len(gate_before)  # one vertex dragged: only it moved, the others exactly as they were
        assert sum(s != b for s, b in zip(saved, gate_before, strict=True)) == 1
        # the gate panel's caption counts the events in the saved gate (fewer: the polygon shrank)
        count = re.match(r"\S+: ([\d,]+) ", caption).group(1)
        shown = chrome.find_elements(By.CSS_SELECTOR, ".panel.editable figcaption")[0].text
        assert re.match(r"\S+: ([\d,]+) ", shown).group(1) != count
        assert _number(re.match(r"\S+: ([\d,]+) ", shown).group(1)) < _number(count)

        # the next tube by its key: draw a new polygon (preview), then exclude the tube instead
        body = chrome.find_element(By.TAG_NAME, "body")
        body.send_keys("j")
        _wait(chrome, lambda d: d.current_url.endswith("/tube/2"))
        canvas = _wait(chrome, lambda d: d.find_element(By.ID, "gate-canvas"))
        chrome.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
        chrome.find_element(By.ID, "draw").click()
        width, height = canvas.size["width"], canvas.size["height"]

        from selenium.webdriver.common.action_chains import ActionChains

        # first a polygon over the whole panel: ~all of the parent "monocytes", which the automatic
        # gate would refuse; the preview says so (in red) before anything is saved
        for fx, fy in [(-0.48, -0.48), (0.48, -0.48), (0.48, 0.48), (-0.48, 0.48), (-0.48, -0.48)]:
            ActionChains(chrome).move_to_element_with_offset(canvas, round(fx * width), round(fy * height)).click() \
                .perform()
        problem = _wait(chrome, lambda d: d.find_element(By.ID, "gate-problem").is_displayed()
                        and d.find_element(By.ID, "gate-problem"))
        assert problem.text.startswith("Withheld: the drawn monocytes gate is not plausible: it holds "), problem.text
        assert _text(chrome, "preview-abc") == "withheld" and _text(chrome, "preview-verdict") == ""  # said once
        _shot(chrome, "review-implausible.png")
        chrome.find_element(By.ID, "reset").click()  # undone: the preview cleared, the gate as it is
        assert _text(chrome, "preview-abc") == "-" and not chrome.find_element(By.ID, "gate-problem").is_displayed()
        chrome.find_element(By.ID, "draw").click()
        corners = [(-0.1, -0.35), (0.3, -0.35), (0.3, -0.1), (-0.1, -0.1), (-0.1, -0.35)]  # the last closes
        for fx, fy in corners:
            ActionChains(chrome).move_to_element_with_offset(canvas, round(fx * width), round(fy * height)).click() \
                .perform()
        _wait(chrome, lambda d: len(json.loads(d.find_element(By.ID, "gate-canvas").get_attribute("data-vertices")))
              == 4)
        _wait(chrome, lambda d: _text(d, "preview-abc") not in ("", "-"))
        # edits not saved: leaving (j) or accepting (a) asks first; dismissed, nothing happens
        for key, asked in (("j", "not saved. Leave"), ("a", "Discard them and accept")):
            chrome.find_element(By.TAG_NAME, "body").send_keys(key)
            alert = _wait(chrome, lambda d: _alert(d))
            assert asked in alert.text, alert.text
            alert.dismiss()
            assert chrome.current_url.endswith("/tube/2")
        chrome.find_element(By.ID, "reason").send_keys("clotted sample")
        chrome.find_element(By.ID, "exclude").click()
        _wait(chrome, lambda d: _text(d, "gate-status") == "excluded")
        assert _text(chrome, "abc") == "withheld" and _text(chrome, "verdict") == "withheld"
        # an excluded tube has no automatic gate to accept; it can be included again
        assert not chrome.find_element(By.ID, "accept").is_enabled()
        assert chrome.find_element(By.ID, "revert").text == "Include the tube again"

        # back on the plate: the changed tube says so; filters; `a` accepts the selected tube's gate
        chrome.find_element(By.ID, "back").click()
        cards = _wait(chrome, lambda d: d.find_elements(By.CSS_SELECTOR, ".card"))
        assert cards[1].find_element(By.CSS_SELECTOR, ".status").text == "changed"
        assert _number(cards[1].find_element(By.CSS_SELECTOR, ".abc-value").text) == after
        chrome.find_element(By.CSS_SELECTOR, "#filter-patient option[value=P02]").click()
        shown = [c for c in cards if c.is_displayed()]
        assert len(shown) == 2 and all("P02" in c.text for c in shown)
        chrome.find_element(By.CSS_SELECTOR, "#filter-patient option[value='']").click()
        chrome.find_element(By.CSS_SELECTOR, "#filter-verdict option[value=changed]").click()
        assert [c.get_attribute("data-id") for c in cards if c.is_displayed()] == ["1", "2"]
        chrome.find_element(By.CSS_SELECTOR, "#filter-verdict option[value='']").click()
        body = chrome.find_element(By.TAG_NAME, "body")
        body.send_keys("k")  # the first tube (selection stays within the plate)
        body.send_keys("a")
        _wait(chrome, lambda d: d.find_element(By.CSS_SELECTOR, ".card.selected .status").text == "accepted")
        assert chrome.find_element(By.CSS_SELECTOR, ".card.selected").get_attribute("data-id") == "0"

        # sign: reviewed as B in A's session (a scribe: asked first); approved by C in a session of C's own,
        # below (one session holds one role)
        total = len(json.loads(chrome.find_element(By.ID, "review-data").get_attribute("textContent"))["tubes"])
        for meaning, name in (("reviewed", "B"),):
            chrome.find_element(By.CSS_SELECTOR, f"#sign-meaning option[value={meaning}]").click()
            field = chrome.find_element(By.ID, "sign-name")
            field.click()  # the name is selected: typing replaces it (never "AB")
            field.send_keys(name)
            assert field.get_attribute("value") == name
            chrome.find_element(By.ID, "sign-button").click()
            if name != "A":  # another signer than the session's reviewer: asked first
                alert = _wait(chrome, lambda d: _alert(d))
                assert alert.text.startswith("This review session is A's. Sign as B instead?"), alert.text
                alert.accept()
            if meaning == "reviewed":  # tubes 1 and 2 were opened: the dialog names the others, then signs
                alert = _wait(chrome, lambda d: _alert(d))
                assert re.match(rf"You viewed 2 of {total} tubes: not viewed A1, A4, ", alert.text), alert.text
                alert.accept()
            _wait(chrome, lambda d, m=meaning, n=name: any(
                m in li.text and n in li.text for li in d.find_elements(By.CSS_SELECTOR, "#signature-list li")), 180)
        assert f"(viewed 2 of {total} tubes)" in _text(chrome, "signature-list")
        listed = _text(chrome, "signature-list")
        assert "by B at" in listed and "(signed in A's session)" in listed
    finally:
        code, rest, err = server.stop()
    assert code == 0, err
    assert "review closed" in rest
    from assaykit.review import open_review

    with open_review(out, reviewer="C") as review:
        review.sign("approved")
    signatures = json.loads((out / "signatures.json").read_text())["signatures"]
    assert [(s["meaning"], s["name"]) for s in signatures] == [("reviewed", "B"), ("approved", "C")]
    assert (signatures[0]["tubes_viewed"], signatures[0]["tubes_total"]) == (2, total)
    audit = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    actions = [e["action"] for e in audit]
    assert actions[0] == "open" and actions[-1] == "close"
    assert [actions.count(a) for a in ("change", "exclude", "accept", "sign", "view")] == [1, 1, 1, 2, 2]
    open_review(out, reviewer="Z").close()  # the lock was released: the run can be reviewed again

    # `assaykit score` on the reviewed run folder gives the reviewed tables exactly
    again = tmp_path / "again"
    done = _run(["score", str(run), "--out", str(again), "--no-ledger", "--jobs", "1"])
    assert done.returncode in (0, 1), done.stderr
    for table in TABLES:
        assert (again / table).read_bytes() == (out / table).read_bytes(), table
    verified = _run(["verify", str(out)])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    unconfirmed = _run(["verify", str(out), "--ledger", "none"])  # a signed folder no ledger confirms
    assert unconfirmed.returncode == 1 and "cannot confirm the signatures: ledger none unreachable" in \
        unconfirmed.stdout, unconfirmed.stdout

    # a tampered audit line is found
    lines = (out / "audit.jsonl").read_bytes().splitlines(keepends=True)
    changed = next(i for i, line in enumerate(lines) if b'"change"' in line)
    lines[changed] = lines[changed].replace(b"debris", b"dEbris")
    (out / "audit.jsonl").write_bytes(b"".join(lines))
    tampered = _run(["verify", str(out)])
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr


def test_the_page_asks_for_the_name_and_shows_a_superseded_signature(scored_run: tuple[Path, Path],
                                                                      chrome: Any) -> None:
    from selenium.webdriver.common.by import By

    _, out = scored_run
    server = Served(out)  # neither --reviewer nor ASSAYKIT_REVIEWER
    try:
        chrome.get(server.url)
        home = chrome.current_url
        _wait(chrome, lambda d: d.find_element(By.ID, "reviewer-form").is_displayed())
        chrome.find_element(By.TAG_NAME, "body").send_keys("a")  # no name: nothing is done
        _wait(chrome, lambda d: "name" in _text(d, "message"))
        chrome.find_element(By.ID, "reviewer-input").send_keys("N. Ame")
        chrome.find_element(By.CSS_SELECTOR, "#reviewer-form button").click()
        _wait(chrome, lambda d: _text(d, "reviewer-name") == "N. Ame")
        assert not chrome.find_element(By.ID, "reviewer-form").is_displayed()
        assert _text(chrome, "signature-list") == "not signed"
        chrome.find_element(By.ID, "sign-name").send_keys("N. Ame")
        chrome.find_element(By.ID, "sign-button").click()
        alert = _wait(chrome, lambda d: _alert(d))  # no tube opened: asked first, then signed
        assert alert.text.startswith("You viewed 0 of "), alert.text
        alert.accept()
        _wait(chrome, lambda d: "reviewed by N. Ame" in _text(d, "signature-list"), 180)

        # a change after the signature: a new version; the signature is kept, superseded
        chrome.get(home + "tube/0")
        _drag_a_vertex(chrome)
        _wait(chrome, lambda d: _text(d, "preview-abc") not in ("", "-"))
        chrome.find_element(By.ID, "reason").send_keys("granulocytes in the gate")
        chrome.find_element(By.ID, "save").click()
        _wait(chrome, lambda d: _text(d, "gate-status") == "changed")
        chrome.get(home)
        item = _wait(chrome, lambda d: d.find_element(By.CSS_SELECTOR, "#signature-list li.superseded"))
        assert "N. Ame" in item.text and "superseded (kept in versions/1)" in item.text
    finally:
        code, _, err = server.stop()
    assert code == 0, err
    audit = [json.loads(line)["action"] for line in (out / "audit.jsonl").read_text().splitlines()]
    # the name set (recorded), the signature, then the change written before its signature is superseded
    assert audit == ["open", "reviewer", "sign", "view", "change", "supersede", "close"]
    assert (out / "versions" / "1").is_dir()


def _alert(driver: Any) -> Any:
    """The open dialog (window.confirm), or False while there is none."""
    from selenium.common.exceptions import NoAlertPresentException

    try:
        return driver.switch_to.alert
    except NoAlertPresentException:
        return False


HOSTILE = "<img src=x onerror=document.title='pwned'>"


def test_hostile_names_are_text_in_the_browser(tmp_path: Path, chrome: Any) -> None:
    """A patient named as markup (plate map) and a reason holding markup show as text; no script runs."""
    from selenium.webdriver.common.by import By

    run, out = tmp_path / "run", tmp_path / "out"
    made = _run(["simulate", str(run), "--patients", "1", "--conditions", "unstimulated,IFN-gamma",
                 "--events", "20000", "--seed", "9"])
    assert made.returncode == 0, made.stderr
    plate_map = run / "plate_map.csv"
    plate_map.write_text(plate_map.read_text().replace(",P01,", f',"{HOSTILE}",'))
    done = _run(["score", str(run), "--out", str(out), "--no-ledger", "--jobs", "1", "--no-report"])
    assert done.returncode in (0, 1), done.stderr
    server = Served(out, "--reviewer", "</script><b>A</b>")
    try:
        chrome.get(server.url)
        home = chrome.current_url
        card = _wait(chrome, lambda d: d.find_element(By.CSS_SELECTOR, ".card .who"))
        assert HOSTILE in card.text
        assert _text(chrome, "reviewer-name") == "</script><b>A</b>"
        chrome.get(home + "tube/0")
        _wait(chrome, lambda d: HOSTILE in _text(d, "tube-title"))
        chrome.find_element(By.ID, "reason").send_keys(f"clotted {HOSTILE}")
        chrome.find_element(By.ID, "exclude").click()
        _wait(chrome, lambda d: _text(d, "gate-status") == "excluded")
        assert HOSTILE in _text(chrome, "patient-name")
        assert chrome.title != "pwned" and not chrome.find_elements(By.CSS_SELECTOR, "main img, main b")
        chrome.get(home)
        _wait(chrome, lambda d: d.find_elements(By.CSS_SELECTOR, ".card"))
        assert chrome.title != "pwned" and not chrome.find_elements(By.CSS_SELECTOR, "main img, header b")
    finally:
        code, _, err = server.stop()
    assert code == 0, err
    entry = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()][-2]
    assert entry["action"] == "exclude" and entry["reason"] == f"clotted {HOSTILE}"


def test_the_browser_opens_the_review_from_the_launcher_page(scored_run: tuple[Path, Path], chrome: Any,
                                                              tmp_path: Path) -> None:
    # `assaykit review` without --no-browser gives the browser a private page (no token on its
    # command line); Chromium follows it into the review, and the page's code works once.
    from selenium.webdriver.common.by import By

    _, out = scored_run
    record = tmp_path / "browser-argv.json"
    browser = tmp_path / "browser.py"
    browser.write_text(f"import json, sys\nopen({str(record)!r}, 'w').write(json.dumps(sys.argv))\n")
    env = {**os.environ, "BROWSER": f"{sys.executable} {browser} %s", "ASSAYKIT_REVIEWER": "A",
           "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([*ASSAYKIT, "review", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not (record.exists() and record.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        launcher = json.loads(record.read_text())[-1]
        assert launcher.startswith("file:///") and "token" not in launcher
        chrome.get(launcher)
        _wait(chrome, lambda d: d.find_elements(By.CSS_SELECTOR, ".card"))
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/[A-Za-z0-9_-]{24}/", chrome.current_url)
        assert _text(chrome, "reviewer-name") == "A"
        assert not Path(launcher.removeprefix("file://")).exists()  # used once, then gone
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode == 0
