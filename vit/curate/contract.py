"""The LLaVA data contract, checked before any training starts.

    from vit.curate.contract import validate, format_problems
    report = validate(records, image_root, workers=2)
    print(format_problems(report)); assert report.ok

LLaVA's trainer finds these problems hours in, one sample at a time: a missing image is a
FileNotFoundError mid-epoch, a role that does not alternate trips an assert, an `<image>`
count that does not match the images indexes past the image features (or trains without
ever looking at the image), and a stray chat-template separator or a dangling human turn
prints "WARNING: tokenization mismatch" and silently zeroes the sample's loss. Here every
record is checked up front and each problem gets a stable code (see PROBLEM_CODES).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from vit.curate.images import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    ImageInfo,
    PathResolver,
    check_images,
    default_workers,
)
from vit.records import IMAGE_TOKEN, ROLES, Record, reject

ERROR, WARNING = "error", "warning"
HUMAN, GPT = ROLES

# code -> (severity, what it means). Codes are stable: scripts and dashboards count them.
PROBLEM_CODES: dict[str, tuple[str, str]] = {
    "no_conversations": (ERROR, "no turns at all (allowed with require_conversations=False)"),
    "unknown_role": (ERROR, "a turn's role is not 'human' or 'gpt'"),
    "first_not_human": (ERROR, "the first turn is not from 'human' (LLaVA drops it silently)"),
    "roles_alternate": (ERROR, "two consecutive turns share a role (LLaVA asserts)"),
    "odd_turns": (ERROR, "the last turn is human with no gpt answer (tokenization mismatch)"),
    "empty_turn": (ERROR, "a turn is empty or whitespace only"),
    "image_token_count": (ERROR, "number of <image> tokens differs from the number of images"),
    "image_token_position": (ERROR, "the <image> token is not in the first human turn"),
    "image_token_variant": (WARNING, "something like <Image> that is not the image token"),
    "template_marker": (WARNING, "chat-template separator in the text (tokenization mismatch)"),
    "duplicate_id": (ERROR, "the id was already used by an earlier record"),
    "image_unsafe_path": (ERROR, "the image path is absolute or leaves the image root"),
    "image_missing": (ERROR, "the image file does not exist"),
    "image_empty": (ERROR, "the image file has zero bytes"),
    "image_unreadable": (ERROR, "not a regular file, or not an image PIL can identify"),
    "image_too_large": (ERROR, "the header claims more pixels than max_pixels"),
    "image_corrupt": (ERROR, "truncated or corrupt image data"),
    "image_ext_mismatch": (WARNING, "the content's format does not match the file extension"),
    "image_size_mismatch": (WARNING, "the record's width/height differ from the file's"),
}

# Near-misses of the image token: the tokenizer reads these as plain text.
_TOKEN_VARIANT = re.compile(r"<\s*/?\s*(?:image|img)\s*/?\s*>", re.IGNORECASE)
# Separators of LLaVA's conversation templates (v1, llama_2, mpt/chatml): inside a
# turn they shift how preprocess splits rounds, which is the classic tokenization mismatch.
_TEMPLATE_MARKER = re.compile(  # the lookahead lets re skip most characters cheaply (~1 us/turn)
    r"(?=[<\[UA])(?:</?s>|<\|(?:im_start|im_end|endoftext)\|>|\[/?INST\]|USER:|ASSISTANT:)"
)
_SMALL_IMAGE_PIXELS = 96 * 96
_CACHE_MAX = 1_000_000  # image results remembered across chunks (COCO images recur in mix665k)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one record; `message` names the record and what was expected."""

    id: str
    code: str
    message: str
    severity: str = ERROR

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "code": self.code,
            "message": self.message,
            "severity": self.severity,
        }


def _problem(rec: Record, code: str, what: str) -> Problem:
    return Problem(rec.id, code, f"record {rec.id}: {what}", PROBLEM_CODES[code][0])


