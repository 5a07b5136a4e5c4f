"""Review agreement: the metric classes against hand-computed cases, the report and the disputed-image rule on small
label sets built by hand, the written files, and bad input."""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from semcom_bench.errors import SemcomError
from semcom_bench.review.agreement import (
    KrippendorffAlpha,
    TierAgreement,
    TripletAgreement,
    agreement_report,
    disputed_images,
    format_table,
    write_agreement,
)
from semcom_bench.schemas import LabelSet
from semcom_bench.schemas.tables import ADDED_ID_BASE

TIERS = [0, 1, 2, 3]
T0 = datetime(2025, 3, 2, 9, 0, tzinfo=UTC)

# ---------------------------------------------------------------------------------------------------- metrics


def test_quadratic_kappa_exact_within_one_and_confusion_match_hand_computation() -> None:
    metric = TierAgreement()
    metric.update([0, 1], [0, 2])
    metric.update((2, 3), (2, 3))  # accumulates across calls
    scores = metric.compute()
    # a = [0, 1, 2, 3], b = [0, 2, 2, 3]; weights (i - j)^2 (the 1/(K-1)^2 scale cancels).
    # Observed: one disagreement (1, 2), sum w O = 1.
    # Expected E_ij = row_i * col_j / n with rows [1, 1, 1, 1], cols [1, 0, 2, 1], n = 4:
    # sum_j col_j * sum_i (i - j)^2 / 4 = (1*14 + 0*6 + 2*6 + 1*14) / 4 = 40 / 4 = 10.
    # kappa = 1 - 1/10 = 0.9.
    assert scores.kappa == pytest.approx(0.9)
    assert scores.n == 4
    assert scores.exact == pytest.approx(3 / 4)
    assert scores.within_one == pytest.approx(1.0)
    assert scores.confusion.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1]]


def test_kappa_on_random_tiers_equals_sklearn_and_within_one_counts_off_by_two() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 4, 50).tolist(), rng.integers(0, 4, 50).tolist()
    metric = TierAgreement()
    metric.update(a, b)
    scores = metric.compute()
    assert scores.kappa == pytest.approx(cohen_kappa_score(a, b, labels=TIERS, weights="quadratic"))
    assert scores.within_one == pytest.approx(np.mean(np.abs(np.array(a) - np.array(b)) <= 1))
    assert scores.confusion.tolist() == confusion_matrix(a, b, labels=TIERS).tolist()


def test_kappa_is_one_on_identical_constant_tiers_and_nan_on_nothing() -> None:
    same = TierAgreement()
    same.update([2, 2, 2], [2, 2, 2])
    assert same.compute().kappa == 1.0  # sklearn alone gives nan here
    empty = TierAgreement().compute()
    assert empty.n == 0 and math.isnan(empty.kappa) and math.isnan(empty.exact) and math.isnan(empty.within_one)


def test_krippendorff_ordinal_alpha_matches_hand_computed_coincidence_matrices() -> None:
    # Two raters, items u1..u4: r1 = (0, 1, 2, -), r2 = (0, 2, 2, 3); u4 has one value and is not pairable.
    # Coincidences (each item m_u = 2, so each ordered pair counts 1/(m_u - 1) = 1):
    # o_00 = 2, o_12 = o_21 = 1, o_22 = 2; marginals n_0 = 2, n_1 = 1, n_2 = 3, n_3 = 0, n = 6.
    # Ordinal delta^2_ck = (sum_{g=c..k} n_g - (n_c + n_k)/2)^2:
    # d01 = (3 - 1.5)^2 = 2.25, d02 = (6 - 2.5)^2 = 12.25, d12 = (4 - 2)^2 = 4.
    # D_o = (o_12 + o_21) * d12 / n = 8 / 6.
    # D_e = 2 * (n0 n1 d01 + n0 n2 d02 + n1 n2 d12) / (n (n - 1)) = 2 * (4.5 + 73.5 + 12) / 30 = 6.
    # alpha = 1 - (8/6) / 6 = 7/9.
    two = KrippendorffAlpha()
    for item, tier in (("u1", 0), ("u2", 1), ("u3", 2)):
        two.update(item, "r1", tier)
    for item, tier in (("u1", 0), ("u2", 2), ("u3", 2), ("u4", 3)):
        two.update(item, "r2", tier)
    assert two.compute() == pytest.approx(7 / 9)
    # Three raters on v1 = (0, 0, 1), two on v2 = (1, 1). v1 has m_u = 3: its ordered pairs (0,0) x2, (0,1) x2,
    # (1,0) x2 weigh 1/2, so o_00 = 1, o_01 = o_10 = 1; v2 adds o_11 = 2. n_0 = 2, n_1 = 3, n = 5.
    # d01 = (5 - 2.5)^2 = 6.25; D_o = 2 * 6.25 / 5 = 2.5; D_e = 2 * 2 * 3 * 6.25 / 20 = 3.75; alpha = 1 - 2.5/3.75.
    three = KrippendorffAlpha()
    for rater, tier in (("r1", 0), ("r2", 0), ("r3", 1)):
        three.update("v1", rater, tier)
    three.update("v2", "r1", 1)
    three.update("v2", "r3", 1)
    assert three.compute() == pytest.approx(1 / 3)


