"""The whole pipeline as one Prefect flow: the `pipeline` deployment in prefect.yaml.

    vit deploy && prefect deployment run pipeline/vitflow-pipeline
    python -c "from flows.pipeline import pipeline_flow; pipeline_flow(through='dedup')"

The stages, paths and params are the ones dvc.yaml wires (`dvc repro` stays the versioned
way to run it; this flow is what a scheduler or a refresh that found retraining due starts):
generate -> ingest -> curate -> dedup (scenes and digits) -> synthesize -> export ->
build_model -> train_vision -> train_align -> train_instruct -> evaluate. Each stage is its own subflow, so
the UI shows one run per stage; each keeps its resume behaviour (curate by shard, dedup by
content-keyed cache, synth by its generation cache, training from its last checkpoint).
"""

from __future__ import annotations

from typing import Any

from prefect import flow

STAGES = (
    "generate",
    "ingest",
    "curate",
    "dedup",
    "synthesize",
    "export",
    "build_model",
    "train_vision",
    "train_align",
    "train_instruct",
    "evaluate",
)
# Digits: the handwriting all looks alike to the classical descriptor (see dvc.yaml).
DEDUP_EXTRA = {"scenes": {}, "digits": {"methods": ["exact", "near"]}}


@flow(name="pipeline", log_prints=True)
def pipeline_flow(
    data: str = "data",
    metrics: str = "metrics",
    params_path: str = "params.yaml",
    through: str = "evaluate",
) -> dict[str, Any]:
    """Every stage in order, up to and including `through`; returns each stage's summary."""
    from vit.config import load_params

    if through not in STAGES:
        raise ValueError(f"through must be one of {STAGES}, got {through!r}")
    p = load_params(params_path)
    todo = STAGES[: STAGES.index(through) + 1]
    done: dict[str, Any] = {}
    for stage in todo:
        done[stage] = _STEPS[stage](data, metrics, p)
    print(f"pipeline: ran {', '.join(todo)}")
    return done


def _generate(data: str, metrics: str, p: dict) -> dict:
    from flows.generate import generate_digits_flow, generate_scenes_flow

    g, d = p.get("generate", {}), p.get("digits", {})
    return {
        "scenes": generate_scenes_flow(out=f"{data}/raw/scenes", **g),
        "digits": generate_digits_flow(
            out=f"{data}/raw/digits",
            limit=d.get("limit") or None,
            **{k: v for k, v in d.items() if k != "limit"},
        ),
    }


def _ingest(data: str, metrics: str, p: dict) -> dict:
    from flows.ingest import ingest_flow

    keys = ("require_conversations", "max_pixels", "workers", "shard_size")  # as `vit ingest`
    opts = {k: v for k, v in p.get("ingest", {}).items() if k in keys and v is not None}
    return {
        k: ingest_flow(
            fmt="vitflow",
            src=f"{data}/raw/{k}/{k}.jsonl",
            out=f"{data}/ingested/{k}",
            options={**opts, "metrics_path": f"{metrics}/ingest_{k}.json"},
        )
        for k in DEDUP_EXTRA
    }


def _data_stage(stage: str, data: str, metrics: str, p: dict) -> dict:
    from flows.curate import curate_flow
    from flows.dedup import dedup_flow

    run, src = (curate_flow, "ingested") if stage == "curate" else (dedup_flow, "curated")
    out = "curated" if stage == "curate" else "deduped"
    extra = DEDUP_EXTRA if stage == "dedup" else dict.fromkeys(DEDUP_EXTRA, {})
    return {
        k: run(
            src=f"{data}/{src}/{k}",
            out=f"{data}/{out}/{k}",
            params={**p.get(stage, {}), **extra[k]},
            overrides_path=f"{data}/review/overrides.json",
            defects=f"{data}/raw/{k}/defects.jsonl",
            metrics_path=f"{metrics}/{stage}_{k}.json",
        )
        for k in DEDUP_EXTRA
    }


def _synthesize(data: str, metrics: str, p: dict) -> dict:
    from flows.synth import synth_flow

    params = {**p.get("synthesize", {}), "metrics_path": f"{metrics}/synth.json"}
    return synth_flow(src=f"{data}/deduped/scenes", out=f"{data}/synth/scenes", params=params)


def _export(data: str, metrics: str, p: dict) -> dict:
    from flows.ingest import export_flow

    formats = p.get("export", {}).get("formats", ["llava", "messages", "hf"])
    return {
        f: export_flow(fmt=f, src=f"{data}/synth/scenes", out=f"{data}/export/{f}") for f in formats
    }


def _build_model(data: str, metrics: str, p: dict) -> str:
    from flows.train import build_model_flow

    return build_model_flow(
        data=f"{data}/synth/scenes", out=f"{data}/model/init", params=p.get("model", {})
    )


def _train(stage: str, model: str, data: str, p: dict) -> dict:
    from flows.train import train_flow

    out = f"{data}/model/{stage.removeprefix('train_')}"
    return train_flow(model=model, data=f"{data}/synth/scenes", out=out, params=p.get(stage, {}))


def _evaluate(data: str, metrics: str, p: dict) -> dict:
    from flows.evaluate import eval_flow

    params = {
        **p.get("evaluate", {}),
        "stage1_model": f"{data}/model/align/model",
        "metrics_path": f"{metrics}/eval.json",
    }
    report = eval_flow(
        model=f"{data}/model/instruct/model",
        data=f"{data}/deduped/scenes",
        out=f"{data}/eval",
        params=params,
    )
    return {"overall": report["overall"], "by_type": report["by_type"]}


_STEPS = {
    "generate": _generate,
    "ingest": _ingest,
    "curate": lambda d, m, p: _data_stage("curate", d, m, p),
    "dedup": lambda d, m, p: _data_stage("dedup", d, m, p),
    "synthesize": _synthesize,
    "export": _export,
    "build_model": _build_model,
    "train_vision": lambda d, m, p: _train("train_vision", f"{d}/model/init", d, p),
    "train_align": lambda d, m, p: _train("train_align", f"{d}/model/vision/model", d, p),
    "train_instruct": lambda d, m, p: _train("train_instruct", f"{d}/model/align/model", d, p),
    "evaluate": _evaluate,
}
