"""Checkable claims in an answer, and whether the annotations bear them out.

Reads the language of `vocab`: counts (`three red circles`), absence (`no green shapes`),
existence (`a large star`), attributes (`the star is yellow`), relations (`the red circle is
to the left of the blue square`), regions (`in the top-left part`), superlatives (`closest to
the top-left corner`, `leftmost`), `all the shapes are small`, halves, the most common color,
and what is left after a removal. The question gives context: a yes/no answer to `Is there a
...?`, a number answering `How many ...?`, colors answering `What color is the ...?`.

Precision over recall: a phrase whose scope is unclear (`the two circles on the left`,
anything in a hypothetical or negated clause) is weakened to what it surely implies, or left
unchecked. Geometry is judged leniently (box centers), so only a claim that is clearly false
fails. `tests/synth/test_grounding.py` holds the line: zero false rejections on the grounded
writer, every crafted hallucination caught.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from vit.records import Annotation
from vit.synth.vocab import COLORS, GENERIC_NOUNS, NUMBERS, SHAPES, SIZE_SYNONYMS, SIZES
from vit.synth.vocab import matches as _matches


@dataclass
class Claim:
    kind: str
    phrase: str
    ok: bool
    why: str = ""


_MOD_WORDS = (*COLORS, *SIZES, *SIZE_SYNONYMS)
MOD = r"(?:" + "|".join(_MOD_WORDS) + r")"
NUM = r"(?:" + "|".join(sorted(NUMBERS, key=len, reverse=True)) + r"|\d+)"
_ARTS = r"(?:the|an?)"
_IMG = r"(?:image|picture|scene|photo|frame)"
_VERB = (
    r"(?:(?:is|are|sits|sit|lies|lie|appears|appear|stands|stand|can\s+be\s+(?:seen|found))\s+)?"
)
_ADV = r"(?:(?:located|positioned|placed|situated|found|actually|also|directly|just|slightly|clearly|well|far|further|somewhat|right|all)\s+)*"
_REL = r"(?P<rel>to\s+the\s+left\s+of|to\s+the\s+right\s+of|left\s+of|right\s+of|above|below|beneath|underneath|under|over|on\s+top\s+of)"
_CORNER = r"(?P<corner>(?:top|bottom|upper|lower)[- ](?:left|right)|center|centre|middle)"
_EXT = r"(?P<ext>leftmost|rightmost|topmost|uppermost|highest|lowest|bottommost|lowermost)"
_HALF = r"(?P<half>left|right|top|bottom|upper|lower)"
_REGION = r"(?P<reg>(?:top|bottom|upper|lower|left|right|center|centre|middle)(?:[- ](?:left|right|center|centre|middle))?)"
NEG = re.compile(r"\b(?:no|not|none|never|neither|nor|without)\b|n't\b")
HYPO = re.compile(
    r"\b(?:if|would|were|could|should|might|will|suppose|imagine|wants?|keep|kept|remov\w*|add\w*|"
    r"remain\w*|leave|leaves|leaving|take\s+away|taken\s+away|after|without|once)\b"
)
LOCATIVE = re.compile(
    rf"\b(?:in|on|at|near|along|toward|towards)\s+the\s+(?!{_IMG}\b)\w+|"
    r"\b(?:half|corner|side|left|right|above|below|top|bottom|upper|lower)\b"
)
YES = re.compile(r"^\W*(?:yes|yeah|yep|indeed|correct|sure)\b")
NO = re.compile(r"^\W*(?:no|nope|not)\b")
_SENT = re.compile(r"(?<=[.!?])\s+|\n+|;\s*")
_CLAUSE = re.compile(r",\s*(?:but|while|whereas|and|so)\s+|\s+but\s+|\s+whereas\s+|\s+while\s+")


def np_(p: str, nouns: str) -> str:
    """A noun phrase: modifiers then a noun, with named groups prefixed by `p`."""
    return rf"(?P<{p}mods>(?:{MOD},?\s+)*)(?P<{p}noun>{nouns})(?P<{p}pl>e?s)?\b"


@dataclass(frozen=True)
class Scene:
    """The annotations plus the helpers every check needs."""

    anns: tuple[Annotation, ...]

    def select(self, m: re.Match, p: str = "") -> list[Annotation]:
        return [a for a in self.anns if _matches(a, mods_of(m, p), m[f"{p}noun"])]

    def colors(self) -> set[str]:
        return {a.color for a in self.anns if a.color}


def mods_of(m: re.Match, p: str = "") -> list[str]:
    return re.findall(r"[a-z]+", m[f"{p}mods"] or "")


def num(word: str) -> int:
    return int(word) if word.isdigit() else NUMBERS[word]


def normalize(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").lower().split())


def sentences(text: str) -> list[str]:
    return [s for s in _SENT.split(text) if s.strip()]


def clauses(sentence: str) -> list[str]:
    return [c for c in _CLAUSE.split(sentence) if c.strip()]


def _alts(*patterns: str) -> list[re.Pattern]:
    # One compiled pattern per alternative: the same named groups may appear in each.
    return [re.compile(p) for p in patterns]


@lru_cache(maxsize=256)
def grammar(nouns: tuple[str, ...]) -> dict[str, list[re.Pattern]]:
    """All claim patterns for a noun vocabulary (shapes, generics, the record's labels)."""
    N = "(?:" + "|".join(re.escape(n) for n in sorted(nouns, key=len, reverse=True)) + ")"
    NP, A, B = np_("", N), np_("a", N), np_("b", N)
    SH = "(?:" + "|".join(sorted(set(nouns) - set(GENERIC_NOUNS), key=len, reverse=True)) + ")"
    item = rf"(?:{NUM}\s+)?(?:{MOD},?\s+)*{N}(?:e?s)?\b(?:\s*,\s*(?:and\s+)?|\s+and\s+)?(?:the\s+)?"
    gone = (
        r"\s*(?:were|was|are|is|got|get|had\s+been)\s+(?:removed|taken\s+away|gone|deleted|erased)"
    )
    see = r"(?:see|spot|find|notice|contain|show|have|include)"
    return (
        _question_patterns(NP, A, B, see)
        | _geometry_patterns(NP, A, B, SH)
        | {
            "absent": _alts(
                rf"\bno\s+{NP}",
                rf"\bthere\s+(?:isn't|aren't|is\s+not|are\s+not)\s+(?:an?|any)\s+{NP}",
                rf"\b(?:don't|doesn't|do\s+not|does\s+not|can't|cannot|can\s+not|couldn't|could\s+not)"
                rf"\s+{see}\s+(?:an?\s+|any\s+)?{NP}",
                rf"\bnot\s+any\s+{NP}",
                rf"\bnone\s+of\s+the\s+{NP}\s+(?:is|are)\s+(?P<attr>(?:{MOD},?\s+)*{MOD})\b",
            ),
            "count": _alts(rf"\b(?P<num>{NUM})\s+{NP}"),
            "exist": _alts(rf"\b{_ARTS}\s+{NP}"),
            "attr": _alts(
                rf"\bthe\s+{NP}\s+(?:is|appears|looks|seems)\s+(?:to\s+be\s+)?"
                rf"(?:(?:also|clearly|entirely)\s+)?(?:an?\s+)?(?P<attr>(?:{MOD},?\s+)*(?:{MOD}|{SH}))\b(?!-)"
            ),
            "common": _alts(
                rf"\b(?P<c>{MOD})\s+is\s+the\s+most\s+(?:common|frequent)\s+colou?r",
                rf"\bthe\s+most\s+(?:common|frequent)\s+colou?r\s+is\s+(?P<c>{MOD})\b",
            ),
            "ncolors": _alts(rf"\b(?P<num>{NUM})\s+(?:different\s+|distinct\s+)?colou?rs\b"),
            "removed": _alts(
                rf"(?:remov\w*|take\s+away|took\s+away|taking\s+away|takes\s+away|without)\s+"
                rf"(?:all\s+|every\s+|each\s+)?(?:of\s+)?(?:the\s+)?(?P<list>(?:{item})+)",
                rf"(?:the\s+)?(?P<list>(?:{item})+){gone}",
            ),
            "remaining": _alts(
                rf"\b(?P<num>{NUM})\s+{NP}\s+(?:would|will)\s+(?:still\s+)?(?:remain|be\s+left|stay)",
                rf"\b(?:leave|leaves|leaving|left\s+with)\s+(?:you\s+with\s+|us\s+with\s+)?"
                rf"(?:only\s+|just\s+|exactly\s+)?(?P<num>{NUM})\s+{NP}",
            ),
            "np": _alts(rf"(?:(?P<num>{NUM})\s+)?{NP}"),
        }
    )


def _geometry_patterns(NP: str, A: str, B: str, SH: str) -> dict[str, list[re.Pattern]]:
    """Where things are (relations, regions, corners, extremes, halves) and `all ... are`."""
    return {
        "relation": _alts(rf"\b{_ARTS}\s+{A}\s+{_VERB}{_ADV}{_REL}\s+{_ARTS}\s+{B}"),
        "region": _alts(
            rf"\b{_ARTS}\s+{NP}\s+{_VERB}{_ADV}(?:in|at|on|near|toward|towards)\s+the\s+(?:very\s+)?"
            rf"{_REGION}(?:\s+(?:part|area|side|corner|region|half|portion|edge|section))?\b"
            rf"(?!\s+of\s+(?!the\s+{_IMG}))"
        ),
        "closest": _alts(
            rf"\b{NP}\s+(?:is|sits|lies)\s+(?:(?:clearly|also|easily)\s+)?(?:the\s+)?(?:one\s+)?"
            rf"(?:(?:shape|object)\s+)?(?:closest|nearest)\s+to\s+the\s+{_CORNER}",
            rf"\b(?:closest|nearest)\s+to\s+the\s+{_CORNER}(?:\s+corner)?(?:\s+of\s+the\s+{_IMG})?"
            rf"\s+is\s+{_ARTS}\s+{NP}",
        ),
        "extreme": _alts(
            rf"\b{NP}\s+is\s+(?:(?:clearly|also)\s+)?(?:the\s+)?{_EXT}\b",
            rf"\bthe\s+{_EXT}\s+(?:shape|object)\s+is\s+{_ARTS}\s+{NP}",
        ),
        "all": _alts(
            rf"\b(?:all|both)\s+(?:of\s+)?(?:the\s+)?(?:{NUM}\s+)?{NP}\s+(?:are|is)\s+(?:also\s+)?"
            rf"(?P<attr>(?:{MOD},?\s+)*(?:{MOD}|{SH}(?:e?s)?))\b(?!-)"
        ),
        "half": _alts(
            rf"\b(?P<num>{NUM})\s+{NP}\s+(?:(?:are|is|sit|lie|appear)\s+)?(?:in|on)\s+the\s+{_HALF}\s+half",
            rf"\bthe\s+{_HALF}\s+half\s+(?:holds|has|contains|shows)\s+(?P<num>{NUM})\s+{NP}",
        ),
    }


def _question_patterns(NP: str, A: str, B: str, see: str) -> dict[str, list[re.Pattern]]:
    """Questions whose answer carries a claim: yes/no, how many, what color/shape/size."""
    return {
        "q_exist": _alts(
            rf"^(?:is|are)\s+there\s+(?:an?|any)\s+{NP}(?P<tail>.*)$",
            rf"^(?:do|can|could)\s+you\s+(?:see|spot|find|notice)\s+(?:an?|any)\s+{NP}(?P<tail>.*)$",
            rf"^(?:does|do)\s+(?:the|this)\s+{_IMG}\s+{see}\s+(?:an?|any)\s+{NP}(?P<tail>.*)$",
            rf"^is\s+(?:an?|any)\s+{NP}\s+visible(?P<tail>.*)$",
        ),
        "q_howmany": _alts(
            r"^(?:(?:tell\s+me\s+)?how\s+many|count\s+the|can\s+you\s+count\s+the|what\s+is\s+the\s+"
            rf"(?:total\s+)?(?:number|count)\s+of)\s+{NP}(?P<tail>.*)$"
        ),
        "q_color": _alts(
            rf"^(?:(?:what|which)\s+colou?rs?\s+(?:is|are)|what\s+is\s+the\s+colou?r\s+of)\s+the\s+"
            rf"{NP}(?P<tail>.*)$",
            rf"^(?:which|what)\s+colou?r\s+does\s+the\s+{NP}\s+have(?P<tail>.*)$",
            rf"^(?:name|tell\s+me)\s+the\s+colou?r\s+of\s+the\s+{NP}(?P<tail>.*)$",
            rf"^the\s+{NP}\s+is\s+(?:which|what)\s+colou?r(?P<tail>.*)$",
        ),
        "q_shape": _alts(
            r"^(?:what\s+(?:shape|kind\s+of\s+shape)\s+is|what\s+is\s+the\s+shape\s+of)\s+the\s+"
            rf"{NP}(?P<tail>.*)$",
            rf"^(?:which\s+shape\s+is|name\s+the\s+shape\s+of)\s+the\s+{NP}(?P<tail>.*)$",
            rf"^the\s+{NP}\s+has\s+(?:which|what)\s+shape(?P<tail>.*)$",
            rf"^(?:which|what)\s+shape\s+does\s+the\s+{NP}\s+have(?P<tail>.*)$",
            # "What kind of object is the small red one?": the noun is the generic "object"
            rf"^what\s+kind\s+of\s+(?P<noun>object)\s+is\s+the\s+(?P<mods>(?:{MOD},?\s+)*)"
            rf"one(?P<pl>)\b(?P<tail>.*)$",
        ),
        "q_size": _alts(
            rf"^(?:what\s+size\s+is|how\s+(?:big|large)\s+is)\s+the\s+{NP}(?P<tail>.*)$",
            rf"^is\s+the\s+{NP}\s+(?:large|big|small|little)\s+or\s+(?:large|big|small|little)(?P<tail>.*)$",
            rf"^what\s+is\s+the\s+size\s+of\s+the\s+{NP}(?P<tail>.*)$",
        ),
        # `left or right` / `above or below` choices between two named objects.
        "q_side": _alts(
            rf"^is\s+the\s+{A}\s+(?:placed\s+)?(?:to\s+the\s+|on\s+the\s+)?(?:left|right|above|below)"
            rf"\s+or\s+(?:to\s+the\s+|the\s+)?(?:left|right|above|below)\s+(?:side\s+)?(?:of\s+)?"
            rf"the\s+{B}\s*\??$",
            rf"^on\s+which\s+side\s+of\s+the\s+{B}\s+is\s+the\s+{A},?\s+left\s+or\s+right\s*\??$",
            rf"^relative\s+to\s+the\s+{B},?\s+is\s+the\s+{A}\s+(?:left\s+or\s+right|above\s+or\s+below)"
            r"\s*\??$",
            rf"^is\s+the\s+{A}\s+higher\s+or\s+lower\s+than\s+the\s+{B},?(?:\s+above\s+or\s+below)?\s*\??$",
            rf"^is\s+the\s+{A}\s+above\s+the\s+{B}\s+or\s+below\s+it\s*\??$",
        ),
        "q_colors": _alts(r"^(?:what|which)\s+colou?rs\b(?P<tail>.*)$"),
        "q_shapes": _alts(
            r"^(?:what|which)\s+(?:(?:kinds?|types?|sorts?)\s+of\s+)?(?:shapes|objects)\b(?P<tail>.*)$"
        ),
        "q_relation": _alts(rf"^is\s+the\s+{A}\s+{_REL}\s+the\s+{B}\s*\??$"),
        "q_bigger": _alts(
            rf"^is\s+the\s+{A}\s+(?P<cmp>bigger|larger|smaller)\s+than\s+the\s+{B}\s*\??$"
        ),
        "q_more": _alts(
            rf"^(?:are\s+there|do\s+you\s+see|can\s+you\s+see)\s+more\s+{A}\s+than\s+{B}\s*\??$"
        ),
        "q_same_color": _alts(
            r"^(?:are|do|is)\s+(?:all\s+(?:of\s+)?the\s+(?:shapes|objects)|every\s+(?:shape|object))"
            r"\s+(?:the\s+same\s+colou?r|share\s+(?:one|a|the\s+same)\s+colou?r"
            r"|have\s+the\s+same\s+colou?r)\s*\??$"
        ),
        "q_definite": _alts(rf"\bthe\s+(?:(?P<num>{NUM})\s+)?{NP}"),
    }


def grammar_for(anns: list[Annotation] | tuple[Annotation, ...]) -> dict[str, list[re.Pattern]]:
    """Patterns for this record: the scene shapes plus any other labels its objects carry."""
    labels = {(a.shape or a.label).lower() for a in anns}
    nouns = tuple(sorted({*SHAPES, *GENERIC_NOUNS, *(n for n in labels if n.isalpha())}))
    return grammar(nouns)


def find(g: dict[str, list[re.Pattern]], kind: str, text: str) -> list[re.Match]:
    return [m for p in g[kind] for m in p.finditer(text)]


def color_counts(anns: tuple[Annotation, ...]) -> Counter:
    return Counter(a.color for a in anns if a.color)
