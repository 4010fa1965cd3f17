"""Nothing is paid twice: a killed run resumes with exactly the unanswered requests, a rerun
sends nothing, and a template or model change regenerates exactly what it affects."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.synth._fixtures import dataset, scenes
from vit.records import Dataset
from vit.synth import templates
from vit.synth.cache import Cache
from vit.synth.run import SynthConfig, synthesize
from vit.synth.testing import ChatServer, Reply, grounded_responder

ROOT = Path(__file__).resolve().parents[2]
RECS = scenes(40, seed=9)


def config(srv: ChatServer, tmp: Path, **kw) -> SynthConfig:
    opts = {
        "backend": "openai",
        "model": "fake-llm",
        "base_url": srv.url,
        "cache_dir": str(tmp / "cache"),
        "backoff_base": 0.01,
        "dedup": False,
    }
    return SynthConfig(**(opts | kw))


def test_a_killed_run_resumes_with_exactly_the_unanswered_requests(tmp_path) -> None:
    src = dataset(tmp_path / "src", RECS, shard_size=10)
    script = textwrap.dedent(
        """
        import sys
        from vit.synth.run import SynthConfig, synthesize
        src, out, url, cache = sys.argv[1:]
        cfg = SynthConfig(backend="openai", model="fake-llm", base_url=url, cache_dir=cache,
                          concurrency=2, dedup=False)
        synthesize(src, out, cfg, progress=False)
        """
    )
    with ChatServer(grounded_responder, delay=0.03) as srv:
        args = [str(src), str(tmp_path / "out"), srv.url, str(tmp_path / "cache")]
        proc = subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT)
        try:
            deadline = time.monotonic() + 60
            while srv.count < 20 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
        finally:
            os.kill(proc.pid, signal.SIGKILL)  # no cleanup, no atexit: a real crash
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        time.sleep(0.1)  # let the server finish answering into the dead sockets
        answered = len(Cache(tmp_path / "cache"))
        assert 10 <= answered < 40
        before = srv.count
        m = synthesize(src, tmp_path / "out", config(srv, tmp_path), progress=False)
        resent = srv.count - before
        assert resent == 40 - answered  # exactly the work that was left
        assert m["run"]["sent"] == resent and m["total"]["kept"] == 40
        assert len(Dataset.open(tmp_path / "out")) == 40

        before = srv.count
        again = synthesize(src, tmp_path / "out", config(srv, tmp_path), progress=False)
        assert srv.count == before and again["run"]["sent"] == 0
        assert again["total"] == m["total"]  # the metrics cover the dataset, not the run


def test_template_or_model_change_regenerates_exactly_what_it_affects(tmp_path, monkeypatch):
    src = dataset(tmp_path / "src", RECS[:12], shard_size=4)
    both = {"conversation": 1, "detail": 1}
    with ChatServer(grounded_responder) as srv:
        synthesize(src, tmp_path / "out", config(srv, tmp_path, n_per_type=both), progress=False)
        assert srv.count == 24
        copy = tmp_path / "templates"
        shutil.copytree(templates.TEMPLATE_DIR, copy)
        monkeypatch.setattr(templates, "TEMPLATE_DIR", copy)
        templates._load.cache_clear()
        path = copy / "detail.system.txt"
        path.write_text(path.read_text() + "\nMention every color.")
        try:
            m = synthesize(
                src, tmp_path / "out", config(srv, tmp_path, n_per_type=both), progress=False
            )
        finally:
            monkeypatch.undo()  # the real templates again, and no stale cached hashes
            templates._load.cache_clear()
        assert srv.count == 24 + 12  # only the detail requests, once each
        assert all(
            b["messages"][0]["content"].endswith("Mention every color.") for b in srv.requests[24:]
        )
        assert m["run"]["cache_hits"] == 12
        cfg = config(srv, tmp_path, n_per_type=both, model="another-llm")
        synthesize(src, tmp_path / "out", cfg, progress=False)
        assert srv.count == 36 + 24  # a new model: everything, once


def test_failed_requests_are_retried_by_the_next_run_only(tmp_path) -> None:
    src = dataset(tmp_path / "src", RECS[:10], shard_size=5)
    down = {"on": True}

    def outage(body, n):
        return Reply(status=503) if down["on"] and n % 4 == 0 else grounded_responder(body, n)

    with ChatServer(outage) as srv:
        first = synthesize(
            src, tmp_path / "out", config(srv, tmp_path, max_retries=0), progress=False
        )
        failed = first["total"]["failures"]
        assert failed == 3 and first["total"]["kept"] == 7
        rows = Dataset.open(tmp_path / "out").rejects()
        assert sum(r["code"] == "generation_failed" for r in rows) == 3
        down["on"], before = False, srv.count
        second = synthesize(src, tmp_path / "out", config(srv, tmp_path), progress=False)
        assert srv.count - before == failed
        assert second["total"]["failures"] == 0 and second["total"]["kept"] == 10
        assert Dataset.open(tmp_path / "out").rejects() == []
