"""`python -m vit.train`: one stage from the command line, for `accelerate launch`.

    accelerate launch --config_file configs/accelerate/ddp.yaml -m vit.train \\
        --model data/model/init --data data/dedup --out data/train/instruct \\
        --set stage=instruct --set lr=1e-4

The TrainConfig comes from the `train` section of params.yaml (absent = defaults), then each
`--set key=value` (values parsed as YAML: 1e-4, true, [vision, lm]). Prints the summary.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair!r}: expected key=value")
        out[key.strip()] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from vit.config import build, section
    from vit.train import TrainConfig, train

    p = argparse.ArgumentParser(prog="python -m vit.train", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="checkpoint folder or hub id")
    p.add_argument("--data", required=True, help="vitflow dataset folder")
    p.add_argument("--out", required=True, help="output folder (checkpoints, model, history)")
    p.add_argument("--eval-data", default=None, help="dataset whose val split is evaluated")
    p.add_argument("--params", default="params.yaml", help="params file with a train section")
    p.add_argument("--section", default="train", help="params section to read")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    values = {**section(args.section, args.params), **parse_sets(args.set)}
    config = build(TrainConfig, values, where=f"{args.params}:{args.section}")
    summary = train(args.model, args.data, args.out, config, eval_data=args.eval_data)
    print(json.dumps(summary, indent=2, default=str))
    return summary


if __name__ == "__main__":
    main()
