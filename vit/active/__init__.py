"""Active learning: score the unlabeled pool with the tuned model, pick hard and diverse
images, synthesize instructions for them, review, retrain warm, evaluate; repeat.

    from vit.active import ActiveConfig, run_loop
    rows = run_loop(ActiveConfig(strategy="hybrid", budget=100, rounds=3), synth={"seed": 0})

Modules: `config` (ActiveConfig, params.yaml `active`), `kcenter` (k-center greedy, FAISS),
`scoring` (probe uncertainty, sample loss, `vlm` embeddings), `strategies` (random,
uncertainty, diversity, hybrid), `loop` (rounds with resume), `experiment` (every strategy
over seeds, curves), `review` (FiftyOne fields, views and the review gate). Heavy imports
(torch, transformers, faiss, fiftyone) happen inside functions.
"""

from vit.active.config import ActiveConfig
from vit.active.loop import run_loop
from vit.active.strategies import STRATEGIES, Context, Pick, Scores, get_strategy

__all__ = ["STRATEGIES", "ActiveConfig", "Context", "Pick", "Scores", "get_strategy", "run_loop"]
