"""The `vit` command. Each stage command runs its Prefect flow, which calls the library.

    vit generate scenes --n 1000 --seed 0 --out data/raw/scenes
    vit generate digits --out data/raw/digits
    vit ingest --format vitflow data/raw/scenes/scenes.jsonl --out data/ingested/scenes
    vit export --format llava data/ingested/scenes --out data/export/llava
    vit validate data/export/llava/data.json
    vit server start|status|stop
    vit refresh | vit deploy | vit worker | vit serve
    vit al [experiment]

The CLI lives in `flows/` because it runs flows: `vit/` stays free of Prefect. Only argparse
is imported at the top so `vit --help` answers at once; flags left out come from params.yaml.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from flows import cli_ops
from flows.cli_common import print_json as _print
from flows.cli_common import run_flow as _run_flow


def _params(section: str, args: argparse.Namespace) -> dict[str, Any]:
    from vit.config import section as load_section

    merged = dict(load_section(section, args.params))
    merged.update({k: v for k, v in vars(args).items() if v is not None})
    return merged


def cmd_generate(args: argparse.Namespace) -> int:
    if args.what == "scenes":
        p = _params("generate", args)
        s = _run_flow(
            "flows.generate:generate_scenes_flow",
            out=p.get("out", "data/raw/scenes"),
            n=int(p.get("n", 1000)),
            seed=int(p.get("seed", 0)),
            size=int(p.get("size", 128)),
            defect_rate=float(p.get("defect_rate", 0.1)),
        )
    else:
        p = _params("digits", args)
        limit = p.get("limit")
        s = _run_flow(
            "flows.generate:generate_digits_flow",
            out=p.get("out", "data/raw/digits"),
            limit=None if limit in (None, 0) else int(limit),
            size=int(p.get("size", 32)),
            seed=int(p.get("seed", 0)),
        )
    _print(s)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    p = _params("ingest", args)
    options = {
        k: p[k]
        for k in ("require_conversations", "max_pixels", "workers", "shard_size", "metrics_path")
        if p.get(k) is not None
    }
    s = _run_flow(
        "flows.ingest:ingest_flow",
        fmt=args.format,
        src=args.src,
        out=args.out,
        image_root=args.image_root,
        options=options,
    )
    _print(s)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    _print(_run_flow("flows.ingest:export_flow", fmt=args.format, src=args.src, out=args.out))
    return 0


def _stage_params(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """A stage's params.yaml section; `--set key=value` flags override single fields."""
    import yaml

    from vit.config import section

    params = dict(section(name, args.params))
    for item in args.set or []:
        key, _, value = item.partition("=")
        params[key] = yaml.safe_load(value)
    return params


def _data_stage(stage: str, flow_path: str):
    """curate and dedup take the same flags: a source, params, overrides, ground truth."""

    def cmd(args: argparse.Namespace) -> int:
        s = _run_flow(
            flow_path,
            runner=(args.task_runner, args.dask_address),
            src=args.src,
            out=args.out,
            params=_stage_params(stage, args),
            overrides_path=args.overrides,
            defects=args.defects,
            metrics_path=args.metrics_path,
        )
        s.pop("method_info", None)  # dedup's per-method internals: in the metrics file
        _print(s)
        return 0

    return cmd


cmd_curate = _data_stage("curate", "flows.curate:curate_flow")
cmd_dedup = _data_stage("dedup", "flows.dedup:dedup_flow")


