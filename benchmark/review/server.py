"""A loopback-only server for the review gallery that saves decisions straight into config/reviews/.

`python -m benchmark.review serve --config config/default.yaml` serves `results/<dataset>/` read-only
(the gallery lives at `/review/<tracker>/index.html`) and one JSON endpoint, `/api/decisions`: GET
returns the decisions file and its prompts; PUT merges the page's decisions into the file per video
(the latest `decided_at` wins, as `merge` does, so two reviewers or two tabs saving different videos
keep both) and answers the merged state. Reads and writes of the two decisions files happen under one
lock, and every write is atomic. Nothing else is ever written.

Safety: the socket is bound to 127.0.0.1 only (refused otherwise); every request must name this
server in `Host` (127.0.0.1, localhost or [::1] on the served port: a DNS-rebinding page cannot read
anything); a request path that resolves outside the results folder (`..`, absolute paths, symlinks)
is refused; writes need a JSON body, the `X-Albar-Review` header and, when the browser sends one, an
Origin of the same loopback names and port — a page from another site cannot send that header
without a CORS preflight, which this server never grants. Every connection has a time limit, so a
client that sends half a request and waits cannot hold a thread; a malformed request gets a 4xx with
one line naming it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import mimetypes
import os
import threading
import time
import traceback
import urllib.parse
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmark.review.decisions import (
    DecisionError,
    DecisionSet,
    merge_page_save,
    prompts_path_for,
    read_decisions,
    validate_decision_row,
    validate_prompts,
    write_decisions,
)

LOOPBACK = "127.0.0.1"
# the names a browser on this machine may use for the server; [::1] is how a browser writes an
# IPv6 literal in Host and Origin
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
MAX_BODY = 64 * 1024 * 1024
REQUEST_TIMEOUT_S = 10.0
# connections the kernel queues while every handler thread is busy starting (socketserver's
# default of 5 drops a burst of saves from several tabs)
LISTEN_BACKLOG = 64
mimetypes.add_type("image/webp", ".webp")


class PortTakenError(ValueError):
    """The requested port is already bound; the message names it and says to use --port."""


class RequestError(Exception):
    """A request this server refuses: an HTTP status and a short reason."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _decision_time(text: object, where: str) -> datetime:
    if not isinstance(text, str):
        raise DecisionError(f"{where}: decided_at must be a string")
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError as error:
        raise DecisionError(f"{where}: decided_at {text!r} is not a valid time") from error
    if stamp.tzinfo is None:
        raise DecisionError(f"{where}: decided_at {text!r} needs a time zone (e.g. Z)")
    return stamp


