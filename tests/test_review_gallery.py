"""The review gallery, driven in a real headless Chromium (Debian's /usr/bin/chromium via Playwright).

One synthetic dataset (the lead's generator, tiny settings) is tracked with the real GrabCut tracker
and QC'd by the tracking stage's own code; the gallery is built from it, then a reviewer session is
played with the keyboard: approve, reject, note, retrack with a foreground point, a background point
and a redrawn box; reload; browser restart; export; merge; gate; retrack. Served mode saves through
the loopback server. Browser tests skip where Chromium is missing, unless ALBAR_REQUIRE_BROWSER=1
(CI) makes them fail instead.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.config import validate_config
from benchmark.ingest import run_ingest
from benchmark.manifest import clip_boxes, read_boxes, read_manifest
from benchmark.review.__main__ import main as review_main
from benchmark.review.decisions import decisions_path
from benchmark.review.gallery import (
    QC_COLUMNS,
    GallerySettings,
    build_gallery,
    preview_frame_indices,
    render_sprite,
)
from benchmark.review.retrack import pending_retracks, run_retrack
from benchmark.review.server import ReviewServer

CHROMIUM = os.environ.get("ALBAR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_browser():
    """The Playwright module, or skip (fail under ALBAR_REQUIRE_BROWSER=1) with the reason."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright package is not installed (pip install playwright; no browser download needed)"
    if reason is None and not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)):
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set ALBAR_CHROMIUM)"
    if reason is not None:
        if os.environ.get("ALBAR_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ALBAR_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return sync_playwright


def test_preview_frames_and_sprite_drawing() -> None:
    assert preview_frame_indices(5, 16) == [0, 1, 2, 3, 4]
    assert preview_frame_indices(100, 4) == [0, 33, 66, 99]
    assert preview_frame_indices(16, 1) == [0]
    frames = np.full((3, 20, 40, 3), 200, dtype=np.uint8)
    mask = np.zeros((3, 20, 40), dtype=bool)
    mask[:, 5:15, 10:20] = True
    sprite = render_sprite(frames, mask, [[(8, 4, 24, 18)]] * 3, [0, 2], (80, 40))
    assert sprite.size == (160, 40)
    pixels = np.asarray(sprite)
    assert tuple(pixels[10, 20]) == (40, 255, 90)  # mask outline (inside edge), left side
    assert tuple(pixels[20, 19]) == (0, 0, 0)  # dark ring just outside the mask
    assert tuple(pixels[8, 16 + 80]) == (255, 214, 0)  # prompt box top edge, second frame
    assert tuple(pixels[2, 2]) == (200, 200, 200)  # untouched background


@pytest.fixture(scope="module")
def review_config(tmp_path_factory):
    """A tracked, QC'd tiny synthetic dataset under a temp folder; returns (config, root)."""
    from benchmark.tracking.qc import run_qc
    from benchmark.tracking.run import build_box_masks_shard, track_shard

    root = tmp_path_factory.mktemp("review")
    previous = os.getcwd()
    os.chdir(root)
    config = validate_config(
        {
            "results": "results",
            "seed": 0,
            "n_shards": 1,
            "dataset": {
                "name": "synthetic",
                "kind": "synthetic",
                "synthetic": {
                    "classes": 2,
                    "videos_per_class": {"train": 1, "val": 0, "test": 3},
                    "frames": 8,
                    "size": 48,
                },
            },
            "tracking": {"trackers": ["grabcut"]},
            "review": {
                "tracker": "grabcut",
                "gallery": {
                    "preview_frames": 8,
                    "preview_size": 96,
                    "compare": ["truth", "box_first"],
                },
            },
        }
    )
    run_ingest(config)
    results = Path("results/synthetic")
    manifest = read_manifest(results / "manifest.csv")
    boxes, _ = clip_boxes(read_boxes(results / "boxes.parquet", manifest), manifest)
    track_shard(config, "grabcut", 0)
    build_box_masks_shard(config, "box_first", 0)
    for source in ("grabcut", "box_first", "truth"):
        run_qc(results, source, 1, boxes, config["masks"]["qc"])
    yield config, root
    os.chdir(previous)


def _build(config, decisions_csv=None) -> dict:
    review = config["review"]
    return build_gallery(
        "results/synthetic",
        dataset="synthetic",
        tracker="grabcut",
        settings=GallerySettings.from_config(review["gallery"]),
        decisions_csv=decisions_csv or decisions_path(config),
        splits=review["splits"],
        threads=2,
    )


def test_build_is_incremental_and_writes_report_pieces(review_config) -> None:
    config, root = review_config
    stats = _build(config)
    assert stats["videos"] == 6 and stats["problems"] == 0
    assert stats["sprites_drawn"] in (0, 18)  # 6 videos x 3 sources (0 when already built)
    out = root / "results/synthetic/review/grabcut"
    sprite = Image.open(out / "previews/grabcut" / "syn_test_00000.webp")
    assert sprite.size == (8 * 96, 96)
    assert _build(config)["sprites_drawn"] == 0  # nothing changed, nothing redrawn
    assert Image.open(out / "qc_distributions.png").size[0] > 500
    assert Image.open(out / "sample_previews.jpg").size[1] >= 96
    page = (out / "index.html").read_text()
    assert "</script>" in page and '"tracker":"grabcut"' in page


def test_gallery_qc_figures_are_the_qc_csv_cells_rounded(review_config) -> None:
    """The gallery reads qc.csv through read_qc (typed cells) but shows exactly what the file
    says: each figure is the CSV text as a float rounded to 4 places, an empty cell null."""
    config, root = review_config
    _build(config)
    results = root / "results/synthetic"
    page = (results / "review/grabcut/index.html").read_text()
    payload = page.split('<script id="review-data" type="application/json">', 1)[1]
    data = json.loads(payload.split("</script>", 1)[0])
    assert data["qc_columns"] == list(QC_COLUMNS)
    checked = 0
    for source in ("grabcut", "truth", "box_first"):
        with open(results / "masks" / source / "qc.csv", newline="") as handle:
            rows = {row["video_id"]: row for row in csv.DictReader(handle)}
        for card in data["videos"]:
            expected = [
                round(float(rows[card["id"]][c]), 4) if rows[card["id"]][c] != "" else None
                for c in QC_COLUMNS
            ]
            assert card["qc"][source] == expected, (source, card["id"])
            checked += 1
        if source == "grabcut":
            assert [card["sha"] for card in data["videos"]] == [
                rows[card["id"]]["mask_sha256"] for card in data["videos"]
            ]
    assert checked == 18
    # box_first has no score, truth none either: their mean_score cells are empty, shown as null
    assert {card["qc"]["box_first"][3] for card in data["videos"]} == {None}


def test_gallery_files_hold_no_input_mtimes(review_config, tmp_path) -> None:
    """Touching every mask file gives the same gallery bytes and redraws nothing:
    the sprite cache key is the inputs' content, not their mtimes or paths."""
    config, root = review_config
    _build(config)
    out = root / "results/synthetic/review/grabcut"
    before = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    for path in (root / "results/synthetic/masks").rglob("*"):
        if path.is_file():
            os.utime(path, ns=(1, 1))
    assert _build(config)["sprites_drawn"] == 0  # same content, nothing redrawn
    after = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert after == before


def _launch(playwright, profile: Path):
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        accept_downloads=True,
        viewport={"width": 1300, "height": 900},
    )


