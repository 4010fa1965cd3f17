"""The one interface every instruction writer implements (distilabel's LLM half of the split:
a backend only turns prompts into text; building prompts and parsing answers live elsewhere).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vit.records import Record


@dataclass
class Request:
    """One generation: chat `messages`, sampling params, and the cache `key` it is stored under.

    `record` rides along for backends that write from the annotations themselves (grounded),
    and so does `focus` (an LLM backend reads it in `messages`, where `render` wrote it);
    an LLM backend only ever sees `messages`.
    """

    key: str
    type: str
    messages: list[dict[str, str]]
    sampling: dict[str, Any] = field(default_factory=dict)
    record: Record | None = None
    focus: dict[str, float] = field(default_factory=dict)  # short: question-type shares


@dataclass
class Response:
    """What came back: `text` is None when the request failed for good (see `error`)."""

    text: str | None
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    retries: int = 0
    latency: float = 0.0


OnResult = Callable[[int, Response], None]


class Backend(ABC):
    """`generate(batch)` returns one Response per Request, in order, and never raises for a
    single bad request: a failure is a Response with `text=None` and an `error`."""

    name: str = "base"
    model: str = ""

    @abstractmethod
    def generate(self, batch: list[Request], on_result: OnResult | None = None) -> list[Response]:
        """Answer every request. `on_result(i, response)` is called as each one finishes, so a
        caller can cache answers before the whole batch is done (a killed run loses nothing)."""

    def close(self) -> None:
        """Release clients or models; the default holds nothing."""
        return None

    def __repr__(self) -> str:
        # Deliberately only name and model: params may hold secrets, reprs end up in logs.
        return f"{type(self).__name__}(name={self.name!r}, model={self.model!r})"


def deliver(batch: list[Request], make: Callable[[Request], Response], on_result: OnResult | None):
    """Run a synchronous backend's `make` over a batch, reporting each result as it lands."""
    out = []
    for i, req in enumerate(batch):
        resp = make(req)
        if on_result is not None:
            on_result(i, resp)
        out.append(resp)
    return out
