"""A real headless browser for the status page: Debian's chromium and chromedriver
driven by Selenium. The setup installs them where it can (root with apt-get) and
skips with the reason where it cannot."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

from tests.support import apt

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

PACKAGES = ("chromium", "chromium-driver")


def _binaries() -> tuple[str | None, str | None]:
    return shutil.which("chromium"), shutil.which("chromedriver")


@contextmanager
def chromium(width: int = 1280, height: int = 1000) -> Iterator[WebDriver]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    browser, driver = _binaries()
    if browser is None or driver is None:
        reason = apt.install(PACKAGES)
        browser, driver = _binaries()
        if browser is None or driver is None:
            pytest.skip(reason or "chromium/chromedriver not found after installing")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    # An explicit driver path: Selenium Manager would try to download one.
    session = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield session
    finally:
        session.quit()
