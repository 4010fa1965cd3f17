"""Backends behind one interface; `get_backend(name, ...)` imports only the one asked for.

grounded      offline default: writes from the annotations, correct by construction
openai        any OpenAI-compatible chat-completions server (vLLM, TGI, llama.cpp, Ollama)
transformers  a local causal LM (path or hub id) with its chat template
dummy         canned answers, for tests
"""

from __future__ import annotations

import importlib
from typing import Any

from vit.synth.backends.base import Backend, Request, Response

__all__ = ["BACKENDS", "Backend", "Request", "Response", "get_backend"]

BACKENDS = {
    "grounded": "vit.synth.backends.grounded:GroundedBackend",
    "openai": "vit.synth.backends.openai_compat:OpenAIBackend",
    "transformers": "vit.synth.backends.transformers_local:TransformersBackend",
    "dummy": "vit.synth.backends.dummy:DummyBackend",
}


def get_backend(name: str, model: str = "", **params: Any) -> Backend:
    """Build backend `name` with `model` and its own params (unknown names list the choices)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown synth backend {name!r}; choose one of {sorted(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)(model=model, **params)
