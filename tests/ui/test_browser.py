"""End to end in a real browser: the console served by `streamlit run`, driven in Debian's Chromium by Playwright.

A village reviewer signs in and dispatches a case; then every demo role signs in and every page of its navigation
is opened and saved as a screenshot (var/screenshots/ by default, or XUELIANG_SCREENSHOT_DIR), so that a person
can look at each page and check the Chinese text renders.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from models.cases import Case
from models.db import Database
from models.demo_cases import seed_demo_cases
from tests.browser import free_port, launch_chromium
from tests.conftest import ROOT
from xueliang.launcher import ui_command, wait_http

ROLES = ("inspector", "reviewer_village", "dispatcher", "leader", "admin")


def screenshot_dir() -> Path:
    path = Path(os.environ.get("XUELIANG_SCREENSHOT_DIR") or ROOT / "var" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def demo_file(templates: Any, tmp_path: Path) -> Iterator[str]:
    """A demo database (SQLite: one browser run is enough; the pages' queries run on PostgreSQL in the AppTests)
    with the demo's cases, as `make run` has it."""
    url = templates.sqlite_url("demo", tmp_path / "demo.sqlite3")
    db = Database(url)
    with db.write() as session:
        seed_demo_cases(session)
    db.dispose()
    yield url


@pytest.fixture
def console_url(demo_file: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "XUELIANG_DATABASE_URL": demo_file, "XUELIANG_MEDIA_DIR": str(tmp_path / "media")}
    log = (tmp_path / "ui.log").open("wb")
    proc = subprocess.Popen(ui_command("127.0.0.1", port), cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", 60, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def settle(page: Any) -> None:
    """Wait until Streamlit has finished the current run (its status widget shows nothing running)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=30_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.match(/Running|Stop|运行|停止/)",
        timeout=60_000,
    )
    page.wait_for_timeout(500)


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(base)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(f"demo-{username}")
    page.get_by_role("button", name="登录").click()
    page.get_by_role("button", name="退出登录").wait_for(timeout=30_000)
    settle(page)


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="退出登录").click()
    page.get_by_label("用户名").wait_for(timeout=30_000)


def choose(page: Any, label: str, option: str) -> None:
    """Pick `option` in the Streamlit selectbox labelled `label`."""
    page.locator("[data-testid='stSelectbox']").filter(has_text=label).first.click()
    page.get_by_role("option", name=option).first.click()
    settle(page)


def nav_links(page: Any) -> list[str]:
    """The page titles of the sidebar navigation (each link's text ends with its title, after the icon's name)."""
    return [link.inner_text().strip().split("\n")[-1] for link in page.locator("[data-testid='stSidebarNav'] a").all()]


def case_state(url: str, number: str) -> str:
    db = Database(url)
    try:
        with db.read() as session:
            return session.execute(select(Case.state).where(Case.number == number)).scalar_one()
    finally:
        db.dispose()


@pytest.mark.slow
def test_sign_in_act_and_screenshot_every_page(console_url: str, demo_file: str) -> None:
    from playwright.sync_api import sync_playwright

    shots = screenshot_dir()
    db = Database(demo_file)
    with db.read() as session:
        number = (
            session.execute(
                select(Case.number).where(Case.state == "reviewing", Case.tier == "village").order_by(Case.number)
            )
            .scalars()
            .first()
        )
    db.dispose()
    assert number is not None
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
            # the village reviewer opens the case from her queue and dispatches it to the community committee
            sign_in(page, console_url, "reviewer_village")
            page.locator("h1", has_text="审核队列").wait_for(timeout=30_000)
            page.locator("[data-testid='stDataFrame']").wait_for(timeout=30_000)
            page.screenshot(path=str(shots / "reviewer_village-queue.png"), full_page=True)
            choose(page, "打开案卷", number)
            page.get_by_role("button", name="打开").click()
            page.locator("h1", has_text="案卷详情").wait_for(timeout=30_000)
            settle(page)
            choose(page, "操作", "派遣")
            page.get_by_label("备注（选填）").fill("请今日清运")
            page.get_by_role("button", name="提交").click()
            page.get_by_text("已办理“派遣”").wait_for(timeout=30_000)
            settle(page)
            page.screenshot(path=str(shots / "reviewer_village-case-dispatched.png"), full_page=True)
            assert case_state(demo_file, number) == "dispatched"
            # the committee's dispatcher acknowledges it on her board
            sign_out(page)
            sign_in(page, console_url, "dispatcher_village")
            page.get_by_text(number).first.wait_for(timeout=30_000)
            page.get_by_role("button", name="签收").first.click()
            page.wait_for_function("() => document.body.innerText.includes('已签收')", timeout=30_000)
            settle(page)
            page.screenshot(path=str(shots / "dispatcher_village-board-acknowledged.png"), full_page=True)
            sign_out(page)
            # every role, every page of its navigation
            for username in ROLES:
                sign_in(page, console_url, username)
                for title in nav_links(page):
                    page.locator("[data-testid='stSidebarNav'] a").filter(has_text=title).first.click()
                    settle(page)
                    assert page.locator("[data-testid='stException']").count() == 0, (username, title)
                    page.screenshot(path=str(shots / f"{username}-{title}.png"), full_page=True)
                sign_out(page)
        finally:
            browser.close()
