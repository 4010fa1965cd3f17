"""The review App in a real browser: Debian's headless Chromium, driven through Playwright.

    pytest tests/review/test_app_browser.py        (needs /usr/bin/chromium: `make` installs it)

`vit review launch` runs as a reviewer runs it (its own process, here on a free port of
127.0.0.1) against the test session's private mongod. The browser opens the dataset's page,
waits for the grid to render every sample with its image, opens the saved view `duplicates`
from the view bar as a reviewer would, loads `rejected` by its URL, saves screenshots under
the test's temp dir, and the App is stopped with Ctrl-C (another test stops it with SIGTERM,
as `kill`, systemd and Docker do). The browser reaches nothing but the
App: every other request (web fonts, analytics) is refused.

Playwright's own browser download (`playwright install`) is never used.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from vit.ports import free_port
from vit.review import sync
from vit.review.app import PLAYWRIGHT_INIT_SCRIPT

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
NAME = "t-browser"
TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.is_file(),
        reason="no /usr/bin/chromium (Debian's `chromium` package; `make` installs it with apt-get)",
    ),
]


def listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses with a listening TCP socket on `port` (Linux /proc)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, _, hexport = local.partition(":")
                if state == "0A" and int(hexport, 16) == port:  # 0A: LISTEN
                    found.add(addr)
    return found


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vit review launch exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the App did not answer at {url} in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@contextmanager
def running_app(pipeline: dict[str, Path], tmp_path: Path, stop: signal.Signals) -> Iterator[int]:
    """`vit review launch` on a synced dataset; yields its port, then sends it `stop` and
    checks that it exits cleanly and its App server with it."""
    sync(NAME, **pipeline)
    port = free_port()
    log = tmp_path / "launch.log"
    # HOME: FiftyOne writes its welcome-message marker under ~/.fiftyone; keep it in tmp.
    env = {**os.environ, "HOME": str(tmp_path), "FIFTYONE_DO_NOT_TRACK": "true"}
    cmd = [sys.executable, "-m", "flows.cli", "review", "launch", "--name", NAME]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the App server is its child
            # A shell's background job (a CI runner's `cmd &`) starts with SIGINT ignored,
            # and an ignored signal stays ignored across exec: give the App back Ctrl-C.
            preexec_fn=_default_sigint,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc, log)
        yield port
        proc.send_signal(stop)  # launch() closes the App on either signal
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
        assert not listening_addresses(port), "the App server outlived `vit review launch`"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def app(fiftyone_db: str, pipeline: dict[str, Path], tmp_path: Path) -> Iterator[int]:
    """The App for a reviewer's browser, stopped with SIGINT (what Ctrl-C sends)."""
    with running_app(pipeline, tmp_path, signal.SIGINT) as port:
        yield port


def test_sigterm_stops_the_app_and_its_server(
    fiftyone_db: str, pipeline: dict[str, Path], tmp_path: Path
) -> None:
    """How `kill`, systemd and Docker stop a service: the App closes as on Ctrl-C."""
    with running_app(pipeline, tmp_path, signal.SIGTERM) as port:
        assert listening_addresses(port)


def test_a_reviewer_sees_the_samples_and_the_duplicates_view(app: int, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    port = app
    base = f"http://127.0.0.1:{port}"
    # Bound to loopback only (IPv4 127.0.0.1 in /proc's little-endian hex), never 0.0.0.0.
    assert listening_addresses(port) == {"0100007F"}
    refused, media = [], []
    with sync_playwright() as pw:
        # /dev/shm is small in containers; Chromium then uses /tmp for shared memory.
        args = ["--disable-dev-shm-usage"]
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            ctx.add_init_script(PLAYWRIGHT_INIT_SCRIPT)

            def only_the_app(route):
                if route.request.url.startswith(base + "/"):
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort()

            ctx.route("**/*", only_the_app)
            page = ctx.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("response", lambda r: "/media?" in r.url and media.append((r.status, r.url)))

            page.goto(f"{base}/datasets/{NAME}")
            counts, tiles = page.locator("[data-cy=entry-counts]"), page.locator("[data-cy=looker]")
            expect(counts).to_have_text(re.compile(r"\b12\s+samples\b"))
            expect(tiles).to_have_count(12)  # the grid drew a tile per sample
            # ...and fetched every sample's image from the App's media route.
            served = lambda: {u for status, u in media if status == 200}  # noqa: E731
            deadline = time.monotonic() + TIMEOUT_MS / 1000
            while len(served()) < 12 and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            assert len(served()) == 12 and all(status == 200 for status, _ in media), media
            page.screenshot(path=str(tmp_path / "all.png"))

            # A reviewer opens the saved view from the view bar.
            page.locator("[data-cy=saved-views-selection]").click()
            page.locator("[data-cy=saved-views-duplicates-selection-option]").click()
            expect(page).to_have_url(re.compile(r"[?&]view=duplicates\b"))
            expect(page.locator("[data-cy=saved-views-selection]")).to_contain_text("duplicates")
            expect(counts).to_have_text(re.compile(r"\b3\s+groups\b"))  # g0, g1, g2
            expect(tiles).to_have_count(3)
            page.screenshot(path=str(tmp_path / "duplicates.png"))

            # A saved view is also a link: ?view=<slug>.
            page.goto(f"{base}/datasets/{NAME}?view=rejected")
            expect(page.locator("[data-cy=saved-views-selection]")).to_contain_text("rejected")
            expect(counts).to_have_text(re.compile(r"\b3\s+samples\b"))
            expect(tiles).to_have_count(3)
            page.screenshot(path=str(tmp_path / "rejected.png"))
        finally:
            browser.close()
    for shot in ("all.png", "duplicates.png", "rejected.png"):
        assert (tmp_path / shot).stat().st_size > 10_000
    assert all(not u.startswith("http://127.0.0.1") for u in refused)
