"""BER/FER simulation and the `phy ber` / `phy plot` commands."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from semcom_bench.errors import SemcomError
from semcom_bench.phy.ber import ROW_KEYS, ebn0_to_snr_db, simulate
from semcom_bench.phy.cli import app, parse_range
from semcom_bench.phy.ldpc import LDPC5G

runner = CliRunner()


def test_simulate_rows_and_stopping_rule() -> None:
    code = LDPC5G(256, 512)
    rows = simulate(code, 16, [-2.0, 8.0], frames=300, batch=100, seed=0, min_frame_errors=50)
    assert [set(r) for r in rows] == [set(ROW_KEYS)] * 2
    low, high = rows
    assert low["frames"] == 100 and low["frame_errors"] >= 50  # stopped after the first batch
    assert low["fer"] == low["frame_errors"] / 100 and low["ber"] == low["bit_errors"] / (100 * 256)
    assert low["detected_failures"] >= low["frame_errors"] - 1
    assert high["frames"] == 300 and high["bit_errors"] == 0 and high["fer"] == 0.0
    assert high["snr_db"] == pytest.approx(8.0 + 10 * math.log10(0.5 * 4))
    assert high["avg_iterations"] < low["avg_iterations"] and high["info_mbps"] > 0


def test_simulate_is_paired_and_reproducible() -> None:
    code = LDPC5G(256, 520)  # 520 bits: padded to whole 64-QAM symbols
    first = simulate(code, 64, [6.0], frames=64, batch=32, seed=5, min_frame_errors=1000)
    again = simulate(code, 64, [6.0], frames=64, batch=32, seed=5, min_frame_errors=1000)
    other = simulate(code, 64, [6.0], frames=64, batch=32, seed=6, min_frame_errors=1000)
    counts = ("bit_errors", "frame_errors", "detected_failures", "avg_iterations")
    assert [first[0][key] for key in counts] == [again[0][key] for key in counts]
    assert [first[0][key] for key in counts] != [other[0][key] for key in counts]


def test_ebn0_conversion_and_bad_arguments() -> None:
    assert ebn0_to_snr_db(3.0, 2 / 3, 4) == pytest.approx(3.0 + 10 * math.log10(8 / 3))
    with pytest.raises(SemcomError, match="positive"):
        simulate(LDPC5G(256, 512), 16, [1.0], frames=0, batch=10, seed=0)
    with pytest.raises(SemcomError, match="QAM order"):
        simulate(LDPC5G(256, 512), 8, [1.0], frames=10, batch=10, seed=0)


def test_parse_range() -> None:
    assert parse_range("1:2:0.25") == [1.0, 1.25, 1.5, 1.75, 2.0]
    assert parse_range("0:1:0.1")[-1] == 1.0 and len(parse_range("0:1:0.1")) == 11
    assert parse_range("3.5") == [3.5]
    for bad, why in (("3:1:0.5", "below START"), ("1:2:0", "positive"), ("1:2", "START:STOP:STEP"), ("a", "START")):
        with pytest.raises(ValueError, match=why):
            parse_range(bad)


def test_cli_ber_json_table_and_plot(tmp_path: Path) -> None:
    args = ["ber", "--k", "256", "--n", "512", "--qam", "16", "--ebn0", "0:6:3", "--frames", "64", "--batch", "32"]
    done = runner.invoke(app, [*args, "--json", "--out", str(tmp_path / "fast.json")])
    assert done.exit_code == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["ebn0_db"] for r in rows] == [0.0, 3.0, 6.0]
    assert all({"ebn0_db", "ber", "fer", "info_mbps", "snr_db", "frames"} <= r.keys() for r in rows)
    assert rows[0]["decoder"] == "fast" and rows[0]["k"] == 256 and rows[-1]["fer"] == 0.0
    assert json.loads((tmp_path / "fast.json").read_text()) == rows

    args = ["ber", "--k", "256", "--n", "512", "--ebn0", "3", "--frames", "32", "--decoder", "sionna"]
    args += ["--iterations", "5"]
    done = runner.invoke(app, [*args, "--out", str(tmp_path / "s.json")])
    assert done.exit_code == 0, done.stderr
    assert "Eb/N0" in done.stdout and "FER" in done.stdout and "THR(Mbps)" in done.stdout
    assert len(json.loads((tmp_path / "s.json").read_text())) == 1

    png = tmp_path / "curves.png"
    done = runner.invoke(app, ["plot", str(tmp_path / "fast.json"), str(tmp_path / "s.json"), "--out", str(png)])
    assert done.exit_code == 0, done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ebn0", "3:1:0.5"], "must not be below START"),
        (["--code", "turbo"], "unknown code"),
        (["--qam", "8"], "unsupported QAM order 8"),
        (["--n", "200"], "must be larger than k"),
        (["--decoder", "bp"], "unknown decoder"),
    ],
)
def test_cli_ber_usage_errors(extra: list[str], message: str) -> None:
    done = runner.invoke(app, ["ber", "--k", "256", "--n", "512", "--ebn0", "1", *extra])
    assert done.exit_code == 2
    assert message in " ".join(done.stderr.replace("│", " ").split())


def test_cli_plot_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"ebn0_db": 1}')
    done = runner.invoke(app, ["plot", str(bad), "--out", str(tmp_path / "x.png")])
    assert done.exit_code == 2 and "list of rows" in done.stderr
