"""Instruction synthesis: an LLM (or the offline grounded writer) turns captions + boxes into
LLaVA's three instruction types, every answer is checked against the annotations, and every
generation is cached so nothing is paid twice.

    from vit.synth.run import SynthConfig, synthesize
    synthesize("data/ingested/scenes", "data/synth", SynthConfig(backend="grounded"))

Modules: `templates` (prompt files + rendering), `backends` (grounded, openai, transformers,
dummy behind one `Backend` interface), `parse` (JSON with a text fallback), `grounding` (the
validator), `cache` (content-addressed generations), `run` (the sharded, resumable stage).
Nothing here imports heavy packages at module level; backends import theirs when built.
"""
