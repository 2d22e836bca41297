"""``hft-console serve``: the console in a web browser, through textual-serve.

Each browser tab that opens the page starts one console session, ``hft-console SESSION-FLAGS`` in its own
process under Textual's web driver; closing the tab ends that session as ``q`` would. Ctrl-C or SIGTERM
stops the server: every session still running gets SIGTERM and ends as on a signal (in-flight orders
complete, journal and summary.json written) before the server exits.

It listens on 127.0.0.1 unless told otherwise: the console can halt, flatten and route orders and the
page asks for no password, so anyone who can reach the port can trade.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import shlex
import signal
import socket
import sys
from typing import Any

from hft_console.cli.args import Parser, UsageError, fail, settings_from
from hft_console.cli.session_args import KEYS, resolve_run_dir
from hft_console.cli.session_args import build_parser as session_parser
from hft_console.settings import SettingsError
from hft_console.signals import exit_status

STOP_WAIT_S = 60.0  # a session ending on SIGTERM completes its in-flight orders and writes its journal first
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
WILDCARDS = ("0.0.0.0", "::", "")


def build_parser() -> Parser:
    p = Parser(
        prog="hft-console serve",
        usage="hft-console serve [--host HOST] [--port N] [--public-url URL] [--] [SESSION-FLAGS]",
        description=(
            "The console in a web browser (textual-serve): each browser tab runs one session,\n"
            "hft-console SESSION-FLAGS. Session flags follow the server's own, or come after --:\n"
            "  hft-console serve --port 8001 -- --mode fast --router ucb"
        ),
        epilog=(
            "It listens on 127.0.0.1 by default: the console has a kill switch and sends orders, and the\n"
            "page has no authentication. Ctrl-C or SIGTERM stops it; running sessions end as on a signal."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # a session flag such as --po(st-router) must not be taken for --port
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", default="8000", metavar="N", help="TCP port to listen on, 1-65535 (default: 8000)")
    p.add_argument(
        "--public-url", metavar="URL",
        help="the address browsers use, e.g. behind a proxy: https://desk.example/console (default: http://HOST:PORT)",
    )  # fmt: skip
    return p


def port_number(text: str) -> int:
    """``--port``: an integer 1-65535; raises UsageError naming the value."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise UsageError(f"--port: {text!r}; expected a TCP port number, 1-65535")
    return port


def public_url(given: str | None, host: str, port: int) -> str:
    """The page's address without a trailing slash; a wildcard host is reached here as 127.0.0.1 (::1). Raises
    UsageError for a URL that is not http(s)."""
    if given is not None:
        if not given.startswith(("http://", "https://")) or len(given.split("://", 1)[1].strip("/")) == 0:
            raise UsageError(f"--public-url: {given!r}; expected http://HOST[:PORT][/PATH] or https://...")
        return given.rstrip("/")
    shown = "::1" if host == "::" else "127.0.0.1" if host in WILDCARDS else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on the addresses ``host`` names, bound now so that a port in use is reported
    before anything is served (an address this machine lacks, such as ::1 without IPv6, is passed over
    while another one binds). Raises UsageError naming the host or the port."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--host: {host!r} does not resolve ({exc}); expected an address or host name") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):  # duplicates: one per address
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:  # an address family this machine does not have
                continue
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp: TIME_WAIT does not block
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as asyncio's create_server
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise UsageError(f"--port: {port} is in use on {address[0]}; expected a free port") from None
                if exc.errno != errno.EADDRNOTAVAIL:
                    raise UsageError(f"--port: cannot listen on {address[0]} port {port}: {exc.strerror}") from None
                sockets.pop().close()
                continue
            sock.listen(128)
            sock.setblocking(False)
        if not sockets:
            raise UsageError(f"--host: {host!r} is not an address of this machine")
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def session_command(session_args: list[str]) -> str:
    """The shell command each tab runs: this interpreter's ``hft-console`` with the session flags,
    ``exec``-ed so that the server's signal reaches the session itself, not a shell. Raises UsageError
    (or SettingsError) for flags a session would refuse, so that no tab has to find out."""

    args = session_parser().parse_args(session_args)
    if args.no_ui:
        raise UsageError("--no-ui: the browser shows the console; expected no --no-ui with serve")
    settings = settings_from(args, KEYS)
    if settings.session.run_dir:
        resolve_run_dir(settings.session.run_dir)
    return shlex.join(["exec", sys.executable, "-m", "hft_console", *session_args])