def cmd_synth(args: argparse.Namespace) -> int:
    params = _stage_params("synthesize", args)
    if args.metrics_path:
        params["metrics_path"] = args.metrics_path
    _print(_run_flow("flows.synth:synth_flow", src=args.src, out=args.out, params=params))
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    p = _stage_params("review", args)
    name = args.name or p.get("dataset", "vitflow")
    if args.action == "sync":
        s = _run_flow(
            "flows.review:review_sync_flow",
            name=name,
            ingested=args.ingested or p.get("ingested"),
            curated=args.curated or p.get("curated"),
            deduped=args.deduped or p.get("deduped"),
            embeddings=args.embeddings or p.get("embeddings"),
        )
    elif args.action == "pull":
        out = args.out or p.get("overrides", "data/review/overrides.json")
        s = _run_flow("flows.review:review_pull_flow", name=name, out=out)
    else:
        from vit.review.app import launch

        port = args.port or int(p.get("port", 5151))
        print(f"FiftyOne App on http://127.0.0.1:{port} (dataset {name!r}); Ctrl-C to stop")
        launch(name, address="127.0.0.1", port=port, wait=True)
        return 0
    _print(s)
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    path = _run_flow(
        "flows.train:build_model_flow",
        data=args.data,
        out=args.out,
        params=_stage_params("model", args),
    )
    print(path)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    s = _run_flow(
        "flows.train:train_flow",
        model=args.model,
        data=args.data,
        out=args.out,
        params=_stage_params(args.section, args),
        eval_data=args.eval_data,
    )
    _print(s)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    params = _stage_params("evaluate", args)
    if args.stage1:
        params["stage1_model"] = args.stage1
    if args.metrics_path:
        params["metrics_path"] = args.metrics_path
    r = _run_flow(
        "flows.evaluate:eval_flow", model=args.model, data=args.data, out=args.out, params=params
    )
    _print({"overall": r["overall"], "by_type": r["by_type"]})
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from vit.model.answer import chat

    print(chat(args.model, args.image, args.question, max_new_tokens=args.max_new_tokens))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from vit.validate_cmd import validate_path

    ok, text = validate_path(
        args.path,
        fmt=args.format,
        image_root=args.image_root,
        require_conversations=args.require_conversations,
        limit=args.max_problems,
    )
    print(text)
    return 0 if ok else 1


