"""Two reviewers in two real browser profiles save different videos through one review server.

The gallery and its tiny tracked synthetic dataset come from the gallery tests' fixture; the
browser is Debian's Chromium through Playwright (skipped where it is missing, failed under
ALBAR_REQUIRE_BROWSER=1). One profile opens the page as http://127.0.0.1:PORT, the other as
http://localhost:PORT, so both loopback names are checked as a browser sends them.
"""

from __future__ import annotations

import csv
import shutil
import threading

import pytest

from benchmark.manifest import read_manifest
from benchmark.review.server import ReviewServer
from tests.test_review_gallery import (  # noqa: F401 (review_config is a fixture)
    _build,
    _current,
    _launch,
    _open,
    require_browser,
    review_config,
)


@pytest.mark.browser
@pytest.mark.slow
def test_two_profiles_saving_different_videos_keep_both(review_config, tmp_path) -> None:  # noqa: F811
    sync_playwright = require_browser()
    config, root = review_config
    results = root / "results/synthetic"
    review_dir = tmp_path / "reviews"
    decisions = review_dir / "synthetic" / "grabcut.csv"
    ids = set(read_manifest(results / "manifest.csv")["video_id"])
    _build(config, decisions)
    server = ReviewServer(
        results, decisions, dataset="synthetic", tracker="grabcut", known_ids=ids, port=0
    )
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as playwright:
            ann = _launch(playwright, tmp_path / "ann")
            bob = _launch(playwright, tmp_path / "bob")
            # both pages are loaded before either saves: each starts from the same empty file
            page_a, errors_a = _open(ann, f"http://127.0.0.1:{port}/review/grabcut/index.html")
            page_b, errors_b = _open(bob, f"http://localhost:{port}/review/grabcut/index.html")
            for page, name in ((page_a, "ann"), (page_b, "bob")):
                page.wait_for_selector("body[data-server='1']")
                page.wait_for_function("window.reviewSaves >= 1")  # the save on connecting
                page.fill("#reviewer", name)
                page.locator("#reviewer").press("Escape")
            first = _current(page_a)
            assert _press_and_save(page_a, "a") == 1  # approve, then the cursor moves on
            page_b.keyboard.press("j")
            second = _current(page_b)
            assert second != first
            # bob's save answers the merged file: ann's approval and bob's rejection
            assert _press_and_save(page_b, "r") == 2
            assert page_b.evaluate(f"window.review.status({first!r})") == "approve"
            assert page_b.locator(".card.approve").count() == 1
            # ann, who never reloaded, sees bob's rejection after her next save
            page_a.keyboard.press("j")
            third = _current(page_a)
            assert third not in (first, second)
            assert _press_and_save(page_a, "a") == 3
            assert page_a.evaluate(f"window.review.status({second!r})") == "reject"
            assert page_a.locator(".card.reject").count() == 1
            assert "from other tabs or reviewers" in page_a.locator("#save-status").inner_text()
            # bob takes back his rejection; ann's next save (she still holds it) does not revive it
            page_b.keyboard.press("k")
            assert _current(page_b) == second
            assert _press_and_save(page_b, "u") == 2  # first and third
            fourth = _current(page_a)
            assert _press_and_save(page_a, "a") == 3
            assert page_a.evaluate(f"window.review.status({second!r})") == "undecided"
            ann.close()
            bob.close()
            assert not errors_a and not errors_b
    finally:
        server.shutdown()
        server.server_close()
    rows = {r["video_id"]: (r["decision"], r["reviewer"]) for r in csv.DictReader(decisions.open())}
    assert rows == {
        first: ("approve", "ann"),
        third: ("approve", "ann"),
        fourth: ("approve", "ann"),
    }
    shutil.rmtree(review_dir)


def _press_and_save(page, key: str) -> int:
    """Press `key`, wait for the save it causes to be answered; the rows in the file after it."""
    saves = page.evaluate("window.reviewSaves || 0")
    page.keyboard.press(key)
    page.wait_for_function(f"(window.reviewSaves || 0) > {saves}")
    return page.evaluate("window.reviewSavedRows")
