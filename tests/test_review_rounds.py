"""A review round against the real Label Studio server: push a synthcity label set, annotate through the API as two
reviewers would (a changed tier, a rejected triplet, an added object, a removed object, disagreement), pull, merge
under each policy, measure agreement; and the bad inputs of a round (no annotation yet, a deleted task, a region
whose object is gone, a wrong key). The expected values are worked out here from the annotations the test made."""

from __future__ import annotations

import copy
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from semcom_bench.benchmark.data import BenchmarkData
from semcom_bench.demo import synthcity_label_sets
from semcom_bench.errors import SemcomError
from semcom_bench.review.agreement import agreement_report
from semcom_bench.review.config import IMPORTANCE_CHOICES
from semcom_bench.review.merge import merge
from semcom_bench.review.pull import pull
from semcom_bench.review.push import push
from semcom_bench.review.server import LabelStudioServer, connect
from semcom_bench.schemas import LabelSet, decode_mask
from semcom_bench.schemas.tables import ADDED_ID_BASE

pytestmark = pytest.mark.slow
TASK = "pedestrian-collision-warning"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rounds")
    return synthcity_label_sets(folder, 1, 3, 4, (128, 256), TASK)["heuristic", "val"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, source: Path) -> Any:
    with LabelStudioServer(tmp_path_factory.mktemp("ls") / "data", files_root=source.parent) as running:
        yield running


@pytest.fixture()
def labelset(tmp_path: Path, source: Path) -> Path:
    """A copy of the label set per test: each test gets projects of its own (titles hash the path)."""
    copied = tmp_path / source.name
    shutil.copytree(source, copied)
    return copied


def _client(server: Any) -> Any:
    return connect(server.url, server.credentials.api_key)


def _user(client: Any, name: str) -> int:
    for user in client.users.list():
        if user.username == name:
            return user.id
    return client.users.create(username=name, email=f"{name}@example.org", password=f"pw-{name}-0123").id


def _prediction(client: Any, project: int, image_id: str) -> tuple[int, list[dict[str, Any]]]:
    task = next(t for t in client.tasks.list(project=project, fields="all") if t.data["image_id"] == image_id)
    return task.id, copy.deepcopy(client.predictions.list(task=task.id)[0].result)


def _set_tier(result: list[dict[str, Any]], object_id: int, tier: int) -> None:
    item = next(r for r in result if r.get("id") == f"obj-{object_id}" and r["from_name"] == "importance")
    item["value"]["choices"] = [IMPORTANCE_CHOICES[tier]]


def _without(result: list[dict[str, Any]], object_id: int) -> list[dict[str, Any]]:
    ids = {f"obj-{object_id}", f"mask-{object_id}"}
    return [r for r in result if r.get("id") not in ids and r.get("from_id") not in ids and r.get("to_id") not in ids]


def _box(region: str, bbox: tuple[float, float, float, float], cls: str, tier: int) -> list[dict[str, Any]]:
    x0, y0, x1, y1 = bbox
    value = {"x": x0 / 256 * 100, "y": y0 / 128 * 100, "width": (x1 - x0) / 256 * 100,
             "height": (y1 - y0) / 128 * 100, "rotation": 0}
    common = {"id": region, "to_name": "image", "original_width": 256, "original_height": 128}
    return [{**common, "from_name": "objects", "type": "rectanglelabels", "value": {**value, "rectanglelabels": [cls]}},
            {**common, "from_name": "importance", "type": "choices",
             "value": {**value, "choices": [IMPORTANCE_CHOICES[tier]]}}]


def _untick(result: list[dict[str, Any]], subject: int, choice: str) -> None:
    item = next(r for r in result if r.get("id") == f"obj-{subject}" and r["from_name"] == "stuff")
    item["value"]["choices"] = [c for c in item["value"]["choices"] if c != choice]