def test_krippendorff_alpha_matches_the_package_on_random_data_with_missing_values() -> None:
    rng = np.random.default_rng(11)
    data = rng.integers(0, 4, (4, 40)).astype(float)
    data[:, ::3] = np.clip(data[0, ::3] + rng.integers(-1, 2, (4, 14)), 0, 3)  # some agreement to measure
    data[rng.random(data.shape) < 0.3] = np.nan
    metric = KrippendorffAlpha()
    for (rater, item), value in np.ndenumerate(data):
        if not np.isnan(value):
            metric.update(f"item{item}", f"rater{rater}", int(value))
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal", value_domain=TIERS)
    assert metric.compute() == pytest.approx(expected)
    assert not math.isclose(expected, 0.0, abs_tol=1e-3)


def test_krippendorff_alpha_edge_cases() -> None:
    lonely = KrippendorffAlpha()
    lonely.update("u1", "r1", 2)
    lonely.update("u2", "r2", 1)  # no item with two values
    assert math.isnan(lonely.compute())
    assert math.isnan(KrippendorffAlpha().compute())
    constant = KrippendorffAlpha()
    for item in ("u1", "u2"):
        for rater in ("r1", "r2"):
            constant.update(item, rater, 3)
    assert constant.compute() == 1.0
    with pytest.raises(ValueError, match="already rated"):
        constant.update("u1", "r1", 3)


def test_triplet_precision_recall_f1_are_micro_averaged() -> None:
    metric = TripletAgreement()
    metric.update({"a", "b", "c"}, {"a", "b", "d"})
    metric.update(set(), {"e"})
    scores = metric.compute()
    assert (scores.tp, scores.fp, scores.fn) == (2, 1, 2)
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(2 / 4)
    assert scores.f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))  # = harmonic mean of 2/3 and 1/2 = 4/7
    empty = TripletAgreement().compute()
    assert math.isnan(empty.precision) and math.isnan(empty.recall) and math.isnan(empty.f1)


@pytest.mark.parametrize(("a", "b", "match"), [
    ([0, 4], [0, 1], "4 is not a tier"),
    ([0, 1], [-1, 1], "-1 is not a tier"),
    ([1.5], [1], "1.5 is not a tier"),
    ([None], [1], "None is not a tier"),
    ([0, 1], [0], "differ in length"),
])
def test_tier_agreement_rejects_bad_tiers(a: list[Any], b: list[Any], match: str) -> None:
    metric = TierAgreement()
    with pytest.raises(ValueError, match=match):
        metric.update(a, b)
    assert metric.compute().n == 0  # nothing half-folded in


def test_alpha_rejects_out_of_range_tiers() -> None:
    with pytest.raises(ValueError, match="7 is not a tier"):
        KrippendorffAlpha().update("u1", "r1", 7)


# ---------------------------------------------------------------------------------------------------- label sets

