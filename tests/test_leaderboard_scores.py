"""Leaderboard scores on hand-built results rows with known answers: pooling, paired bootstrap, ranking, BD, merging."""

from __future__ import annotations

import math
from typing import Any

import bjontegaard
import numpy as np
import pytest

from semcom_bench.errors import SemcomError
from semcom_bench.leaderboard.scores import (
    Entry,
    Point,
    TaggedRows,
    bd_table,
    compressai_json,
    entry_summaries,
    interval,
    merge_results,
    point_table,
    rank_entries,
    score_points,
)

PEAK = 255.0**2

# bjontegaard's README / example_usage.py curves (libx265 presets); the package prints their BD without values.
README_RATE_ANCHOR = [9487.76, 4593.60, 2486.44, 1358.24]
README_PSNR_ANCHOR = [40.037, 38.615, 36.845, 34.851]
README_RATE_TEST = [9787.80, 4469.00, 2451.52, 1356.24]
README_PSNR_TEST = [40.121, 38.651, 36.970, 34.987]


def _psnr(sse: float, pixels: float) -> float:
    """PSNR by hand: MSE over 3 channels of ``pixels`` pixels."""
    return 10 * math.log10(PEAK / (sse / (3 * pixels)))


def _sse_for(psnr: float, pixels: int) -> float:
    """The squared-error sum that gives ``psnr`` over ``pixels`` pixels."""
    return 3 * pixels * PEAK / 10 ** (psnr / 10)


