"""`SynthConfig`: every knob of the synthesize stage, each with a default and a help string
(TRL style). `params.yaml`'s `synthesize` section maps onto it field by field."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from vit.config import param_field as _f
from vit.synth.grounding import MODES
from vit.synth.templates import TYPES, template_hash

# The evaluation's question types (vit.evaluate.questions), which a `focus` weighs.
QUESTION_TYPES = ("count", "color", "shape", "size", "existence", "position")
# Bump when the parser, validator or output layout changes: finished shards are redone.
SYNTH_VERSION = 1


@dataclass
class SynthConfig:
    backend: str = _f(
        "grounded", "Instruction writer: grounded (offline), openai, transformers, dummy."
    )
    model: str = _f(
        "", "Model id (openai), path or hub id (transformers); empty = the backend's default."
    )
    base_url: str = _f(
        "http://127.0.0.1:8000/v1", "OpenAI-compatible server base URL (vLLM: http://HOST:8000/v1)."
    )
    api_key_env: str = _f(
        "OPENAI_API_KEY", "Environment variable holding the API key (never logged or stored)."
    )
    json_mode: str = _f(
        "auto", "Ask for response_format=json_object: auto (until refused), on, off."
    )
    mix: dict = _f(
        {"conversation": 0.5, "detail": 0.25, "reasoning": 0.25},
        "Weights of the instruction types drawn per image.",
    )
    per_image: int = _f(1, "Instructions per image, types drawn from `mix` (seeded per image).")
    n_per_type: dict = _f(
        {}, "Exact count per type per image, e.g. {conversation: 1, detail: 1}; overrides mix."
    )
    focus: dict = _f(
        {},
        "Short rounds: shares of the question types to ask, e.g. {count: 2, shape: 1} "
        "(types: " + ", ".join(QUESTION_TYPES) + "); empty = the writer's own mix. "
        "Active learning sets it per round (`active.focus`).",
    )
    temperature: float = _f(0.7, "Sampling temperature.")
    top_p: float = _f(1.0, "Nucleus sampling top-p.")
    max_tokens: int = _f(1024, "Most tokens to generate per request.")
    concurrency: int = _f(16, "Requests in flight at once (openai).")
    timeout: float = _f(60.0, "Seconds before one HTTP request is abandoned and retried.")
    max_retries: int = _f(
        5, "Retries per request (429, 5xx, timeouts, connection errors) before it fails."
    )
    backoff_base: float = _f(
        0.5, "First retry waits about this many seconds; doubles each time, with jitter."
    )
    backoff_max: float = _f(
        30.0, "Longest computed backoff in seconds (a server's Retry-After still wins)."
    )
    batch_size: int = _f(8, "Prompts per generate() call (transformers).")
    device: str = _f("auto", "Device for the transformers backend: auto, cpu, cuda, cuda:1 ...")
    backend_params: dict = _f(
        {}, "Extra keyword arguments for the backend (e.g. extra_body, dtype)."
    )
    validator: str = _f(
        "drop", "On a false claim: drop the conversation, trim the false turn, or off."
    )
    require_annotations: bool = _f(
        True, "Skip records without boxed annotations (nothing to ground on)."
    )
    cache_dir: str = _f(
        "data/synth_cache", "Generation cache folder (DVC-trackable; shared across runs)."
    )
    seed: int = _f(0, "Seeds type choice per image and per-request sampling seeds.")
    price_in_per_1k: float = _f(0.0, "Price per 1k prompt tokens, for the cost estimate.")
    price_out_per_1k: float = _f(0.0, "Price per 1k completion tokens, for the cost estimate.")
    dedup: bool = _f(True, "Instruction dedup with the dedup stage's text code (MiniLM).")
    dedup_eps: float | None = _f(None, "Cosine >= 1 - eps is a duplicate; None = dedup's text_eps.")
    metrics_path: str = _f(
        "", "Also write the metrics JSON here (e.g. metrics/synth.json); empty = don't."
    )

    def __post_init__(self) -> None:
        unknown = set(self.mix) | set(self.n_per_type)
        if unknown - set(TYPES):
            raise ValueError(
                f"unknown instruction types {sorted(unknown - set(TYPES))}; use {TYPES}"
            )
        bad = {t: w for t, w in self.focus.items() if t not in QUESTION_TYPES or w < 0}
        if bad or (self.focus and sum(self.focus.values()) <= 0):
            raise ValueError(
                f"focus {self.focus!r}: non-negative shares of {QUESTION_TYPES}, not all zero"
            )
        if self.validator not in MODES:
            raise ValueError(f"validator must be one of {MODES}, got {self.validator!r}")
        if not self.n_per_type and (self.per_image < 1 or sum(self.mix.values()) <= 0):
            raise ValueError("need per_image >= 1 and a mix with positive weight (or n_per_type)")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SynthConfig:
        """From a params.yaml section; unknown keys are an error, not silently ignored."""
        from vit.config import build

        return build(cls, d, "params.yaml: synthesize")

    def backend_kwargs(self) -> dict[str, Any]:
        """What the chosen backend's constructor takes from this config."""
        by = {
            "openai": (
                "base_url",
                "api_key_env",
                "concurrency",
                "timeout",
                "max_retries",
                "backoff_base",
                "backoff_max",
                "json_mode",
            ),
            "transformers": ("batch_size", "device"),
        }
        return {k: getattr(self, k) for k in by.get(self.backend, ())} | self.backend_params

    def fingerprint(self) -> dict[str, Any]:
        """What decides the content of the output (not speed, prices or paths)."""
        keep = (
            "backend",
            "model",
            "json_mode",
            "mix",
            "per_image",
            "n_per_type",
            "temperature",
            "top_p",
            "max_tokens",
            "validator",
            "require_annotations",
            "seed",
        )
        d = {k: v for k, v in asdict(self).items() if k in keep}
        if self.focus:  # added later: unset, it leaves the fingerprints made before it
            d["focus"] = self.focus
        return d | {"templates": {t: template_hash(t) for t in TYPES}, "version": SYNTH_VERSION}
