"""`leaderboard render`: Markdown, CSV / Parquet and a static page that loads offline in headless Chromium with no
console errors and sorts its tables."""

from __future__ import annotations

import csv
import html
import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from semcom_bench.errors import SemcomError
from semcom_bench.leaderboard.render import render
from semcom_bench.leaderboard.scaffold import scaffold
from semcom_bench.leaderboard.suites import evaluate_submission, get_suite

pytestmark = pytest.mark.slow
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def _codec(folder: Path, name: str, symbols: list[int]) -> Path:
    """The scaffold's codec sending ``symbols`` complex symbols per 4x4 patch at its operating points."""
    root = scaffold(name, folder / name)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["operating_points"] = [{"rate": k / 48, "cbr": k / 48 + 0.002} for k in symbols]
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two entries on synthcity-smoke: the same codec at 2, 3, 4 and 6 symbols per patch, and at 1, 2, 3 and 4."""
    folder = tmp_path_factory.mktemp("board")
    suite = get_suite("synthcity-smoke")
    evaluate_submission(_codec(folder, "dct-wide", [2, 3, 4, 6]), suite, folder / "results")
    evaluate_submission(_codec(folder, "dct-narrow", [1, 2, 3, 4]), suite, folder / "results")
    return folder / "results"


@pytest.fixture(scope="module")
def site(board: Path) -> Path:
    render(board, board.parent / "site", resamples=200, reference="dct-wide 0.1.0")
    return board.parent / "site"


def test_tables_rank_both_entries_with_intervals(site: Path) -> None:
    rows = list(csv.DictReader((site / "leaderboard.csv").open()))
    assert [r["entry"] for r in rows] == ["dct-wide 0.1.0", "dct-narrow 0.1.0"]  # more symbols, higher mean
    assert [int(r["rank"]) for r in rows] == [1, 2]
    for r in rows:
        assert float(r["tc_psnr_low"]) <= float(r["tc_psnr"]) <= float(r["tc_psnr_high"])
    assert pq.read_table(site / "leaderboard.parquet").num_rows == 2
    text = (site / "leaderboard.md").read_text()
    assert "| 1 | dct-wide 0.1.0 |" in text and "synthcity-smoke" in text
    points = list(csv.DictReader((site / "points.csv").open()))
    assert len(points) == (4 + 4) * 4  # rate points x SNRs
    page = (site / "index.html").read_text()
    assert "http://" not in page and "https://" not in page  # nothing to fetch: it loads offline
    assert '"license": "MIT"' in html.unescape(page) and "scored_by" in page  # each entry's card
    docs = {p.name: json.loads(p.read_text()) for p in (site / "compressai").glob("*.json")}
    assert len(docs) == 2 and all(len(d["results"]["tc-psnr"]) == len(d["results"]["cbr"]) for d in docs.values())


def test_bd_of_the_same_codec_at_other_rates_is_about_zero(board: Path, site: Path) -> None:
    text = (site / "leaderboard.md").read_text()
    bd = [line.split("|") for line in text.splitlines() if line.startswith("| dct-narrow 0.1.0 | awgn |")]
    assert len(bd) == 4  # one row per SNR
    for row in bd:  # on the CBRs both cover (2..4 symbols per patch) the two curves are one codec's
        assert abs(float(row[4])) < 0.3, row
        # BD-rate needs TC-PSNR rising strictly with CBR, over curves that overlap; this analog codec's does not at
        # every SNR, and the note says which (at 3 dB the TC-PSNR ranges overlap 39 %: bjontegaard extrapolates)
        assert (row[5].strip() != "n/a" and abs(float(row[5])) < 5.0) or "does not rise strictly" in row[6] \
            or "Insufficient curve overlap" in row[6], row
    with pytest.raises(SemcomError, match="no entry 'nobody'"):
        render(board, board.parent / "other", resamples=10, reference="nobody")


@pytest.mark.skipif(not (CHROMIUM and DRIVER) and not os.environ.get("CI"),
                    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
def test_the_page_loads_offline_without_console_errors_and_sorts(site: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER or "/usr/bin/chromedriver"), options=options)
    try:
        driver.get((site / "index.html").resolve().as_uri())
        assert driver.title.startswith("semcom-bench leaderboard")
        table = driver.find_element(By.ID, "points")
        header = table.find_elements(By.TAG_NAME, "th")
        column = [h.text for h in header].index("TC-PSNR")

        def values() -> list[float]:
            return [float(row.find_elements(By.TAG_NAME, "td")[column].get_attribute("data-value"))
                    for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]

        before = values()
        header[column].click()
        assert values() == sorted(before)
        header[column].click()
        assert values() == sorted(before, reverse=True)
        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) == 4 and all(driver.execute_script("return arguments[0].naturalWidth", i) > 0
                                         for i in images)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()


def test_a_hidden_suite_publishes_aggregates_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from semcom_bench.demo import synthcity_label_sets
    from semcom_bench.leaderboard import suites
    from semcom_bench.schemas import LabelSet

    labels = synthcity_label_sets(tmp_path / "private", 1, 3, 9, (64, 128), "pedestrian-collision-warning")
    held_out = labels["heuristic", "val"]
    spec = {"description": "an organiser's private split", "dataset": "cityscapes", "task": "vehicle-following",
            "labeler": "mllm", "labelset_hash": LabelSet.open(held_out).content_hash(), "channels": ["awgn"],
            "snrs": [0.0, 10.0], "cbrs": [0.0625], "side_rule": "ldpc", "seed": 0, "hidden": True}
    (tmp_path / "suites.yaml").write_text(yaml.safe_dump({"private-test": spec}))
    monkeypatch.setattr(suites, "SUITES_FILE", tmp_path / "suites.yaml")
    suite = suites.get_suite("private-test")
    with pytest.raises(SemcomError, match="pass the suite's label set with --labels"):
        suites.suite_labels(suite, tmp_path / "cache")  # its images are not built or shipped
    root = _codec(tmp_path, "dct", [3])
    suites.evaluate_submission(root, suite, tmp_path / "board", labels=held_out)
    files = render(tmp_path / "board", tmp_path / "site", resamples=20)
    assert "Hidden suite: aggregate scores only" in (tmp_path / "site" / "index.html").read_text()
    image_ids = [r["image_id"] for r in LabelSet.open(held_out).read("images").to_pylist()]
    for path in files:  # no published file names an image of the hidden split
        text = path.read_bytes().decode("utf-8", "replace")
        assert not any(i in text for i in image_ids), path
