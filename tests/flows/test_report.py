"""The demo's closing summary reads metrics/ and says what each stage did, AL rounds included."""

from __future__ import annotations

import json

from flows import report


def test_summary_names_every_stage_and_the_active_rounds(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "metrics").mkdir()
    curves = {"hybrid": {"round": [0, 1], "samples": [400.0, 880.0], "mean": [0.21, 0.28]}}
    (tmp_path / "metrics" / "al.json").write_text(json.dumps({"curves": curves}))
    crowd = {"1": {"n": 145, "accuracy": 0.8}, "7+": {"n": 60, "accuracy": 0.48}}
    ev = {"overall": {"tuned": 0.61}, "by_objects": crowd}
    (tmp_path / "metrics" / "eval.json").write_text(json.dumps(ev))
    report.main()
    out = capsys.readouterr().out
    assert "evaluate    overall accuracy {'tuned': 0.61}" in out
    assert "tuned, by objects in the scene {'1': 0.8, '7+': 0.48}" in out
    assert (
        "active      hybrid: accuracy [0.21, 0.28] after rounds [0, 1] ([400, 880] samples)" in out
    )
    for stage in ("ingest", "curate", "dedup", "synthesize"):
        assert f"  {stage}" in out  # absent metrics print None, never crash