@dataclass
class ValidationReport:
    """Valid records (width/height filled), invalid ones with their problems, and counts."""

    valid: list[Record] = field(default_factory=list)
    invalid: list[tuple[Record, list[Problem]]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(p.severity == ERROR for p in self.problems)

    def add(self, rec: Record, problems: list[Problem]) -> None:
        self.problems.extend(problems)
        for p in problems:
            self.counts[p.code] = self.counts.get(p.code, 0) + 1
        if any(p.severity == ERROR for p in problems):
            self.invalid.append((rec, problems))
        else:  # warnings alone do not stop a record
            self.valid.append(rec)

    def rejects(self, stage: str = "validate") -> list[dict[str, Any]]:
        """Rows for a rejects file: one per invalid record, with every error's code and the
        whole record, so a fixed record can be re-ingested and nothing is lost."""
        rows = []
        for rec, problems in self.invalid:
            errors = [p for p in problems if p.severity == ERROR]
            reason = "; ".join(p.message for p in errors)
            codes = sorted({p.code for p in errors})
            rows.append(reject(rec.id, stage, reason, codes=codes, record=rec.to_dict()))
        return rows


# --- conversations ---------------------------------------------------------------------------


def check_conversations(rec: Record, *, require_conversations: bool = True) -> list[Problem]:
    """Check one record's turns against the LLaVA contract (no file access).

    A text-only record is fine (LLaVA mixes in ShareGPT text); caption-only records from
    COCO or folder ingest have no turns, which is an error only if `require_conversations`.
    """
    convs = rec.conversations
    if convs:
        return _role_problems(rec, convs) + _text_problems(rec, convs) + _token_problems(rec)
    if not require_conversations:
        return []  # caption-only: no turn could hold an <image> token
    msg = "has no conversation turns; expected human/gpt turns"
    return [_problem(rec, "no_conversations", msg)]


def _role_problems(rec: Record, convs: list[dict[str, str]]) -> list[Problem]:
    roles = [t["from"] for t in convs]
    unknown = [i for i, r in enumerate(roles) if r not in ROLES]
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        msg = f"turn {unknown[0]} has role {roles[unknown[0]]!r}{more}; expected 'human' or 'gpt'"
        return [_problem(rec, "unknown_role", msg)]
    out = []
    if roles[0] != HUMAN:
        msg = "turn 0 is from 'gpt'; expected 'human' first (LLaVA silently drops the turn)"
        out.append(_problem(rec, "first_not_human", msg))
    same = next((i for i in range(1, len(roles)) if roles[i] == roles[i - 1]), None)
    if same is not None:
        msg = f"turns {same - 1} and {same} are both {roles[same]!r}; expected them to alternate"
        out.append(_problem(rec, "roles_alternate", msg))
    if not out and roles[-1] == HUMAN:
        # LLaVA's v1 preprocess cannot split a question-only round: tokenization mismatch.
        msg = f"ends with human turn {len(roles) - 1}; expected a gpt answer last"
        out.append(_problem(rec, "odd_turns", msg))
    return out


def _text_problems(rec: Record, convs: list[dict[str, str]]) -> list[Problem]:
    out = []
    for i, t in enumerate(convs):
        v = t["value"]
        if not v.strip():
            msg = f"turn {i} ({t['from']}) is empty; expected text in every turn"
            out.append(_problem(rec, "empty_turn", msg))
            continue
        if m := _TEMPLATE_MARKER.search(v):
            msg = (
                f"turn {i} contains the chat-template separator {m.group()!r}; expected plain "
                "text (LLaVA would report a tokenization mismatch and mask the sample)"
            )
            out.append(_problem(rec, "template_marker", msg))
        bad = next((m.group() for m in _TOKEN_VARIANT.finditer(v) if m.group() != IMAGE_TOKEN), 0)
        if bad:
            msg = (
                f"turn {i} contains {bad!r}, which is plain text; expected exactly {IMAGE_TOKEN!r}"
            )
            out.append(_problem(rec, "image_token_variant", msg))
    return out


def _token_problems(rec: Record) -> list[Problem]:
    counts = [t["value"].count(IMAGE_TOKEN) for t in rec.conversations]
    total, n_images = sum(counts), 1 if rec.image else 0
    if total != n_images:
        if n_images == 0:
            msg = f"is text-only but has {total} {IMAGE_TOKEN} token(s); expected none"
        elif total == 0:
            msg = f"has an image but no {IMAGE_TOKEN} token; expected 1 (else it is never seen)"
        else:
            msg = f"has 1 image but {total} {IMAGE_TOKEN} tokens; expected exactly 1"
        return [_problem(rec, "image_token_count", msg)]
    if total == 0:
        return []
    at = next(i for i, c in enumerate(counts) if c)
    first_human = next((i for i, t in enumerate(rec.conversations) if t["from"] == HUMAN), None)
    if at == first_human:
        return []
    role = rec.conversations[at]["from"]
    msg = f"{IMAGE_TOKEN} is in turn {at} ({role}); expected it in the first human turn"
    return [_problem(rec, "image_token_position", msg)]


# --- whole datasets --------------------------------------------------------------------------


def validate(records: Iterable[Record], image_root: str | Path, **options: Any) -> ValidationReport:
    """Check every record (ids, turns, image files) and sort them into valid and invalid.

    `options` are those of `iter_validated`. Valid records get `width`/`height` from their
    image file (set in place). Records with only warnings stay valid; `report.ok` is False
    when any error was found.
    """
    report = ValidationReport()
    for rec, problems in iter_validated(records, image_root, **options):
        report.add(rec, problems)
    return report


def iter_validated(
    records: Iterable[Record],
    image_root: str | Path,
    *,
    check_files: bool = True,
    require_conversations: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int | None = None,
    decode: bool = True,
    chunk_size: int = 1024,
) -> Iterator[tuple[Record, list[Problem]]]:
    """Stream (record, problems) in input order, checking images a chunk at a time.

    Chunks keep memory flat on million-record files while giving the thread pool enough
    images to stay busy; the root is resolved once and each image is checked once.
    A process pool was measured too (bench/ingest.py, 10k 64x64 PNGs, 2 cores): about 5%
    faster than one thread, at the price of re-importing `__main__` in every worker, so
    threads it is.
    """
    ctx = _Context(image_root, max_pixels, decode, workers if check_files else 1)
    try:
        it = iter(records)
        while chunk := list(islice(it, chunk_size)):
            rels = [r.image for r in chunk if r.image] if check_files else []
            found = ctx.check(rels)
            yield from _validate_chunk(ctx, chunk, found, check_files, require_conversations)
    finally:
        ctx.close()


class _Context:
    """What one validation run shares across chunks: resolver, pool, seen ids, image cache."""

    def __init__(self, root: str | Path, max_pixels: int, decode: bool, workers: int | None):
        self.resolver = PathResolver(root)
        self.max_pixels, self.decode = max_pixels, decode
        n = default_workers(decode) if workers is None else max(1, workers)
        self.pool = ThreadPoolExecutor(n, thread_name_prefix="vit-validate") if n > 1 else None
        self.seen: dict[str, int] = {}
        self.images: dict[str, ImageInfo | ImageError] = {}
        self.index = 0

    def check(self, rels: list[str]) -> dict[str, ImageInfo | ImageError]:
        """Check the images not seen yet; returns this chunk's new results."""
        todo = [r for r in dict.fromkeys(rels) if r not in self.images]
        results = check_images(
            self.resolver.root,
            todo,
            workers=1,
            max_pixels=self.max_pixels,
            decode=self.decode,
            executor=self.pool,
            resolver=self.resolver,
        )
        found = dict(zip(todo, results, strict=True))
        self._drop_pool_for_small_images(results)
        if len(self.images) < _CACHE_MAX:
            self.images.update(found)
        return found

    def _drop_pool_for_small_images(self, results: list[ImageInfo | ImageError]) -> None:
        # Measured (2 cores, 3000 PNGs): 64 px 14.6k img/s on 1 thread vs 8.7k on 3;
        # 128 px 6.9k vs 8.5k; 256 px 2.1k vs 3.8k. Below ~96x96 the GIL-bound header
        # parsing dominates and threads only contend, so small-image sets go single-threaded.
        sizes = [r.width * r.height for r in results if isinstance(r, ImageInfo)]
        if self.pool is not None and sizes and sum(sizes) / len(sizes) < _SMALL_IMAGE_PIXELS:
            self.pool.shutdown()
            self.pool = None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _validate_chunk(
    ctx: _Context,
    chunk: list[Record],
    found: dict[str, ImageInfo | ImageError],
    check_files: bool,
    require_conversations: bool,
) -> Iterator[tuple[Record, list[Problem]]]:
    for rec in chunk:
        problems = check_conversations(rec, require_conversations=require_conversations)
        first = ctx.seen.setdefault(rec.id, ctx.index)
        if first != ctx.index:
            msg = f"record #{ctx.index} reuses the id of record #{first}; expected unique ids"
            problems.append(_problem(rec, "duplicate_id", msg))
        ctx.index += 1
        if check_files and rec.image:
            result = ctx.images.get(rec.image)
            if result is None:  # past the cache cap: checked again, on this thread
                result = check_images(
                    ctx.resolver.root,
                    [rec.image],
                    workers=1,
                    max_pixels=ctx.max_pixels,
                    decode=ctx.decode,
                    resolver=ctx.resolver,
                )[0]
            problems.extend(_image_problems(rec, result))
        yield rec, problems


def _image_problems(rec: Record, result: ImageInfo | ImageError) -> list[Problem]:
    if isinstance(result, ImageError):
        return [_problem(rec, result.code, str(result))]
    out = [_problem(rec, code, msg) for code, msg in result.issues]
    stated = (rec.width, rec.height)
    if stated != (None, None) and stated != (result.width, result.height):
        found = f"{result.width}x{result.height}"
        msg = f"says {rec.width}x{rec.height} but {rec.image!r} is {found}; using the file's"
        out.append(_problem(rec, "image_size_mismatch", msg))
    rec.width, rec.height = result.width, result.height
    return out


def format_problems(report: ValidationReport, limit: int = 50) -> str:
    """Problems for a terminal, errors first: `id  code  message`, then counts by code."""
    ordered = sorted(report.problems, key=lambda p: p.severity != ERROR)
    lines = [f"{p.id}  {p.code}  {p.message}" for p in ordered[:limit]]
    if len(ordered) > limit:
        lines.append(f"... and {len(ordered) - limit} more problems")
    if report.counts:
        width = max(len(c) for c in report.counts)
        lines += ["", f"{'code':<{width}}  {'severity':<8}  count"]
        for code, n in Counter(report.counts).most_common():
            sev = PROBLEM_CODES.get(code, (ERROR, ""))[0]
            lines.append(f"{code:<{width}}  {sev:<8}  {n}")
    n_err = sum(p.severity == ERROR for p in report.problems)
    lines.append(
        f"{len(report.valid)} valid, {len(report.invalid)} invalid records; "
        f"{n_err} errors, {len(report.problems) - n_err} warnings"
    )
    return "\n".join(lines)
