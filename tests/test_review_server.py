"""`serve` mode: loopback only, read-only results folder, writes exactly the two decisions files;
saves merge per video under one lock; Host / Origin name this server; bad requests get one line."""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading

import pandas as pd
import pytest

from benchmark.manifest import validate_manifest, write_manifest
from benchmark.review.decisions import (
    DecisionSet,
    decisions_csv_text,
    parse_decisions_csv,
    read_decisions,
    validate_decision_row,
    write_decisions,
)
from benchmark.review.server import PortTakenError, ReviewServer

SHA = "c" * 64


def _results(tmp_path, videos: int = 2):
    results = tmp_path / "results" / "toy"
    manifest = pd.DataFrame(
        [
            {
                "video_id": f"v{k}",
                "source_name": f"v{k}",
                "path": "",
                "label": 0,
                "label_name": "run",
                "split": "test",
                "num_frames": 4,
                "fps": 4.0,
                "width": 16,
                "height": 16,
            }
            for k in range(videos)
        ]
    )
    write_manifest(results / "manifest.csv", validate_manifest(manifest))
    page = results / "review" / "grabcut" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html>gallery</html>")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", results / "review" / "link.txt")
    return results


def _start(tmp_path, videos: int = 2, **options) -> ReviewServer:
    results = _results(tmp_path, videos)
    decisions = tmp_path / "config" / "reviews" / "toy" / "grabcut.csv"
    srv = ReviewServer(
        results,
        decisions,
        dataset="toy",
        tracker="grabcut",
        known_ids={f"v{k}" for k in range(videos)},
        port=0,
        **options,
    )
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _stop(srv: ReviewServer) -> None:
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def server(tmp_path):
    srv = _start(tmp_path)
    yield srv
    _stop(srv)


@pytest.fixture
def big_server(tmp_path):
    srv = _start(tmp_path, videos=24, request_timeout=1.0)
    yield srv
    _stop(srv)


def _request(srv, method, path, body=None, headers=None, timeout=30):
    connection = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=timeout)
    data = json.dumps(body).encode() if body is not None else None
    connection.request(method, path, body=data, headers=headers or {})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, payload


def _tree(root):
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


WRITE = {"Content-Type": "application/json", "X-Albar-Review": "1"}
ROW = {
    "video_id": "v1",
    "decision": "retrack",
    "mask_sha256": SHA,
    "reviewer": "ann",
    "note": "arm, missing",
    "decided_at": "2026-11-25T10:00:00.000Z",
}
PROMPTS = {"v1": [{"frame": 2, "points": [[3.5, 4, 1]], "box": None}]}


def test_listens_on_loopback_only(server, tmp_path) -> None:
    assert server.server_address[0] == "127.0.0.1"
    with pytest.raises(ValueError, match="127.0.0.1 only"):
        ReviewServer(
            tmp_path,
            tmp_path / "d.csv",
            dataset="toy",
            tracker="grabcut",
            known_ids=set(),
            host="0.0.0.0",
        )


def test_serves_the_results_folder_and_nothing_outside(server) -> None:
    assert _request(server, "GET", "/review/grabcut/index.html") == (200, b"<html>gallery</html>")
    for path in (
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/review/../../secret.txt",
        "/review/link.txt",
        "//etc/passwd",
    ):
        status, _ = _request(server, "GET", path)
        assert status in (403, 404), path
        assert status == 403 or path == "//etc/passwd"
    assert _request(server, "GET", "/nope.html")[0] == 404


def test_writes_exactly_the_two_decisions_files(server, tmp_path) -> None:
    before = _tree(tmp_path)
    status, payload = _request(
        server,
        "PUT",
        "/api/decisions",
        {"dataset": "toy", "tracker": "grabcut", "rows": [ROW], "prompts": PROMPTS},
        WRITE,
    )
    assert status == 200, payload
    after = _tree(tmp_path)
    changed = {name for name in after if before.get(name) != after[name]}
    assert changed == {"config/reviews/toy/grabcut.csv", "config/reviews/toy/grabcut.prompts.json"}
    assert after["config/reviews/toy/grabcut.csv"].decode().splitlines() == [
        "video_id,decision,mask_sha256,reviewer,note,decided_at",
        f'v1,retrack,{SHA},ann,"arm, missing",2026-11-25T10:00:00.000Z',
    ]
    assert json.loads(after["config/reviews/toy/grabcut.prompts.json"]) == PROMPTS
    status, payload = _request(server, "GET", "/api/decisions", headers={"X-Albar-Review": "1"})
    assert status == 200 and json.loads(payload)["rows"] == [ROW]