def _scene(labelset: LabelSet) -> dict[str, Any]:
    """The first image with an object-object triplet and enough labelled objects, and the items the test edits."""
    objects = labelset.read("objects").to_pylist()
    triplets = labelset.read("triplets").to_pylist()
    images = sorted({o["image_id"] for o in objects})
    for image in images:
        pairs = [t for t in triplets if t["image_id"] == image and t["object_id"] is not None]
        if not pairs:
            continue
        relation = pairs[0]
        ends = {relation["subject_id"], relation["object_id"]}
        stuff = next(t for t in triplets if t["image_id"] == image and t["object_id"] is None
                     and t["subject_id"] not in ends)
        used = ends | {stuff["subject_id"]}
        free = sorted(o["object_id"] for o in objects if o["image_id"] == image and o["object_id"] not in used
                      and o["importance"] is not None)
        if len(free) >= 3:
            tiers = {o["object_id"]: o["importance"] for o in objects if o["image_id"] == image}
            return {"image": image, "other": next(i for i in images if i != image), "relation": relation,
                    "stuff": stuff, "x": free[0], "y": free[1], "w": free[2], "tiers": tiers}
    raise AssertionError("the synthcity split has no image with the items this test edits")


def test_a_round_is_pushed_reviewed_pulled_merged_and_measured(server: Any, labelset: Path, tmp_path: Path) -> None:
    client = _client(server)
    alice, bob = _user(client, "alice"), _user(client, "bob")
    labels = LabelSet.open(labelset)
    before = labels.content_hash(("images", "objects", "patches", "triplets", "task_masks"))
    s = _scene(labels)
    report = push(labelset, client, server.files_root)
    assert report.added and not report.skipped
    with pytest.raises(SemcomError, match="holds no annotation"):
        pull(labelset, client)  # an empty project's export: a clear error, nothing written
    assert not labels.has("reviews")

    t0x, t0y = s["tiers"][s["x"]], s["tiers"][s["y"]]
    tier_a, tier_b, tier_y = (t0x + 1) % 4, (t0x + 2) % 4, (t0y + 1) % 4
    stuff = s["stuff"]
    stuff_choice = f"{stuff['predicate']} {stuff['object_class']}"
    relation = s["relation"]
    task_id, predicted = _prediction(client, report.project_id, s["image"])

    mine = copy.deepcopy(predicted)  # alice: two tiers, both triplets rejected, a box added with a relation
    _set_tier(mine, s["x"], tier_a)
    _set_tier(mine, s["y"], tier_y)
    _untick(mine, stuff["subject_id"], stuff_choice)
    mine = [r for r in mine if not (r["type"] == "relation" and r["from_id"] == f"obj-{relation['subject_id']}"
                                    and r["to_id"] == f"obj-{relation['object_id']}"
                                    and r["labels"] == [relation["predicate"]])]
    mine += _box("alice-box", (10, 10, 30, 50), "person", 3)
    mine.append({"type": "relation", "from_id": "alice-box", "to_id": f"obj-{s['x']}", "direction": "right",
                 "labels": ["behind"]})
    mine.append({"id": "flags", "from_name": "image_flags", "to_name": "image", "type": "choices",
                 "value": {"choices": ["objects missing"]}})
    client.annotations.create(id=task_id, result=mine, completed_by=alice, lead_time=30.0)
    time.sleep(0.01)
    theirs = _without(copy.deepcopy(predicted), s["w"])  # bob: other tier, stuff rejected, w removed, a box added
    _set_tier(theirs, s["x"], tier_b)
    _set_tier(theirs, s["y"], tier_y)
    _untick(theirs, stuff["subject_id"], stuff_choice)
    theirs += _box("bob-box", (11, 11, 31, 51), "person", 2)
    client.annotations.create(id=task_id, result=theirs, completed_by=bob, lead_time=45.0)

    other_id, other = _prediction(client, report.project_id, s["other"])
    critical = {t["subject_id"] for t in labels.read("triplets").to_pylist()
                if t["image_id"] == s["other"] and t["task_critical"]}
    gone, gone_box = next((o["object_id"], o["bbox"]) for o in labels.read("objects").to_pylist()
                          if o["image_id"] == s["other"] and o["object_id"] in critical)
    client.annotations.create(id=other_id, result=_without(other, gone), completed_by=alice, lead_time=5.0)

    pulled = pull(labelset, client)
    assert pulled.annotations == 3 and pulled.added_objects == 2
    rows = labels.read("reviews").to_pylist()
    again = pull(labelset, client)
    assert again.rows == pulled.rows and labels.read("reviews").num_rows == len(rows)  # a second pull adds nothing
    by = {(r["annotator"], r["image_id"], r["object_id"]): r for r in rows}
    assert by["alice@example.org", s["image"], s["x"]]["importance"] == tier_a
    assert by["bob@example.org", s["image"], s["x"]]["importance"] == tier_b
    assert by["bob@example.org", s["image"], s["w"]]["status"] == "removed"
    assert by["alice@example.org", s["image"], s["w"]]["status"] == "kept"
    assert by["alice@example.org", s["other"], gone]["status"] == "removed"
    added = [r for r in rows if r["status"] == "added"]
    assert sorted(r["annotator"] for r in added) == ["alice@example.org", "bob@example.org"]
    assert all(r["object_id"] >= ADDED_ID_BASE for r in added)
    alice_box = next(r for r in added if r["annotator"].startswith("alice"))
    assert np.allclose(alice_box["bbox"], (10, 10, 30, 50), atol=1e-3) and alice_box["importance"] == 3
    head = by["alice@example.org", s["image"], None]
    verdicts = {(d["subject_id"], d["predicate"], d["object_id"], d["object_class"]): d["decision"]
                for d in head["triplet_decisions"]}
    assert verdicts[stuff["subject_id"], stuff["predicate"], None, stuff["object_class"]] == "reject"
    assert verdicts[relation["subject_id"], relation["predicate"], relation["object_id"],
                    relation["object_class"]] == "reject"
    assert verdicts[alice_box["object_id"], "behind", s["x"], by["alice@example.org", s["image"], s["x"]][
        "class_name"]] == "new"
    assert head["flags"] == ["objects missing"] and head["lead_time_s"] == 30.0
    proposed = [t for t in labels.read("triplets").to_pylist() if t["image_id"] == s["image"]]
    assert sum(v != "new" for v in verdicts.values()) == len(proposed)  # every proposed triplet has a verdict

    majority = LabelSet.open(merge(labelset, tmp_path / "majority", "majority").out)
    assert labels.content_hash(("images", "objects", "patches", "triplets", "task_masks")) == before  # untouched
    objects = {(o["image_id"], o["object_id"]): o for o in majority.read("objects").to_pylist()}
    assert objects[s["image"], s["x"]]["importance"] == (
        t0x if t0x in (tier_a, tier_b) else statistics.median_low([tier_a, tier_b]))  # a tie of two humans
    assert objects[s["image"], s["y"]]["importance"] == tier_y
    assert objects[s["image"], s["y"]]["importance_source"] == "review r1 majority: alice@example.org,bob@example.org"
    assert (s["image"], s["w"]) in objects  # removed by one of two: not a majority
    assert (s["other"], gone) not in objects  # removed by the only reviewer
    new = [o for (image, _), o in objects.items() if image == s["image"] and o["source"].startswith("review")]
    assert len(new) == 1 and np.allclose(new[0]["bbox"], (10.5, 10.5, 30.5, 50.5))  # two matched boxes, median
    assert new[0]["importance"] == 2 and new[0]["object_id"] < ADDED_ID_BASE  # tiers 3 and 2 tie: the lower median
    kept = {(t["subject_id"], t["predicate"], t["object_id"], t["object_class"])
            for t in majority.read("triplets").to_pylist() if t["image_id"] == s["image"]}
    assert (stuff["subject_id"], stuff["predicate"], None, stuff["object_class"]) not in kept  # both rejected
    assert (relation["subject_id"], relation["predicate"], relation["object_id"], relation["object_class"]) in kept
    assert not any(t[0] == new[0]["object_id"] for t in kept)  # alice's new relation had one vote of two
    assert not any(t["image_id"] == s["other"] and gone in (t["subject_id"], t["object_id"])
                   for t in majority.read("triplets").to_pylist())

    patches = {p["image_id"]: p for p in majority.read("patches").to_pylist()}[s["image"]]
    grid = np.array(patches["importance"]).reshape(patches["grid_h"], patches["grid_w"])
    assert grid[1, 1] >= 2 and patches["source"].startswith("review r1")  # the added person's patch has its tier
    task_masks = {m["image_id"]: decode_mask(m["mask"]) for m in majority.read("task_masks").to_pylist()}
    before_masks = {m["image_id"]: decode_mask(m["mask"]) for m in labels.read("task_masks").to_pylist()}
    x0, y0, x1, y1 = (int(v) for v in gone_box)
    assert before_masks[s["other"]][y0:y1, x0:x1].any()  # the removed critical subject was in the task mask...
    assert task_masks[s["other"]].sum() < before_masks[s["other"]].sum()  # ...and is not now
    assert (task_masks[s["other"]] <= before_masks[s["other"]]).all()  # nothing else became critical there

    latest = LabelSet.open(merge(labelset, tmp_path / "latest", "latest").out)
    assert {(o["image_id"], o["object_id"]): o["importance"] for o in latest.read("objects").to_pylist()}[
        s["image"], s["x"]] == tier_b  # bob saved last
    only_alice = LabelSet.open(merge(labelset, tmp_path / "alice", "annotator=alice@example.org").out)
    alice_objects = {(o["image_id"], o["object_id"]): o for o in only_alice.read("objects").to_pylist()}
    assert alice_objects[s["image"], s["x"]]["importance"] == tier_a
    assert sum(o["source"].startswith("review") for o in alice_objects.values()) == 1
    with pytest.raises(SemcomError, match="not a new folder"):
        merge(labelset, tmp_path / "majority")

    data = BenchmarkData(majority.path)  # the benchmark reads the verified set as any label set
    assert data[0].image.shape == (128, 256, 3) and len(data) == len(labels.read("images"))

    model = {(o["image_id"], o["object_id"]): o["importance"] for o in labels.read("objects").to_pylist()}

    def tiers_of(name: str) -> dict[tuple[str, int], int]:
        return {(r["image_id"], r["object_id"]): r["importance"] for r in rows if r["annotator"] == name
                and r["status"] == "kept" and r["importance"] is not None}

    alice_tiers, bob_tiers = tiers_of("alice@example.org"), tiers_of("bob@example.org")
    table = agreement_report(labels)
    row = next(r for r in table.rows if r["round"] == 1 and r["rater_a"] == "labeller"
               and r["rater_b"] == "alice@example.org" and r["class_name"] == "all")
    pairs = [(model[key], tier) for key, tier in alice_tiers.items() if model.get(key) is not None]
    a, b = zip(*pairs, strict=True)
    assert row["n"] == len(pairs)
    assert row["kappa"] == pytest.approx(cohen_kappa_score(a, b, labels=[0, 1, 2, 3], weights="quadratic"))
    assert row["exact"] == pytest.approx(np.mean(np.array(a) == np.array(b)))
    between = next(r for r in table.rows if r["round"] == 1 and {r["rater_a"], r["rater_b"]} ==
                   {"alice@example.org", "bob@example.org"} and r["class_name"] == "all")
    both = [key for key in alice_tiers if key in bob_tiers and key in model]
    assert between["exact"] == pytest.approx(np.mean([alice_tiers[k] == bob_tiers[k] for k in both]))
    assert between["n"] == len(both) and between["exact"] < 1.0

    env = {**os.environ, "LABEL_STUDIO_URL": server.url, "LABEL_STUDIO_API_KEY": server.credentials.api_key,
           "MPLCONFIGDIR": str(tmp_path / "mpl")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "semcom_bench", "review", *args], capture_output=True,
                              text=True, timeout=300, env=env)

    done = cli("pull", str(labelset))
    assert done.returncode == 0 and "3 annotation(s)" in done.stderr, done.stderr
    done = cli("agreement", str(labelset), "--out", str(tmp_path / "agreement"))
    assert done.returncode == 0 and "labeller" in done.stdout, done.stderr
    assert {p.name for p in (tmp_path / "agreement").iterdir()} == {"agreement.csv", "agreement.md", "agreement.png"}
    done = cli("agreement", str(labelset), "--disputed", "1")
    assert done.returncode == 0 and s["image"] in done.stdout.split(), done.stderr  # two reviewers disagree there
    done = cli("merge", str(labelset), "--out", str(tmp_path / "cli-merged"), "--policy", "latest")
    assert done.returncode == 0 and LabelSet.open(tmp_path / "cli-merged").manifest["review"]["policy"] == "latest"
    done = cli("merge", str(labelset), "--out", str(tmp_path / "odd"), "--policy", "loudest")
    assert done.returncode != 0 and "unknown merge policy" in done.stderr and not (tmp_path / "odd").exists()


