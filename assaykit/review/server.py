"""The review server (``assaykit review``): the app of :mod:`.app` served by uvicorn on
127.0.0.1 only, on a free port unless one is asked for, behind a random token that the printed
address carries. Ctrl-C (or SIGTERM) stops it cleanly: the open requests finish (a signature
being recorded, its re-score included, for up to :data:`SHUTDOWN_SECONDS`), the review is closed
(audit entry "close", the run folder's lock released)."""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import AssayKitError

HOST = "127.0.0.1"
OPENING_NOTICE_SECONDS = 1.0  # an open that takes longer says it is opening
SHUTDOWN_SECONDS = 900  # Ctrl-C waits this long at most for a request running (a signature's re-score) to end
REVIEWER_ENV = "ASSAYKIT_REVIEWER"


def listening_socket(port: int | None) -> socket.socket:
    """A TCP socket bound to 127.0.0.1 and listening: on ``port``, or on a free port the system
    picks (None or 0). AssayKitError when the port is taken or not allowed.

    Parameters
    ----------
    port : int or None
        The TCP port (1 to 65535), or None for a free one.
    """
    if port is not None and not 0 <= port <= 65535:
        raise AssayKitError(f"--port {port}: a TCP port is 1 to 65535")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port or 0))
        sock.listen(64)
    except OSError as error:
        sock.close()
        raise AssayKitError(f"cannot listen on {HOST}:{port or 0} ({error.strerror or error})") from None
    sock.set_inheritable(False)
    return sock


def reviewer_name(given: str | None) -> str | None:
    """The reviewer's name: ``given`` (``--reviewer``), else the ASSAYKIT_REVIEWER environment
    variable, else None (the page asks).

    Parameters
    ----------
    given : str or None
        The name given on the command line.
    """
    for name in (given, os.environ.get(REVIEWER_ENV)):
        if name is not None and " ".join(name.split()):
            return " ".join(name.split())
    return None


def serve(out_dir: str | os.PathLike[str], *, reviewer: str | None = None, port: int | None = None,
          open_browser: bool = True, announce: Callable[[str], None] = print,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Open the review of the scored run ``out_dir`` and serve it until Ctrl-C or SIGTERM.

    Parameters
    ----------
    out_dir : path
        The output folder of ``assaykit score``.
    reviewer : str or None
        The reviewer's name (None: ASSAYKIT_REVIEWER, else the page asks).
    port : int or None
        The TCP port on 127.0.0.1 (None: a free one).
    open_browser : bool
        Open the address in the default browser once the server listens.
    announce : callable
        Called with each line to tell the user (the address first).
    on_ready : callable, optional
        Called with the address once the server accepts connections (tests).
    """
    import uvicorn

    from . import open_review
    from .app import create_app

    name = reviewer_name(reviewer)
    if name is not None:  # the library's rule for the name each change records, before anything opens
        from .errors import ReviewError
        from .names import name_problem

        problem = name_problem(" ".join(name.split()))
        if problem:
            raise ReviewError(problem, Path(out_dir))
    sock = listening_socket(port)
    bound = sock.getsockname()[1]
    # "opening ..." only once the wait is real (every tube measured): a review refused at once
    # (another review holds the run, no such folder) says only why, never "opening" first.
    importlib.import_module("assaykit.scoring.pipeline")  # not counted in the wait
    notice = threading.Timer(OPENING_NOTICE_SECONDS, announce,
                             args=(f"opening the review of {out_dir} (every tube is measured once) ...",))
    notice.daemon = True
    notice.start()
    try:
        review = open_review(Path(out_dir), reviewer=name)
    except BaseException:
        sock.close()
        raise
    finally:
        notice.cancel()
    opener: _Launcher | None = None
    app: Any = None
    try:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        app = create_app(review, token=token, csrf=csrf, port=bound)
        url = f"http://{HOST}:{bound}/?token={token}"
        opener = _Launcher(app, bound) if open_browser else None
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                server_header=False, proxy_headers=False,
                                timeout_graceful_shutdown=SHUTDOWN_SECONDS)
        server = _Server(config, url, opener, on_ready)
        announce(f"review of {out_dir}: {url}")
        for note in getattr(review, "notes", ()):  # found at open: stale tables, read-only run.yaml, a step unfinished
            announce(note)
        announce("keep this address to yourself (it is the key to the review); Ctrl-C ends the review")
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled: it has stopped
            server.run(sockets=[sock])
    finally:
        sock.close()
        if opener is not None:
            opener.remove()
        said = review.close()  # the review's changes scored into the outputs: said in one line
        if app is not None and app.web is not None:
            said = app.web.review.close() or said  # reopened when run.yaml changed on disk (twice is harmless)
        if said:
            announce(said)
    announce("review closed")


class _Server:
    """uvicorn's server, telling when it accepts connections (and opening the browser then)."""

    def __init__(self, config: Any, url: str, opener: _Launcher | None,
                 on_ready: Callable[[str], None] | None) -> None:
        import uvicorn

        outer = self

        class Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets=sockets)
                outer.ready()

        self.server = Server(config)
        self.url, self.opener, self.on_ready = url, opener, on_ready

    def ready(self) -> None:
        if self.opener is not None:
            self.opener.open()
        if self.on_ready is not None:
            self.on_ready(self.url)

    def run(self, sockets: list[socket.socket]) -> None:
        self.server.run(sockets=sockets)

    def stop(self) -> None:
        """Ask the server to stop (as Ctrl-C does)."""
        self.server.should_exit = True


class _Launcher:
    """Opens the review in the default browser without the token on any command line (a browser's
    arguments are visible to every user of the machine in ``ps``): the browser is given a page in a
    folder only this user can read (0700, the page 0600), which forwards it to the review with a
    one-time code (:meth:`assaykit.review.app._Guard.one_time_code`); the page is deleted once the
    code is used, and at the latest when the review ends."""

    def __init__(self, app: Any, port: int) -> None:
        self.app, self.port = app, port
        self.folder: Path | None = None

    def write(self) -> Path:
        """The launcher page, written afresh (its code valid once)."""
        import tempfile

        self.remove()
        self.folder = Path(tempfile.mkdtemp(prefix="assaykit-review-"))  # mode 0700
        page = self.folder / "open-review.html"
        code = self.app.one_time_code(used=self.remove)
        target = f"http://{HOST}:{self.port}/?code={code}"
        text = (f'<!DOCTYPE html><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
                f'<meta http-equiv="refresh" content="0; url={target}"><title>assaykit review</title>'
                f'<p><a href="{target}">Open the review</a></p>\n')
        fd = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return page

    def open(self) -> None:
        """Write the launcher page and open it in the default browser (in a thread: a browser
        command that waits must not hold up the server)."""
        import threading
        import webbrowser

        try:
            uri = self.write().as_uri()
        except OSError:
            return  # no browser then; the printed address still works
        threading.Thread(target=webbrowser.open, args=(uri,), daemon=True).start()

    def remove(self) -> None:
        """Delete the launcher page and its folder (no error when already gone)."""
        import shutil

        folder, self.folder = self.folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
