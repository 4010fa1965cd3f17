"""sync against a real mongod: fields, boxes, statuses, views, re-sync, raw documents."""

from __future__ import annotations

import numpy as np
import pytest

from tests.review.conftest import DUPLICATE, GROUPS, KEPT, REJECTED, SKIPPED, build_pipeline
from vit.review import sync
from vit.review.views import DUPLICATES, LEAKY_SPLITS
from vit.review.views import REJECTED as REJECTED_VIEW


@pytest.fixture(scope="module")
def synced(fiftyone_db, pipeline):
    import fiftyone as fo

    report = sync("t-sync", **pipeline)
    return report, fo.load_dataset("t-sync")


def one(ds, rid):
    from fiftyone import ViewField as F

    return ds.one(F("vit_id") == rid)


def test_counts_statuses_and_skips(synced):
    from fiftyone import ViewField as F

    report, ds = synced
    assert report.samples == len(ds) == 12
    assert report.inserted == 12 and report.updated == 0 and report.unchanged == 0
    assert report.status == {"duplicate": 2, "kept": 7, "rejected": 3}
    assert report.skipped == SKIPPED
    for status, ids in (("kept", KEPT), ("duplicate", DUPLICATE), ("rejected", REJECTED)):
        assert sorted(ds.match(F("status") == status).values("vit_id")) == sorted(ids)
    assert ds.persistent and ds.media_type == "image"


def test_fields_and_box_conversion(synced, pipeline):
    _, ds = synced
    s = one(ds, "r0")
    assert s.filepath == str((pipeline["deduped"].parent / "images" / "r0.png").resolve())
    assert s.metadata.width == 32 and s.metadata.height == 24
    d0, d1 = s.ground_truth.detections
    assert d0.label == "circle" and d0.bounding_box == pytest.approx([0.1, 0.2, 0.4, 0.4])
    assert d1.bounding_box == pytest.approx([0.0, 0.0, 1.0, 1.0])
    assert (d0.shape, d0.color, d0.size) == ("circle", "red", "small")
    assert s.captions == ["caption 0", "two shapes"] and s.labels == ["circle", "square"]
    assert s.conversations[1] == {"from": "gpt", "value": "Two shapes (0)."}
    assert (s.source, s.split, s.status) == ("scenes", "train", "kept")
    assert (s.dup_group, s.dup_group_size) == ("g0", 2)
    assert s.leaky_split is False and s.curate_reason is None
    with np.load(pipeline["embeddings"]) as z:
        assert np.array_equal(s.embedding, z["embeddings"][0])


def test_decisions(synced):
    _, ds = synced
    r9, r10, r11 = one(ds, "r9"), one(ds, "r10"), one(ds, "r11")
    assert (r9.reject_stage, r9.curate_filter, r9.curate_reason, r9.curate_value) == (
        "curate",
        "blur",
        "blurry",
        3.25,
    )
    assert (r10.curate_filter, r10.curate_value) == ("min_size", 8.0)
    assert (r11.reject_stage, r11.curate_filter, r11.curate_value) == (
        "validate",
        "image_corrupt",
        None,
    )
    r8 = one(ds, "r8")
    assert (r8.duplicate_of, r8.dup_kind, r8.similarity) == ("r3", "near", pytest.approx(0.97))
    assert (r8.dup_group, r8.dup_group_size, r8.split) == ("g2", 2, None)
    assert one(ds, "r1").leaky_split and one(ds, "r2").leaky_split


def test_saved_views(synced):
    report, ds = synced
    assert set(ds.list_saved_views()) >= {REJECTED_VIEW, DUPLICATES, LEAKY_SPLITS}
    assert report.views == {REJECTED_VIEW: 3, DUPLICATES: 6, LEAKY_SPLITS: 2}
    assert sorted(ds.load_saved_view(REJECTED_VIEW).values("vit_id")) == sorted(REJECTED)
    groups = ds.load_saved_view(DUPLICATES)
    assert len(groups) == 3  # g0, g1, g2: one dynamic group each
    for group in groups.iter_dynamic_groups():
        ids = group.values("vit_id")
        assert {GROUPS[i] for i in ids} == {group.first().dup_group}
        assert group.first().status == "kept"  # the survivor leads its group
    assert sorted(ds.load_saved_view(LEAKY_SPLITS).values("vit_id")) == ["r1", "r2"]
    assert report.leaky_groups == 1


