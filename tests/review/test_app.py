"""The App serves HTTP on 127.0.0.1 and pages through the synced (raw-written) samples."""

from __future__ import annotations

import json
import urllib.request

from vit.ports import free_port
from vit.review import launch, sync

SAMPLES_QUERY = """query Samples($dataset: String!) {
  samples(dataset: $dataset, view: [], first: 20) {
    ... on SampleItemStrConnection { edges { node { ... on ImageSample { id sample } } } }
  }
}"""


def graphql(port: int, query: str, **variables: object) -> dict:
    body = json.dumps({"query": query, "variables": variables}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_launch_serves_the_app_on_localhost(fiftyone_db, pipeline, tmp_path, monkeypatch):
    import fiftyone.constants as foc

    # FiftyOne records its welcome message under ~/.fiftyone; keep the home folder clean.
    monkeypatch.setattr(foc, "WELCOME_PATH", str(tmp_path / "welcome.json"))
    sync("t-app", deduped=pipeline["deduped"])
    port = free_port()
    session = launch("t-app", port=port, wait=False, view="duplicates")
    try:
        assert session.server_address == "127.0.0.1" and session.server_port == port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
        assert session.dataset.name == "t-app" and len(session.view) == 3  # 3 dup groups
        # What the App's grid asks for: the server must read the documents sync wrote.
        reply = graphql(port, SAMPLES_QUERY, dataset="t-app")
        assert "errors" not in reply, reply
        samples = [e["node"]["sample"] for e in reply["data"]["samples"]["edges"]]
        assert sorted(s["vit_id"] for s in samples) == [f"r{i}" for i in range(9)]
        assert all(s["ground_truth"]["detections"][0]["label"] == "circle" for s in samples)
    finally:
        session.close()
