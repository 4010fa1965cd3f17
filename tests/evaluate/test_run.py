"""`evaluate_model` end to end on a tiny untrained model: the report's shape and baselines."""

from __future__ import annotations

import json

from tests._tiny import tiny_config
from vit.evaluate.metrics import crowding_band
from vit.evaluate.run import evaluate_model
from vit.ingest import ingest
from vit.model import build_model
from vit.records import Dataset, write_dataset
from vit.sources.scenes import generate_scenes


def test_evaluate_model_writes_report_with_baselines(tmp_path):
    generate_scenes(tmp_path / "raw", n=24, seed=2, size=32, defect_rate=0.0)
    ingest("vitflow", tmp_path / "raw" / "scenes.jsonl", tmp_path / "ing")
    ds = Dataset.open(tmp_path / "ing")
    recs = list(ds)
    for i, r in enumerate(recs):
        r.split = "test" if i % 3 == 0 else "train"
    write_dataset(tmp_path / "data", recs, ds.image_root)
    cfg = tiny_config()
    model = build_model(cfg, [c for r in recs for c in r.captions], tmp_path / "m")
    report = evaluate_model(
        model,
        tmp_path / "data",
        tmp_path / "eval",
        stage1_model=model,
        limit=12,
        max_new_tokens=4,
        metrics_path=tmp_path / "eval.json",
    )
    assert set(report["overall"]) == {"tuned", "majority", "stage1", "blind"}
    assert report["overall"]["tuned"] == report["overall"]["stage1"]  # same weights, greedy
    assert report["n_items"] == 12
    # Accuracy by scene crowding covers every exact-match item, by its scene's boxed objects.
    counts = {r.id: len(r.annotations) for r in recs if r.split == "test"}
    items = [
        json.loads(x) for x in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()
    ]
    bands = report["by_objects"]
    assert sum(b["n"] for b in bands.values()) == report["models"]["tuned"]["overall"]["n"]
    assert set(bands) == {crowding_band(counts[i["record_id"]]) for i in items}
    multi = [i for i in items if i["qtype"] in ("color", "shape") and counts[i["record_id"]] > 1]
    errors = report["attribute_errors"]
    assert sum(e["n"] for e in errors.values()) == len(multi)
    assert all(e["right"] + e["other_object"] + e["absent"] == e["n"] for e in errors.values())
    assert json.loads((tmp_path / "eval.json").read_text())["n_items"] == 12
    assert (tmp_path / "eval" / "accuracy_by_type.png").stat().st_size > 0