def test_refuses_other_writes(server, tmp_path) -> None:
    before = _tree(tmp_path)
    body = {"dataset": "toy", "tracker": "grabcut", "rows": [ROW], "prompts": {}}
    refused = [
        ("PUT", "/review/grabcut/index.html", body, WRITE, 403),
        ("PUT", "/api/decisions", body, {"Content-Type": "application/json"}, 403),  # unmarked
        ("PUT", "/api/decisions", body, {**WRITE, "Origin": "http://evil.example"}, 403),
        ("POST", "/api/decisions", body, WRITE, 405),
        ("DELETE", "/review/grabcut/index.html", None, {}, 405),
        ("PUT", "/api/decisions", {**body, "tracker": "sam"}, WRITE, 400),
        ("PUT", "/api/decisions", {**body, "rows": [{**ROW, "video_id": "ghost"}]}, WRITE, 400),
        ("PUT", "/api/decisions", {**body, "rows": [{**ROW, "decision": "maybe"}]}, WRITE, 400),
        (
            "PUT",
            "/api/decisions",
            {**body, "prompts": {"v1": [{"frame": 0, "points": [], "box": None}]}},
            WRITE,
            400,
        ),
    ]
    for method, path, payload, headers, expected in refused:
        status, answer = _request(server, method, path, payload, headers)
        assert status == expected, (method, path, headers, answer)
    assert _tree(tmp_path) == before


