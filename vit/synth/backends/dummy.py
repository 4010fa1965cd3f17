"""A backend for tests: canned text, no network, no model (distilabel keeps one in-package too)."""

from __future__ import annotations

import json
from collections.abc import Callable

from vit.synth.backends.base import Backend, OnResult, Request, Response, deliver

CANNED = {
    "conversation": json.dumps(
        {"conversation": [{"question": "What do you see?", "answer": "I see some shapes."}]}
    ),
    "detail": json.dumps({"description": "The picture shows a few flat shapes."}),
    "reasoning": json.dumps(
        {"question": "What kind of picture is this?", "answer": "It is a picture of shapes."}
    ),
}

Canned = str | None | dict[str, str | None] | Callable[[Request], str | None]


class DummyBackend(Backend):
    """Answers every request with `text`: a string, a per-type dict, or a function of the request.
    A None answer becomes a failed Response, so failure paths can be tested too."""

    name = "dummy"

    def __init__(self, model: str = "dummy", text: Canned = CANNED) -> None:
        self.model = model or "dummy"
        self.text = text
        self.calls = 0

    def _answer(self, req: Request) -> Response:
        self.calls += 1
        t = self.text
        t = t(req) if callable(t) else t.get(req.type) if isinstance(t, dict) else t
        if t is None:
            return Response(text=None, error="dummy: no canned answer")
        return Response(text=t, tokens_in=sum(len(m["content"]) for m in req.messages) // 4)

    def generate(self, batch: list[Request], on_result: OnResult | None = None) -> list[Response]:
        return deliver(batch, self._answer, on_result)
