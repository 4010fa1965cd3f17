"""A local causal LM (a folder or a hub id) writing instructions with its own chat template.

    get_backend("transformers", "/models/Qwen2.5-1.5B-Instruct", batch_size=8, device="cuda")

Prompts are batched (left padding) and generated with the request's sampling params; a
batch that fails (out of memory, a bad template) fails only its own requests. The model is
loaded on the first `generate`, so building the backend costs nothing.
"""

from __future__ import annotations

import json

from vit.synth.backends.base import Backend, OnResult, Request, Response


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(
        self,
        model: str = "",
        batch_size: int = 8,
        device: str = "auto",
        dtype: str = "auto",
        trust_remote_code: bool = False,
    ) -> None:
        if not model:
            raise ValueError("the transformers backend needs a model path or hub id")
        self.model, self.batch_size, self.device, self.dtype = model, batch_size, device, dtype
        self.trust_remote_code = trust_remote_code
        self._tok = self._lm = None

    def _load(self) -> None:
        if self._lm is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(self.model, trust_remote_code=self.trust_remote_code)
        tok.padding_side = "left"  # decoder-only: pad on the left so generation continues
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        kw = {} if self.dtype == "auto" else {"dtype": getattr(torch, self.dtype)}
        lm = AutoModelForCausalLM.from_pretrained(
            self.model, trust_remote_code=self.trust_remote_code, **kw
        )
        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._tok, self._lm = tok, lm.to(device).eval()

    def _prompt(self, messages: list[dict[str, str]]) -> str:
        if getattr(self._tok, "chat_template", None):
            return self._tok.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        # No template (a base model): a plain transcript it can continue.
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"

    def _chunk(self, reqs: list[Request]) -> list[Response]:
        import torch

        s = reqs[0].sampling
        enc = self._tok(
            [self._prompt(r.messages) for r in reqs],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        ).to(self._lm.device)
        kw = {
            "max_new_tokens": int(s.get("max_tokens", 512)),
            "pad_token_id": self._tok.pad_token_id,
        }
        temperature = float(s.get("temperature", 0.0))
        kw |= {"do_sample": temperature > 0}
        if temperature > 0:
            kw |= {"temperature": temperature, "top_p": float(s.get("top_p", 1.0))}
        torch.manual_seed(int(s.get("seed", 0)))
        with torch.no_grad():
            out = self._lm.generate(**enc, **kw)
        new = out[:, enc["input_ids"].shape[1] :]
        texts = self._tok.batch_decode(new, skip_special_tokens=True)
        n_in = enc["attention_mask"].sum(dim=1).tolist()
        n_out = (new != self._tok.pad_token_id).sum(dim=1).tolist()
        return [Response(t, None, i, o) for t, i, o in zip(texts, n_in, n_out, strict=True)]

    def generate(self, batch: list[Request], on_result: OnResult | None = None) -> list[Response]:
        self._load()
        out: list[Response | None] = [None] * len(batch)
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(batch):  # one sampling setup per generate() call
            groups.setdefault(json.dumps(r.sampling, sort_keys=True), []).append(i)
        for idx in groups.values():
            for lo in range(0, len(idx), self.batch_size):
                part = idx[lo : lo + self.batch_size]
                try:
                    resps = self._chunk([batch[i] for i in part])
                except (RuntimeError, ValueError, TypeError) as e:
                    resps = [
                        Response(None, f"generate failed: {type(e).__name__}: {e}"[:300])
                    ] * len(part)
                for i, resp in zip(part, resps, strict=True):
                    out[i] = resp
                    if on_result is not None:
                        on_result(i, resp)
        return out