def _open(context, url: str):
    page = context.pages[0] if context.pages else context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=10000)
    return page, errors


def _current(page) -> str:
    return page.evaluate("document.body.dataset.current")


@pytest.mark.browser
@pytest.mark.slow
def test_keyboard_review_persists_exports_and_gates(review_config, tmp_path) -> None:
    sync_playwright = require_browser()
    config, root = review_config
    _build(config)
    results = root / "results/synthetic"
    qc = pd.read_csv(results / "masks/grabcut/qc.csv", dtype=str, keep_default_na=False)
    sha = dict(zip(qc["video_id"], qc["mask_sha256"], strict=True))
    url = (results / "review/grabcut/index.html").resolve().as_uri()
    profile = tmp_path / "profile"
    with sync_playwright() as playwright:
        context = _launch(playwright, profile)
        page, errors = _open(context, url)
        assert page.locator("#progress").inner_text().startswith("0 / 6 reviewed")
        assert page.locator(".card").count() == 6
        first = _current(page)
        # first decision asks for the reviewer's name, then applies and moves on
        page.keyboard.press("a")
        page.wait_for_selector("#dialog:not([hidden])")
        page.keyboard.type("tester")
        page.keyboard.press("Enter")
        second = _current(page)
        assert second != first
        page.keyboard.press("r")
        third = _current(page)
        page.keyboard.press("k")  # back to the rejected one to write a note
        assert _current(page) == second
        page.keyboard.press("n")
        page.keyboard.type('leaks, into "the" box')
        page.keyboard.press("Enter")
        page.keyboard.press("j")
        page.keyboard.press("t")  # retrack: detail view opens, paused
        page.wait_for_selector("#detail:not([hidden])")
        page.keyboard.press(".")
        page.keyboard.press(".")  # preview frame 3 of 8 = video frame 2
        assert page.evaluate("document.body.dataset.detailFrame") == "2"
        canvas = page.locator("#d-canvas").bounding_box()
        page.mouse.click(canvas["x"] + canvas["width"] * 0.25, canvas["y"] + canvas["height"] * 0.5)
        page.keyboard.down("Shift")
        page.mouse.click(
            canvas["x"] + canvas["width"] * 0.75, canvas["y"] + canvas["height"] * 0.25
        )
        page.keyboard.up("Shift")
        page.keyboard.press("b")
        page.mouse.move(
            canvas["x"] + canvas["width"] * 0.125, canvas["y"] + canvas["height"] * 0.125
        )
        page.mouse.down()
        page.mouse.move(
            canvas["x"] + canvas["width"] * 0.5, canvas["y"] + canvas["height"] * 0.75, steps=4
        )
        page.mouse.up()
        page.keyboard.press("c")  # compare with the next mask source
        assert page.locator("#d-compare").input_value() == "box_first"
        page.keyboard.press("Escape")
        assert page.locator("#progress").inner_text().startswith("3 / 6 reviewed")
        assert "tester" in page.locator("#reviewer").input_value()

        # filters and sorting
        page.select_option("#filter-decision", "approve")
        assert page.locator(".card").count() == 1
        page.select_option("#filter-decision", "")
        page.select_option("#sort", "iou_gt_mean")
        ious = {v: float(x) for v, x in zip(qc["video_id"], qc["iou_gt_mean"], strict=True)}
        shown = page.locator(".card .vid").all_inner_texts()
        assert shown == sorted(ious, key=lambda v: (ious[v], v))  # worst (lowest IoU) first

        # reload, then a browser restart: the decisions survive both
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#progress").inner_text().startswith("3 / 6 reviewed")
        context.close()
        context = _launch(playwright, profile)
        page, errors2 = _open(context, url)
        assert page.locator("#progress").inner_text().startswith("3 / 6 reviewed")

        downloads = []
        page.on("download", lambda download: downloads.append(download))
        page.keyboard.press("e")
        page.wait_for_function(
            "document.getElementById('save-status').textContent.includes('exported')"
        )
        for _ in range(50):
            if len(downloads) == 2:
                break
            page.wait_for_timeout(100)
        files = {}
        for download in downloads:
            target = tmp_path / download.suggested_filename
            download.save_as(target)
            files[download.suggested_filename] = target
        context.close()
        assert not errors and not errors2
    assert sorted(files) == [
        "review-synthetic-grabcut-tester.csv",
        "review-synthetic-grabcut-tester.prompts.json",
    ]
    rows = list(
        csv.DictReader(io.StringIO(files["review-synthetic-grabcut-tester.csv"].read_text()))
    )
    decided = {row["video_id"]: row for row in rows}
    assert {v: decided[v]["decision"] for v in decided} == {
        first: "approve",
        second: "reject",
        third: "retrack",
    }
    assert all(
        decided[v]["mask_sha256"] == sha[v] and decided[v]["reviewer"] == "tester" for v in decided
    )
    assert decided[second]["note"] == 'leaks, into "the" box'
    prompts = json.loads(files["review-synthetic-grabcut-tester.prompts.json"].read_text())
    assert list(prompts) == [third] and len(prompts[third]) == 1
    entry = prompts[third][0]
    assert entry["frame"] == 2
    (x1, y1, l1), (x2, y2, l2) = entry["points"]
    assert (l1, l2) == (1, 0)
    assert (
        abs(x1 - 12) <= 0.6 and abs(y1 - 24) <= 0.6 and abs(x2 - 36) <= 0.6 and abs(y2 - 12) <= 0.6
    )
    assert np.allclose(entry["box"], [6, 6, 24, 36], atol=0.6)

    # the export becomes the canonical file; the gate then uses exactly the approved video
    canonical = decisions_path(config)
    assert (
        review_main(
            ["merge", str(files["review-synthetic-grabcut-tester.csv"]), "--out", str(canonical)]
        )
        == 0
    )
    gated = {**config, "review": {**config["review"], "require": True}}
    skips = ["results/synthetic/ingest/skipped.csv", "results/synthetic/masks/grabcut/skipped.csv"]
    assert review_main(["gate", "--config-json", json.dumps(gated), "--skipped", *skips]) == 0
    assert pd.read_csv(results / "review/approved.csv")["video_id"].tolist() == [first]

    # retrack: exactly the retrack video is re-tracked with the prompts; its decision turns stale
    assert pending_retracks(config) == [third]
    assert run_retrack(config, threads=1) == 0
    retracked = pd.read_csv(results / "review/grabcut/retracked.csv", dtype=str)
    assert retracked["video_id"].tolist() == [third] and retracked["prompt_frames"].tolist() == [
        "2"
    ]
    new_qc = pd.read_csv(results / "masks/grabcut/qc.csv", dtype=str, keep_default_na=False)
    new_sha = dict(zip(new_qc["video_id"], new_qc["mask_sha256"], strict=True))
    assert {v for v in sha if new_sha[v] != sha[v]} == {third}
    assert pending_retracks(config) == []
    page_data = (results / "review/grabcut/index.html").read_text()
    assert new_sha[third] in page_data  # the new masks are back in the gallery for a new look


