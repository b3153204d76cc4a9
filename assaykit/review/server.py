"""The review server (``assaykit review``): the app of :mod:`.app` served by uvicorn on
127.0.0.1 only, on a free port unless one is asked for, behind a random token that the printed
address carries. Ctrl-C (or SIGTERM) stops it cleanly: the open requests finish, the review is
closed (audit entry "close", the run folder's lock released)."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import AssayKitError

HOST = "127.0.0.1"
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

    sock = listening_socket(port)
    bound = sock.getsockname()[1]
    announce(f"opening the review of {out_dir} (every tube is measured once) ...")
    try:
        review = open_review(Path(out_dir), reviewer=reviewer_name(reviewer))
    except BaseException:
        sock.close()
        raise
    try:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        app = create_app(review, token=token, csrf=csrf, port=bound)
        url = f"http://{HOST}:{bound}/?token={token}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                server_header=False, proxy_headers=False, timeout_graceful_shutdown=5)
        server = _Server(config, url, open_browser, on_ready)
        announce(f"review of {out_dir}: {url}")
        announce("keep this address to yourself (it is the key to the review); Ctrl-C ends the review")
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled: it has stopped
            server.run(sockets=[sock])
    finally:
        sock.close()
        review.close()
    announce("review closed")


class _Server:
    """uvicorn's server, telling when it accepts connections (and opening the browser then)."""

    def __init__(self, config: Any, url: str, open_browser: bool, on_ready: Callable[[str], None] | None) -> None:
        import uvicorn

        outer = self

        class Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets=sockets)
                outer.ready()

        self.server = Server(config)
        self.url, self.open_browser, self.on_ready = url, open_browser, on_ready

    def ready(self) -> None:
        if self.open_browser:
            import webbrowser

            webbrowser.open(self.url)
        if self.on_ready is not None:
            self.on_ready(self.url)

    def run(self, sockets: list[socket.socket]) -> None:
        self.server.run(sockets=sockets)

    def stop(self) -> None:
        """Ask the server to stop (as Ctrl-C does)."""
        self.server.should_exit = True
