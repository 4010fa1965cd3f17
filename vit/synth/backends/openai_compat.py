"""Any OpenAI-compatible chat-completions server: vLLM, TGI, llama.cpp server, Ollama, OpenAI.

    get_backend("openai", "Qwen/Qwen2.5-7B-Instruct", base_url="http://127.0.0.1:8000/v1")

Async httpx with at most `concurrency` requests in flight (a worker pool). 429, 5xx, timeouts, connection
errors and malformed bodies are retried with exponential backoff and jitter, never sooner
than the server's Retry-After; after `max_retries` the request fails for its record only.
JSON mode (`response_format={"type": "json_object"}`) is sent when `json_mode` is "on", or
"auto" until the server rejects it once. The API key is read from the environment variable
named by `api_key_env`, sent only in the Authorization header, and scrubbed from any error
text: it never reaches a log, a cache entry or an output.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vit.synth.backends.base import Backend, OnResult, Request, Response

POOL = 16  # connections per httpx client; more clients for more concurrency
RETRY_AFTER_MAX = 300.0  # honor a server's Retry-After, but never wait longer than this
_SAMPLING = ("temperature", "top_p", "max_tokens", "seed")


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(
        self,
        model: str = "",
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 16,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        json_mode: str = "auto",
        extra_body: dict[str, Any] | None = None,
        max_tokens_field: str = "max_tokens",
    ) -> None:
        if not model:
            raise ValueError("the openai backend needs a model name (the server's model id)")
        if json_mode not in ("auto", "on", "off"):
            raise ValueError(f"json_mode must be auto, on or off, got {json_mode!r}")
        self.model, self.base_url = model, base_url.rstrip("/") + "/"
        self.concurrency, self.timeout, self.max_retries = concurrency, timeout, max_retries
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.json_mode, self.extra_body = json_mode, dict(extra_body or {})
        # OpenAI's reasoning models refuse `max_tokens` and want `max_completion_tokens`.
        self.max_tokens_field = max_tokens_field
        self._use_json = json_mode != "off"
        self._ssl = None
        self.__key = os.environ.get(api_key_env) or None  # private; repr and errors never show it

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.__key}"} if self.__key else {}

    def _scrub(self, text: str) -> str:
        return text.replace(self.__key, "***") if self.__key else text

    def _payload(self, req: Request) -> dict[str, Any]:
        body = {"model": self.model, "messages": req.messages}
        body |= {k: req.sampling[k] for k in _SAMPLING if req.sampling.get(k) is not None}
        if "max_tokens" in body and self.max_tokens_field != "max_tokens":
            body[self.max_tokens_field] = body.pop("max_tokens")
        if self._use_json:
            body["response_format"] = {"type": "json_object"}
        return body | self.extra_body

    def _verify(self):
        """TLS settings: none for plain http; one SSL context per backend, not per batch
        (building one costs ~0.1 s, paid again for every shard otherwise)."""
        if self.base_url.startswith("http://"):
            return False
        if self._ssl is None:
            import ssl

            self._ssl = ssl.create_default_context()
        return self._ssl

    def _backoff(self, attempt: int, server_wait: float | None) -> float:
        cap = min(self.backoff_max, self.backoff_base * 2**attempt)
        jittered = cap / 2 + random.uniform(0, cap / 2)  # equal jitter: spread, never zero
        return max(jittered, min(server_wait or 0.0, RETRY_AFTER_MAX))

    def generate(self, batch: list[Request], on_result: OnResult | None = None) -> list[Response]:
        if not batch:
            return []
        coro = self._all(batch, on_result)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        # Called from inside an event loop (a notebook, an async flow): run on a fresh one.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()

    async def _all(self, batch: list[Request], on_result: OnResult | None) -> list[Response]:
        """`concurrency` workers pull requests off one iterator, so at most that many are in
        flight (the semaphore of a worker pool) and a 100k batch is not 100k tasks. Workers
        share clients of at most POOL connections each: httpcore's pool scans every
        connection for every queued request, which is quadratic in one big pool."""
        import httpx

        out: list[Response | None] = [None] * len(batch)
        todo = iter(enumerate(batch))
        n_workers = max(1, min(self.concurrency, len(batch)))
        n_clients = -(-n_workers // POOL)
        per = -(-n_workers // n_clients)
        limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
        opts = {
            "base_url": self.base_url,
            "timeout": self.timeout,
            "limits": limits,
            "headers": self._headers(),
            "verify": self._verify(),
        }

        async def worker(client) -> None:
            for i, req in todo:  # one shared iterator: each request is taken exactly once
                out[i] = resp = await self._one(client, req)
                if on_result is not None:
                    on_result(i, resp)

        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(httpx.AsyncClient(**opts)) for _ in range(n_clients)
            ]
            await asyncio.gather(*(worker(clients[w % n_clients]) for w in range(n_workers)))
        return out

    async def _one(self, client, req: Request) -> Response:
        """One request with retries; returns a Response, never raises for HTTP trouble."""
        import httpx

        t0, attempt, last = time.perf_counter(), 0, ""
        while True:
            server_wait = None
            try:
                r = await client.post("chat/completions", json=self._payload(req))
            except httpx.TimeoutException:
                last = "timeout"
            except httpx.TransportError as e:
                last = f"connection error ({type(e).__name__})"
            else:
                if r.status_code == 200:
                    done = _completion(r)
                    if done is not None:
                        text, t_in, t_out = done
                        return Response(text, None, t_in, t_out, attempt, time.perf_counter() - t0)
                    last = "malformed response body"
                elif r.status_code in (400, 422) and self._json_refused(r):
                    continue  # resend at once without JSON mode; not a retry
                elif r.status_code == 429 or r.status_code >= 500:
                    last, server_wait = (
                        f"http {r.status_code}",
                        retry_after(r.headers.get("retry-after")),
                    )
                else:
                    err = self._scrub(f"http {r.status_code}: {r.text[:300]}")
                    return Response(None, err, retries=attempt, latency=time.perf_counter() - t0)
            if attempt >= self.max_retries:
                err = self._scrub(f"{last} (gave up after {attempt} retries)")
                return Response(None, err, retries=attempt, latency=time.perf_counter() - t0)
            await asyncio.sleep(self._backoff(attempt, server_wait))
            attempt += 1

    def _json_refused(self, r) -> bool:
        """In "auto" mode, a 400 that names response_format turns JSON mode off for good."""
        if self.json_mode == "auto" and self._use_json and "response_format" in r.text:
            self._use_json = False
            return True
        return False


def _completion(r) -> tuple[str, int, int] | None:
    """(content, prompt tokens, completion tokens) from a chat-completions body, or None."""
    try:
        body = r.json()
        text = body["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if not isinstance(text, str):
        return None
    usage = body.get("usage") or {}
    return text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
