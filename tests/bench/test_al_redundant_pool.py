"""bench/al_redundant_pool.py: the held-out splits kept record for record, the pool's mix
as asked, new scenes that are one-object and new, and a params file for the experiment."""

from __future__ import annotations

import json

import pytest

from tests.active._cfg import al_data  # noqa: F401
from tests.bench._load import bench_module


@pytest.fixture(scope="module")
def pool():
    yield from bench_module("al_redundant_pool")


def test_pool_mix_held_out_splits_and_params(pool, al_data, tmp_path):  # noqa: F811
    from flows.active import load_config
    from vit.evaluate.questions import make_eval_set
    from vit.records import Dataset

    src = list(Dataset.open(al_data))
    train = [r for r in src if r.split == "train"]
    ones = sum(len(r.annotations) == 1 for r in train)
    more = len(train) - ones
    out = tmp_path / "redundant" / "scenes"
    argv = ["--data", str(al_data), "--out", str(out), "--one-object", str(ones + 7),
            "--others", str(more - 2), "--seed", "3", "--strategies", "random", "badge",
            "--seeds", "0", "1"]  # fmt: skip
    assert pool.main(argv) == 0

    ds = Dataset.open(out)
    got = list(ds)
    # the same held-out records apart from their image's new home, so the same questions
    expected = [r for r in src if r.split in ("test", "val")]
    kept = [r for r in got if r.split in ("test", "val")]
    assert [r.id for r in kept] == [r.id for r in expected]
    questions = [(q.id, q.answer) for q in make_eval_set(expected, per_image=6)]
    assert [(q.id, q.answer) for q in make_eval_set(kept, per_image=6)] == questions

    new_pool = [r for r in got if r.split == "train"]
    assert len(new_pool) == ones + 7 + more - 2
    assert sum(len(r.annotations) == 1 for r in new_pool) == ones + 7
    generated = [r for r in new_pool if r.metadata.get("redundant_pool") == "generated"]
    assert len(generated) == 7 and all(len(r.annotations) == 1 for r in generated)
    assert len({r.id for r in got}) == len(got)  # new ids never collide with the old
    for r in got:  # every image is the dataset's own, under its root, and readable
        assert ds.resolve(r).is_relative_to(out.resolve()) and ds.resolve(r).exists()

    cfg, _, exp = load_config(str(out.parent / "params.yaml"), None, experiment=True)
    assert cfg.data == str(out) and exp["out"] == str(out.parent / "runs")
    assert (exp["strategies"], exp["seeds"]) == (["random", "badge"], [0, 1])

    summary = json.loads((out / "vitflow.json").read_text())["info"]["summary"]
    assert summary["generated"] == 7 and summary["pool"] == len(new_pool)

    with pytest.raises(SystemExit, match="scenes of 2\\+ objects"):
        pool.main([*argv[:6], "--others", str(more + 1)])