# image -> the labeller's objects (object_id, class, tier) and proposed triplets
OBJECTS: dict[str, list[tuple[int, str, int]]] = {
    "img1": [(1, "car", 3), (2, "person", 2), (3, "person", 1)],
    "img2": [(10, "car", 2), (11, "bicycle", 0)],
    "img3": [(20, "person", 3)],
    "img4": [(30, "car", 1)],
    "img5": [(40, "person", 2)],
    "img6": [(50, "car", 3)],
    "img7": [(60, "person", 2)],
    "img8": [(70, "person", 1)],
    "img9": [(80, "car", 2)],
}
TRIPLETS: dict[str, list[tuple[int, str, int | None, str]]] = {
    "img1": [(1, "driving on", None, "road"), (2, "walking on", None, "sidewalk"), (3, "crossing", None, "road")],
    "img2": [(10, "driving on", None, "road")],
    "img3": [(20, "walking on", None, "sidewalk")],
    "img4": [(30, "parked on", None, "road")],
    "img5": [(40, "walking on", None, "sidewalk")],
    "img7": [(60, "walking on", None, "sidewalk")],
}
CAR_BOX = [50.0, 50.0, 70.0, 60.0]


def _box(oid: int) -> list[float]:
    return [float(oid), 0.0, float(oid) + 10.0, 10.0]


def review(round_: int, annotator: str, image: str, aid: int, *, tiers: dict[int, int] | None = None,
           classes: dict[int, str] | None = None, removed: frozenset[int] = frozenset(),
           added: tuple[tuple[str, list[float], int], ...] = (), reject: tuple[Any, ...] = (),
           new: tuple[tuple[int, str, int | None, str], ...] = (), flags: tuple[str, ...] = (),
           at: datetime = T0) -> list[dict[str, Any]]:
    """The reviews rows of one annotation: proposed objects kept (labeller's tier unless ``tiers`` says otherwise)
    or ``removed``, ``added`` objects (class, box, tier) with ids ADDED_ID_BASE + aid * 1000 + k, proposed triplets
    accepted unless in ``reject``, ``new`` triplets (a negative subject id -k-1 means the k-th added object)."""
    common = {"round": round_, "annotator": annotator, "image_id": image, "annotation_id": aid, "mask": None,
              "triplet_decisions": [], "flags": [], "lead_time_s": 30.0, "updated_at": at}
    rows = []
    for oid, cls, tier in OBJECTS[image]:
        if oid in removed:
            rows.append(common | {"object_id": oid, "status": "removed", "class_name": None, "bbox": None,
                                  "importance": None})
        else:
            rows.append(common | {"object_id": oid, "status": "kept", "class_name": (classes or {}).get(oid, cls),
                                  "bbox": _box(oid), "importance": (tiers or {}).get(oid, tier)})
    for k, (cls, box, tier) in enumerate(added):
        rows.append(common | {"object_id": ADDED_ID_BASE + aid * 1000 + k, "status": "added", "class_name": cls,
                              "bbox": box, "importance": tier})

    def decision(key: tuple[int, str, int | None, str], verdict: str) -> dict[str, Any]:
        subject = key[0] if key[0] >= 0 else ADDED_ID_BASE + aid * 1000 + (-key[0] - 1)
        return {"subject_id": subject, "predicate": key[1], "object_id": key[2], "object_class": key[3],
                "decision": verdict}

    decisions = [decision(t, "reject" if t in reject else "accept") for t in TRIPLETS.get(image, [])]
    decisions += [decision(t, "new") for t in new]
    rows.append(common | {"object_id": None, "status": None, "class_name": None, "bbox": None, "importance": None,
                          "triplet_decisions": decisions, "flags": list(flags)})
    return rows


def make_labelset(path: Path, reviews: list[dict[str, Any]] | None) -> LabelSet:
    labels = LabelSet.create(path, {"dataset": "synthcity", "split": "val",
                                    "config": {"task": "pedestrian-collision-warning", "labeler": "heuristic"}})
    labels.write("objects", [
        {"image_id": image, "object_id": oid, "class_name": cls, "bbox": _box(oid), "score": 0.5, "mask": None,
         "source": "yolo", "importance": tier, "importance_source": "heuristic", "rationale": None}
        for image, objects in OBJECTS.items() for oid, cls, tier in objects])
    labels.write("triplets", [
        {"image_id": image, "subject_id": s, "predicate": p, "object_id": o, "object_class": c, "score": 0.5,
         "source": "relations:heuristic", "task": None, "task_critical": None}
        for image, triplets in TRIPLETS.items() for s, p, o, c in triplets])
    if reviews is not None:
        labels.write("reviews", reviews)
    return labels


