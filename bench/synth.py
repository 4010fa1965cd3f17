"""Benchmark: requests/s of the `openai` synth backend vs a plain sequential httpx loop.

    .venv/bin/python bench/synth.py [--delay 0.05] [--n 256] [--concurrency 1 8 32 128]

A local chat-completions server (`vit.synth.testing.ChatServer`: asyncio, HTTP/1.1
keep-alive, in its own process so it does not share the client's GIL) answers every request
after a fixed delay, standing in for a model's latency. Both sides send the same request (a
rendered `conversation` prompt, ~6 KB). Baseline: `httpx.Client`, one request at a time, the
loop a quick script would write.

Measured here (2-core CPU VM shared with other jobs, load ~2-3; 50 ms server delay, 256
requests per point; ranges over three runs):

    sequential httpx loop              19.1 req/s    1.0x
    openai backend, concurrency 1      18.8 req/s    1.0x   (ideal 20)
    openai backend, concurrency 8     142-150 req/s  7.4-7.8x   (ideal 160)
    openai backend, concurrency 32    410-530 req/s  22-28x     (ideal 640)
    openai backend, concurrency 128   580-650 req/s  30-34x     (ideal 2560: client-CPU bound,
                                                                 httpx costs ~1.5 ms/request)

Real throughput against vLLM (`vllm serve MODEL --port 8000`), with the server's own model
latency instead of the fixed delay:

    .venv/bin/python bench/synth.py --base-url http://127.0.0.1:8000/v1 --model MODEL \\
        --concurrency 1 32 128 256 --n 1024

(`--api-key-env NAME` if the server wants a key; the sequential baseline runs first.)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time


def payload(model: str, max_tokens: int) -> dict:
    from vit.sources.scenes import make_scene
    from vit.synth.templates import render

    rec, _ = make_scene(0, 0, 64)
    msgs = render("conversation", rec)
    return {"model": model, "messages": msgs, "max_tokens": max_tokens, "temperature": 0.7}


def sequential(url: str, body: dict, n: int, key: str | None) -> float:
    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=url.rstrip("/") + "/", timeout=600, headers=headers) as client:
        t = time.perf_counter()
        for _ in range(n):
            r = client.post("chat/completions", json=body)
            r.raise_for_status()
            r.json()["choices"][0]["message"]["content"]
        return n / (time.perf_counter() - t)


def backend_rate(url: str, body: dict, n: int, concurrency: int, key_env: str) -> float:
    from vit.synth.backends import Request, get_backend

    b = get_backend(
        "openai",
        body["model"],
        base_url=url,
        api_key_env=key_env,
        concurrency=concurrency,
        timeout=600,
        json_mode="off",
    )
    sampling = {"max_tokens": body["max_tokens"], "temperature": body["temperature"]}
    reqs = [Request(f"{i:064d}", "conversation", body["messages"], sampling) for i in range(n)]
    t = time.perf_counter()
    outs = b.generate(reqs)
    rate = n / (time.perf_counter() - t)
    failed = sum(o.text is None for o in outs)
    if failed:
        raise SystemExit(
            f"{failed} of {n} requests failed, e.g. {next(o.error for o in outs if o.error)}"
        )
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", default="", help="an existing server; default: start a local one")
    ap.add_argument("--model", default="bench-model")
    ap.add_argument("--api-key-env", default="OPENAI_API_KEY")
    ap.add_argument("--delay", type=float, default=0.05, help="local server latency, seconds")
    ap.add_argument("--n", type=int, default=256, help="requests per measurement")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 128])
    args = ap.parse_args()
    body = payload(args.model, args.max_tokens)
    key = os.environ.get(args.api_key_env)
    if args.base_url:
        run(args.base_url, body, args, key)
        return
    # The server gets its own process (its own GIL and core), so the client is measured.
    ctx = mp.get_context("spawn")
    urls, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(args.delay, urls, stop), daemon=True)
    server.start()
    try:
        run(urls.get(timeout=60), body, args, key)
    finally:
        stop.set()
        server.join(10)


def serve(delay: float, urls, stop) -> None:
    from vit.synth.testing import ChatServer, Reply

    answer = json.dumps({"conversation": [{"question": "How many shapes?", "answer": "Three."}]})
    with ChatServer(lambda b, i: Reply(content=answer), delay=delay) as srv:
        urls.put(srv.url)
        stop.wait()


def run(url: str, body: dict, args, key: str | None) -> None:
    backend_rate(url, body, 8, 8, args.api_key_env)  # warm up imports and the server
    base = sequential(url, body, min(args.n, 128), key)
    print(f"{'sequential httpx loop':34s} {base:8.1f} req/s   1.0x")
    for c in args.concurrency:
        rate = backend_rate(url, body, max(args.n, 2 * c), c, args.api_key_env)
        print(f"{f'openai backend, concurrency {c}':34s} {rate:8.1f} req/s  {rate / base:5.1f}x")


if __name__ == "__main__":
    main()