class ReviewServer(ThreadingHTTPServer):
    """Serves one results folder; reads and merges one dataset/tracker's decisions files."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        results: str | os.PathLike,
        decisions_csv: str | os.PathLike,
        *,
        dataset: str,
        tracker: str,
        known_ids: set[str],
        port: int = 0,
        host: str = LOOPBACK,
        request_timeout: float = REQUEST_TIMEOUT_S,
    ) -> None:
        if host != LOOPBACK:
            raise ValueError(f"the review server listens on {LOOPBACK} only (asked for {host!r})")
        self.results = Path(results).resolve()
        self.decisions_csv = Path(decisions_csv).resolve()
        self.prompts_json = prompts_path_for(self.decisions_csv)
        self.dataset = dataset
        self.tracker = tracker
        self.known_ids = known_ids
        self.request_timeout = request_timeout
        # one lock for every read and write of the two decisions files: a reader never sees the
        # CSV of one save with the prompts of another, and no save merges into a stale file
        self.lock = threading.Lock()
        # decisions cleared while this server runs (video -> time): a tab that still holds the old
        # decision cannot bring it back; the file has no row for a cleared video to remember it by
        self.cleared: dict[str, str] = {}
        try:
            super().__init__((host, port), ReviewHandler)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortTakenError(
                    f"port {port} on {LOOPBACK} is already in use (another review server?); "
                    "choose another with --port N (0 = any free port)"
                ) from error
            raise
        self.port = self.server_address[1]
        self.hosts = {f"{name}:{self.port}" for name in LOOPBACK_NAMES}
        self.origins = {f"http://{name}" for name in self.hosts}

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def resolve(self, url_path: str) -> Path | None:
        """The file under the results folder that `url_path` names, or None when it points outside."""
        relative = urllib.parse.unquote(url_path).lstrip("/")
        if "\x00" in relative:
            return None
        candidate = (self.results / relative).resolve()
        if candidate != self.results and self.results not in candidate.parents:
            return None
        return candidate

    def _payload(self, decision_set: DecisionSet) -> dict:
        cleared = [
            {"video_id": video_id, "decided_at": stamp}
            for video_id, stamp in sorted(self.cleared.items())
            if video_id not in decision_set.decisions
        ]
        return {
            "dataset": self.dataset,
            "tracker": self.tracker,
            "file": str(self.decisions_csv),
            "rows": [d.row() for d in decision_set.decisions.values()],
            "prompts": decision_set.prompts,
            "cleared": cleared,
        }

    def decisions_payload(self) -> dict:
        with self.lock:
            return self._payload(read_decisions(self.decisions_csv, self.known_ids))

    def save(self, body: dict) -> dict:
        """Merge the page's decisions into the two files; answer the merged state.

        The body is the page's whole state: `rows` (decided videos), `prompts` and `cleared`
        (`[{video_id, decided_at}]`, videos whose decision the reviewer cleared). Per video the
        latest `decided_at` wins, a tie goes to the page. Raises DecisionError when invalid.
        """
        if body.get("dataset") != self.dataset or body.get("tracker") != self.tracker:
            raise DecisionError(
                f"this server saves {self.dataset}/{self.tracker}, not "
                f"{body.get('dataset')}/{body.get('tracker')}"
            )
        rows = body.get("rows")
        if not isinstance(rows, list):
            raise DecisionError("request: 'rows' must be a list of decision rows")
        incoming = DecisionSet()
        for number, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise DecisionError(f"request row {number}: not an object")
            decision = validate_decision_row(row, f"request row {number}")
            if decision.video_id not in self.known_ids:
                raise DecisionError(f"request row {number}: unknown video_id {decision.video_id!r}")
            if decision.video_id in incoming.decisions:
                raise DecisionError(f"request row {number}: video_id {decision.video_id!r} twice")
            incoming.decisions[decision.video_id] = decision
        incoming.prompts = validate_prompts(
            body.get("prompts", {}), "request prompts", self.known_ids
        )
        cleared = body.get("cleared", [])
        if not isinstance(cleared, list):
            raise DecisionError("request: 'cleared' must be a list of {video_id, decided_at}")
        page_cleared: dict[str, str] = {}
        for number, entry in enumerate(cleared, start=1):
            where = f"request cleared {number}"
            if not isinstance(entry, dict) or set(entry) != {"video_id", "decided_at"}:
                raise DecisionError(f"{where}: must be {{video_id, decided_at}}")
            video_id = entry["video_id"]
            if video_id not in self.known_ids:
                raise DecisionError(f"{where}: unknown video_id {video_id!r}")
            if video_id in incoming.decisions or video_id in page_cleared:
                raise DecisionError(f"{where}: video_id {video_id!r} twice")
            _decision_time(entry["decided_at"], where)
            page_cleared[video_id] = entry["decided_at"]
        with self.lock:
            try:
                current = read_decisions(self.decisions_csv, self.known_ids)
            except DecisionError as error:  # the file's fault, not the page's: nothing is written
                raise RequestError(
                    HTTPStatus.CONFLICT, f"{error}; fix the file, then save again"
                ) from error
            for video_id, stamp in page_cleared.items():
                known = self.cleared.get(video_id)
                if known is None or datetime.fromisoformat(stamp) > datetime.fromisoformat(known):
                    self.cleared[video_id] = stamp
            merged = merge_page_save(current, incoming, page_cleared, self.cleared)
            write_decisions(self.decisions_csv, merged)
            return self._payload(merged)


class ReviewHandler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "albar-review"

    def setup(self) -> None:
        # StreamRequestHandler applies `timeout` to the socket: a silent client is dropped
        self.timeout = self.server.request_timeout
        super().setup()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        # one line per request on stderr, as the base class does, without the reverse DNS lookup
        print(f"{self.address_string()} {format % args}", flush=True)

    def _where(self) -> str:
        # send_error can run before the request line is parsed
        command = getattr(self, "command", None) or "request"
        path = urllib.parse.urlsplit(getattr(self, "path", "") or "").path
        return f"{command} {path[:200]}".rstrip()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, header too long, no such method) as one
        JSON line too, instead of its HTML page."""
        self.close_connection = True
        status = HTTPStatus(code)
        with contextlib.suppress(OSError):  # the client may be gone
            self._refuse(status, message or status.phrase)

    def _send_json(self, status: HTTPStatus, payload: dict) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has headers only
            self.wfile.write(data)

    def _refuse(self, status: HTTPStatus, reason: str) -> None:
        self._send_json(status, {"error": f"{self._where()}: {reason}"})

    def _check_host(self) -> None:
        hosts = self.headers.get_all("Host") or []
        if len(hosts) == 1 and hosts[0].strip().lower() in self.server.hosts:
            return
        wrong = (
            f"Host {hosts[0][:100]!r} is not this server"
            if len(hosts) == 1
            else f"needs one Host header, got {len(hosts)}"
        )
        raise RequestError(
            HTTPStatus.MISDIRECTED_REQUEST,
            f"{wrong}; open {self.server.url}/ or http://localhost:{self.server.port}/",
        )

    def _check_origin(self) -> None:
        origin = self.headers.get("Origin")
        if origin is not None and origin.strip().lower() not in self.server.origins:
            raise RequestError(
                HTTPStatus.FORBIDDEN, f"cross-origin request from {origin[:100]!r} refused"
            )

    def _handle(self, method) -> None:
        """Run one request; every refusal and unexpected failure answers one JSON line."""
        try:
            self._check_host()
            method()
        except RequestError as error:
            self._refuse(error.status, error.reason)
        except DecisionError as error:
            self._refuse(HTTPStatus.CONFLICT, str(error))
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        except Exception as error:  # a bug must not take the thread's client down without a word
            traceback.print_exc()
            self.close_connection = True
            self._refuse(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                f"internal error ({type(error).__name__}: {error})",
            )

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._handle(self._get)

    def do_PUT(self) -> None:  # noqa: N802
        self._handle(self._put)

    def _get(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path == "/api/decisions":
            self._check_origin()
            self._send_json(HTTPStatus.OK, self.server.decisions_payload())
            return
        if path == "/":
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", f"/review/{self.server.tracker}/index.html")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        target = self.server.resolve(path)
        if target is None:
            raise RequestError(HTTPStatus.FORBIDDEN, "path outside the results folder")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            raise RequestError(HTTPStatus.NOT_FOUND, "no such file")
        data = target.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header(
            "Content-Type", mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        )
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> bytes:
        """The request body, read within the time limit (a trickling client is cut off too)."""
        text = self.headers.get("Content-Length")
        if text is None:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length")
        text = text.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 20:
            self.close_connection = True
            raise RequestError(
                HTTPStatus.BAD_REQUEST, f"Content-Length {text[:40]!r} is not a byte count"
            )
        length = int(text)
        if length == 0:
            raise RequestError(HTTPStatus.BAD_REQUEST, "empty body; send the decisions as JSON")
        if length > MAX_BODY:
            self.close_connection = True
            raise RequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body of {length} bytes is over the {MAX_BODY // 2**20} MiB limit",
            )
        deadline = time.monotonic() + self.server.request_timeout
        chunks: list[bytes] = []
        received = 0
        while received < length:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.connection.settimeout(left)
            try:
                chunk = self.rfile.read1(min(length - received, 1 << 20))
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
        self.connection.settimeout(self.server.request_timeout)
        if received < length:
            self.close_connection = True
            raise RequestError(
                HTTPStatus.REQUEST_TIMEOUT,
                f"got {received} of {length} body bytes in {self.server.request_timeout:g} s; "
                "send the whole body at once",
            )
        return b"".join(chunks)

    def _put(self) -> None:
        if urllib.parse.urlsplit(self.path).path != "/api/decisions":
            raise RequestError(HTTPStatus.FORBIDDEN, "only /api/decisions can be written")
        self._check_origin()
        if self.headers.get("X-Albar-Review") != "1":
            raise RequestError(HTTPStatus.FORBIDDEN, "unmarked write refused (X-Albar-Review: 1)")
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            self.close_connection = True  # the body is left unread
            raise RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON")
        data = self._read_body()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise RequestError(
                HTTPStatus.BAD_REQUEST, f"body is not UTF-8 (bad byte at offset {error.start})"
            ) from error
        try:
            body = json.loads(text)
        except json.JSONDecodeError as error:
            raise RequestError(
                HTTPStatus.BAD_REQUEST,
                f"body is not JSON ({error.msg} at line {error.lineno} column {error.colno})",
            ) from error
        except RecursionError as error:
            raise RequestError(HTTPStatus.BAD_REQUEST, "body JSON is nested too deep") from error
        if not isinstance(body, dict):
            raise RequestError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        try:
            answer = self.server.save(body)
        except DecisionError as error:
            raise RequestError(HTTPStatus.BAD_REQUEST, str(error)) from error
        self._send_json(HTTPStatus.OK, answer)

    def _refuse_method(self) -> None:
        self.close_connection = True  # a body, if any, is left unread
        self._handle(self._method_not_allowed)

    def _method_not_allowed(self) -> None:
        raise RequestError(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and PUT /api/decisions")

    do_POST = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method  # noqa: N815
