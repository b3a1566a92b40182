"""A loopback-only server for the review gallery that saves decisions straight into config/reviews/.

`python -m benchmark.review serve --config config/default.yaml` serves `results/<dataset>/` read-only
(the gallery lives at `/review/<tracker>/index.html`) and one JSON endpoint, `/api/decisions`: GET
returns the decisions file and its prompts; PUT validates the page's decisions against the schema
and writes exactly the two decisions files, atomically. Nothing else is ever written.

Safety: the socket is bound to 127.0.0.1 only (refused otherwise); a request path that resolves
outside the results folder (`..`, absolute paths, symlinks) is refused; writes need a JSON body, the
`X-Albar-Review` header and, when the browser sends one, an Origin equal to the server's own — a
page from another site cannot send that header without a CORS preflight, which this server never
grants.
"""

from __future__ import annotations

import json
import mimetypes
import os
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmark.review.decisions import (
    DecisionError,
    DecisionSet,
    prompts_path_for,
    read_decisions,
    validate_decision_row,
    validate_prompts,
    write_decisions,
)

LOOPBACK = "127.0.0.1"
MAX_BODY = 64 * 1024 * 1024
mimetypes.add_type("image/webp", ".webp")


class ReviewServer(ThreadingHTTPServer):
    """Serves one results folder; reads and writes one dataset/tracker's decisions files."""

    daemon_threads = True

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
    ) -> None:
        if host != LOOPBACK:
            raise ValueError(f"the review server listens on {LOOPBACK} only (asked for {host!r})")
        self.results = Path(results).resolve()
        self.decisions_csv = Path(decisions_csv).resolve()
        self.prompts_json = prompts_path_for(self.decisions_csv)
        self.dataset = dataset
        self.tracker = tracker
        self.known_ids = known_ids
        self.write_lock = threading.Lock()
        super().__init__((host, port), ReviewHandler)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"

    def resolve(self, url_path: str) -> Path | None:
        """The file under the results folder that `url_path` names, or None when it points outside."""
        relative = urllib.parse.unquote(url_path).lstrip("/")
        if "\x00" in relative:
            return None
        candidate = (self.results / relative).resolve()
        if candidate != self.results and self.results not in candidate.parents:
            return None
        return candidate

    def decisions_payload(self) -> dict:
        decision_set = read_decisions(self.decisions_csv, self.known_ids)
        return {
            "dataset": self.dataset,
            "tracker": self.tracker,
            "file": str(self.decisions_csv),
            "rows": [d.row() for d in decision_set.decisions.values()],
            "prompts": decision_set.prompts,
        }

    def save(self, body: dict) -> dict:
        """Validate the page's decisions and write the two files; raise DecisionError when invalid."""
        if body.get("dataset") != self.dataset or body.get("tracker") != self.tracker:
            raise DecisionError(
                f"this server saves {self.dataset}/{self.tracker}, not "
                f"{body.get('dataset')}/{body.get('tracker')}"
            )
        rows = body.get("rows")
        if not isinstance(rows, list):
            raise DecisionError("request: 'rows' must be a list of decision rows")
        decision_set = DecisionSet()
        for number, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise DecisionError(f"request row {number}: not an object")
            decision = validate_decision_row(row, f"request row {number}")
            if decision.video_id not in self.known_ids:
                raise DecisionError(f"request row {number}: unknown video_id {decision.video_id!r}")
            if decision.video_id in decision_set.decisions:
                raise DecisionError(f"request row {number}: video_id {decision.video_id!r} twice")
            decision_set.decisions[decision.video_id] = decision
        decision_set.prompts = validate_prompts(
            body.get("prompts", {}), "request prompts", self.known_ids
        )
        with self.write_lock:
            write_decisions(self.decisions_csv, decision_set)
        return {"file": str(self.decisions_csv), "rows": len(decision_set.decisions)}


class ReviewHandler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "albar-review"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        # one line per request on stderr, as the base class does, without the reverse DNS lookup
        print(f"{self.address_string()} {format % args}", flush=True)

    def _send_json(self, status: HTTPStatus, payload: dict) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _refuse(self, status: HTTPStatus, reason: str) -> None:
        self._send_json(status, {"error": reason})

    def _origin_ok(self) -> bool:
        origin = self.headers.get("Origin")
        return origin is None or origin == self.server.url

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = urllib.parse.urlsplit(self.path).path
        if path == "/api/decisions":
            if not self._origin_ok():
                self._refuse(HTTPStatus.FORBIDDEN, "cross-origin request refused")
                return
            try:
                self._send_json(HTTPStatus.OK, self.server.decisions_payload())
            except DecisionError as error:
                self._refuse(HTTPStatus.CONFLICT, str(error))
            return
        if path == "/":
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", f"/review/{self.server.tracker}/index.html")
            self.end_headers()
            return
        target = self.server.resolve(path)
        if target is None:
            self._refuse(HTTPStatus.FORBIDDEN, "path outside the results folder")
            return
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            self._refuse(HTTPStatus.NOT_FOUND, "no such file")
            return
        data = target.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header(
            "Content-Type", mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        )
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:  # noqa: N802
        if urllib.parse.urlsplit(self.path).path != "/api/decisions":
            self._refuse(HTTPStatus.FORBIDDEN, "only /api/decisions can be written")
            return
        if not self._origin_ok() or self.headers.get("X-Albar-Review") != "1":
            self._refuse(HTTPStatus.FORBIDDEN, "cross-origin or unmarked write refused")
            return
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            self._refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._refuse(HTTPStatus.BAD_REQUEST, "missing or oversized body")
            return
        try:
            body = json.loads(self.rfile.read(length))
            if not isinstance(body, dict):
                raise DecisionError("request: body must be a JSON object")
            answer = self.server.save(body)
        except (json.JSONDecodeError, DecisionError) as error:
            self._refuse(HTTPStatus.BAD_REQUEST, str(error))
            return
        self._send_json(HTTPStatus.OK, answer)

    def _refuse_method(self) -> None:
        self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and PUT /api/decisions")

    do_POST = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method  # noqa: N815
