"""The LLaVA data contract: every violation has a code, a message, and a test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vit.curate.contract import (
    ERROR,
    PROBLEM_CODES,
    WARNING,
    Problem,
    check_conversations,
    format_problems,
    validate,
)
from vit.records import Record

from .test_images import jpeg_bytes, png_bytes, png_header_only

Q, A = {"from": "human", "value": "<image>\nWhat is red?"}, {"from": "gpt", "value": "A circle."}


def rec(rid: str = "r1", image: str | None = "a.png", turns: list | None = None, **kw) -> Record:
    return Record(id=rid, image=image, conversations=[Q, A] if turns is None else turns, **kw)


def codes(r: Record, **kw) -> list[str]:
    return [p.code for p in check_conversations(r, **kw)]


def h(v: str) -> dict[str, str]:
    return {"from": "human", "value": v}


def g(v: str) -> dict[str, str]:
    return {"from": "gpt", "value": v}


# --- conversations ---------------------------------------------------------------------------


def test_valid_records_have_no_problems() -> None:
    assert codes(rec()) == []
    assert codes(rec(turns=[Q, A, h("And blue?"), g("None.")])) == []
    assert codes(rec(image=None, turns=[h("Hi"), g("Hello")])) == []  # text-only is fine


@pytest.mark.parametrize(
    ("image", "turns", "code"),
    [
        ("a.png", [h("What is red?"), A], "image_token_count"),  # image, no token
        ("a.png", [h("<image> <image> x"), A], "image_token_count"),  # 2 tokens, 1 image
        ("a.png", [Q, g("see <image>")], "image_token_count"),  # 2 across turns
        (None, [Q, A], "image_token_count"),  # text-only with a stray token
        ("a.png", [h("x"), g("<image> y")], "image_token_position"),  # in a gpt turn
        ("a.png", [h("x"), g("y"), h("<image> z"), g("w")], "image_token_position"),
        ("a.png", [Q, A, g("more")], "roles_alternate"),
        ("a.png", [Q, h("again"), A], "roles_alternate"),
        (None, [g("I start"), h("no")], "first_not_human"),
        ("a.png", [{"from": "user", "value": "<image> x"}, A], "unknown_role"),
        ("a.png", [Q, {"from": "assistant", "value": "x"}], "unknown_role"),
        ("a.png", [Q, g("")], "empty_turn"),
        ("a.png", [Q, g(" \n\t ")], "empty_turn"),
        ("a.png", [Q, A, h("dangling?")], "odd_turns"),
        ("a.png", [Q, g("fine</s>USER: more")], "template_marker"),
        ("a.png", [Q, g("ASSISTANT: hi")], "template_marker"),
        ("a.png", [h("<image> <Image> what?"), A], "image_token_variant"),
        ("a.png", [h("<image> < image > what?"), A], "image_token_variant"),
    ],
)
def test_each_violation_has_its_code(image, turns, code) -> None:
    problems = check_conversations(rec(image=image, turns=turns))
    assert code in [p.code for p in problems]
    p = next(p for p in problems if p.code == code)
    assert p.id == "r1" and "record r1" in p.message and "expected" in p.message
    assert p.severity == PROBLEM_CODES[code][0]


def test_first_gpt_is_reported_with_token_position() -> None:
    # LLaVA drops a leading gpt turn; the token then sits in the first human turn anyway.
    assert codes(rec(turns=[g("hi"), h("<image> x"), g("y")])) == ["first_not_human"]


def test_warnings_are_warnings() -> None:
    [p] = check_conversations(rec(turns=[Q, g("ok </s>")]))
    assert p.severity == WARNING
    [p] = check_conversations(rec(turns=[Q, A, h("dangling?")]))
    assert p.severity == ERROR


def test_no_conversations_is_configurable() -> None:
    r = rec(turns=[], captions=["a red circle"])
    [p] = check_conversations(r)
    assert (p.code, p.severity) == ("no_conversations", ERROR)
    assert check_conversations(r, require_conversations=False) == []


# --- validate --------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "img"
    r.mkdir()
    (r / "a.png").write_bytes(png_bytes(64, 48))
    (r / "b.jpg").write_bytes(jpeg_bytes(40, 30))
    (r / "jpeg.png").write_bytes(jpeg_bytes(20, 10))
    full = png_bytes(128, 128, noise=True)
    (r / "cut.png").write_bytes(full[: len(full) // 2])
    (r / "empty.png").write_bytes(b"")
    (r / "text.png").write_text("hello")
    (r / "bomb.png").write_bytes(png_header_only(40000, 40000))
    return r


def zoo() -> list[Record]:
    """One record per problem code, plus valid ones."""
    return [
        rec("ok1"),
        rec("ok2", image="b.jpg"),
        rec("text-only", image=None, turns=[h("hi"), g("hello")]),
        rec("nc", turns=[]),
        rec("role", turns=[{"from": "system", "value": "<image> x"}, A]),
        rec("first", image=None, turns=[g("a"), h("b"), g("c")]),
        rec("alt", turns=[Q, A, g("again")]),
        rec("odd", turns=[Q, A, h("?")]),
        rec("empty", turns=[Q, g("  ")]),
        rec("count", turns=[h("no token"), A]),
        rec("pos", turns=[h("x"), g("y <image>")]),
        rec("variant", turns=[h("<image> <IMAGE>"), A]),
        rec("marker", turns=[Q, g("[INST] hi")]),
        rec("ok1"),  # duplicate id
        rec("unsafe", image="../outside.png"),
        rec("missing", image="nope.png"),
        rec("zero", image="empty.png"),
        rec("unreadable", image="text.png"),
        rec("bomb", image="bomb.png"),
        rec("cut", image="cut.png"),
        rec("ext", image="jpeg.png"),
        rec("size", width=10, height=10),
    ]


def test_validate_covers_every_code(root: Path) -> None:
    report = validate(zoo(), root, workers=2)
    assert set(report.counts) == set(PROBLEM_CODES)
    assert not report.ok
    valid = {r.id for r in report.valid}
    assert {"ok1", "ok2", "text-only", "variant", "marker", "ext", "size"} <= valid
    invalid = {r.id for r, _ in report.invalid}
    assert not valid & invalid - {"ok1"}  # the second ok1 is the invalid duplicate
    assert len(report.valid) + len(report.invalid) == len(zoo())


def test_valid_records_get_width_and_height(root: Path) -> None:
    report = validate(
        [rec("a"), rec("b", image="b.jpg"), rec("c", image=None, turns=[h("x"), g("y")])], root
    )
    assert report.ok and report.problems == [] and report.invalid == []
    assert [(r.width, r.height) for r in report.valid] == [(64, 48), (40, 30), (None, None)]


def test_size_mismatch_warns_and_uses_the_file(root: Path) -> None:
    report = validate([rec("s", width=10, height=10)], root)
    assert report.ok and report.counts == {"image_size_mismatch": 1}
    assert (report.valid[0].width, report.valid[0].height) == (64, 48)


def test_duplicate_ids_name_both_records(root: Path) -> None:
    report = validate([rec("x"), rec("y"), rec("x"), rec("x")], root)
    dups = [p for p in report.problems if p.code == "duplicate_id"]
    assert [p.message for p in dups] == [
        "record x: record #2 reuses the id of record #0; expected unique ids",
        "record x: record #3 reuses the id of record #0; expected unique ids",
    ]
    assert [r.id for r in report.valid] == ["x", "y"]


def test_no_conversations_setting_in_validate(root: Path) -> None:
    caption_only = [rec("c", turns=[], captions=["a square"])]
    assert validate(caption_only, root).counts == {"no_conversations": 1}
    report = validate(caption_only, root, require_conversations=False)
    assert report.ok and report.valid[0].width == 64


def test_check_files_off_skips_images(root: Path) -> None:
    report = validate([rec("m", image="nope.png")], root, check_files=False)
    assert report.ok and report.valid[0].width is None


def test_chunking_and_workers_do_not_change_results(root: Path) -> None:
    def summary(**kw):
        report = validate(zoo(), root, **kw)
        return [(p.id, p.code) for p in report.problems], [(r.id, r.width) for r in report.valid]

    assert summary(workers=1, chunk_size=1024) == summary(workers=3, chunk_size=3)


def test_format_problems_and_rejects(root: Path) -> None:
    report = validate(zoo(), root)
    text = format_problems(report, limit=3)
    lines = text.splitlines()
    assert len([line for line in lines[:3] if "  " in line]) == 3
    assert any(line.startswith("... and ") for line in lines)
    assert "image_missing" in text and "severity" in text
    assert lines[-1].startswith(f"{len(report.valid)} valid, {len(report.invalid)} invalid")
    first = report.problems[0] if report.problems[0].severity == ERROR else None
    assert first is None or lines[0] == f"{first.id}  {first.code}  {first.message}"
    rows = report.rejects()
    assert len(rows) == len(report.invalid)
    miss = next(r for r in rows if r["id"] == "missing")
    assert miss["stage"] == "validate" and miss["codes"] == ["image_missing"]
    assert "nope.png" in miss["reason"]


def test_problem_to_dict() -> None:
    p = Problem("i", "empty_turn", "record i: turn 1 is empty", ERROR)
    assert p.to_dict() == {
        "id": "i",
        "code": "empty_turn",
        "message": p.message,
        "severity": "error",
    }


def test_vit_does_not_import_prefect_or_flows() -> None:
    code = "import sys, vit.curate.contract; assert not {'prefect', 'flows'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_each_image_is_checked_once(root: Path, monkeypatch) -> None:
    # mix665k points ~3 records at each COCO image; decode each file once, across chunks.
    import vit.curate.contract as contract

    seen: list[str] = []
    real = contract.check_images
    monkeypatch.setattr(
        contract, "check_images", lambda r, rels, **kw: seen.extend(rels) or real(r, rels, **kw)
    )
    records = [rec(f"r{i}", image="a.png" if i % 2 else "b.jpg") for i in range(7)]
    report = validate(records, root, chunk_size=2)
    assert report.ok and sorted(seen) == ["a.png", "b.jpg"]
    assert {(r.image, r.width) for r in report.valid} == {("a.png", 64), ("b.jpg", 40)}