DRIVE_NEW = (-1, "driving on", None, "road")  # a new triplet on the annotation's first added object


def round_one_and_two() -> list[dict[str, Any]]:
    """alice and bob disagree on img1 (a tier, a rejected triplet, an added car with a new triplet) and img2 (a
    tier); both drew the same car on img5; alice alone saw img3 (twice: the later save, unchanged, counts) and
    flagged img6; bob alone removed the car of img4. Round 2: bob reviews img1 again, as before."""
    bob_img1 = {"reject": ((3, "crossing", None, "road"),), "added": (("car", CAR_BOX, 2),), "new": (DRIVE_NEW,)}
    return [
        *review(1, "alice", "img1", 11, tiers={2: 3}),
        *review(1, "bob", "img1", 12, **bob_img1),
        *review(1, "alice", "img2", 21),
        *review(1, "bob", "img2", 22, tiers={11: 1}),
        *review(1, "alice", "img3", 39, tiers={20: 1}, at=T0),  # superseded although its id is higher
        *review(1, "alice", "img3", 32, at=T0 + timedelta(hours=1)),
        *review(1, "bob", "img4", 42, removed=frozenset({30}), reject=((30, "parked on", None, "road"),)),
        *review(1, "alice", "img5", 51, added=(("car", CAR_BOX, 2),), new=(DRIVE_NEW,)),
        *review(1, "bob", "img5", 52, added=(("car", [51.0, 50.0, 71.0, 61.0], 2),), new=(DRIVE_NEW,)),
        *review(1, "alice", "img6", 61, flags=("objects missing",)),
        *review(2, "bob", "img1", 112, **bob_img1),
    ]


def _row(report: Any, round_: int, a: str, b: str, cls: str = "all") -> dict[str, Any]:
    found = [r for r in report.rows if (r["round"], r["rater_a"], r["rater_b"], r["class_name"]) == (round_, a, b, cls)]
    assert len(found) == 1, (round_, a, b, cls)
    return found[0]


def _kappa(a: list[int], b: list[int]) -> float:
    return float(cohen_kappa_score(a, b, labels=TIERS, weights="quadratic"))


def _alpha(a: list[int], b: list[int]) -> float:
    return float(krippendorff.alpha(reliability_data=[a, b], level_of_measurement="ordinal", value_domain=TIERS))


# ---------------------------------------------------------------------------------------------------- report