def test_serve_cli_binds_loopback(tmp_path) -> None:
    _results(tmp_path)
    config = {
        "results": str(tmp_path / "results"),
        "dataset": {"name": "toy"},
        "review": {"tracker": "grabcut", "decisions_dir": str(tmp_path / "config" / "reviews")},
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmark.review",
            "serve",
            "--config-json",
            json.dumps(config),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("review server: http://127.0.0.1:"), line
        port = int(line.split("127.0.0.1:")[1].split("/")[0])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/review/grabcut/index.html")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        process.terminate()
        process.wait(10)


def _row(video_id: str, at: str, decision: str = "approve", **cells) -> dict:
    return {
        "video_id": video_id,
        "decision": decision,
        "mask_sha256": SHA,
        "reviewer": "ann",
        "note": "",
        "decided_at": at,
        **cells,
    }


def _save(srv, rows, prompts=None, cleared=None, headers=None):
    body = {"dataset": "toy", "tracker": "grabcut", "rows": rows, "prompts": prompts or {}}
    if cleared is not None:
        body["cleared"] = cleared
    status, payload = _request(srv, "PUT", "/api/decisions", body, {**WRITE, **(headers or {})})
    return status, json.loads(payload)


def _file_rows(srv) -> dict[str, dict]:
    return {row["video_id"]: row for row in csv.DictReader(srv.decisions_csv.open())}


def test_saves_of_different_videos_are_merged_per_video(server) -> None:
    """Two tabs each send their whole state: neither erases the other's videos; latest time wins."""
    status, answer = _save(server, [_row("v0", "2026-11-25T10:00:00Z")])
    assert status == 200 and [r["video_id"] for r in answer["rows"]] == ["v0"]
    # tab B never saw v0; it saves v1 and gets the merged file back
    status, answer = _save(server, [_row("v1", "2026-11-25T10:01:00Z", "reject", reviewer="bob")])
    assert status == 200
    assert [(r["video_id"], r["decision"]) for r in answer["rows"]] == [
        ("v0", "approve"),
        ("v1", "reject"),
    ]
    # tab A, still holding only v0 and an older look at v1, cannot overwrite bob's later row
    stale = _row("v1", "2026-11-25T09:59:00Z", "approve")
    status, answer = _save(server, [_row("v0", "2026-11-25T10:00:00Z"), stale])
    assert status == 200 and _file_rows(server)["v1"]["decision"] == "reject"
    # a later decision wins, with its prompts; the file's prompts of the losing row go with it
    later = _row("v1", "2026-11-25T10:02:00Z", "retrack")
    status, answer = _save(server, [later], prompts=PROMPTS)
    assert status == 200 and answer["prompts"] == PROMPTS
    assert {v: r["decision"] for v, r in _file_rows(server).items()} == {
        "v0": "approve",
        "v1": "retrack",
    }
    status, answer = _save(server, [_row("v1", "2026-11-25T10:03:00Z", "approve")])
    assert answer["prompts"] == {}  # the page's newer row came without prompts: they are gone
    assert json.loads(server.prompts_json.read_text()) == {}


def test_a_cleared_decision_stays_cleared(server) -> None:
    assert _save(server, [_row("v0", "2026-11-25T10:00:00Z")])[0] == 200
    status, answer = _save(
        server, [], cleared=[{"video_id": "v0", "decided_at": "2026-11-25T10:05:00Z"}]
    )
    assert status == 200 and answer["rows"] == []
    assert answer["cleared"] == [{"video_id": "v0", "decided_at": "2026-11-25T10:05:00Z"}]
    # a second tab still holding the old approval does not bring it back
    status, answer = _save(
        server, [_row("v0", "2026-11-25T10:00:00Z"), _row("v1", "2026-11-25T10:06:00Z")]
    )
    assert status == 200 and list(_file_rows(server)) == ["v1"]
    # a decision made after the clear counts
    status, answer = _save(server, [_row("v0", "2026-11-25T10:07:00Z", "reject")])
    assert {v: r["decision"] for v, r in _file_rows(server).items()} == {
        "v0": "reject",
        "v1": "approve",
    }
    assert answer["cleared"] == []
    bad = [{"video_id": "v0", "decided_at": "yesterday"}]
    assert _save(server, [], cleared=bad)[0] == 400


def test_parallel_saves_keep_every_acknowledged_row_and_reads_are_whole(big_server) -> None:
    """20 saves at once, each a different video (retrack + prompts), while readers poll."""
    srv = big_server
    videos = [f"v{k}" for k in range(20)]
    start = threading.Barrier(len(videos) + 4)
    acknowledged: list[str] = []
    failures: list[str] = []
    reads: list[dict] = []
    done = threading.Event()

    def save(video_id: str) -> None:
        start.wait()
        try:
            prompts = {video_id: [{"frame": 1, "points": [[1, 1, 1]], "box": None}]}
            row = _row(video_id, "2026-11-25T10:00:00Z", "retrack")
            status, answer = _save(srv, [row], prompts)
            if status != 200:
                failures.append(f"{video_id}: {status} {answer}")
            else:
                acknowledged.append(video_id)
        except OSError as error:  # a reset connection is a failure too
            failures.append(f"{video_id}: {error!r}")

    def read() -> None:
        start.wait()
        while not done.is_set():
            try:
                status, payload = _request(srv, "GET", "/api/decisions")
            except OSError as error:
                failures.append(f"read: {error!r}")
                return
            if status != 200:
                failures.append(f"read: {status} {payload!r}")
                return
            reads.append(json.loads(payload))

    threads = [threading.Thread(target=save, args=(v,)) for v in videos]
    readers = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads + readers:
        thread.start()
    for thread in threads:
        thread.join(60)
    done.set()
    for thread in readers:
        thread.join(60)
    assert failures == []
    assert sorted(acknowledged) == sorted(videos)
    rows = _file_rows(srv)
    assert sorted(rows) == sorted(videos)
    assert sorted(json.loads(srv.prompts_json.read_text())) == sorted(videos)
    assert reads
    for payload in reads:  # each read is one save's CSV with the same save's prompts
        retracked = {row["video_id"] for row in payload["rows"]}
        assert set(payload["prompts"]) == retracked


def _raw(srv, data: bytes, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    """Send raw bytes; return (status, headers, body) of the answer (status 0: no answer)."""
    with socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=timeout) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
        except (http.client.RemoteDisconnected, ConnectionError):
            return 0, {}, b""
        return response.status, dict(response.getheaders()), response.read()


def _put_bytes(srv, body: bytes, length: str | None = None) -> bytes:
    head = (
        f"PUT /api/decisions HTTP/1.1\r\nHost: 127.0.0.1:{srv.server_address[1]}\r\n"
        "Content-Type: application/json\r\nX-Albar-Review: 1\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    )
    return head.encode() + body


def test_a_slow_client_is_cut_off_and_blocks_nobody(big_server) -> None:
    srv = big_server  # request_timeout=1.0
    slow = socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=5)
    idle = socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=5)
    try:
        slow.sendall(_put_bytes(srv, b'{"rows": [', length="1000"))  # 10 of 1000 bytes, then waits
        # meanwhile every other request is answered, saves included
        assert _request(srv, "GET", "/review/grabcut/index.html")[0] == 200
        assert _save(srv, [_row("v3", "2026-11-25T10:00:00Z")])[0] == 200
        answer = b""  # the server answers the slow client itself and hangs up
        while chunk := slow.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.0 408"), answer
        assert b"PUT /api/decisions: got 10 of 1000 body bytes" in answer
        assert idle.recv(4096) == b""  # a client that never sends a request line is dropped
    finally:
        slow.close()
        idle.close()
    assert list(_file_rows(srv)) == ["v3"]