def serve_main(argv: list[str]) -> int:
    """``hft-console serve ...``. Exit status: 2 for bad input (one line), else 128 + the signal that
    stopped the server (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), as the sessions do."""

    own, session_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    try:
        args, rest = build_parser().parse_known_args(own)
        port = port_number(args.port)
        url = public_url(args.public_url, args.host, port)
        command = session_command(rest + session_args)
        sockets = listen(args.host, port)
    except (UsageError, SettingsError) as exc:
        return fail(exc, "serve")
    code: int = session_server()(command, args.host, port, url, sockets).run()
    return code


def session_server() -> Any:
    """The server class, made on first use: textual-serve and aiohttp load only for ``serve``."""
    from textual_serve.app_service import AppService
    from textual_serve.server import Server, to_int

    class SessionServer(Server):
        """textual-serve's server on sockets bound beforehand, that knows its sessions' processes so that
        it can end them cleanly when it stops."""

        def __init__(self, command: str, host: str, port: int, url: str, sockets: list[socket.socket]) -> None:
            super().__init__(command, host=host, port=port, title="hft-console", public_url=url)
            self.sockets = sockets
            self.sessions: set[AppService] = set()
            self.stopped_by: int | None = None
            self.log = logging.getLogger("hft-console.serve")

        def run(self) -> int:
            """Serve until a signal; returns 128 + that signal once every session has ended."""
            from aiohttp import web

            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            for signum in STOP_SIGNALS:
                loop.add_signal_handler(signum, self._stop, signum)
            try:
                web.run_app(
                    self._make_app(), sock=self.sockets, shutdown_timeout=10.0, handle_signals=False,
                    access_log=None, print=None, loop=loop,
                )  # fmt: skip
            finally:
                for sock in self.sockets:
                    sock.close()
            return exit_status(self.stopped_by or signal.SIGTERM)

        def _stop(self, signum: int) -> None:
            if self.stopped_by is None:
                self.stopped_by = signum
                self.request_exit()  # raises GracefulExit inside the loop: aiohttp's way to stop run_app

        async def on_startup(self, app: Any) -> None:
            print(
                f"hft-console serve: {self.public_url}  (each browser tab runs: {self.command.removeprefix('exec ')})"
            )
            if self.host in WILDCARDS:
                print("hft-console serve: listening on every interface: anyone who can reach this port can trade")
            print("hft-console serve: Ctrl-C stops the server; running sessions end and write their summary.json")
            sys.stdout.flush()

        async def on_shutdown(self, app: Any) -> None:
            """Before aiohttp waits for the websockets: SIGTERM to every session, then wait for each to end
            (its journal closed, summary.json written); one still running after ``STOP_WAIT_S`` is killed."""
            running = [s._process for s in self.sessions if s._process is not None and s._process.returncode is None]
            if running:
                print(f"hft-console serve: stopping; ending {len(running)} session(s)", flush=True)
            for process in running:
                process.send_signal(signal.SIGTERM)
            for process in running:
                try:
                    await asyncio.wait_for(process.wait(), STOP_WAIT_S)
                except TimeoutError:
                    self.log.error("session pid %d still running after %.0f s: killed", process.pid, STOP_WAIT_S)
                    process.kill()
                    await process.wait()

        async def handle_websocket(self, request: Any) -> Any:
            """textual-serve's handler (server.py), with the session recorded while it runs."""
            from aiohttp import web

            websocket = web.WebSocketResponse(heartbeat=15)
            width = to_int(request.query.get("width", "80"), 80)
            height = to_int(request.query.get("height", "24"), 24)
            service: AppService | None = None
            try:
                await websocket.prepare(request)
                service = AppService(
                    self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                    close=websocket.close,  # type: ignore[arg-type]  # returns bool, awaited only
                    download_manager=self.download_manager, debug=self.debug,
                )  # fmt: skip
                self.sessions.add(service)
                await service.start(width, height)
                if service._process is not None:
                    self.log.info("session pid %d started for %s", service._process.pid, request.remote)
                await self._process_messages(websocket, service)
            except asyncio.CancelledError:
                await websocket.close()
            except Exception as error:
                self.log.exception(error)
            finally:
                if service is not None:
                    await service.stop()  # the tab closed: the session ends as q would ("quit")
                    if service._process is not None:  # kept in sessions until it exits: a stop still reaches it
                        code = await service._process.wait()
                        self.log.info("session pid %d ended, exit status %d", service._process.pid, code)
                    self.sessions.discard(service)
            return websocket

    return SessionServer