@pytest.mark.browser
def test_served_gallery_saves_to_the_decisions_file(review_config, tmp_path) -> None:
    sync_playwright = require_browser()
    config, root = review_config
    results = root / "results/synthetic"
    review_dir = tmp_path / "reviews"
    decisions = review_dir / "synthetic" / "grabcut.csv"
    ids = set(read_manifest(results / "manifest.csv")["video_id"])
    _build(config, decisions)  # the page starts from this (absent) decisions file
    server = ReviewServer(
        results, decisions, dataset="synthetic", tracker="grabcut", known_ids=ids, port=0
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as playwright:
            context = _launch(playwright, tmp_path / "profile")
            page, errors = _open(context, f"{server.url}/review/grabcut/index.html")
            page.wait_for_selector("body[data-server='1']")
            page.fill("#reviewer", "server-tester")
            page.locator("#reviewer").press("Escape")  # leaves the field; keys go to the gallery
            first = _current(page)
            page.keyboard.press("a")
            page.wait_for_function("window.reviewSavedRows === 1")
            context.close()
            assert not errors
    finally:
        server.shutdown()
        server.server_close()
    rows = list(csv.DictReader(decisions.open()))
    assert [(r["video_id"], r["decision"], r["reviewer"]) for r in rows] == [
        (first, "approve", "server-tester")
    ]
    assert json.loads(decisions.with_name("grabcut.prompts.json").read_text()) == {}
    shutil.rmtree(review_dir)
