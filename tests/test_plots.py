"""The report's figures stay readable with a zoo's worth of curves: a swept scheme is one curve, legends sit outside."""

from __future__ import annotations

from typing import Any

import pytest

from semcom_bench.benchmark import plots


def _point(snr: float, rate: float, cbr: float, psnr: float) -> dict[str, Any]:
    return {"snr_db": snr, "rate": rate, "cbr": cbr, "psnr": psnr,
            **{f"psnr_tier{t}": psnr + t for t in range(4)}}


@pytest.fixture
def curves() -> plots.Curves:
    swept = [_point(snr, rate, 0.01 * (k + 1), 20 + snr + k) for snr in (0.0, 10.0)
             for k, rate in enumerate((0.1, 0.4, 1.6))]
    fixed = [_point(snr, 0.0625, 0.0625, 25 + snr) for snr in (0.0, 10.0)]
    return {"ntscc [awgn]": swept, "deepjscc [awgn]": fixed}


def _outside(fig: Any) -> bool:
    """Whether the figure's legend lies right of every axes."""
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    return all(legend.x0 >= ax.get_window_extent().x1 for ax in fig.axes if ax.get_visible())


def test_against_snr_draws_a_line_per_rate_point_and_one_legend_entry_per_curve(curves: plots.Curves) -> None:
    fig = plots.against_snr(curves, "psnr", "PSNR (dB)")
    (ax,) = fig.axes
    assert len(ax.lines) == 3 + 1
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["deepjscc [awgn]", "ntscc [awgn] (rates 0.1 to 1.6, darker: higher)"]
    assert _outside(fig)
    swept = [line for line in ax.lines if line.get_color() == ax.lines[-1].get_color()]
    assert sorted(line.get_alpha() for line in swept) == sorted({line.get_alpha() for line in swept})  # distinct


def test_against_cbr_draws_a_panel_per_snr_and_one_line_through_each_curves_rate_points(
        curves: plots.Curves) -> None:
    fig = plots.against_cbr(curves, "psnr", "PSNR (dB)")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["0 dB SNR", "10 dB SNR"]
    for ax in panels:
        assert sorted(len(line.get_xdata()) for line in ax.lines) == [1, 3]
        (swept,) = [line for line in ax.lines if len(line.get_xdata()) == 3]
        assert list(swept.get_xdata()) == pytest.approx([0.01, 0.02, 0.03])
    assert _outside(fig)


def test_per_tier_takes_each_curve_at_its_rate_point_nearest_the_cbr(curves: plots.Curves) -> None:
    fig = plots.per_tier(curves, cbr=0.02)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["deepjscc [awgn] at CBR 0.0625", "ntscc [awgn] at CBR 0.02"]
    (ax,) = fig.axes
    heights = [bar.get_height() for bar in ax.patches]
    assert heights[4:] == [31.0, 32.0, 33.0, 34.0]  # ntscc at 10 dB, its 0.02 point (psnr 31) plus tier
    assert plots.per_tier(curves).legends[0].get_texts()[1].get_text() == "ntscc [awgn] at CBR 0.03"  # median 0.025, log-nearer 0.03


def test_styles_give_distinct_colours_to_twenty_curves_and_then_change_the_line_style() -> None:
    style = plots.styles([f"c{k:02d}" for k in range(24)])
    first = [style[f"c{k:02d}"] for k in range(20)]
    assert len({s["color"] for s in first}) == 20 and {s["linestyle"] for s in first} == {"-"}
    assert style["c20"]["color"] == style["c00"]["color"] and style["c20"]["linestyle"] == "--"