def test_port_taken_is_one_line_naming_the_port(tmp_path) -> None:
    _results(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortTakenError, match=f"port {port} on 127.0.0.1 is already in use"):
            ReviewServer(
                tmp_path,
                tmp_path / "d.csv",
                dataset="toy",
                tracker="grabcut",
                known_ids=set(),
                port=port,
            )
        config = {
            "results": str(tmp_path / "results"),
            "dataset": {"name": "toy"},
            "review": {"tracker": "grabcut", "decisions_dir": str(tmp_path / "config" / "reviews")},
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmark.review",
                "serve",
                "--config-json",
                json.dumps(config),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use (another review server?); "
        "choose another with --port N (0 = any free port)"
    ]


def test_host_must_be_a_loopback_name_on_the_served_port(server) -> None:
    port = server.server_address[1]
    paths = ["/review/grabcut/index.html", "/manifest.csv", "/api/decisions", "/"]
    for host in (
        f"evil.example:{port}",
        "evil.example",
        f"127.0.0.1:{port + 1}",
        f"localhost.evil.example:{port}",
        "127.0.0.1",
    ):
        for path in paths:
            status, payload = _request(server, "GET", path, headers={"Host": host})
            assert status == 421, (host, path)
            assert json.loads(payload)["error"].startswith(
                f"GET {path}: Host {host!r} is not this server"
            )
        status, _ = _request(server, "PUT", "/api/decisions", {"rows": []}, {**WRITE, "Host": host})
        assert status == 421
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}", f"[::1]:{port}"):
        assert _request(server, "GET", "/review/grabcut/index.html", headers={"Host": host}) == (
            200,
            b"<html>gallery</html>",
        )
        assert _request(server, "GET", "/api/decisions", headers={"Host": host})[0] == 200
        assert _request(server, "GET", "/", headers={"Host": host})[0] == 302
    # no Host at all (HTTP/1.0 style) is refused too
    status, _, body = _raw(server, b"GET /manifest.csv HTTP/1.0\r\n\r\n")
    assert status == 421 and b"needs one Host header, got 0" in body


def test_writes_need_a_loopback_origin_on_the_served_port(server, tmp_path) -> None:
    port = server.server_address[1]
    before = _tree(tmp_path)
    for origin in (
        f"http://evil.example:{port}",
        "http://evil.example",
        f"http://localhost:{port + 1}",
        "null",
        f"https://localhost:{port}",
    ):
        status, answer = _save(
            server, [_row("v0", "2026-11-25T10:00:00Z")], headers={"Origin": origin}
        )
        assert status == 403, origin
        assert (
            answer["error"] == f"PUT /api/decisions: cross-origin request from {origin!r} refused"
        )
        assert _request(server, "GET", "/api/decisions", headers={"Origin": origin})[0] == 403
    status, _ = _request(
        server,
        "POST",
        "/api/decisions",
        {"rows": []},
        {**WRITE, "Origin": f"http://evil.example:{port}"},
    )
    assert status == 405
    assert _tree(tmp_path) == before
    for k, origin in enumerate(
        (f"http://localhost:{port}", f"http://127.0.0.1:{port}", f"http://[::1]:{port}")
    ):
        status, answer = _save(
            server, [_row(f"v{k % 2}", f"2026-11-25T10:0{k}:00Z")], headers={"Origin": origin}
        )
        assert status == 200, (origin, answer)


