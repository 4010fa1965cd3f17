"""Every strategy on a small pool with the tiny model: exactly B distinct pool ids, never a
held-out one; the scores behind each choice are the ones the strategy claims to use."""

from __future__ import annotations

import numpy as np
import pytest

from tests.active._cfg import single_thread
from vit.active.kcenter import kmeans_labels
from vit.active.strategies import STRATEGIES, Context, Scores, get_strategy
from vit.records import Dataset


@pytest.fixture(scope="module")
def pool(al_data):
    """Every record, held-out ones included: strategies must skip test and val themselves."""
    return list(Dataset.open(al_data))


@pytest.fixture(scope="module")
def ctx(al_data, al_model, pool, tmp_path_factory):
    labeled = [r for r in pool if r.split == "train"][:4]
    return Context(
        model=al_model,
        image_root=Dataset.open(al_data).image_root,
        labeled=labeled,
        batch_size=16,
        cache_root=tmp_path_factory.mktemp("emb"),
    )


@pytest.fixture(scope="module")
def scored(pool, ctx, tmp_path_factory) -> dict[str, Scores]:
    """Each strategy's scores of the pool, saved and loaded back (as the loop does)."""
    out = {}
    with single_thread():
        for name in STRATEGIES:
            folder = tmp_path_factory.mktemp(name)
            get_strategy(name).score(pool, ctx).save(folder)
            out[name] = Scores.load(folder)
    return out


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("budget", [1, 7, 30])
def test_exactly_budget_distinct_pool_ids_never_held_out(name, budget, pool, scored):
    picks = get_strategy(name).select(scored[name], budget, np.random.default_rng(3))
    ids = [p.id for p in picks]
    train = {r.id for r in pool if r.split == "train"}
    held_out = {r.id for r in pool if r.split in ("test", "val")}
    assert len(ids) == len(set(ids)) == budget
    assert set(ids) <= train and not set(ids) & held_out
    assert set(scored[name].ids) == train


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_budget_larger_than_the_pool_is_an_error(name, scored):
    scores = scored[name]
    with pytest.raises(ValueError, match="budget"):
        get_strategy(name).select(scores, len(scores.ids) + 1, np.random.default_rng(0))


def test_uncertainty_picks_the_highest_scores(scored):
    scores = scored["uncertainty"]
    u = scores.values["uncertainty"]
    assert np.isfinite(u).all() and u.std() > 0
    np.testing.assert_array_equal(u, scores.values["entropy"])  # ctx.measure
    assert ((u >= 0) & (u <= 1)).all()  # means of within-type percentiles (ctx.by_type)
    m, e = scores.values["margin"], scores.values["entropy"]
    assert ((m >= 0) & (m <= 1)).all() and (e >= 0).all() and m.std() > 0
    picks = get_strategy("uncertainty").select(scores, 5, np.random.default_rng(0))
    assert min(p.score for p in picks) >= np.sort(u)[-5]


def test_probe_stats_match_the_models_own_loss(al_model, al_data):
    """Per-example loss equals the model's own loss on that example alone; the margin is read
    before the first answer token, so it depends on the question, not on the answer."""
    import torch

    from vit.active.scoring import probe_examples, token_stats
    from vit.model.build import load_model
    from vit.model.collate import VLMCollator

    image_root = Dataset.open(al_data).image_root
    records = [r for r in Dataset.open(al_data) if r.split == "train"][:5]
    examples, owners = probe_examples(records, image_root, per_image=1)
    assert owners == [r.id for r in records]
    wrong = [
        {**e, "conversations": [e["conversations"][0], {"from": "gpt", "value": "purple"}]}
        for e in examples
    ]
    stats = token_stats(al_model, examples + wrong, batch_size=4)
    n = len(examples)
    model, processor = load_model(str(al_model), device="cpu", dtype="float32")
    collate = VLMCollator(processor, 256)
    with torch.inference_mode():
        for e, s in zip(examples + wrong, stats, strict=True):
            batch = collate([e])
            out = model(**batch)
            if e in examples:
                assert s["loss"] == pytest.approx(out.loss.item(), rel=1e-4)
            # error: any answer position whose most likely token is not the answer's
            labels = batch["labels"][0, 1:]
            guess = out.logits[0, :-1].argmax(-1)
            keep = labels != -100
            assert s["error"] == float((guess[keep] != labels[keep]).any())
    assert {s["error"] for s in stats[n:]} == {1.0}  # nobody was taught "purple"
    assert [s["margin"] for s in stats[:n]] == pytest.approx([s["margin"] for s in stats[n:]])
    assert [s["loss"] for s in stats[:n]] != pytest.approx([s["loss"] for s in stats[n:]])


