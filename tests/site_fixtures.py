"""Shared fixtures of the documentation-site tests (tests/test_site_*.py), registered for
every test by `pytest_plugins` in conftest.py.

The site is built once per test session, whichever test module asks first: `build_site` is
cached at module level, so the fixture modules that import it share one build.
"""

from __future__ import annotations

import atexit
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# Chromium in a closed network: without the background-networking switches it tries to reach
# Google's services and the refused connections show up as console errors.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@dataclass
class Build:
    site: Path
    seconds: float
    returncode: int
    output: str


def mkdocs_build(config: Path, site: Path) -> Build:
    """`mkdocs build --strict` of `config` into `site`."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
         "--site-dir", str(site)],
        cwd=config.parent, env=env, capture_output=True, text=True, timeout=300)
    return Build(site, time.perf_counter() - start, done.returncode, done.stdout + done.stderr)


@functools.lru_cache(maxsize=None)
def build_site() -> Build:
    """The project's site, built once into a temporary folder removed at exit."""
    site = Path(tempfile.mkdtemp(prefix="labml-memory-site-"))
    atexit.register(shutil.rmtree, site, ignore_errors=True)
    return mkdocs_build(ROOT / "mkdocs.yml", site)


@pytest.fixture(scope="session")
def built_site() -> Build:
    return build_site()


@pytest.fixture(scope="session")
def site_dir(built_site: Build) -> Path:
    if built_site.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{built_site.output}")
    return built_site.site


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def site_url(site_dir: Path):
    """The built site, served on 127.0.0.1 at a free port from a background thread."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (Playwright's own browser download does not
    work on these machines). Missing Chromium is a failure, not a skip: CI installs it."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: the site's browser tests need Debian's Chromium "
                    "(apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def site_pages(site: Path) -> list[str]:
    """Paths of every page of the built site, relative to its root ('' is the home page)."""
    pages = []
    for html in sorted(site.rglob("index.html")):
        relative = html.parent.relative_to(site).as_posix()
        pages.append("" if relative == "." else relative + "/")
    return pages
