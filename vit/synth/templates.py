"""Prompt templates for LLaVA's three instruction types, rendered from a record.

Layout of `vit/synth/templates/` (flat, so the package-data glob ships every file):

    {type}.system.txt            the system message
    {type}.NNN.context.txt       a few-shot context: captions, a blank line, one box per line
    {type}.NNN.answer.txt        the answer the model should give for that context (JSON)

Types are `conversation`, `detail` and `reasoning` (LLaVA's three) and `short` (one-word
answers, the role VQA data plays in LLaVA-1.5). A context is exactly what LLaVA's
prompts show GPT-4: the captions, then `label: [x1, y1, x2, y2]` lines with normalized
boxes; our label carries color, shape and size (`red circle (small)`). `template_hash(t)`
is the sha256 of that type's files, so editing one type's prompt regenerates only that type.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

from vit.records import Annotation, Record

TEMPLATE_DIR = Path(__file__).parent / "templates"
TYPES = ("conversation", "detail", "reasoning", "short")
_BOX_LINE = re.compile(
    r"^(?P<label>[^:\n]+?)(?:\s+\((?P<size>[^)]+)\))?:\s*\[(?P<box>[^\]]+)\]\s*$", re.M
)


def _check(kind: str) -> None:
    if kind not in TYPES:
        raise ValueError(f"unknown instruction type {kind!r}; expected one of {TYPES}")


def _files(kind: str) -> list[Path]:
    _check(kind)
    files = sorted(TEMPLATE_DIR.glob(f"{kind}.*.txt"))
    if not (TEMPLATE_DIR / f"{kind}.system.txt").exists():
        raise FileNotFoundError(f"no system message for {kind!r} in {TEMPLATE_DIR}")
    return files


@cache
def _load(kind: str) -> tuple[str, tuple[tuple[str, str], ...], str]:
    """(system message, few-shot (context, answer) pairs, content hash) of one type."""
    files = _files(kind)
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    system = (TEMPLATE_DIR / f"{kind}.system.txt").read_text().strip()
    shots = []
    for ctx in (f for f in files if f.name.endswith(".context.txt")):
        answer = ctx.with_name(ctx.name.replace(".context.txt", ".answer.txt"))
        shots.append((ctx.read_text().strip(), answer.read_text().strip()))
    return system, tuple(shots), digest.hexdigest()


def template_hash(kind: str) -> str:
    """sha256 of the type's template files (names and bytes)."""
    return _load(kind)[2]


def few_shots(kind: str) -> list[tuple[str, str]]:
    return list(_load(kind)[1])


def object_label(a: Annotation) -> str:
    """`red circle (small)`: color and shape (or the label), then the size if known."""
    words = " ".join(w for w in (a.color, a.shape or a.label) if w)
    return f"{words} ({a.size})" if a.size else words


def context(record: Record) -> str:
    """Captions, a blank line, then one `label: [x1, y1, x2, y2]` line per boxed object."""
    boxes = [
        f"{object_label(a)}: [{', '.join(f'{v:.3f}' for v in a.box)}]"
        for a in record.annotations
        if a.box is not None
    ]
    return "\n".join(record.captions) + "\n\n" + "\n".join(boxes)


def render(
    kind: str, record: Record, focus: dict[str, float] | None = None
) -> list[dict[str, str]]:
    """Chat messages: system, then few-shot user/assistant pairs, then this record's context
    (+ the `focus` line for short rounds, so an LLM is asked for it and it is in the key)."""
    system, shots, _ = _load(kind)
    messages = [{"role": "system", "content": system}]
    for ctx, answer in shots:
        messages += [{"role": "user", "content": ctx}, {"role": "assistant", "content": answer}]
    tail = f"\n\n{focus_line(focus)}" if focus and kind == "short" else ""
    messages.append({"role": "user", "content": context(record) + tail})
    return messages


def focus_line(focus: dict[str, float]) -> str:
    """`Share of the questions by kind: count 30%, shape 25%, ...` (largest first)."""
    total = sum(focus.values())
    parts = [
        f"{t} {round(100 * w / total)}%"
        for t, w in sorted(focus.items(), key=lambda tw: (-tw[1], tw[0]))
        if w > 0
    ]
    return "Share of the questions by kind: " + ", ".join(parts) + "."


def parse_context(text: str) -> list[Annotation]:
    """The annotations back from a context's box lines (used to check the few-shot answers)."""
    anns = []
    for m in _BOX_LINE.finditer(text):
        words = m["label"].split()
        shape, color = words[-1], (words[-2] if len(words) > 1 else None)
        box = [float(v) for v in m["box"].split(",")]
        anns.append(Annotation(label=shape, box=box, shape=shape, color=color, size=m["size"]))
    return anns
