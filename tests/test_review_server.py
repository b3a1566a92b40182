"""`serve` mode: loopback only, read-only results folder, writes exactly the two decisions files."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading

import pandas as pd
import pytest

from benchmark.manifest import validate_manifest, write_manifest
from benchmark.review.server import ReviewServer

SHA = "c" * 64


def _results(tmp_path):
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
            for k in range(2)
        ]
    )
    write_manifest(results / "manifest.csv", validate_manifest(manifest))
    page = results / "review" / "grabcut" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html>gallery</html>")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", results / "review" / "link.txt")
    return results


@pytest.fixture
def server(tmp_path):
    results = _results(tmp_path)
    decisions = tmp_path / "config" / "reviews" / "toy" / "grabcut.csv"
    srv = ReviewServer(
        results, decisions, dataset="toy", tracker="grabcut", known_ids={"v0", "v1"}, port=0
    )
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def _request(srv, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=5)
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