def test_diversity_first_pick_is_the_farthest_from_the_labeled_set(scored, ctx):
    s = get_strategy("diversity")
    scores = scored["diversity"]
    assert scores.embeddings.shape[0] == len(scores.ids) and len(scores.labeled) == 4
    d = scores.values["diversity"]
    picks = s.select(scores, 3, np.random.default_rng(0))
    assert picks[0].id == scores.ids[int(np.argmax(d))]
    labeled = {r.id for r in ctx.labeled}
    assert all(d[scores.ids.index(i)] < 1e-3 for i in labeled if i in scores.ids)


def test_hybrid_takes_the_most_uncertain_of_each_cluster(scored):
    s = get_strategy("hybrid")
    scores = scored["hybrid"]
    rng_seed = np.random.default_rng(5)
    picks = s.select(scores, 4, np.random.default_rng(5))
    labels = kmeans_labels(scores.embeddings, 4, int(rng_seed.integers(2**31)))
    u = scores.values["uncertainty"]
    for c in set(labels.tolist()):
        members = np.flatnonzero(labels == c)
        assert scores.ids[members[np.argmax(u[members])]] in {p.id for p in picks}


def test_gradient_embedding_is_the_output_layers_loss_gradient(al_model, al_data):
    """Unprojected (`dims=None`), a probe's embedding equals autograd's gradient of its
    summed answer-token loss with respect to the output layer's weight."""
    from vit.active.scoring import probe_examples, token_stats_and_gradients
    from vit.model.build import load_model
    from vit.model.collate import VLMCollator

    image_root = Dataset.open(al_data).image_root
    records = [r for r in Dataset.open(al_data) if r.split == "train"][:3]
    examples, _ = probe_examples(records, image_root, per_image=1)
    stats, grads = token_stats_and_gradients(al_model, examples, batch_size=2, dims=None)
    model, processor = load_model(str(al_model), device="cpu", dtype="float32")
    head = model.get_output_embeddings().weight
    collate = VLMCollator(processor, 256)
    for e, s, g in zip(examples, stats, grads, strict=True):
        batch = collate([e])
        model.zero_grad()
        out = model(**batch)
        n = int((batch["labels"][0, 1:] != -100).sum())
        (out.loss * n).backward()
        np.testing.assert_allclose(g, head.grad.flatten().numpy(), rtol=1e-3, atol=1e-5)
        assert s["loss"] == pytest.approx(out.loss.item(), rel=1e-4)
    # projected: (32 x 16) numbers per probe, one row each
    _, small = token_stats_and_gradients(al_model, examples, batch_size=2)
    assert small.shape == (3, 512) and np.abs(small).sum() > 0


