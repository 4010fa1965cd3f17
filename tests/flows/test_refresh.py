"""The incremental refresh: a drop of 20 images (2 of them old) adds exactly 18 records, and
instructions for the 18 when their annotations come along in a `records.jsonl` sidecar."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from vit.records import Dataset, read_jsonl

ROOT = Path(__file__).resolve().parents[2]
NEW_SCENES = 18


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """An existing deduplicated dataset (40 scenes), a drop of new scenes and a params file."""
    from vit.curate.run import curate
    from vit.dedup.run import DedupConfig, dedup
    from vit.ingest import ingest
    from vit.sources.scenes import generate_scenes

    root = tmp_path_factory.mktemp("refresh")
    generate_scenes(root / "raw", n=40, seed=0, size=64, defect_rate=0.0, progress=False)
    generate_scenes(root / "new", n=NEW_SCENES, seed=11, size=64, defect_rate=0.0, progress=False)
    ingest("vitflow", root / "raw/scenes.jsonl", root / "ingested")
    curate(root / "ingested", root / "curated", progress=False)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["dedup"]["cache_root"] = str(root / "embcache")  # never the repo's cache
    params["synthesize"]["cache_dir"] = str(root / "synthcache")
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    config = DedupConfig(methods=["exact", "near", "semantic"], cache_root=str(root / "embcache"))
    dedup(root / "curated", root / "deduped", config, progress=False)
    return root


def drop(base: Path, incoming: Path, records: bool = False) -> dict[str, str]:
    """18 new scenes (named like old ones, on purpose), an exact and a JPEG copy of two old
    images, two broken files, and a captions sidecar, or with `records` a records.jsonl
    sidecar (the scenes' own annotations and captions, plus two rows whose image is outside
    the folder). Returns {file: old id it copies}."""
    from PIL import Image

    incoming.mkdir(parents=True)
    captions, rows = [], []
    for rec in read_jsonl(base / "new/scenes.jsonl"):
        shutil.copyfile(base / "new" / rec["image"], incoming / Path(rec["image"]).name)
        captions.append({"file_name": Path(rec["image"]).name, "captions": rec["captions"]})
        rows.append({**rec, "image": Path(rec["image"]).name})
    if records:
        outside = base / "new" / next(read_jsonl(base / "new/scenes.jsonl"))["image"]
        rows += [{**rows[0], "id": "escape", "image": os.path.relpath(outside, incoming)},
                 {**rows[0], "id": "absolute", "image": str(outside)}]  # fmt: skip
        (incoming / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        (incoming / "captions.jsonl").write_text("".join(json.dumps(c) + "\n" for c in captions))
    old = Dataset.open(base / "deduped")
    first, second = list(old)[3:5]
    (incoming / "old").mkdir()
    shutil.copyfile(old.resolve(first), incoming / "old/copy.png")
    Image.open(old.resolve(second)).convert("RGB").save(incoming / "old/again.jpg", quality=85)
    (incoming / "broken.png").write_text("not a png at all")
    (incoming / "notes.txt").write_text("sent by the field team")
    return {"old/copy.png": first.id, "old/again.jpg": second.id}


def _config(base: Path, tmp: Path, **kw):
    from vit.refresh import RefreshConfig

    paths = dict(incoming=str(tmp / "incoming"), dataset=str(tmp / "ds"), state=str(tmp / "st"))
    paths["synth_out"] = str(tmp / "synth")
    return RefreshConfig(seen=[str(base / "deduped")], **{**paths, **kw})


def test_refresh_adds_the_new_and_reports_the_old(base, tmp_path):
    from PIL import Image

    from vit.refresh import load_ledger, mark_trained, refresh
    from vit.sources.scenes import make_scene

    copies = drop(base, tmp_path / "incoming", records=True)
    params = yaml.safe_load((base / "params.yaml").read_text())
    config = _config(base, tmp_path, threshold=30)
    s = refresh(config, params)

    assert s["files"] == 22 and s["new"] == 22 and s["unaccounted"] == []
    assert s["added"] == NEW_SCENES and s["dataset_count"] == NEW_SCENES
    got = {d["files"][0]: (d["duplicate_of"], d["kind"]) for d in s["duplicates"]}
    assert got == {"old/copy.png": (copies["old/copy.png"], "exact"),
                   "old/again.jpg": (copies["old/again.jpg"], "near")}  # fmt: skip
    reasons = {r["files"][0]: r["reason"] for r in s["rejected"]}
    assert set(reasons) == {"broken.png", "notes.txt"} and all(reasons.values())
    assert s["since_training"] == NEW_SCENES and not s["retrain_due"]  # 18 < 30

    ds = Dataset.open(tmp_path / "ds")
    recs = list(ds)
    assert all(ds.resolve(r).exists() and r.split and r.metadata["hashes"] for r in recs)
    assert all(r.captions for r in recs)  # carried over from the sidecar
    assert len({r.id for r in recs}) == NEW_SCENES
    # The records sidecar: every scene's boxes came along; the rows whose image lies outside
    # the incoming folder were refused (never read), and the sidecar itself is not an image.
    scenes = {Path(r["image"]).name: r for r in read_jsonl(base / "new/scenes.jsonl")}
    for r in recs:
        want = scenes[r.metadata["refresh"]["files"][0]]
        assert [a.box for a in r.annotations] == [a["box"] for a in want["annotations"]]
        assert r.metadata["refresh"]["record_id"] == want["id"]
    assert [(b["line"], "escapes" in b["reason"] or "absolute" in b["reason"])
            for b in s["sidecar_rejects"]] == [(19, True), (20, True)]  # fmt: skip

    # Synthesized: instructions for all 18 new records, grounded in their boxes.
    synth = Dataset.open(tmp_path / "synth")
    sources = {r.metadata["synth"]["source_id"] for r in synth}
    assert sources == {r.id for r in recs} and all(r.conversations for r in synth)
    assert s["synthesized"] == synth.count > NEW_SCENES and s["synth"]["sent"] > 0
    ledger = load_ledger(tmp_path / "st")
    assert len(ledger) == 22  # one outcome per file content, rejects included
    assert {r["status"] for r in ledger.values()} == {"added", "duplicate", "rejected"}

    again = refresh(config, params)  # nothing new: nothing is read again, nothing added
    assert again["new"] == 0 and again["added"] == 0 and again["batch"] is None
    assert Dataset.open(tmp_path / "ds").count == NEW_SCENES
    assert again["synthesized"] == 0 and again["synth"] is None  # nothing behind: not run
    shutil.rmtree(tmp_path / "synth")  # lost instructions are redone, from the cache alone
    redo = refresh(config, params)
    assert redo["synth"]["sent"] == 0 and redo["synth"]["cache_hits"] >= s["synth"]["sent"]
    assert redo["synthesized"] == synth.count

    # A later drop: a re-encoded copy of a record the first refresh added, known bytes under
    # a new name (not read again), and one genuinely new scene.
    added = recs[0]
    Image.open(ds.resolve(added)).convert("RGB").save(tmp_path / "incoming/later.jpg", quality=90)
    shutil.copyfile(tmp_path / "incoming/broken.png", tmp_path / "incoming/renamed.png")
    make_scene(seed=99, index=0, size=64)[1].save(tmp_path / "incoming/fresh.png")
    third = refresh(config, params)
    assert third["new"] == 2 and third["batch"] == 2 and third["added"] == 1
    assert [d["duplicate_of"] for d in third["duplicates"]] == [added.id]
    assert Dataset.open(tmp_path / "ds").count == NEW_SCENES + 1
    # fresh.png came without annotations: nothing to ground on, nothing synthesized or sent
    assert third["synthesized"] == 0 and third["synth"]["sent"] == 0
    assert third["synth"]["skipped_records"] == 1
    assert mark_trained(tmp_path / "st")["since_training"] == 0


def test_refresh_flow_reports_retraining_due(base, tmp_path, prefect_api):
    from flows.refresh import refresh_flow

    drop(base, tmp_path / "incoming")
    s = refresh_flow(
        incoming=str(tmp_path / "incoming"),
        dataset=str(tmp_path / "ds"),
        seen=[str(base / "deduped")],
        state=str(tmp_path / "st"),
        synth_out=str(tmp_path / "synth"),
        threshold=10,
        params_path=str(base / "params.yaml"),
    )
    assert s["added"] == NEW_SCENES and len(s["duplicates"]) == 2
    assert s["retrain_due"] and "retrain_triggered" not in s  # no deployment named: reported
    assert s["synthesized"] == 0 and s["synth"]["skipped_records"] == NEW_SCENES  # no boxes


def test_dedup_flow_result_is_cached_by_content(base, tmp_path, prefect_api):
    from flows.dedup import dedup_flow

    kw = dict(src=str(base / "curated"), out=str(tmp_path / "d"), params={"methods": ["exact"]})
    first, second = dedup_flow(**kw), dedup_flow(**kw)
    assert not first["cached"] and second["cached"] and second["kept"] == first["kept"]
    shutil.rmtree(tmp_path / "d")  # the output is gone: recomputed, not trusted to the cache
    assert not dedup_flow(**kw)["cached"] and Dataset.open(tmp_path / "d").count == first["kept"]