def _row(scheme: str = "a", image: str = "i0", sse: float = 300.0, pixels: int = 100, **extra: Any) -> dict[str, Any]:
    """A results row with the columns the scores read; the task mask and every tier hold a quarter of the pixels
    and of the squared error unless ``extra`` says otherwise."""
    row: dict[str, Any] = {"scheme": scheme, "model": "", "config": "c", "side_rule": "ldpc", "image_id": image,
                           "channel": "awgn", "snr_db": 10.0, "rate": 0.1, "seed": 0, "cbr": 0.1, "sse": sse,
                           "pixels": pixels, "tc_sse": sse / 4, "tc_pixels": pixels // 4, "ssim": 0.9, "ms_ssim": 0.95}
    for t in range(4):
        row[f"sse_tier{t}"], row[f"pixels_tier{t}"] = sse / 4, pixels // 4
    return row | extra


def _entry(scheme: str) -> Entry:
    return Entry(scheme, "", "c", "ldpc")


POINT = Point("awgn", 10.0, 0.1)


def _spread(scheme: str, scale: float = 1.0, images: int = 20) -> list[dict[str, Any]]:
    """An entry whose per-image errors spread over two decades (wide intervals), times ``scale``."""
    return [_row(scheme, f"i{i:02d}", sse=scale * 100 * 10 ** (i / 10)) for i in range(images)]


# ------------------------------------------------------------------------------------------------------ pooling


def test_pooled_metrics_per_grid_point_match_the_hand_computation() -> None:
    rows = [
        _row(image="i0", sse=300.0, pixels=100, tc_sse=30.0, tc_pixels=10, sse_tier3=10.0, pixels_tier3=5,
             ssim=0.8, ms_ssim=0.9, cbr=0.10),
        _row(image="i1", sse=6000.0, pixels=300, tc_sse=900.0, tc_pixels=30, sse_tier3=0.0, pixels_tier3=0,
             ssim=0.6, ms_ssim=0.7, cbr=0.12),
        _row(image="i1", sse=600.0, pixels=300, seed=1, tc_sse=90.0, tc_pixels=30, sse_tier3=0.0, pixels_tier3=0,
             ssim=0.7, ms_ssim=0.8, cbr=0.11),  # a second channel seed of i1: pooled with the others
        _row(image="i0", sse=1.0, pixels=100, snr_db=20.0),  # another grid point, scored apart
    ]
    table = {(r["snr_db"]): r for r in point_table(score_points(rows, resamples=10))}
    at10 = table[10.0]
    assert at10["images"] == 2
    assert at10["psnr"] == pytest.approx(_psnr(300 + 6000 + 600, 700))
    assert at10["psnr"] != pytest.approx((_psnr(300, 100) + _psnr(6000, 300) + _psnr(600, 300)) / 3)  # not mean dB
    assert at10["tc_psnr"] == pytest.approx(_psnr(30 + 900 + 90, 70))
    assert at10["psnr_tier3"] == pytest.approx(_psnr(10, 5))  # i1 has no tier-3 pixels
    assert at10["psnr_tier0"] == pytest.approx(_psnr(75 + 1500 + 150, 25 + 75 + 75))
    assert at10["ssim"] == pytest.approx(0.7)
    assert at10["ms_ssim"] == pytest.approx(0.8)
    assert at10["cbr"] == pytest.approx(0.11)
    assert table[20.0]["psnr"] == pytest.approx(_psnr(1, 100))


def test_rows_without_a_metric_column_are_refused() -> None:
    row = _row()
    del row["tc_sse"]
    with pytest.raises(SemcomError, match="tc_sse"):
        score_points([row])
    with pytest.raises(SemcomError, match="no results rows"):
        score_points([])


# ---------------------------------------------------------------------------------------------------- bootstrap


def test_interval_contains_the_estimate_and_is_reproducible_for_a_seed() -> None:
    rows = _spread("a")
    first, again, other = (point_table(score_points(rows, resamples=500, seed=s))[0] for s in (7, 7, 8))
    assert first["psnr_low"] < first["psnr"] < first["psnr_high"]
    assert first["psnr_high"] - first["psnr_low"] > 1.0  # the images spread over 20 dB
    assert (first["psnr_low"], first["psnr_high"]) == (again["psnr_low"], again["psnr_high"])
    assert (first["psnr_low"], first["psnr_high"]) != (other["psnr_low"], other["psnr_high"])


def test_interval_is_the_central_percentile_range_of_the_resamples() -> None:
    samples = np.array([-1e9, *range(1, 1001)], dtype=float)  # index 0, the estimate, is not a resample
    assert interval(samples) == pytest.approx((25.975, 975.025))
    assert interval(samples, confidence=0.5) == pytest.approx((250.75, 750.25))


def test_resamples_recompute_the_pooled_sums() -> None:
    scores = score_points(_spread("a"), resamples=50)
    sse = np.array([100 * 10 ** (i / 10) for i in range(20)])
    draws = scores.draws[1:]
    expected = [_psnr(d @ sse, d.sum() * 100) for d in draws]
    assert scores.samples[(_entry("a"), POINT)]["psnr"][1:] == pytest.approx(expected)
    assert (draws.sum(axis=1) == 20).all() and (scores.draws[0] == 1).all()


def test_bootstrap_is_paired_across_entries() -> None:
    # b's error is twice a's on every image: b is 10 log10(2) dB worse in every resample iff both see the same images.
    scores = score_points(_spread("a") + _spread("b", scale=2.0), resamples=500)
    a, b = (scores.samples[(_entry(s), POINT)]["psnr"] for s in "ab")
    for samples in (a, b):
        low, high = interval(samples)
        assert high - low > 1.0
    low, high = interval(a - b)
    assert low == pytest.approx(10 * math.log10(2)) and high == pytest.approx(10 * math.log10(2))


def test_a_nan_image_poisons_only_the_resamples_that_draw_it() -> None:
    rows = _spread("a")
    rows[3]["sse"] = math.nan
    samples = score_points(rows, resamples=1000).samples[(_entry("a"), POINT)]["psnr"]
    assert math.isnan(samples[0])
    assert 0.25 < np.isfinite(samples).mean() < 0.5  # (19/20)^20 = 36 % of resamples miss image 3


def test_resamples_without_the_metrics_region_are_left_out_of_its_interval() -> None:
    rows = _spread("a")
    for row in rows[1:]:
        row["tc_sse"], row["tc_pixels"] = 0.0, 0  # only image 0 has task-critical pixels
    samples = score_points(rows, resamples=1000).samples[(_entry("a"), POINT)]["tc_psnr"]
    assert np.isnan(samples[1:]).any() and math.isfinite(samples[0])
    low, high = interval(samples)
    assert low == high == pytest.approx(samples[0])  # every defining resample pools image 0 alone
    rows[0]["sse"] = math.nan
    assert all(math.isnan(v) for v in interval(score_points(rows, resamples=50).samples[(_entry("a"), POINT)]["psnr"]))


# ------------------------------------------------------------------------------------------------------ ranking


def _near_copy(scheme: str) -> list[dict[str, Any]]:
    """Entry "a" of :func:`_spread` with the errors of its first two images swapped and 0.1 % larger."""
    rows = _spread(scheme, scale=1.001)
    rows[0]["sse"], rows[1]["sse"] = rows[1]["sse"], rows[0]["sse"]
    for row in rows:
        row["tc_sse"] = row["sse"] / 4
    return rows


def test_separated_entries_rank_one_and_two() -> None:
    ranking = rank_entries(score_points(_spread("b", scale=10.0) + _spread("a"), resamples=500))
    assert [(r["scheme"], r["rank"], r["tied_with"]) for r in ranking] == [("a", 1, []), ("b", 2, [])]
    assert ranking[0]["metric"] == "tc_psnr" and ranking[0]["value"] > ranking[1]["value"] + 9


def test_near_identical_entries_share_a_rank_and_the_next_one_skips() -> None:
    rows = _spread("a") + _near_copy("a2") + _spread("c", scale=10.0)
    ranking = rank_entries(score_points(rows, resamples=500))
    assert [(r["scheme"], r["rank"]) for r in ranking] == [("a", 1), ("a2", 1), ("c", 3)]
    assert ranking[0]["tied_with"] == [_entry("a2")] and ranking[1]["tied_with"] == [_entry("a")]


def test_ranking_uses_the_mean_over_grid_points() -> None:
    # a wins at 10 dB by 10 dB and loses at 20 dB by 3 dB: better on the mean.
    rows = (_spread("a") + _spread("b", scale=10.0)
            + [r | {"snr_db": 20.0} for r in _spread("a", scale=2.0) + _spread("b")])
    ranking = rank_entries(score_points(rows, resamples=200), metric="psnr")
    assert [r["scheme"] for r in ranking] == ["a", "b"]
    assert ranking[0]["value"] - ranking[1]["value"] == pytest.approx((10 - 10 * math.log10(2)) / 2)
    with pytest.raises(SemcomError, match="unknown metric"):
        rank_entries(score_points(rows, resamples=2), metric="bpp")


# ----------------------------------------------------------------------------------------------------------- BD


def _curve_rows(scheme: str, cbrs: list[float], psnrs: list[float], snr_db: float = 10.0) -> list[dict[str, Any]]:
    """One image per rate point, its error chosen so the point's pooled PSNR is ``psnrs[k]`` at CBR ``cbrs[k]``."""
    return [_row(scheme, "i0", sse=_sse_for(p, 1000), pixels=1000, rate=c, cbr=c, snr_db=snr_db)
            for c, p in zip(cbrs, psnrs, strict=True)]


def _bd(rows: list[dict[str, Any]], min_points: int = 4) -> dict[str, Any]:
    (row,) = bd_table(score_points(rows, resamples=2), _entry("test"), _entry("anchor"), min_points=min_points)
    return row


def test_bd_of_the_readme_curves_is_what_bjontegaard_computes() -> None:
    row = _bd(_curve_rows("anchor", README_RATE_ANCHOR, README_PSNR_ANCHOR)
              + _curve_rows("test", README_RATE_TEST, README_PSNR_TEST))
    expected = {name: function(README_RATE_ANCHOR, README_PSNR_ANCHOR, README_RATE_TEST, README_PSNR_TEST,
                               method="akima")
                for name, function in (("bd_rate", bjontegaard.bd_rate), ("bd_psnr", bjontegaard.bd_psnr))}
    assert row["bd_rate"] == pytest.approx(expected["bd_rate"], rel=1e-9)
    assert row["bd_psnr"] == pytest.approx(expected["bd_psnr"], rel=1e-9)
    # bjontegaard 1.3.0's own output for these curves (Akima): the test codec is slightly better.
    assert row["bd_rate"] == pytest.approx(-4.4252, abs=1e-4)
    assert row["bd_psnr"] == pytest.approx(0.1194, abs=1e-4)
    assert row["note"] is None


def test_bd_known_shifts() -> None:
    cbrs, psnrs = [0.02, 0.04, 0.08, 0.16], [25.0, 28.5, 31.0, 32.5]
    itself = _bd(_curve_rows("anchor", cbrs, psnrs) + _curve_rows("test", cbrs, psnrs))
    assert itself["bd_psnr"] == pytest.approx(0, abs=1e-9) and itself["bd_rate"] == pytest.approx(0, abs=1e-9)
    up = _bd(_curve_rows("anchor", cbrs, psnrs) + _curve_rows("test", cbrs, [p + 1 for p in psnrs]))
    assert up["bd_psnr"] == pytest.approx(1.0, abs=1e-9) and up["bd_rate"] < 0
    cheaper = _bd(_curve_rows("anchor", cbrs, psnrs) + _curve_rows("test", [0.9 * c for c in cbrs], psnrs))
    assert cheaper["bd_rate"] == pytest.approx(-10.0, abs=1e-9) and cheaper["bd_psnr"] > 0


def test_bd_with_too_few_or_falling_points_gives_none_with_a_reason() -> None:
    anchor = _curve_rows("anchor", [0.02, 0.04, 0.08, 0.16], [25.0, 28.5, 31.0, 32.5])
    few = _bd(anchor + _curve_rows("test", [0.02, 0.04, 0.08], [26.0, 29.0, 31.0]))
    assert few["bd_psnr"] is None and few["bd_rate"] is None
    assert "3 rate point(s)" in few["note"] and "at least 4" in few["note"]
    falling = _bd(anchor + _curve_rows("test", [0.02, 0.04, 0.08, 0.16], [26.0, 29.0, 28.0, 33.0]))
    assert falling["bd_psnr"] is not None and falling["bd_rate"] is None
    assert "does not rise strictly" in falling["note"]
    elsewhere = _bd(anchor + _curve_rows("test", [0.02, 0.04, 0.08, 0.16], [25.0, 28.5, 31.0, 32.5], snr_db=0.0))
    assert elsewhere["bd_psnr"] is None and "reference has 0 rate point(s)" in elsewhere["note"]
    same_cbr = _curve_rows("test", [0.02, 0.04, 0.04, 0.16], [26.0, 29.0, 30.0, 33.0])
    same_cbr[2]["rate"] = 0.05  # two rate knobs that spend the same channel uses
    same_cbr = _bd(anchor + same_cbr)
    assert same_cbr["bd_psnr"] is None and "same CBR" in same_cbr["note"]
    apart = _bd(anchor + _curve_rows("test", [1.0, 2.0, 4.0, 8.0], [40.0, 41.0, 42.0, 43.0]))
    assert apart["bd_psnr"] is None and apart["bd_rate"] is None and "do not overlap" in apart["note"]


def test_entry_summaries_mean_the_grid_and_hold_bd_against_the_reference() -> None:
    cbrs, psnrs = [0.02, 0.04, 0.08, 0.16], [25.0, 28.5, 31.0, 32.5]
    scores = score_points(_curve_rows("anchor", cbrs, psnrs) + _curve_rows("test", cbrs, [p + 1 for p in psnrs]),
                          resamples=2)
    summaries = {s["scheme"]: s for s in entry_summaries(scores, reference=_entry("anchor"))}
    assert summaries["anchor"]["points"] == 4 and summaries["anchor"]["bd"] == []
    assert summaries["anchor"]["psnr"] == pytest.approx(np.mean(psnrs))
    assert summaries["test"]["cbr"] == pytest.approx(np.mean(cbrs))
    assert [b["bd_psnr"] for b in summaries["test"]["bd"]] == [pytest.approx(1.0)]
    with pytest.raises(SemcomError, match="reference entry"):
        entry_summaries(scores, reference=_entry("nobody"))


# ------------------------------------------------------------------------------------------------------ merging


def test_merging_refuses_different_label_sets_naming_both_hashes() -> None:
    groups = [TaggedRows("city-val", "sha256:aaaa", [_row(image="i0")]),
              TaggedRows("city-val", "sha256:bbbb", [_row(image="i1")])]
    with pytest.raises(SemcomError) as caught:
        merge_results(groups)
    assert "sha256:aaaa" in str(caught.value) and "sha256:bbbb" in str(caught.value)
    assert caught.value.hint


def test_merging_refuses_different_suites_and_duplicate_rows() -> None:
    with pytest.raises(SemcomError, match="'city-val'.*'synth-val'") as caught:
        merge_results([TaggedRows("city-val", "h", [_row(image="i0")]), TaggedRows("synth-val", "h", [_row()])])
    assert caught.value.hint
    with pytest.raises(SemcomError, match="appears twice"):
        merge_results([TaggedRows("s", "h", [_row(image="i0")]), TaggedRows("s", "h", [_row(image="i0")])])


def test_merging_equal_tags_concatenates_the_rows() -> None:
    merged = merge_results([TaggedRows("s", "h", [_row(image="i0")]), TaggedRows("s", "h", [_row(image="i1")])])
    assert [r["image_id"] for r in merged] == ["i0", "i1"]


# --------------------------------------------------------------------------------------------------- CompressAI


def test_compressai_json_per_entry_lists_the_point_estimates() -> None:
    rows = _spread("a") + [r | {"snr_db": 0.0} for r in _spread("a", scale=4.0)] + _spread("b", scale=2.0)
    scores = score_points(rows, resamples=2)
    docs = {d["name"]: d for d in compressai_json(scores)}
    assert set(docs) == {"a c", "b c"}
    results = docs["a c"]["results"]
    table = {r["snr_db"]: r for r in point_table(scores) if r["scheme"] == "a"}
    assert results["snr"] == [0.0, 10.0] and results["channel"] == ["awgn", "awgn"]
    assert results["psnr-rgb"] == [table[0.0]["psnr"], table[10.0]["psnr"]]
    assert results["tc-psnr"] == [table[0.0]["tc_psnr"], table[10.0]["tc_psnr"]]
    assert results["ms-ssim-rgb"] == pytest.approx([0.95, 0.95]) and results["cbr"] == pytest.approx([0.1, 0.1])
    assert results["psnr-tier3"] == [table[0.0]["psnr_tier3"], table[10.0]["psnr_tier3"]]