def test_image_gradients_put_question_types_on_one_scale():
    from vit.active.scoring import image_gradients

    grads = np.array([[10.0, 0.0], [30.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    out = image_gradients(["count", "count", "size", "size"], ["a", "b", "a", "b"], grads)
    # count norms average 20, size norms 2: each probe divided by its type's mean norm
    np.testing.assert_allclose(out["a"], [0.25, 0.25])
    np.testing.assert_allclose(out["b"], [0.75, 0.75])


def test_badge_starts_with_the_largest_gradient_and_scores_its_embeddings(scored):
    scores = scored["badge"]
    x, norm = scores.embeddings, scores.values["gradnorm"]
    assert x.shape == (len(scores.ids), 512) and norm.std() > 0
    np.testing.assert_allclose(norm, np.linalg.norm(x, axis=1), rtol=1e-5)
    assert np.isfinite(scores.values["uncertainty"]).all()  # the probe columns come along
    picks = get_strategy("badge").select(scores, 5, np.random.default_rng(0))
    assert picks[0].id == scores.ids[int(np.argmax(norm))]


def test_unknown_strategy():
    with pytest.raises(ValueError, match="unknown strategy"):
        get_strategy("oracle")


def test_scoring_uses_the_models_own_context_length(al_model, al_data):
    """A training record longer than the collator's old fixed 256 tokens, but inside the
    model's context, is scored, not refused (the demo's longest detail is 257 tokens)."""
    from vit.active.scoring import probe_examples, token_stats
    from vit.model.build import load_model

    model, _ = load_model(str(al_model), device="cpu", dtype="float32")
    context = int(model.config.text_config.max_position_embeddings)
    image_root = Dataset.open(al_data).image_root
    records = [r for r in Dataset.open(al_data) if r.split == "train"][:1]
    (example,), _ = probe_examples(records, image_root, per_image=1)
    long_answer = " ".join(["red"] * 40)
    example = {
        **example,
        "conversations": [example["conversations"][0], {"from": "gpt", "value": long_answer}],
    }
    (stats,) = token_stats(al_model, [example])
    assert stats["loss"] > 0
    with pytest.raises(ValueError, match="max_length"):
        token_stats(al_model, [example], max_length=context // 4)


def test_percentiles_by_type_rank_within_each_question_type():
    """A count probe costs more nats than a size probe on any image: raw means would rank
    images by the question types they drew. Within a type, the ranks are what counts."""
    from vit.active.scoring import percentiles_by_type

    nan = float("nan")
    raw = [
        {"loss": 5.0, "entropy": 2.0, "margin": 0.1},  # count, the easiest count
        {"loss": 6.0, "entropy": 3.0, "margin": 0.2},  # count
        {"loss": 7.0, "entropy": 1.0, "margin": 0.3},  # count, the hardest count
        {"loss": 0.5, "entropy": nan, "margin": 0.4},  # size
        {"loss": 1.0, "entropy": 0.5, "margin": 0.5},  # size, the hardest size
    ]
    out = percentiles_by_type(raw, ["count", "count", "count", "size", "size"])
    assert [o["loss"] for o in out] == [0.0, 0.5, 1.0, 0.0, 1.0]
    assert [o["entropy"] for o in out[:3]] == [0.5, 1.0, 0.0]
    assert np.isnan(out[3]["entropy"]) and out[4]["entropy"] == 0.0  # alone in its type
    assert raw[0]["loss"] == 5.0  # the input is left as it was
    # the image with the hardest size probe outranks the one with the easiest count probe
    assert out[4]["loss"] > out[0]["loss"] and raw[4]["loss"] < raw[0]["loss"]


def test_hybrid_density_prefers_typical_images_within_a_cluster():
    """Same uncertainty percentile, different typicality: with density > 0 the typical one
    wins its cluster; with density 0 the most uncertain one does."""
    from vit.active.strategies import HybridStrategy

    emb = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0], [10.1, 10.0]], dtype=np.float32)
    scores = Scores(
        ["a", "b", "c", "d"],
        {
            "uncertainty": np.array([0.9, 0.8, 0.7, 0.6]),
            "typicality": np.array([0.1, 0.9, 0.2, 0.95]),
        },
        emb,
        np.zeros((0, 2), np.float32),
    )
    rng = np.random.default_rng(0)
    plain = {p.id for p in HybridStrategy(0.0).select(scores, 2, rng)}
    dense = {p.id for p in get_strategy("hybrid", density=2.0).select(scores, 2, rng)}
    assert plain == {"a", "c"} and dense == {"b", "d"}


def test_stratified_keeps_the_pools_mix_and_takes_the_most_uncertain_of_each():
    """Plain uncertainty takes the two crowded scenes; stratified keeps the pool's two
    one-object scenes to one crowded one and takes the most uncertain of each count."""
    from vit.active.strategies import StratifiedStrategy

    scores = Scores(
        list("abcdef"),
        {
            "objects": np.array([1, 1, 1, 1, 5, 5], dtype=np.float64),
            "uncertainty": np.array([0.1, 0.9, 0.5, 0.2, 0.99, 0.95]),
        },
    )
    rng = np.random.default_rng(0)
    assert {p.id for p in get_strategy("uncertainty").select(scores, 3, rng)} == {"e", "f", "b"}
    picks = StratifiedStrategy().select(scores, 3, rng)
    assert [p.id for p in picks] == ["b", "c", "e"]
    assert [p.score for p in picks] == [0.9, 0.5, 0.99]


def test_stratified_scores_count_boxed_objects(scored, pool):
    from vit.evaluate.questions import boxed

    scores = scored["stratified"]
    n = {r.id: len(boxed(r)) for r in pool}
    assert scores.values["objects"].tolist() == [n[i] for i in scores.ids]
    assert len(set(n.values())) > 1  # the tiny pool has more than one stratum


@pytest.mark.parametrize(
    ("sizes", "budget", "expected"),
    [
        ([534, 383, 248, 168, 104, 89, 82, 73, 59, 63], 100, [30, 21, 14, 9, 6, 5, 5, 4, 3, 3]),
        ([1, 1, 1], 2, [1, 1, 0]),  # equal remainders: the earlier stratum
        ([3, 1], 2, [2, 0]),  # 1.5 and 0.5: equal fractions, the larger stratum wins
        ([5, 2, 1], 8, [5, 2, 1]),  # the whole pool
        ([7], 1, [1]),
    ],
)
def test_proportional_quotas(sizes, budget, expected):
    from vit.active.quotas import proportional_quotas

    quotas = proportional_quotas(sizes, budget)
    assert quotas == expected and sum(quotas) == budget
    assert all(q <= s for q, s in zip(quotas, sizes, strict=True))


def test_stratified_error_allocation_follows_the_expected_wrong_answers():
    """`allocate="error"`: the budget goes where the pool's wrong probe answers are; a
    stratum that is full or never wrong gives way, and the budget is still met."""
    from vit.active.strategies import StratifiedStrategy

    scores = Scores(
        list("abcdef"),
        {
            "objects": np.array([1, 1, 1, 1, 5, 5], dtype=np.float64),
            "uncertainty": np.array([0.1, 0.9, 0.5, 0.2, 0.3, 0.8]),
            "error": np.array([0.0, 0.0, 0.25, 0.0, 1.0, 0.5]),
        },
    )
    rng = np.random.default_rng(0)
    by_error = StratifiedStrategy("error")
    # expected wrong answers: 4 x 0.0625 = 0.25 for one object, 2 x 0.75 = 1.5 for five
    assert by_error.quotas(scores, 2) == {1.0: 0, 5.0: 2}
    assert [p.id for p in by_error.select(scores, 2, rng)] == ["f", "e"]
    assert by_error.quotas(scores, 4) == {1.0: 2, 5.0: 2}  # five-object scenes are all taken
    assert StratifiedStrategy("pool").quotas(scores, 3) == {1.0: 2, 5.0: 1}
    never = Scores(scores.ids, {**scores.values, "error": np.zeros(6)})
    assert by_error.quotas(never, 3) == {1.0: 2, 5.0: 1}  # no errors anywhere: the pool's mix
    with pytest.raises(ValueError, match="allocate 'loss'"):
        StratifiedStrategy("loss")


@pytest.mark.parametrize(
    ("weights", "budget", "caps", "expected"),
    [
        ([1, 10, 1], 6, [5, 2, 5], [2, 2, 2]),  # the capped stratum's excess is split again
        ([0, 1], 3, [3, 1], [2, 1]),  # a zero-weight stratum fills what the others cannot
        ([0, 2, 6], 4, [9, 9, 9], [0, 1, 3]),
        ([0, 0, 0], 2, [1, 1, 1], [1, 1, 0]),
    ],
)
def test_proportional_quotas_with_caps(weights, budget, caps, expected):
    from vit.active.quotas import proportional_quotas

    assert proportional_quotas(weights, budget, caps) == expected
