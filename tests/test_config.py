from dataclasses import dataclass, field

import pytest

from vit.config import build, describe, load_params, section


@dataclass
class Cfg:
    a: int = field(default=1, metadata={"help": "the a"})
    b: list = field(default_factory=lambda: [1], metadata={"help": "the b"})


def test_build_fills_defaults_and_names_unknown_keys():
    assert build(Cfg, None) == Cfg()
    assert build(Cfg, {"a": 3}).a == 3
    with pytest.raises(ValueError, match=r"unknown Cfg keys \['zz'\]"):
        build(Cfg, {"zz": 1})
    assert describe(Cfg) == [("a", 1, "the a"), ("b", [1], "the b")]


def test_params_sections(tmp_path):
    p = tmp_path / "params.yaml"
    assert load_params(p) == {}
    p.write_text("curate:\n  min_side: 8\n")
    assert section("curate", p) == {"min_side": 8}
    assert section("dedup", p) == {}
    p.write_text("curate: 3\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        section("curate", p)
