"""bench/gpu_train.py: the CPU `--tiny` run end to end, its batch and its MFU arithmetic."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.bench._load import BENCH, bench_module


@pytest.fixture(scope="module")
def gt():
    yield from bench_module("gpu_train")


@pytest.fixture(scope="module")
def gl(gt):
    """bench/gpu_llava.py, the model side gpu_train.py imports (bench/ on sys.path)."""
    return sys.modules["gpu_llava"]


def test_mfu_by_hand(gl):
    # 1e9 params x 1e4 tokens/s x 6 = 6e13 FLOP/s, over a 1e14 peak
    assert gl.mfu(10**9, 1e4, 1e14) == pytest.approx(0.6)
    assert gl.mfu(10**9, 1e4, None) is None


def test_peak_flops_by_gpu_name(gl):
    assert gl.peak_flops_for("NVIDIA H200", None) == 989e12
    assert gl.peak_flops_for("NVIDIA H100 80GB HBM3", None) == 989e12
    assert gl.peak_flops_for("NVIDIA A100-SXM4-80GB", None) == 312e12
    assert gl.peak_flops_for("cpu", None) is None
    assert gl.peak_flops_for("cpu", 100.0) == 100e12
    with pytest.raises(SystemExit, match="--peak-tflops"):
        gl.peak_flops_for("Some Future GPU", None)


def test_real_size_config_expects_576_image_tokens(gl):
    cfg = gl.llava_config("tinyllama")
    assert gl.image_token_count(cfg) == (336 // 14) ** 2 == 576
    assert gl.vision_positions(cfg) == 577
    assert cfg.image_token_index < cfg.text_config.vocab_size


def test_synthetic_batch_holds_the_image_tokens_the_model_expects(gl):
    cfg = gl.llava_config(tiny=True)
    n_img = gl.image_token_count(cfg)
    b = gl.synthetic_batch(cfg, batch_size=3, seq_len=20)
    assert b["input_ids"].shape == b["labels"].shape == (3, 20)
    assert b["pixel_values"].shape == (3, 3, 28, 28)
    assert ((b["input_ids"] == cfg.image_token_index).sum(dim=1) == n_img).all()
    assert (b["labels"][:, :n_img] == -100).all() and (b["labels"][:, n_img:] >= 0).all()
    with pytest.raises(SystemExit, match="image tokens"):
        gl.synthetic_batch(cfg, batch_size=1, seq_len=n_img)


def test_param_counts_add_up_with_tied_embeddings(gl, monkeypatch):
    monkeypatch.setitem(gl.TINY_LM, "tie_word_embeddings", True)
    cfg = gl.llava_config(tiny=True)
    model = gl.build_model(cfg, gl.recipes(False, "fp32")["vitflow"], "cpu")
    c = gl.param_counts(model)
    assert c["total"] == sum(p.numel() for p in model.parameters())
    assert c["total"] == c["vision"] + c["projector"] + c["lm"]


def test_recipes_follow_llava_and_differ_only_where_named(gl):
    r = gl.recipes(True, "bf16")
    assert (r["baseline"].attn, r["baseline"].checkpointing) == ("sdpa", True)  # train_mem.py
    assert r["baseline-eager"].attn == "eager" and r["baseline-eager"].checkpointing
    assert not r["baseline"].fused_adamw and r["baseline"].weights == "fp32"
    v = r["vitflow"]
    assert (v.attn, v.fused_adamw, v.checkpointing, v.compile, v.weights) == (
        "sdpa",
        True,
        False,
        True,
        "bf16",
    )


def test_unknown_recipe_names_the_known_ones(gt):
    with pytest.raises(SystemExit, match="baseline,baseline-eager,vitflow"):
        gt.main(["--tiny", "--recipes", "baseline,fast"])


def test_timing_stops_at_the_deadline_after_one_step(gt):
    calls = []
    times = gt.timed_steps(lambda: calls.append(1), 5, deadline=0.0, device="cpu")
    assert len(times) == len(calls) == 1
    assert len(gt.timed_steps(lambda: None, 3, deadline=float("inf"), device="cpu")) == 3


def test_tiny_run_end_to_end(tmp_path):
    out = tmp_path / "x.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        # a 1 MFLOP/s "peak" so the CPU run has an MFU to check
        [
            sys.executable,
            str(BENCH / "gpu_train.py"),
            "--tiny",
            "--peak-tflops",
            "1e-6",
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["recipes"]) == {"baseline", "vitflow"}
    assert report["date"].endswith("+00:00") and report["gpu"] == "cpu"
    assert report["transformers"] and report["torch"]
    for r in report["recipes"].values():
        assert "error" not in r
        assert r["tokens_per_s"] > 0 and r["timed_steps"] == 2
        assert r["tokens_per_step"] == report["batch_size"] * report["seq_len"]
        p = r["params"]
        assert p["total"] == p["vision"] + p["projector"] + p["lm"] > 0
        assert r["mfu"] == pytest.approx(6 * p["total"] * r["tokens_per_s"] / 1e6, rel=1e-3)
    assert report["recipes"]["baseline"]["params"] == report["recipes"]["vitflow"]["params"]
    assert report["mfu_ratio"] == pytest.approx(report["tokens_per_s_ratio"], rel=1e-2)
    assert "vitflow/baseline" in proc.stdout