def _stage_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one field of the stage's params.yaml section (repeatable)",
    )
    p.add_argument("--overrides", help="reviewer decisions manifest (from `vit review pull`)")
    p.add_argument("--defects", help="injected-defect ground truth, to score the stage")
    p.add_argument("--metrics-path", help="write the summary as a JSON metrics file here")
    p.add_argument(
        "--task-runner",
        choices=["thread", "dask"],
        help="where tasks run: threads here, or Dask (default: $VIT_TASK_RUNNER or thread)",
    )
    p.add_argument(
        "--dask-address",
        help="a running Dask scheduler (default: $VIT_DASK_ADDRESS, else a LocalCluster)",
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="vit", description="vitflow: data-centric visual instruction tuning"
    )
    ap.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    sub = ap.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="make the embedded default data")
    g.add_argument("what", choices=["scenes", "digits"])
    g.add_argument("--out", help="output folder")
    g.add_argument("--n", type=int, help="scenes: how many clean scenes")
    g.add_argument("--seed", type=int, help="random seed (same seed, same bytes)")
    g.add_argument("--size", type=int, help="image side in pixels")
    g.add_argument("--defect-rate", type=float, help="scenes: share of injected defects")
    g.add_argument("--limit", type=int, help="digits: at most this many (0: all 1797)")
    g.set_defaults(func=cmd_generate)

    formats = ["vitflow", "llava", "messages", "hf", "coco", "folder"]
    i = sub.add_parser("ingest", help="read a source, check the LLaVA contract, write a dataset")
    i.add_argument("src")
    i.add_argument("--format", required=True, choices=formats)
    i.add_argument("--out", required=True)
    i.add_argument("--image-root", help="folder image paths are relative to (default: beside SRC)")
    i.add_argument("--metrics-path", help="write the summary as a JSON metrics file here")
    i.set_defaults(func=cmd_ingest)

    e = sub.add_parser("export", help="write a dataset as LLaVA JSON, messages JSONL or HF dataset")
    e.add_argument("src")
    e.add_argument("--format", required=True, choices=["llava", "messages", "hf"])
    e.add_argument("--out", required=True)
    e.set_defaults(func=cmd_export)

    c = sub.add_parser("curate", help="quality filters; every drop kept with its reason")
    c.add_argument("src", help="an ingested vitflow dataset")
    c.add_argument("--out", required=True)
    _stage_flags(c)
    c.set_defaults(func=cmd_curate)

    d = sub.add_parser("dedup", help="exact/near/semantic/text/joint dedup, leak-free splits")
    d.add_argument("src", help="a curated vitflow dataset")
    d.add_argument("--out", required=True)
    _stage_flags(d)
    d.set_defaults(func=cmd_dedup)

    y = sub.add_parser("synth", help="LLM instructions from captions + boxes, grounded and cached")
    y.add_argument("src", help="a curated/deduplicated vitflow dataset")
    y.add_argument("--out", required=True)
    y.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one field of params.yaml's synthesize section (repeatable)",
    )
    y.add_argument("--metrics-path", help="write metrics (per backend and type) here")
    y.set_defaults(func=cmd_synth)

    r = sub.add_parser("review", help="FiftyOne review: sync decisions, launch the App, pull tags")
    r.add_argument("action", choices=["sync", "launch", "pull"])
    r.add_argument("--name", help="FiftyOne dataset name (default: params review.dataset)")
    r.add_argument("--ingested", help="sync: ingested dataset folder")
    r.add_argument("--curated", help="sync: curated dataset folder")
    r.add_argument("--deduped", help="sync: deduplicated dataset folder")
    r.add_argument("--embeddings", help="sync: .npz with arrays ids, embeddings")
    r.add_argument("--out", help="pull: where to write the overrides manifest")
    r.add_argument("--port", type=int, help="launch: port on 127.0.0.1 (default 5151)")
    r.set_defaults(func=cmd_review, set=None)

    mb = sub.add_parser("model", help="build a small LLaVA from params.yaml's model section")
    mb.add_argument("action", choices=["build"])
    mb.add_argument("--data", required=True, help="dataset whose texts train the tokenizer")
    mb.add_argument("--out", required=True)
    mb.add_argument("--set", action="append", metavar="KEY=VALUE")
    mb.set_defaults(func=cmd_model)

    tr = sub.add_parser("train", help="one tuning stage (Trainer on accelerate; LoRA or full)")
    tr.add_argument("--model", required=True, help="checkpoint folder or hub id")
    tr.add_argument("--data", required=True, help="dataset (train split; val for early stop)")
    tr.add_argument("--out", required=True, help="checkpoints, history, loss.png, model/")
    tr.add_argument("--eval-data", help="dataset whose val split is evaluated")
    tr.add_argument("--section", default="train", help="params.yaml section (default: train)")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE")
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="accuracy per question type on the held-out split")
    ev.add_argument("--model", required=True, help="model folder or hub id")
    ev.add_argument("--data", required=True, help="a deduplicated dataset (with splits)")
    ev.add_argument("--out", required=True, help="folder for items, predictions, plots")
    ev.add_argument("--stage1", help="the stage-1 model, as a baseline")
    ev.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one field of params.yaml's evaluate section",
    )
    ev.add_argument("--metrics-path", help="write the report here (e.g. metrics/eval.json)")
    ev.set_defaults(func=cmd_eval)

    ch = sub.add_parser("chat", help="ask a model one question about one image")
    ch.add_argument("question")
    ch.add_argument("--model", required=True)
    ch.add_argument("--image", required=True)
    ch.add_argument("--max-new-tokens", type=int, default=64)
    ch.set_defaults(func=cmd_chat)

    v = sub.add_parser("validate", help="check the LLaVA data contract; non-zero exit on errors")
    v.add_argument("path", help="a vitflow dataset folder or a data file")
    v.add_argument("--format", choices=formats, help="input format (default: guessed)")
    v.add_argument("--image-root", help="folder image paths are relative to")
    v.add_argument(
        "--require-conversations",
        action="store_true",
        help="a record with no conversation is an error",
    )
    v.add_argument("--max-problems", type=int, default=50, help="problems to print (default 50)")
    v.set_defaults(func=cmd_validate)

    cli_ops.add_parsers(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    params, func = args.params, args.func
    del args.func, args.command
    args.params = params
    try:
        return func(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"vit: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
