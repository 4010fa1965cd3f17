"""The experiment's report on hand-made runs: seed-paired gains, crowding, the plot."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.active._cfg import al_rows as rows
from vit.active.curves import (
    NOISE_LEGEND,
    curves,
    item_variance,
    noise_split,
    paired_gain,
    paired_table,
    seeds_for_clear,
    versus_random,
)
from vit.active.plots import paired_png, plot_curves, plot_paired


def test_paired_gain_is_seed_by_seed_with_a_t_interval():
    runs = {
        "random/seed-0": rows([0.2, 0.40, 0.50]),
        "random/seed-1": rows([0.3, 0.45, 0.52]),
        "random/seed-2": rows([0.1, 0.41, 0.49]),
        "hybrid/seed-0": rows([0.2, 0.46, 0.55]),
        "hybrid/seed-1": rows([0.3, 0.50, 0.58]),
        "hybrid/seed-2": rows([0.1, 0.45, 0.53]),
        "tie/seed-0": rows([0.2, 0.45, 0.60]),
        "tie/seed-1": rows([0.3, 0.40, 0.45]),
        "tie/seed-2": rows([0.1, 0.41, 0.50]),
        "lonely/seed-0": rows([0.2, 0.5]),  # one seed, and a round fewer than random
    }
    gain = paired_gain(runs, "hybrid")
    assert gain["seeds"] == [0, 1, 2]
    assert gain["by_round"] == pytest.approx([0.0, 0.05, 0.05], abs=1e-4)
    assert gain["final_by_seed"] == pytest.approx([0.05, 0.06, 0.04], abs=1e-4)
    # mean 0.05, sd 0.01 over 3 seeds: t(0.975, 2) = 4.303 -> half width 0.0248
    assert gain["final_ci95"] == pytest.approx([0.0252, 0.0748], abs=1e-4)
    assert gain["clear"] is True
    # Two seeds would not do (12.71 x 0.01 / 1.41 = 0.090 > 0.05); these three do.
    assert gain["seeds_for_clear"] == 3
    tie = paired_gain(runs, "tie")  # +10, -7, +1 points: the interval straddles 0
    assert tie["final"] == pytest.approx(0.0133, abs=1e-4) and tie["clear"] is False
    lonely = paired_gain(runs, "lonely")  # compared at the last round both reached
    assert lonely["by_round"] == pytest.approx([0.0, 0.1]) and "final_ci95" not in lonely
    assert paired_gain(runs, "absent") is None


def test_seeds_for_clear_is_where_the_interval_would_leave_zero():
    # mean 2, sd 1 (points): n = 3 gives 4.303 / 1.732 = 2.48 > 2, n = 4 gives 3.182 / 2 =
    # 1.59 < 2, so four seeds.
    assert seeds_for_clear(np.array([1.0, 2.0, 3.0])) == 4
    # mean 0.2, sd 1.7 (two values 0.2 -+ 1.7 / sqrt 2): n > (1.7 / 0.2)^2 t^2 = 72.25 t^2,
    # which n = 280 meets (t(0.975, 279) = 1.9685: 279.97) and n = 279 does not.
    assert seeds_for_clear(0.2 + np.array([-1.0, 1.0]) * 1.7 / np.sqrt(2)) == 280
    assert seeds_for_clear(np.array([-1.0, 0.5])) is None  # not ahead: no seed count settles it
    assert seeds_for_clear(np.array([0.001, -0.2, 0.2])) is None  # beyond MAX_SEEDS


def test_paired_gain_shows_which_question_types_it_comes_from():
    def run(acc, by_type):
        last = rows([0.2, acc])
        last[-1]["by_type"] = by_type
        return last

    runs = {
        "random/seed-0": run(0.50, {"color": 0.6, "position": 0.40}),
        "random/seed-1": run(0.52, {"color": 0.7, "position": 0.45}),
        "badge/seed-0": run(0.53, {"color": 0.6, "position": 0.52}),
        "badge/seed-1": run(0.55, {"color": 0.7, "position": 0.55, "count": 0.3}),
    }
    by_type = paired_gain(runs, "badge")["final_by_type"]
    assert set(by_type) == {"color", "position"}  # count: not in every row
    assert by_type["color"]["mean"] == pytest.approx(0.0)
    assert by_type["color"]["ci95"] == pytest.approx([0.0, 0.0])
    # +12 and +10 points: mean 11, sd 1.414, t(0.975, 1) = 12.706 -> half width 12.7
    assert by_type["position"]["mean"] == pytest.approx(0.11)
    assert by_type["position"]["ci95"] == pytest.approx([-0.017, 0.237], abs=1e-3)
    lone = paired_gain({k: v for k, v in runs.items() if k.endswith("0")}, "badge")
    assert lone["final_by_type"]["position"] == {"mean": pytest.approx(0.12)}
    table = paired_table({"badge": {"paired": paired_gain(runs, "badge")}}).splitlines()
    assert (
        table[0]
        == "| minus random, points | seeds | final | 95% interval | clear | seeds for clear"
        " | sd: items / rest | color | position |"
    )
    # +3 points on both seeds: a zero-width interval above 0
    # (no item records in these rows: no noise split)
    assert table[2] == "| badge | 2 | +3.0 | [+3.0, +3.0] | True | 2 |  | +0.0 | +11.0 |"
    assert paired_table({"badge": {"paired": None}}) == ""


def test_curves_carry_crowding_and_the_plot_gets_its_panel(tmp_path):
    runs = {
        "random/seed-0": rows([0.2, 0.5], {"1": 0.8, "2-3": 0.4}),
        "random/seed-1": rows([0.3, 0.6], {"1": 0.6, "2-3": 0.5}),
        "hybrid/seed-0": rows([0.2, 0.55], {"1": 0.7, "2-3": 0.6}),
    }
    cur = curves(runs)
    assert cur["random"]["by_objects"][1] == {"1": 0.7, "2-3": 0.45}
    wide = plot_curves(cur, tmp_path / "wide.png", 0.3)
    for c in cur.values():
        c["by_objects"] = [{} for _ in c["round"]]
    narrow = plot_curves(cur, tmp_path / "narrow.png", 0.3)
    w_wide, w_narrow = Image.open(wide).size[0], Image.open(narrow).size[0]
    assert w_wide > 1.5 * w_narrow  # the crowding panel beside the curves
    assert np.isclose(w_narrow, 6.4 * 120, atol=2)


def test_the_paired_plot_has_a_row_per_strategy_with_an_interval(tmp_path):
    runs = {
        "random/seed-0": rows([0.2, 0.50]),
        "random/seed-1": rows([0.3, 0.60]),
        "ahead/seed-0": rows([0.2, 0.55]),
        "ahead/seed-1": rows([0.3, 0.65]),  # +5 points on both seeds: clear
        "tie/seed-0": rows([0.2, 0.45]),
        "tie/seed-1": rows([0.3, 0.66]),
        "lonely/seed-0": rows([0.2, 0.70]),  # one seed: no interval, no row
    }
    vs = versus_random(curves(runs), runs)
    assert vs["ahead"]["paired"]["clear"] and not vs["tie"]["paired"]["clear"]
    two = plot_paired(vs, tmp_path / "two.png")
    one = plot_paired({"ahead": vs["ahead"], "lonely": vs["lonely"]}, tmp_path / "one.png")
    h_two, h_one = Image.open(two).size[1], Image.open(one).size[1]
    assert np.isclose(h_two - h_one, 0.45 * 120, atol=2)  # one row more, not three
    # green (the clear row) is drawn; with the tie alone, nothing green
    green = np.array([44, 160, 44])

    def has_green(path):
        px = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3).astype(int)
        return bool((np.abs(px - green).sum(1) < 30).any())

    assert has_green(two)
    assert not has_green(plot_paired({"tie": vs["tie"]}, tmp_path / "tie.png"))
    assert plot_paired({"lonely": vs["lonely"]}, tmp_path / "none.png") is None
    assert paired_png("docs/al_curves.png").as_posix() == "docs/al_curves_paired.png"


def test_versus_random_compares_a_strategy_with_random_on_its_own_seeds():
    runs = {
        "random/seed-0": rows([0.2, 0.5]),
        "random/seed-1": rows([0.2, 0.7]),  # a lucky seed the strategy was not run on
        "x/seed-0": rows([0.2, 0.52]),
    }
    paired = versus_random(curves(runs), runs)["x"]
    assert paired["gain"] == pytest.approx(0.02)  # against random's seed 0, not the mean 0.6
    assert paired["samples_to_reach_random"] == pytest.approx(400 + 480 * 0.3 / 0.32, abs=0.1)
    assert versus_random(curves(runs))["x"]["gain"] == pytest.approx(-0.08)  # curves only


def _answered(right: list[int], eval_set: str = "e1") -> dict:
    """A final row answering len(right) items, item i right when right[i]."""
    bits = np.packbits(np.array(right, dtype=bool)).tobytes().hex()
    return {
        "accuracy": float(np.mean(right)),
        "eval_set": eval_set,
        "item_correct": {"n": len(right), "bits": bits},
    }


def test_noise_split_says_how_much_of_the_spread_is_the_questions_asked():
    # Seed 0: 10 items, d = +1 on items 0-1, -1 on item 2, else 0: mean 0.1,
    # var(d, ddof=1) = (2 x 0.81 + 1.21 + 7 x 0.01) / 9 = 0.3222, / 10 items = 0.03222.
    # Seed 1: d = +1 on item 0 only: var = (0.81 + 9 x 0.01) / 9 = 0.1, / 10 = 0.01.
    a0, b0 = _answered([1, 1, 0, 0, 1, 0, 0, 0, 0, 0]), _answered([0, 0, 1, 0, 1, 0, 0, 0, 0, 0])
    a1, b1 = _answered([1, 0, 0, 0, 0, 0, 0, 0, 0, 1]), _answered([0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    assert item_variance(a0, b0) == pytest.approx(0.3222 / 10, abs=1e-5)
    assert item_variance(a1, b1) == pytest.approx(0.01, abs=1e-6)
    # Finals 0.1 and 0.1 vary 0 between seeds: all of (nothing) is items, the rest is 0.
    # With a spread of finals [0.0, 0.4] (var 0.08) instead: items 0.02111, rest 0.05889.
    split = noise_split(np.array([0.0, 0.4]), [(a0, b0), (a1, b1)])
    assert split["item_sd"] == pytest.approx(0.02111**0.5, abs=1e-4)
    assert split["run_sd"] == pytest.approx(0.05889**0.5, abs=1e-4)
    assert split["item_share"] == pytest.approx(0.264, abs=1e-3)
    assert noise_split(np.array([0.1, 0.1]), [(a0, b0), (a1, b1)])["run_sd"] == 0.0
    # No item record, other items, or another item count: no split rather than a wrong one.
    assert noise_split(np.array([0.0, 0.4]), [(a0, b0), (a1, {"accuracy": 0.1})]) == {}
    assert item_variance(a0, _answered([0, 0, 1, 0, 1, 0, 0, 0, 0, 0], "e2")) is None
    assert item_variance(a0, _answered([0, 1])) is None
    assert item_variance(_answered([1]), _answered([0])) is None  # one item: no spread


def test_paired_gain_carries_the_noise_split_into_the_table():
    runs = {}
    for s, (ra, rb) in enumerate([([1, 0, 0, 1], [1, 1, 0, 1]), ([0, 0, 1, 1], [1, 0, 1, 1])]):
        runs[f"random/seed-{s}"] = [{"round": 0, "samples": 4, **_answered(ra)}]
        runs[f"badge/seed-{s}"] = [{"round": 0, "samples": 4, **_answered(rb)}]
    p = paired_gain(runs, "badge")
    assert p["final_by_seed"] == [0.25, 0.25] and p["run_sd"] == 0.0
    # Each seed: one item +1 of 4, var = (0.5625 + 3 x 0.0625) / 3 = 0.25, / 4 = 0.0625.
    assert p["item_sd"] == pytest.approx(0.25)
    table = paired_table(versus_random(curves(runs), runs))
    assert "| 25.0 / 0.0 |" in table and table.endswith(NOISE_LEGEND)
