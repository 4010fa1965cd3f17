"""A real chat-completions server on 127.0.0.1 for tests, benchmarks and dry runs.

    with ChatServer(responder=grounded_responder, delay=0.05) as srv:
        get_backend("openai", "fake", base_url=srv.url)...

It speaks the OpenAI protocol over HTTP/1.1 with keep-alive (stdlib asyncio streams, on a
background thread). A responder maps (request body, request number) to a `Reply`: a status, a
message content, headers such as Retry-After, a raw body (to send malformed JSON), a delay
(to hang past a client's timeout). `grounded_responder` plays a perfect LLM: it reads the
boxes back from the prompt and answers with the grounded writer; `outage(responder, ...)`
wraps one so it fails the first N requests, or every request for T seconds, then recovers.
`delivered` logs (request number, status) once a reply's bytes were written to the client.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any


@dataclass
class Reply:
    status: int = 200
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    delay: float = 0.0


Responder = Callable[[dict[str, Any], int], Reply]


def canned(body: dict[str, Any], n: int) -> Reply:
    return Reply(content=json.dumps({"description": "The picture shows a few flat shapes."}))


def grounded_responder(body: dict[str, Any], n: int) -> Reply:
    """Answer like an ideal teacher: the grounded writer on the boxes found in the prompt."""
    from vit.records import Record
    from vit.synth.backends.base import Request
    from vit.synth.backends.grounded import GroundedBackend
    from vit.synth.templates import parse_context

    messages = body["messages"]
    system, context = messages[0]["content"], messages[-1]["content"]
    kind = next(k for k in ("conversation", "description", "question") if f'{{"{k}"' in system)
    kind = {"description": "detail", "question": "reasoning"}.get(kind, kind)
    rec = Record(id="x", annotations=parse_context(context))
    key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    resp = GroundedBackend().generate([Request(key, kind, messages, {}, rec)])[0]
    return Reply(content=resp.text) if resp.text else Reply(status=500)


def outage(
    responder: Responder,
    *,
    first: int = 0,
    seconds: float = 0.0,
    status: int = 500,
    retry_after: float | None = None,
) -> Responder:
    """`responder`, but requests numbered below `first`, and every request that arrives
    within `seconds` of the first one, get `status` (with Retry-After when given)."""
    start: list[float] = []
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}

    def flaky(body: dict[str, Any], n: int) -> Reply:
        now = time.monotonic()
        if not start:
            start.append(now)
        if n < first or now - start[0] < seconds:
            return Reply(status=status, headers=dict(headers))
        return responder(body, n)

    return flaky


def _body(req: dict[str, Any], reply: Reply) -> bytes:
    if reply.status != 200:
        return json.dumps({"error": {"message": f"status {reply.status}"}}).encode()
    content = reply.content or ""
    usage = {
        "prompt_tokens": sum(len(str(m.get("content", ""))) for m in req.get("messages", [])) // 4,
        "completion_tokens": len(content) // 4,
    }
    choice = {"index": 0, "message": {"role": "assistant", "content": content}}
    return json.dumps(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": req.get("model"),
            "choices": [{**choice, "finish_reason": "stop"}],
            "usage": usage,
        }
    ).encode()


class ChatServer:
    """Context manager: starts on a free port, `url` is its `/v1` base, stops on exit.

    An asyncio server on its own thread, so hundreds of open connections cost no threads
    (a thread per connection convoys on the GIL and caps out near 150 req/s)."""

    def __init__(self, responder: Responder = canned, delay: float = 0.0) -> None:
        self.responder, self.delay = responder, delay
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.times: list[float] = []
        self.delivered: list[tuple[int, int]] = []  # (request number, status), once written
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.url = ""

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0)
        )
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"
        self._ready.set()
        self._loop.run_forever()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            while True:  # HTTP/1.1 keep-alive: requests until the client closes
                line = await reader.readline()
                if not line.strip():
                    break
                headers = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                path = line.decode("latin-1").split(" ")[1]
                n, status, data = await self._answer(path, body, headers.get("authorization"))
                writer.write(data)
                await writer.drain()
                with self._lock:
                    self.delivered.append((n, status))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client gave up (a timeout test): nothing to answer
        finally:
            writer.close()

    async def _answer(self, path: str, body: bytes, auth: str | None) -> tuple[int, int, bytes]:
        try:
            req = json.loads(body)
        except ValueError:
            req = {"_raw": body.decode("utf-8", "replace")}
        n = self.record(req, auth)
        try:
            reply = self.responder(req, n) if path.endswith("/chat/completions") else Reply(404)
            await asyncio.sleep(self.delay + reply.delay)
        finally:
            self.finished()
        data = reply.raw if reply.raw is not None else _body(req, reply)
        head = [f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}"]
        hdrs = {"Content-Type": "application/json", **reply.headers, "Content-Length": len(data)}
        head += [f"{k}: {v}" for k, v in hdrs.items()]
        return n, reply.status, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data

    def record(self, req: dict[str, Any], auth: str | None) -> int:
        with self._lock:
            self.requests.append(req)
            self.auth.append(auth)
            self.times.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return len(self.requests) - 1

    def finished(self) -> None:
        with self._lock:
            self.in_flight -= 1

    @property
    def count(self) -> int:
        return len(self.requests)

    def __enter__(self) -> ChatServer:
        self._thread.start()
        self._ready.wait(30)
        return self

    async def _stop(self) -> None:
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
