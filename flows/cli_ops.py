"""The `vit` commands that operate the system rather than one stage: the Prefect server,
incremental refresh, deployments (deploy, worker, serve) and active learning.
`add_parsers(sub)` registers them on the main parser (flows/cli.py).
"""

from __future__ import annotations

import argparse

from flows.cli_common import print_json as _print
from flows.cli_common import run_flow as _run_flow


def cmd_refresh(args: argparse.Namespace) -> int:
    if args.mark_trained:
        from vit.config import section
        from vit.refresh import RefreshConfig, mark_trained

        state = args.state or section("refresh", args.params).get("state", RefreshConfig.state)
        _print(mark_trained(state, {"by": "vit refresh --mark-trained"}))
        return 0
    s = _run_flow(
        "flows.refresh:refresh_flow",
        incoming=args.incoming,
        dataset=args.dataset,
        seen=args.seen,
        state=args.state,
        threshold=args.threshold,
        retrain_deployment=args.retrain_deployment,
        params_path=args.params,
    )
    _print(s)
    return 0


def _llm_limit(args: argparse.Namespace) -> int:
    from vit.config import section

    given = args.llm_limit
    return int(section("deploy", args.params).get("llm_concurrency", 1) if given is None else given)


def cmd_deploy(args: argparse.Namespace) -> int:
    from flows.deploy import deploy

    _print(deploy(args.prefect_file, llm_limit=_llm_limit(args)))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from flows.deploy import worker

    return worker(args.pool, run_once=args.run_once, limit=args.limit)


def cmd_serve(args: argparse.Namespace) -> int:
    from flows.deploy import serve

    serve(args.prefect_file, llm_limit=_llm_limit(args))
    return 0


def cmd_al(args: argparse.Namespace) -> int:
    import yaml

    overrides = {}
    for item in args.set or []:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    if args.action == "report":
        return al_report(args, overrides)
    if args.action == "experiment":
        s = _run_flow(
            "flows.active:active_learning_experiment",
            params_path=args.params,
            overrides=overrides,
            strategies=args.strategies,
            seeds=args.seeds,
        )
    else:
        s = _run_flow("flows.active:active_learning", params_path=args.params, overrides=overrides)
        keep = ("round", "selected", "samples", "images", "accuracy", "majority")
        s = {"run": s["run"], "rounds": [{k: r.get(k) for k in keep} for r in s["rows"]]}
    _print(s)
    return 0


def al_report(args: argparse.Namespace, overrides: dict) -> int:
    """`vit al report`: the experiment's metrics, CSVs and PNG from the rounds on disk (and
    the earlier report's runs that are not on disk, unless `--fresh`)."""
    from flows.active import load_config, write_experiment_report
    from vit.active.curves import paired_table
    from vit.active.experiment import runs_on_disk
    from vit.active.rows import eval_set_for
    from vit.evaluate.run import object_counts
    from vit.records import Dataset

    cfg, _, exp = load_config(args.params, overrides, experiment=True)
    strategies = list(args.strategies or exp["strategies"])
    seeds = [int(s) for s in (args.seeds if args.seeds is not None else exp["seeds"])]
    # Rounds evaluated before rows had `by_objects` get it from their predictions, whatever
    # held-out splits they were scored on.
    ds = Dataset.open(cfg.data)
    runs = runs_on_disk(exp["out"], strategies, seeds, object_counts(ds))
    try:
        current = eval_set_for(cfg, ds)
        rep = write_experiment_report(exp, runs, current, strategies, seeds, fresh=args.fresh)
    except ValueError as err:
        raise SystemExit(f"{err} (runs are read from {exp['out']})") from err
    summary = {"runs": sorted(runs), "kept_from_report": rep.get("kept_from_report", [])}
    summary["other_eval_set"] = sorted(rep.get("other_eval_set", {}))
    _print({**summary, **{k: rep[k] for k in ("final", "vs_random")}})
    print(paired_table(rep["vs_random"]))
    return 0


def cmd_server(args: argparse.Namespace) -> int:
    from flows import runtime

    if args.action == "start":
        state = runtime.shared_server(port=args.port)
        print(f"Prefect server at {state['api_url']} (pid {state['pid']})")
    elif args.action == "stop":
        print("stopped" if runtime.stop_server() else "no vitflow Prefect server was running")
    else:
        state = runtime.running_server()
        print(f"running at {state['api_url']} (pid {state['pid']})" if state else "not running")
        return 0 if state else 1
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    al = sub.add_parser(
        "al", help="active learning: score the pool, select, synthesize, retrain (rounds)"
    )
    al.add_argument(
        "action",
        nargs="?",
        default="run",
        choices=["run", "experiment", "report"],
        help="run: the loop with params.yaml `active`; experiment: every strategy over seeds;"
        " report: the experiment's metrics and plots from the rounds on disk (merges seeds run"
        " as separate processes)",
    )
    al.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one field of params.yaml's active section (repeatable)",
    )
    al.add_argument(
        "--strategies",
        nargs="+",
        help="experiment: strategies (or names of al_experiment.variants) to compare",
    )
    al.add_argument("--seeds", nargs="+", type=int, help="experiment: seeds (>= 2 for a spread)")
    al.add_argument(
        "--fresh",
        action="store_true",
        help="report: only the runs on disk, not the earlier report's runs missing here",
    )
    al.set_defaults(func=cmd_al)

    s = sub.add_parser("server", help="the local Prefect server flows report to")
    s.add_argument("action", choices=["start", "status", "stop"])
    s.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    s.set_defaults(func=cmd_server)

    rf = sub.add_parser("refresh", help="ingest, curate, dedup and append new incoming images")
    rf.add_argument("--incoming", help="folder of new images (default: params refresh.incoming)")
    rf.add_argument("--dataset", help="the dataset that grows (default: refresh.dataset)")
    rf.add_argument("--seen", nargs="+", help="datasets to dedup against (default: refresh.seen)")
    rf.add_argument("--state", help="ledger and counters folder (default: refresh.state)")
    rf.add_argument("--threshold", type=int, help="new records that make retraining due")
    rf.add_argument("--retrain-deployment", help="deployment to run when retraining is due")
    rf.add_argument("--mark-trained", action="store_true", help="reset the count after training")
    rf.set_defaults(func=cmd_refresh)

    dp = sub.add_parser("deploy", help="register prefect.yaml's deployments (pool + llm limit)")
    dp.add_argument("--prefect-file", default="prefect.yaml", help="default: %(default)s")
    dp.add_argument("--llm-limit", type=int, help="concurrent LLM tasks (default: params deploy)")
    dp.set_defaults(func=cmd_deploy)

    wk = sub.add_parser("worker", help="a process worker that runs the deployments' flow runs")
    wk.add_argument("--pool", default="vitflow-process", help="work pool (default: %(default)s)")
    wk.add_argument("--run-once", action="store_true", help="run what is due now, then exit")
    wk.add_argument("--limit", type=int, help="flow runs at once (default: no limit)")
    wk.set_defaults(func=cmd_worker)

    sv = sub.add_parser("serve", help="serve prefect.yaml's deployments from this process")
    sv.add_argument("--prefect-file", default="prefect.yaml", help="default: %(default)s")
    sv.add_argument("--llm-limit", type=int, help="concurrent LLM tasks (default: params deploy)")
    sv.set_defaults(func=cmd_serve)
