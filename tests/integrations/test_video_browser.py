"""The redacted clip plays in a real browser: Debian's Chromium, driven by Playwright (no downloaded browser)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from integrations.faces import redact_video
from tests.browser import launch_chromium
from tests.conftest import needs_fixtures
from tests.evidence_media import face_patch, serve_directory, textured_background, write_video


def clip_with_a_face(path: Path) -> Path:
    patch = face_patch(needs_fixtures("faces", "img25.jpg"), 140)
    scene = textured_background(640, 360, seed=3)

    def frames() -> Iterator[np.ndarray]:
        for i in range(75):
            frame = scene.copy()
            x = 40 + i * 4
            frame[100 : 100 + 140, x : x + 140] = patch
            yield frame

    return write_video(path, frames(), 25.0)


def test_redacted_clip_plays_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    source = clip_with_a_face(tmp_path / "source.mp4")
    site = tmp_path / "site"
    site.mkdir()
    result = redact_video(source, site / "redacted.mp4")
    assert result.total >= 1
    (site / "index.html").write_text(
        '<!doctype html><meta charset="utf-8"><title>证据</title>'
        '<video id="v" src="redacted.mp4" muted autoplay playsinline></video>',
        encoding="utf-8",
    )
    with serve_directory(site) as base, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page()
            page.goto(f"{base}/index.html")
            page.wait_for_function(
                "() => { const v = document.getElementById('v');"
                " return v.error === null && v.readyState >= 2 && v.currentTime > 0.5; }",
                timeout=20_000,
            )
            width, height, error = page.evaluate(
                "() => { const v = document.getElementById('v'); return [v.videoWidth, v.videoHeight, v.error]; }"
            )
        finally:
            browser.close()
    assert (width, height, error) == (640, 360, None)
    shutil.rmtree(site)
