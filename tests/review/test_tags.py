"""Reviewer tags -> overrides manifest, through FiftyOne's API on a real mongod."""

from __future__ import annotations

import json

from tests.review.conftest import dedup_meta
from vit.records import Dataset, Record, read_jsonl, write_dataset, write_jsonl
from vit.review import pull_overrides, read_overrides, sync


def tag(ds, tags_by_id):
    from fiftyone import ViewField as F

    for rid, tags in tags_by_id.items():
        s = ds.one(F("vit_id") == rid)
        s.tags.extend(tags)
        s.save()


def test_tags_round_trip_into_a_stable_manifest(fiftyone_db, pipeline, tmp_path):
    import fiftyone as fo
    from fiftyone import ViewField as F

    sync("t-tags", **pipeline)
    ds = fo.load_dataset("t-tags")
    # r4 kept -> reject; r7 duplicate and r9 rejected -> keep; r5 was never removed, so its
    # keep means nothing; r6 tagged both ways is rejected.
    tag(
        ds,
        {
            "r4": ["reject"],
            "r7": ["keep"],
            "r9": ["keep"],
            "r5": ["keep"],
            "r6": ["reject", "keep"],
        },
    )
    out = tmp_path / "overrides.json"
    manifest = pull_overrides("t-tags", out)
    assert manifest == {"keep": ["r7", "r9"], "reject": ["r4", "r6"]}
    assert json.loads(out.read_text()) == manifest == read_overrides(out)
    first = out.read_bytes()
    assert pull_overrides("t-tags", out) == manifest and out.read_bytes() == first  # stable
    untag = ds.one(F("vit_id") == "r9")
    untag.tags.remove("keep")
    untag.save()
    assert pull_overrides("t-tags", out) == {"keep": ["r7"], "reject": ["r4", "r6"]}


def test_a_restored_duplicate_stays_kept(fiftyone_db, pipeline, tmp_path):
    """After dedup restores r7 (status kept), its keep must stay in the manifest, or the run
    after would remove it again."""
    import fiftyone as fo

    sync("t-restore", **pipeline)
    tag(fo.load_dataset("t-restore"), {"r7": ["keep"]})
    out = tmp_path / "overrides.json"
    assert pull_overrides("t-restore", out)["keep"] == ["r7"]
    # What the next dedup run writes: r7 among the kept records, no longer a duplicate.
    before = Dataset.open(pipeline["deduped"])
    r7 = next(r for r in read_jsonl(before.path / "duplicates.jsonl") if r["id"] == "r7")
    kept = [*before, Record.from_dict({**r7["record"], "metadata": dedup_meta("r7")})]
    after = write_dataset(tmp_path / "deduped", kept, before.image_root)
    write_jsonl(
        after.path / "duplicates.jsonl",
        [r for r in read_jsonl(before.path / "duplicates.jsonl") if r["id"] != "r7"],
    )
    report = sync("t-restore", **{**pipeline, "deduped": after.path})
    assert report.status["duplicate"] == 1 and (report.updated, report.unchanged) == (1, 11)
    assert pull_overrides("t-restore", out)["keep"] == ["r7"]


def test_no_manifest_means_no_overrides(tmp_path):
    assert read_overrides(tmp_path / "missing.json") == {"keep": [], "reject": []}
    assert read_overrides(None) == {"keep": [], "reject": []}