def test_similarity_index(synced):
    report, ds = synced
    assert report.embeddings == 12 and ds.has_brain_run("vit_sim")
    nearest = ds.sort_by_similarity(one(ds, "r3").id, k=3, brain_key="vit_sim")
    assert nearest.first().vit_id == "r3"


def test_resync_updates_in_place_and_keeps_tags(fiftyone_db, tmp_path):
    import fiftyone as fo

    paths = build_pipeline(tmp_path)
    sync("t-resync", **paths)
    ds = fo.load_dataset("t-resync")
    s = one(ds, "r4")
    s.tags.append("reject")
    s.save()
    again = sync("t-resync", **paths)
    assert (again.inserted, again.updated, again.unchanged, again.samples) == (0, 0, 12, 12)
    changed = sync("t-resync", **build_pipeline(tmp_path, captions_of_r0="a new caption"))
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 11)
    ds.reload()
    assert len(ds) == 12 and len(ds.distinct("vit_id")) == 12
    assert one(ds, "r0").captions[0] == "a new caption"
    assert ds.match_tags("reject").values("vit_id") == ["r4"]


def test_partial_inputs_and_stale_samples(fiftyone_db, pipeline):
    report = sync("t-partial", curated=pipeline["curated"])
    assert report.status == {"kept": 9, "rejected": 2} and report.skipped == {}
    assert report.embeddings == 0 and report.views["duplicates"] == 0
    report = sync("t-partial", deduped=pipeline["deduped"])
    # r9 and r10 are in no input any more: counted, left in place...
    assert report.stale == 2 and report.samples == 11
    report = sync("t-partial", deduped=pipeline["deduped"], prune=True)
    assert report.samples == 9 and report.status == {"duplicate": 2, "kept": 7}  # ...until pruned


def test_raw_documents_match_fiftyone_serialization(synced, fiftyone_db):
    """sync writes documents itself; they must be what FiftyOne would have written."""
    import fiftyone as fo

    _, ds = synced
    ours = ds._sample_collection.find_one({"vit_id": "r8"})
    s = one(ds, "r8")
    fields = {k: s[k] for k in ds.get_field_schema() if k not in ("id", "ground_truth", "metadata")}
    dets = [
        fo.Detection(
            label=d.label, bounding_box=d.bounding_box, shape=d.shape, color=d.color, size=d.size
        )
        for d in s.ground_truth.detections
    ]
    ref_ds = fo.Dataset()
    ref_ds.add_samples(
        [
            fo.Sample(
                **fields,
                ground_truth=fo.Detections(detections=dets),
                metadata=fo.ImageMetadata(width=32, height=24),
            )
        ]
    )
    ref = ref_ds._sample_collection.find_one({})
    volatile = {"_id", "_rand", "_dataset_id", "created_at", "last_modified_at"}

    def norm(doc):
        out = {k: v for k, v in doc.items() if k not in volatile and v is not None}
        for det in out["ground_truth"]["detections"]:
            det.pop("_id")
        # Same format (zlib of np.save bytes), but sync skips the compression work.
        out["embedding"] = fo.VectorField().to_python(out["embedding"]).tolist()
        return out

    assert norm(ours) == norm(ref)
    schema, ref_schema = ds.get_field_schema(flat=True), ref_ds.get_field_schema(flat=True)
    for path, field in ref_schema.items():
        assert type(schema[path]) is type(field), path
        if getattr(field, "field", None) is not None:  # FiftyOne infers no type for list[dict]
            assert type(schema[path].field) is type(field.field), path