def test_bad_requests_get_one_line_and_the_server_stays_up(server, tmp_path) -> None:
    before = _tree(tmp_path)
    deep = b"[" * 100_000 + b"]" * 100_000
    cases = [
        (_put_bytes(server, b'{"rows": ["\xff\xfe"]}'), 400, "body is not UTF-8"),
        (_put_bytes(server, b"{}", length="abc"), 400, "Content-Length 'abc' is not a byte count"),
        (_put_bytes(server, b"{}", length="-5"), 400, "Content-Length '-5' is not a byte count"),
        (_put_bytes(server, b"{}", length="9" * 30), 400, "is not a byte count"),
        (_put_bytes(server, b"{}", length=str(10**12)), 413, "over the 64 MiB limit"),
        (_put_bytes(server, deep), 400, "body JSON is nested too deep"),
        (
            _put_bytes(server, b"rows=v0&decision=approve"),
            400,
            "body is not JSON (Expecting value at line 1 column 1)",
        ),
        (_put_bytes(server, b"[1, 2]"), 400, "body must be a JSON object"),
        (
            _put_bytes(server, b'{"dataset": "toy", "tracker": "grabcut", "rows": 5}'),
            400,
            "'rows' must be a list",
        ),
    ]
    for data, expected, message in cases:
        status, headers, body = _raw(server, data)
        assert status == expected, (data[-60:], status, body)
        assert headers["Content-Type"] == "application/json"
        error = json.loads(body)["error"]
        assert error.startswith("PUT /api/decisions: ") and message in error, error
        assert "\n" not in error
        # and the server still answers
        assert _request(server, "GET", "/review/grabcut/index.html") == (
            200,
            b"<html>gallery</html>",
        )
    # http.server's own refusals answer one JSON line too
    status, _, body = _raw(server, b"GET /x HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n")
    assert status == 431 and json.loads(body)["error"] == "GET /x: Line too long"
    host = f"Host: 127.0.0.1:{server.server_address[1]}\r\n".encode()
    status, _, body = _raw(server, b"BREW /pot HTTP/1.1\r\n" + host + b"\r\n")
    assert status == 501 and json.loads(body)["error"] == "BREW /pot: Unsupported method ('BREW')"
    assert _tree(tmp_path) == before


FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


def test_formula_cells_are_neutralised_and_round_trip(server, tmp_path) -> None:
    """Reviewer names and notes a spreadsheet would run are written with a leading quote."""
    rows = [
        _row(f"v{k % 2}", f"2026-11-25T10:0{k}:00Z", reviewer=formula.strip() or "x", note=formula)
        for k, formula in enumerate(FORMULAS[:2])
    ]
    assert _save(server, rows)[0] == 200
    assert _file_rows(server)["v0"]["note"] == '\'=HYPERLINK("http://x")'
    assert _file_rows(server)["v0"]["reviewer"] == '\'=HYPERLINK("http://x")'
    assert _file_rows(server)["v1"]["note"] == "'+1+1"
    # every starting character, and texts that are fine as they are
    decisions = {}
    texts = FORMULAS + ["plain", "'=already quoted", "a=b", "", " =x"]
    for k, text in enumerate(texts):
        row = _row(f"v{k:02d}", "2026-11-25T10:00:00Z", note=text)
        decisions[f"v{k:02d}"] = validate_decision_row(row, "test")
    first = decisions_csv_text(decisions)
    notes = [row["note"] for row in csv.DictReader(io.StringIO(first, newline=""))]
    assert notes == ["'" + t for t in FORMULAS] + ["plain", "'=already quoted", "a=b", "", " =x"]
    # the quote is kept on read (it is part of the stored text), so the round trip is stable
    path = tmp_path / "round.csv"
    write_decisions(path, DecisionSet(decisions=decisions))
    once = path.read_bytes()
    write_decisions(path, read_decisions(path))
    assert path.read_bytes() == once == first.encode()
    assert parse_decisions_csv(first, "x")["v00"].note == '\'=HYPERLINK("http://x")'


def test_a_malformed_decisions_file_is_named_and_left_alone(server) -> None:
    server.decisions_csv.parent.mkdir(parents=True)
    server.decisions_csv.write_text("video_id,decision\nv0,approve\n")
    before = server.decisions_csv.read_bytes()
    status, payload = _request(server, "GET", "/api/decisions")
    assert status == 409
    assert json.loads(payload)["error"].startswith(
        f"GET /api/decisions: {server.decisions_csv}:1: header must be"
    )
    status, answer = _save(server, [_row("v1", "2026-11-25T10:00:00Z")])
    assert status == 409 and answer["error"].endswith("; fix the file, then save again")
    assert server.decisions_csv.read_bytes() == before
