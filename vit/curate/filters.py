"""Curation filters: each one answers keep (None) or drop (reason, measured value).

    from vit.curate.filters import CurateConfig, build_filters, first_failure
    filters = build_filters(CurateConfig(min_blur=20))
    failed = first_failure(filters, rec, stats)   # None or (filter, reason, value)

`stats` is what `vit.curate.quality.analyze` measured for the record's image, the
`ImageError` it raised, or None for a text-only record (image filters then pass). Filters
run in a fixed order and the first that fails names the reason: decode, size, aspect,
uniform, low information, blur, brightness, (grayscale, extension), conversations, length.

Defaults are measured, not guessed (4000 clean 128 px scenes, 3000 at 256 px, 500 each at
32 and 64 px, all 1797 digits at 32 px; see CurateConfig's help strings): every clean
embedded scene passes every filter with a margin of at least 2x, and every injected blank
and tiny image fails.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from vit.curate.contract import ERROR, check_conversations
from vit.curate.images import DEFAULT_MAX_PIXELS, ImageError
from vit.records import Record

Stats = dict[str, Any] | ImageError | None
Verdict = tuple[str, Any]  # (reason, measured value)


@dataclass
class CurateConfig:
    """Thresholds of `vit curate` (params.yaml `curate:`); None switches a filter off."""

    min_side: int | None = field(
        default=32,
        metadata={
            "help": "Drop images whose shorter side is below this many pixels (too "
            "small to say anything; injected tiny images are 6-15 px, digits 32 px)."
        },
    )
    max_aspect: float | None = field(
        default=4.0,
        metadata={
            "help": "Drop images whose long/short side ratio exceeds this (banners, "
            "strips: the vision encoder's square resize destroys them)."
        },
    )
    min_std: float | None = field(
        default=2.0,
        metadata={
            "help": "Drop uniform images: largest per-channel std of RGB below this. "
            "Clean scenes: min 6.8, 1st percentile 12.3; blanks: 0."
        },
    )
    min_entropy: float | None = field(
        default=0.02,
        metadata={
            "help": "Drop low-information images: gray-histogram entropy (bits) below "
            "this. A plain background with one small shape measures 0.043 (the "
            "minimum over clean scenes); a blank measures 0."
        },
    )
    min_blur: float | None = field(
        default=15.0,
        metadata={
            "help": "Drop blurry images: variance of the Laplacian (largest RGB "
            "channel, at <= 256 px a side) below this. Clean scenes: min 38 at 256 px, "
            "86 at 128 px, 156 at 64 px, 722 at 32 px; digits 5026. A 128 px scene "
            "blurred with a Gaussian of sigma 2 px: median 6, sigma 3: max 9."
        },
    )
    min_brightness: float | None = field(
        default=10.0,
        metadata={
            "help": "Drop nearly black images: mean gray level (0-255) below this. "
            "Clean scenes: 71-228."
        },
    )
    max_brightness: float | None = field(
        default=248.0,
        metadata={
            "help": "Drop nearly white images: mean gray level above this (a white "
            "page with a few percent of text stays below it)."
        },
    )
    drop_grayscale: bool = field(
        default=False,
        metadata={
            "help": "Drop grayscale images instead of only flagging them "
            "(metadata.flags gets 'grayscale' either way)."
        },
    )
    drop_ext_mismatch: bool = field(
        default=False,
        metadata={
            "help": "Drop images whose content does not match the extension instead "
            "of flagging them ('image_ext_mismatch'); PIL reads them fine."
        },
    )
    max_turn_chars: int | None = field(
        default=4000,
        metadata={
            "help": "Drop records with a conversation turn longer than this many "
            "characters (~1000 tokens: one turn would crowd out the rest)."
        },
    )
    max_total_chars: int | None = field(
        default=8000,
        metadata={
            "help": "Drop records whose turns add up to more characters than this "
            "(~2000 tokens, LLaVA-1.5's context: the tail, often the answer, would be "
            "truncated away)."
        },
    )
    require_conversations: bool = field(
        default=False,
        metadata={
            "help": "Drop records with no conversation turns (caption-only records "
            "are fine until synthesis writes their instructions)."
        },
    )
    max_pixels: int = field(
        default=DEFAULT_MAX_PIXELS,
        metadata={
            "help": "Decompression-bomb guard: refuse images whose header claims "
            "more pixels, before decoding them."
        },
    )
    workers: int | None = field(
        default=None,
        metadata={
            "help": "Threads per shard; None: one thread below ~384x384 px on average "
            "(measured: no gain at 64-128 px, 1.85x at 640x480), cores + 1 above. Does not change the "
            "output, so it is not in the fingerprint."
        },
    )

    def params(self) -> dict[str, Any]:
        """The fields that change the output (what a rerun's fingerprint must cover)."""
        d = asdict(self)
        d.pop("workers")
        return d


class Filter(Protocol):
    name: str
    overridable: bool  # may a reviewer's "keep" overrule it? (never for broken data)

    def check(self, rec: Record, stats: Stats) -> Verdict | None: ...


@dataclass(frozen=True)
class DecodeFilter:
    """The image must be safe to open and decode fully; the reason is ImageError's code."""

    name: str = "decode"
    overridable: bool = False

    def check(self, rec: Record, stats: Stats) -> Verdict | None:
        return (stats.code, str(stats)) if isinstance(stats, ImageError) else None


@dataclass(frozen=True)
class SizeFilter:
    min_side: int
    name: str = "size"
    overridable: bool = True

    def check(self, rec: Record, stats: Stats) -> Verdict | None:
        if not isinstance(stats, dict):
            return None
        side = min(stats["width"], stats["height"])
        return ("too_small", side) if side < self.min_side else None


@dataclass(frozen=True)
class RangeFilter:
    """Drop when `stats[key]` lies below `lo` or above `hi` (either may be None)."""

    name: str
    key: str
    lo: float | None = None
    hi: float | None = None
    low_reason: str = ""
    high_reason: str = ""
    overridable: bool = True

    def check(self, rec: Record, stats: Stats) -> Verdict | None:
        if not isinstance(stats, dict):
            return None
        v = stats[self.key]
        if self.lo is not None and v < self.lo:
            return self.low_reason, v
        if self.hi is not None and v > self.hi:
            return self.high_reason, v
        return None


@dataclass(frozen=True)
class FlagFilter:
    """A finding that only flags by default (grayscale, extension); drops when `drop`."""

    name: str
    flag: str
    drop: bool = False
    overridable: bool = True

    def check(self, rec: Record, stats: Stats) -> Verdict | None:
        return (self.flag, True) if self.drop and self.flag in image_flags(stats) else None


@dataclass(frozen=True)
class ConversationFilter:
    """The LLaVA contract's turn checks (contract.check_conversations): errors drop."""

    require_conversations: bool = False
    name: str = "conversation"
    overridable: bool = False  # a contract error breaks training whatever a reviewer says

    def check(self, rec: Record, stats: Stats) -> Verdict | None:
        problems = check_conversations(rec, require_conversations=self.require_conversations)
        errors = [p for p in problems if p.severity == ERROR]
        return (errors[0].code, "; ".join(p.message for p in errors)) if errors else None


@dataclass(frozen=True)
class LengthFilter:
    """Overlong text: a trainer truncates it silently, often cutting off the answer."""

    max_turn_chars: int | None
    max_total_chars: int | None
    name: str = "length"
    overridable: bool = True

    def check(self, rec: Record, stats: Stats) -> Verdict | None:
        lengths = [len(t["value"]) for t in rec.conversations]
        if not lengths:
            return None
        if self.max_turn_chars is not None and max(lengths) > self.max_turn_chars:
            return "turn_too_long", max(lengths)
        if self.max_total_chars is not None and sum(lengths) > self.max_total_chars:
            return "text_too_long", sum(lengths)
        return None


def build_filters(config: CurateConfig) -> list[Filter]:
    """The filters of `config`, in the order they run (the first failure is the reason)."""
    c = config
    candidates: list[Filter | None] = [
        DecodeFilter(),
        SizeFilter(c.min_side) if c.min_side is not None else None,
        RangeFilter("aspect", "aspect", hi=c.max_aspect, high_reason="extreme_aspect"),
        RangeFilter("uniform", "color_std", lo=c.min_std, low_reason="uniform"),
        RangeFilter("low_information", "entropy", lo=c.min_entropy, low_reason="low_information"),
        RangeFilter("blur", "blur", lo=c.min_blur, low_reason="blurry"),
        RangeFilter(
            "brightness",
            "brightness",
            lo=c.min_brightness,
            hi=c.max_brightness,
            low_reason="too_dark",
            high_reason="too_bright",
        ),
        FlagFilter("grayscale", "grayscale", drop=c.drop_grayscale),
        FlagFilter("ext_mismatch", "image_ext_mismatch", drop=c.drop_ext_mismatch),
        ConversationFilter(c.require_conversations),
        LengthFilter(c.max_turn_chars, c.max_total_chars),
    ]
    return [f for f in candidates if f is not None and _active(f)]


def _active(f: Filter) -> bool:
    if isinstance(f, RangeFilter):
        return f.lo is not None or f.hi is not None
    if isinstance(f, FlagFilter):
        return f.drop
    if isinstance(f, LengthFilter):
        return f.max_turn_chars is not None or f.max_total_chars is not None
    return True


def first_failure(
    filters: list[Filter], rec: Record, stats: Stats
) -> tuple[Filter, str, Any] | None:
    """The first filter that drops `rec`, with its reason and measured value; else None."""
    for f in filters:
        verdict = f.check(rec, stats)
        if verdict is not None:
            return f, verdict[0], verdict[1]
    return None


def image_flags(stats: Stats) -> list[str]:
    """Non-fatal findings about the image: 'grayscale', 'image_ext_mismatch'."""
    if not isinstance(stats, dict):
        return []
    return (["grayscale"] if stats["grayscale"] else []) + list(stats.get("issues", ()))


def record_flags(rec: Record, stats: Stats) -> list[str]:
    """Everything worth a look that does not drop the record: image findings plus the
    contract's warnings (template markers, `<Image>`-like token variants)."""
    warnings = [p.code for p in check_conversations(rec) if p.severity != ERROR]
    return sorted(set(image_flags(stats)) | set(warnings))