def test_report_rows_match_independently_computed_values(tmp_path: Path) -> None:
    report = agreement_report(make_labelset(tmp_path / "ls", round_one_and_two()))
    pairs = {(r["round"], r["rater_a"], r["rater_b"]) for r in report.rows}
    assert pairs == {(1, "labeller", "alice"), (1, "labeller", "bob"), (1, "alice", "bob"), (2, "labeller", "bob")}

    # labeller vs alice: objects 1, 2, 3 (img1), 10, 11 (img2), 20 (img3, later save), 40 (img5), 50 (img6)
    lab, alice = [3, 2, 1, 2, 0, 3, 2, 3], [3, 3, 1, 2, 0, 3, 2, 3]
    row = _row(report, 1, "labeller", "alice")
    assert (row["images"], row["n"], row["removed"], row["added"]) == (5, 8, 0, 1)
    assert row["kappa"] == pytest.approx(_kappa(lab, alice))
    assert row["alpha"] == pytest.approx(_alpha(lab, alice))
    assert row["exact"] == pytest.approx(7 / 8) and row["within_one"] == pytest.approx(1.0)
    # 6 proposed triplets on her images, all accepted, plus her new one on img5
    assert row["triplet_precision"] == pytest.approx(1.0) and row["triplet_recall"] == pytest.approx(6 / 7)

    # labeller vs bob: objects 1, 2, 3, 10, 11, 40 (30 removed: no tier item)
    lab, bob = [3, 2, 1, 2, 0, 2], [3, 2, 1, 2, 1, 2]
    row = _row(report, 1, "labeller", "bob")
    assert (row["images"], row["n"], row["removed"], row["added"]) == (4, 6, 1, 2)
    assert row["kappa"] == pytest.approx(_kappa(lab, bob))
    assert row["alpha"] == pytest.approx(_alpha(lab, bob))
    assert report.confusion[1, "labeller", "bob", "all"].tolist() == confusion_matrix(lab, bob, labels=TIERS).tolist()
    # proposed on img1, img2, img4, img5: 6; bob keeps 4, rejects 2 (crossing, parked on), adds 2 new
    tp, fp, fn = 4, 2, 2
    assert row["triplet_precision"] == pytest.approx(tp / (tp + fp))
    assert row["triplet_recall"] == pytest.approx(tp / (tp + fn))
    assert row["triplet_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))

    # alice vs bob on img1, img2, img5; their cars on img5 match by IoU, so the new triplets there agree
    a, b = [3, 3, 1, 2, 0, 2], [3, 2, 1, 2, 1, 2]
    row = _row(report, 1, "alice", "bob")
    assert (row["images"], row["n"], row["removed"], row["added"]) == (3, 6, None, None)
    assert row["kappa"] == pytest.approx(_kappa(a, b)) and row["alpha"] == pytest.approx(_alpha(a, b))
    assert row["exact"] == pytest.approx(4 / 6)
    # alice's 5 triplets vs bob's 5: shared 4 (img1: 2, img2: 1, img5: 2), alice-only crossing, bob-only img1 new
    assert row["triplet_precision"] == pytest.approx(5 / 6) and row["triplet_recall"] == pytest.approx(5 / 6)

    # round 2: bob alone on img1, his tiers the labeller's: kappa 1.0; the round-1 annotations do not count
    row = _row(report, 2, "labeller", "bob")
    assert (row["images"], row["n"], row["kappa"], row["removed"], row["added"]) == (1, 3, 1.0, 0, 1)


def test_report_per_class_rows_use_the_objects_class_and_the_added_objects_class(tmp_path: Path) -> None:
    report = agreement_report(make_labelset(tmp_path / "ls", round_one_and_two()))
    person = _row(report, 1, "labeller", "alice", "person")  # objects 2, 3, 20, 40
    assert person["n"] == 4
    assert person["kappa"] == pytest.approx(_kappa([2, 1, 3, 2], [3, 1, 3, 2]))
    # car, labeller vs bob: labeller's car triplets (subjects 1, 10, 30) against bob's (1, 10 and the new ones on
    # his added cars of img1 and img5): tp 2, fp 1 (30 parked on), fn 2
    car = _row(report, 1, "labeller", "bob", "car")
    assert car["triplet_precision"] == pytest.approx(2 / 3) and car["triplet_recall"] == pytest.approx(2 / 4)
    assert (car["n"], car["kappa"], car["removed"], car["added"], car["images"]) == (2, 1.0, 1, 2, 4)
    bicycle = _row(report, 1, "labeller", "bob", "bicycle")
    assert bicycle["n"] == 1 and bicycle["exact"] == 0.0 and bicycle["within_one"] == 1.0
    assert math.isnan(bicycle["triplet_precision"])  # no bicycle triplets on either side
    classes = [r["class_name"] for r in report.rows if (r["round"], r["rater_a"], r["rater_b"]) == (1, "alice", "bob")]
    assert classes == ["all", "bicycle", "car", "person"]


# ---------------------------------------------------------------------------------------------------- disputes


def test_disputed_images_follow_the_rule(tmp_path: Path) -> None:
    rows = round_one_and_two() + [
        *review(1, "alice", "img7", 71),
        *review(1, "bob", "img7", 72, reject=((60, "walking on", None, "sidewalk"),)),  # a triplet decision only
        *review(1, "alice", "img8", 81, added=(("person", [0.0, 0.0, 10.0, 10.0], 1),)),
        *review(1, "bob", "img8", 82, added=(("person", [20.0, 0.0, 30.0, 10.0], 1),)),  # IoU 0: two objects
        *review(1, "alice", "img9", 91, classes={80: "truck"}),  # alone, a class change only
    ]
    labels = make_labelset(tmp_path / "ls", rows)
    # img1: tier, triplets and an added car; img2: a tier; img4: alone, removed; img6: flagged; img7: accept vs
    # reject; img8: added boxes that do not overlap; img9: alone, class changed. Not: img3 (alone, latest save
    # unchanged), img5 (same added car, same triplets).
    assert disputed_images(labels, 1) == ["img1", "img2", "img4", "img6", "img7", "img8", "img9"]
    assert disputed_images(labels, 2) == ["img1"]
    with pytest.raises(SemcomError, match="round 3") as caught:
        disputed_images(labels, 3)
    assert "1, 2" in (caught.value.hint or "")


def test_disputed_images_ignore_agreeing_reviewers_and_box_nudges(tmp_path: Path) -> None:
    labels = make_labelset(tmp_path / "ls", [
        *review(1, "alice", "img2", 21),
        *review(1, "bob", "img2", 22),
        *review(1, "alice", "img5", 51, added=(("car", CAR_BOX, 2),), new=(DRIVE_NEW,)),
        *review(1, "bob", "img5", 52, added=(("car", [52.0, 51.0, 72.0, 61.0], 2),), new=(DRIVE_NEW,)),
    ])
    assert disputed_images(labels, 1) == []
    nudged = make_labelset(tmp_path / "other", [
        *review(1, "alice", "img5", 51, added=(("car", CAR_BOX, 2),), new=(DRIVE_NEW,)),
        *review(1, "bob", "img5", 52, added=(("car", CAR_BOX, 3),), new=(DRIVE_NEW,)),  # same car, another tier
    ])
    assert disputed_images(nudged, 1) == ["img5"]


# ---------------------------------------------------------------------------------------------------- output


def test_write_agreement_writes_csv_markdown_and_a_real_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    report = agreement_report(make_labelset(tmp_path / "ls", round_one_and_two()))
    paths = write_agreement(report, tmp_path / "out")
    assert set(paths) == {"csv", "md", "png"}
    assert [p.name for p in paths.values()] == ["agreement.csv", "agreement.md", "agreement.png"]

    with paths["csv"].open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(report.rows)
    first = _row(report, 1, "labeller", "alice")
    written = next(r for r in rows if (r["round"], r["rater_a"], r["rater_b"], r["class_name"])
                   == ("1", "labeller", "alice", "all"))
    assert float(written["kappa"]) == pytest.approx(first["kappa"]) and written["n"] == "8"
    assert next(r for r in rows if r["rater_a"] == "alice")["removed"] == ""  # None on human pairs

    markdown = paths["md"].read_text()
    all_part, class_part = markdown.split("## Per class")
    assert "| 1 | alice | bob | all |" in all_part and "person" not in all_part
    assert "| 1 | labeller | bob | car |" in class_part

    with Image.open(paths["png"]) as image:
        assert image.format == "PNG"
        width, height = image.size
        # trend panel plus two heatmaps (round 2 has one labeller pair: bob) -> two panels side by side
        assert width > height > 100
        assert len(set(np.asarray(image.convert("L")).ravel().tolist())) > 10  # drawn, not blank


def test_format_table_prints_only_the_pooled_rows(tmp_path: Path) -> None:
    report = agreement_report(make_labelset(tmp_path / "ls", round_one_and_two()))
    lines = format_table(report).splitlines()
    assert lines[0].split()[:4] == ["round", "rater", "a", "rater"]
    assert len(lines) == 1 + sum(r["class_name"] == "all" for r in report.rows) == 5
    assert not any("person" in line or "car" in line for line in lines)
    alice_bob = next(line for line in lines if "alice" in line and "bob" in line)
    assert f"{_row(report, 1, 'alice', 'bob')['kappa']:.3f}" in alice_bob


# ---------------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("reviews", [None, []], ids=["no table", "empty table"])
def test_missing_or_empty_reviews_say_to_pull_first(tmp_path: Path, reviews: list[Any] | None) -> None:
    labels = make_labelset(tmp_path / "ls", reviews)
    for call in (lambda: agreement_report(labels), lambda: disputed_images(labels, 1)):
        with pytest.raises(SemcomError, match="reviews") as caught:
            call()
        assert "semcom-bench review pull" in (caught.value.hint or "")