def test_bad_inputs_of_a_round_are_clear_and_lose_nothing(server: Any, labelset: Path) -> None:
    client = _client(server)
    alice = _user(client, "alice")
    with pytest.raises(SemcomError, match="no project"):
        pull(labelset, client)  # never pushed
    first = push(labelset, client, server.files_root)
    again = push(labelset, client, server.files_root)  # two pushes of one round
    assert again.added == [] and sorted(again.skipped) == sorted(first.added)
    labels = LabelSet.open(labelset)
    images = sorted(first.added)
    task_id, predicted = _prediction(client, first.project_id, images[0])
    stale = _box("obj-987654", (40, 40, 60, 80), "car", 1)  # names an object the label set does not have
    client.annotations.create(id=task_id, result=predicted + stale, completed_by=alice)
    second_id, second = _prediction(client, first.project_id, images[1])
    client.annotations.create(id=second_id, result=second, completed_by=alice)
    report = pull(labelset, client)
    assert any("obj-987654" in w and "no longer has" in w for w in report.warnings)
    rows = labels.read("reviews").to_pylist()
    stale_rows = [r for r in rows if r["status"] == "added"]
    assert len(stale_rows) == 1 and stale_rows[0]["class_name"] == "car"
    client.tasks.delete(id=second_id)  # deleted in Label Studio after a pull
    report = pull(labelset, client)
    assert any("no task any more" in w for w in report.warnings)
    assert sorted(map(repr, labels.read("reviews").to_pylist())) == sorted(map(repr, rows))  # kept, not doubled
    with pytest.raises(SemcomError, match="refused the API key"):
        connect(server.url, "0" * 40)
    assert labels.read("reviews").num_rows == len(rows)


@pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")) and not os.environ.get("CI"),
                    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
def test_a_pushed_task_opens_in_the_labelling_page_with_its_image_and_regions(server: Any, labelset: Path,
                                                                            tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    client = _client(server)
    report = push(labelset, client, server.files_root, sample=1)
    task_id, predicted = _prediction(client, report.project_id, report.added[0])
    regions = sum(r["type"] in ("rectanglelabels", "brushlabels") for r in predicted)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    try:
        driver.get(f"{server.url}/user/login/")
        driver.find_element(By.NAME, "email").send_keys(server.credentials.username)
        driver.find_element(By.NAME, "password").send_keys(server.credentials.password)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
        WebDriverWait(driver, 30).until(lambda d: "/user/login" not in d.current_url)
        driver.get(f"{server.url}/projects/{report.project_id}/data?task={task_id}")
        wait = WebDriverWait(driver, 90)
        # the regions panel is a virtual list: it renders the rows that fit, at least five of the prediction's here
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".lsf-outliner-item")) >= min(regions, 5))
        image = report.added[0]
        loaded = wait.until(lambda d: d.execute_script(
            "return [...document.images].filter(i => i.src.includes(arguments[0]) && i.naturalWidth > 0)"
            ".map(i => i.naturalWidth)", image))
        assert 256 in loaded  # the task's own image, through local files, decoded
        names = " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, ".lsf-outliner-item"))
        assert {r["value"]["rectanglelabels"][0] for r in predicted if r["type"] == "rectanglelabels"} & set(
            names.split())  # rows name the pre-annotated objects' classes
        driver.save_screenshot(str(tmp_path / "labelling-page.png"))
    finally:
        driver.quit()
    assert (tmp_path / "labelling-page.png").stat().st_size > 10_000
