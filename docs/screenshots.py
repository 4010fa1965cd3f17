"""The review screenshots under docs/, made again from the data by one command.

    python docs/screenshots.py                 # review_duplicates.png, review_rejected.png
    python docs/screenshots.py al              # review_hard_examples.png (a tiny `vit al` run)
    python docs/screenshots.py demo al --out-dir /tmp/shots

Everything is private to the run: a mongod on a temporary folder (FIFTYONE_DATABASE_URI, as
the review tests start one), the App started the way a reviewer starts it (`vit review
launch` on a free port of 127.0.0.1), and Debian's headless Chromium through Playwright
(`/usr/bin/chromium`; Playwright's own browser download is never used) that reaches nothing
but the App. Each shot opens a saved view by its link, waits until the view's count is shown
and its images are served, and saves a PNG.

- `demo`: `vit review sync` of data/{ingested,curated,deduped}/scenes; the `duplicates`
  and `rejected` views.
- `al`: the active-learning loop of `vit al` (params.yaml `active`, the same config
  `flows/active.py` builds) with tiny settings (--al-set overrides them) and review
  `publish`, so round 1 writes its fields and views (vit/active/review.py); the `hard
  examples` view: the previous round's highest-loss training images. The last finished
  round of data/active (or of `--al-out`) is published when there is one, else a tiny run
  goes to a temporary folder (or to `--al-out`) first.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python docs/screenshots.py` from anywhere
from vit.ports import free_port  # noqa: E402
from vit.review.app import PLAYWRIGHT_INIT_SCRIPT  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 120_000
DEMO, AL = "vitflow-demo", "vitflow-al"
SHOTS = {
    "demo": {"duplicates": "review_duplicates.png", "rejected": "review_rejected.png"},
    "al": {"hard examples": "review_hard_examples.png"},
}
ACTIVE = REPO / "data" / "active"  # `vit al`'s own run, used when it has a finished round
AL_TINY = {"rounds": 1, "budget": 20, "seed_size": 20, "steps": 20, "eval_limit": 40}


def sync_demo(name: str) -> dict[str, int]:
    from vit.review.sync import sync

    data = REPO / "data"
    stages = {s: data / s / "scenes" for s in ("ingested", "curated", "deduped")}
    return sync(name, **{k: p for k, p in stages.items() if (p / "vitflow.json").exists()}).views


def finished_rounds(out: Path) -> list[int]:
    """Rounds k >= 1 of the AL run in `out` that got past their review (so have views)."""
    done = [d for d in out.glob("round-*") if (d / "accepted" / "vitflow.json").exists()]
    return sorted(k for k in (int(d.name.split("-")[1]) for d in done) if k >= 1)


def run_al(name: str, out: Path, sets: dict[str, Any]) -> dict[str, Any]:
    """Round k's review published to `name`: the last finished round of the run in `out`,
    else a tiny `vit al` run there first (its loop in this process, no Prefect server)."""
    from flows.active import load_config
    from vit.active.data import synthesized
    from vit.active.loop import Loop, run_loop
    from vit.active.review import HARD_EXAMPLES, review_round
    from vit.review.db import load_fiftyone

    over = {**sets, "out": str(out), "metrics_path": "", "review": "publish"}
    over.update(review_dataset=name, cache_root=str(out / "emb_cache"))
    rounds = finished_rounds(out)
    if not rounds:  # a new run: tiny, and never over an existing run (its rounds would go)
        cfg, synth, _ = load_config(str(REPO / "params.yaml"), {**AL_TINY, **over})
        run_loop(cfg, synth)
        rounds = finished_rounds(out)
    else:
        cfg, synth, _ = load_config(str(REPO / "params.yaml"), over)
    k, fo = rounds[-1], load_fiftyone()
    if not (fo.dataset_exists(name) and fo.load_dataset(name).has_saved_view(HARD_EXAMPLES)):
        loop = Loop(cfg, synth)  # a finished round: publish it again (no waiting, no writes)
        review_round(loop, k, synthesized(loop.dir(k) / "synth", 0, {"round": k}))
    return {"out": str(out), "round": k, "views": fo.load_dataset(name).list_saved_views()}


@contextmanager
def app(name: str, log: Path) -> Iterator[str]:
    """`vit review launch --name NAME` on a free loopback port; yields its URL; Ctrl-C stops it."""
    port = free_port()
    cmd = [sys.executable, "-m", "flows.cli", "review", "launch", "--name", name]
    env = {**os.environ, "HOME": str(log.parent), "FIFTYONE_DO_NOT_TRACK": "true"}
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the App did not start:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(base + "/", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does: launch() closes the App
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def expected(name: str, view: str) -> tuple[str, str, int]:
    """(URL slug, the count the App shows as a regex, samples) for saved view `view`."""
    import fiftyone as fo
    import fiftyone.core.utils as fou

    v = fo.load_dataset(name).load_saved_view(view)
    slug, n = fou.to_slug(view), v.count()  # the App's `?view=` names a saved view by slug
    # A dynamic-group view counts groups; the App says "N groups".
    return slug, (r"\d+\s+groups" if v._is_dynamic_groups else rf"{n}\s+samples"), n


def shoot(base: str, name: str, shots: dict[str, Path], size: tuple[int, int]) -> None:
    """One PNG per saved view, taken once the grid shows the view's count and its images."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--disable-dev-shm-usage"]
        )
        try:
            ctx = browser.new_context(viewport={"width": size[0], "height": size[1]})
            ctx.add_init_script(PLAYWRIGHT_INIT_SCRIPT)

            def only_the_app(route: Any) -> None:
                if route.request.url.startswith(base + "/"):
                    route.continue_()
                else:
                    route.abort()

            ctx.route("**/*", only_the_app)
            page = ctx.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            media: list[str] = []
            page.on("response", lambda r: "/media?" in r.url and r.ok and media.append(r.url))
            for view, path in shots.items():
                slug, count, n = expected(name, view)
                if n == 0:
                    raise RuntimeError(f"{name}: view {view!r} is empty, nothing to show")
                media.clear()
                page.goto(f"{base}/datasets/{name}?view={slug}")
                bar = page.locator("[data-cy=saved-views-selection]")
                expect(bar).to_contain_text(view)
                counts = page.locator("[data-cy=entry-counts]")
                expect(counts).to_have_text(re.compile(rf"\b{count}\b"))
                tiles = page.locator("[data-cy=looker]")
                expect(tiles.first).to_be_visible()
                deadline = time.monotonic() + TIMEOUT_MS / 1000
                while len(set(media)) < min(n, tiles.count()) and time.monotonic() < deadline:
                    page.wait_for_timeout(200)
                page.wait_for_timeout(1000)  # the last images decode and paint
                page.screenshot(path=str(path))
                print(f"{path}: {name} / {view} ({n} samples)")
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", nargs="*", default=["demo"], choices=sorted(SHOTS))
    ap.add_argument("--out-dir", default=str(REPO / "docs"), help="where the PNGs go")
    ap.add_argument("--al-out", help="the AL run's folder (default: a temporary one)")
    ap.add_argument("--al-set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--size", default="1400x900", help="browser viewport, WIDTHxHEIGHT")
    args = ap.parse_args(argv)
    if not CHROMIUM.is_file():
        raise SystemExit(f"no {CHROMIUM}: `apt-get install chromium` (what `make` does)")
    import yaml

    from vit.review.db import temporary_database

    sets = {k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in args.al_set)}
    size = tuple(int(x) for x in args.size.lower().split("x"))
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vit-shots-") as tmp, temporary_database(tmp):
        for what in dict.fromkeys(args.what):
            if what == "demo":
                name, info = DEMO, sync_demo(DEMO)
            else:
                out = args.al_out or (ACTIVE if finished_rounds(ACTIVE) else Path(tmp) / "al")
                name, info = AL, run_al(AL, Path(out), sets)
            print(f"{what}: {info}")
            paths = {view: out_dir / png for view, png in SHOTS[what].items()}
            with app(name, Path(tmp) / f"{what}-launch.log") as base:
                shoot(base, name, paths, size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
