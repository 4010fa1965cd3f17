"""Task-level focus: question-type shares from the probes' learning progress, and the loop
that measures them and asks the writer for them."""

from __future__ import annotations

import json

import pytest

from tests.active._cfg import synth_params, tiny_cfg
from vit.active.focus import default_shares, progress_focus, type_stats
from vit.active.scoring import probe_stats
from vit.records import Dataset


def _stats(**loss: float) -> dict[str, dict[str, float]]:
    return {t: {"loss": v, "error": 0.5, "n": 10} for t, v in loss.items()}


def test_progress_focus_gives_half_the_questions_to_the_types_that_improved():
    d = default_shares()
    before = _stats(count=1.0, color=0.5, shape=0.9, size=0.2, existence=0.4, position=0.4)
    now = _stats(count=0.7, color=0.5, shape=0.8, size=0.25, existence=0.4, position=0.41)
    out = progress_focus(before, now)
    assert out["gain"] == pytest.approx(
        {
            "count": 0.3,
            "color": 0.0,
            "shape": 0.1,
            "size": -0.05,
            "existence": 0.0,
            "position": -0.01,
        }
    )
    s = out["shares"]
    assert s["count"] == pytest.approx(0.5 * d["count"] + 0.5 * 0.75, abs=1e-5)
    assert s["shape"] == pytest.approx(0.5 * d["shape"] + 0.5 * 0.25, abs=1e-5)
    for t in ("color", "size", "existence", "position"):  # no progress: half their default
        assert s[t] == pytest.approx(0.5 * d[t], abs=1e-5)
    assert sum(s.values()) == pytest.approx(1.0, abs=1e-5)
    assert progress_focus(before, now, share=0.0)["shares"] == pytest.approx(d)


def test_no_progress_anywhere_or_a_missing_type_keeps_the_default_mix():
    flat = _stats(count=0.5, color=0.5)
    assert progress_focus(flat, _stats(count=0.6, color=0.5))["shares"] == default_shares()
    out = progress_focus(_stats(count=0.9), _stats(count=0.5, shape=0.1))  # shape: no before
    assert "shape" not in out["gain"]
    assert out["shares"]["shape"] == pytest.approx(0.5 * default_shares()["shape"], abs=1e-5)
    with pytest.raises(ValueError, match="share"):
        progress_focus(flat, flat, share=1.5)


def test_type_stats_average_the_probes_of_each_type(al_data, al_model):
    recs = [r for r in Dataset.open(al_data) if r.split == "train"][:8]
    root = Dataset.open(al_data).image_root
    qtypes, owners, raw, _ = probe_stats(al_model, recs, root, per_image=3, seed=1, batch_size=8)
    assert len(qtypes) == len(owners) == len(raw) == 8 * 3
    stats = type_stats(qtypes, raw)
    for t, s in stats.items():
        rows = [r for q, r in zip(qtypes, raw, strict=True) if q == t]
        assert s["loss"] == pytest.approx(sum(r["loss"] for r in rows) / len(rows), abs=1e-5)
    assert set(stats) <= {"count", "color", "shape", "size", "existence", "position"}
    assert sum(s["n"] for s in stats.values()) == 8 * 3
    for s in stats.values():
        assert s["loss"] > 0 and 0.0 <= s["error"] <= 1.0


def test_the_loop_measures_types_and_asks_round_two_for_their_progress(al_data, al_model, tmp_path):
    from vit.active.loop import run_loop

    out = tmp_path / "al"
    cfg = tiny_cfg(al_data, al_model, out, strategy="random", focus="progress", hard_top=0)
    rows = run_loop(cfg, synth_params(tmp_path) | {"n_per_type": {"short": 1}})
    assert (out / "round-1" / "types.json").exists() and (out / "round-2" / "types.json").exists()
    assert not (out / "round-1" / "focus.json").exists()  # one round of statistics: default
    focus = json.loads((out / "round-2" / "focus.json").read_text())
    before, now = (json.loads((out / f"round-{k}" / "types.json").read_text()) for k in (1, 2))
    assert focus == progress_focus(before, now)
    assert rows[2]["focus"] == focus["shares"] and "focus" not in rows[1]
    new = list(Dataset.open(out / "round-2" / "accepted"))
    assert new and all(r.metadata["synth"]["focus"] == focus["shares"] for r in new)
    assert all(
        "focus" not in r.metadata["synth"] for r in Dataset.open(out / "round-1" / "accepted")
    )
