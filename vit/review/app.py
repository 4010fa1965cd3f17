"""The FiftyOne App on a synced dataset, served on 127.0.0.1 by default.

    vit review launch  ->  launch("vitflow", port=5151)   then open http://127.0.0.1:5151

The App is served, never opened in a browser (remote mode), so it works the same on a
workstation and over `ssh -L 5151:127.0.0.1:5151`. The saved views (rejected,
duplicates, leaky-splits) are in the view bar; tags set there are read back by
`vit review pull`.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

# For a headless browser driving the App (tests, docs/screenshots.py), set before any page
# script runs: FiftyOne's own Playwright switch (no analytics component) and its "seen" flag
# for the Enterprise call-to-action popup, which would cover the grid.
PLAYWRIGHT_INIT_SCRIPT = """
window.IS_PLAYWRIGHT = true;
window.localStorage.setItem("fiftyone-enterprise-tooltip-seen", "true");
"""


def launch(
    name: str,
    address: str = "127.0.0.1",
    port: int = 5151,
    wait: bool = True,
    view: str | None = None,
) -> Any:
    """Serve the App on `address:port` with dataset `name` (and saved view `view`) loaded.

    With `wait`, blocks until interrupted (Ctrl-C, or SIGTERM as `kill`, systemd and
    Docker stop a service) and then closes the App; otherwise returns the running
    `fiftyone.core.session.Session`, which the caller closes with `.close()`.
    """
    from vit.review.db import load_fiftyone

    fo = load_fiftyone()
    ds = fo.load_dataset(name)
    loaded = ds.load_saved_view(view) if view else None

    def start() -> Any:
        return fo.launch_app(ds, view=loaded, address=address, port=port, remote=True)

    if not wait:
        return start()
    # From before the App starts: a stop that arrives while it starts still closes it.
    previous, session = _stop_on_sigterm(), None
    try:
        session = start()
        session.wait(-1)  # a remote session has no window to wait for: run until Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        if session is not None:
            session.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return session


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop_on_sigterm() -> Any:
    """SIGTERM stops the App as Ctrl-C does (its server is closed, not orphaned); returns
    the handler it replaced, or None off the main thread, where Python allows no handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _interrupt)
