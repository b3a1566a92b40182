"""The review gallery with hostile class names, in a real headless Chromium.

The page inlines its data as JSON in a <script> element. A class name such as `<!--<script>` once
switched the HTML parser into script-data-escaped mode and the page showed 0 cards; `&`, `<` and
`>` are now written as JSON `\\u` escapes. Built from the same tracked tiny synthetic dataset as
tests/test_review_gallery.py (its module fixture), with the class names rewritten in a copy.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from benchmark.review.decisions import decisions_path
from benchmark.review.gallery import GallerySettings, build_gallery, render_page
from tests.test_review_gallery import _launch, _open, require_browser, review_config

__all__ = ["review_config"]  # the module fixture, shared with tests/test_review_gallery.py

HOSTILE = ["<!--<script>", "</script><b>&amp; x</b>"]


def test_embedded_json_has_no_raw_markup_characters() -> None:
    page = render_page(
        {
            "dataset": "d",
            "tracker": "t",
            "classes": [[0, HOSTILE[0]], [1, HOSTILE[1]]],
            "videos": [],
        }
    )
    start = page.index('<script id="review-data" type="application/json">') + len(
        '<script id="review-data" type="application/json">'
    )
    payload = page[start : page.index("</script>", start)]
    assert not any(character in payload for character in "<>&")
    assert "\\u003c!--\\u003cscript\\u003e" in payload


@pytest.mark.browser
@pytest.mark.slow
def test_class_names_with_markup_still_render_every_card(review_config, tmp_path, monkeypatch):
    sync_playwright = require_browser()
    config, root = review_config
    shutil.copytree(root / "results", tmp_path / "results")
    monkeypatch.chdir(tmp_path)
    manifest_path = tmp_path / "results/synthetic/manifest.csv"
    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    manifest["label_name"] = [HOSTILE[int(label)] for label in manifest["label"]]
    manifest.to_csv(manifest_path, index=False)
    review = config["review"]
    stats = build_gallery(
        "results/synthetic",
        dataset="synthetic",
        tracker="grabcut",
        settings=GallerySettings.from_config(review["gallery"]),
        decisions_csv=tmp_path / decisions_path(config),
        splits=review["splits"],
        threads=2,
    )
    assert stats["videos"] == 6
    url = (tmp_path / "results/synthetic/review/grabcut/index.html").resolve().as_uri()
    with sync_playwright() as playwright:
        context = _launch(playwright, tmp_path / "profile")
        page, errors = _open(context, url)
        assert page.locator(".card").count() == 6
        shown = page.locator(".card .cls").all_inner_texts()  # "<class> <decision state>"
        assert sorted({text.rsplit(" ", 1)[0] for text in shown}) == sorted(HOSTILE)
        options = page.locator("#filter-class option").all_inner_texts()
        assert options == ["all", *HOSTILE]
        assert page.locator("#grid b, #controls b").count() == 0  # names are text, not markup
        assert errors == []
        context.close()
