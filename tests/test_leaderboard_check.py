"""`leaderboard new` scaffolds a submission that passes every check; broken ones are refused with the right message.

Each case runs the real checker: the transmitter and the receiver in processes of their own, synthcity images, the
harness's LDPC side-information rule.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from semcom_bench.leaderboard.check import CheckReport, check_submission
from semcom_bench.leaderboard.scaffold import scaffold

pytestmark = pytest.mark.slow
SMALL = [[64, 128]]  # the checks' mechanics at the smallest size synthcity renders quickly


def _submission(tmp_path: Path, edit: Callable[[Path], None] | None = None) -> Path:
    folder = scaffold("test-codec", tmp_path / "sub")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["image_sizes"] = SMALL
    manifest["operating_points"] = [{"rate": 0.0625, "cbr": 0.0665}]  # the 16-bit header at -3 dB on 64 x 128
    (folder / "manifest.json").write_text(json.dumps(manifest))
    if edit is not None:
        edit(folder)
    return folder


def _codec(old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        text = (folder / "codec.py").read_text()
        assert old in text, old
        (folder / "codec.py").write_text(text.replace(old, new))
    return edit


def _manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        data = json.loads((folder / "manifest.json").read_text())
        change(data)
        (folder / "manifest.json").write_text(json.dumps(data))
    return edit


def _failed(report: CheckReport) -> list[str]:
    return [f"{f.check}: {f.message}" for f in report.findings if not f.ok]


def test_the_scaffold_passes_every_check(tmp_path: Path) -> None:
    report = check_submission(_submission(tmp_path))
    assert report.passed, _failed(report)
    checks = {f.check for f in report.findings}
    assert checks >= {"manifest", "weights", "dependencies", "transmitter", "cbr", "receiver"}
    cbr = next(f.message for f in report.findings if f.check == "cbr")
    assert "CBR at most 0.06" in cbr


def test_the_cli_scaffolds_and_checks(tmp_path: Path) -> None:
    new = subprocess.run([sys.executable, "-m", "semcom_bench", "leaderboard", "new", "cli-codec", "--out",
                          str(tmp_path / "cli")], capture_output=True, text=True, timeout=120)
    assert new.returncode == 0, new.stderr
    again = subprocess.run([sys.executable, "-m", "semcom_bench", "leaderboard", "new", "cli-codec", "--out",
                            str(tmp_path / "cli")], capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "not empty" in again.stdout + again.stderr
    bad = _submission(tmp_path, _manifest(lambda d: d.pop("license")))
    done = subprocess.run([sys.executable, "-m", "semcom_bench", "leaderboard", "check", str(bad)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "FAIL" in done.stdout and "license" in done.stdout


BROKEN = {
    "channel uses over the declared CBR": (
        _manifest(lambda d: d["operating_points"][0].update(cbr=0.063)), "cbr", "over the 0.063 the manifest claims"),
    "power too high": (
        _codec("symbols = real_to_complex(reals / scale.float()[:, None])",
               "symbols = 1.5 * real_to_complex(reals / scale.float()[:, None])"),
        "transmitter", "mean symbol power is 2.25"),
    "a receiver that reads what the transmitter saw": (
        _codec("        return Transmission(symbols, lengths, side,",
               "        _SEEN['images'] = images\n        return Transmission(symbols, lengths, side,"),
        "receiver", "the receiver gets only the received symbols"),
    "non-deterministic output": (
        _codec("coeffs = self.basis[: 2 * k] @ F.unfold(images - 0.5, PATCH, stride=PATCH)",
               "coeffs = self.basis[: 2 * k] @ F.unfold(images - 0.5 + 0.01 * torch.rand_like(images), PATCH, "
               "stride=PATCH)"),
        "transmitter", "two calls on the same images gave different symbols"),
    "NaN output": (
        _codec("out.append(image.clamp(0, 1))", "out.append(image * float('nan'))"), "receiver", "NaN or inf"),
    "a crash on import": (
        _codec("PATCH = 4\n", "PATCH = 4\nraise RuntimeError('weights server unreachable')\n"),
        "import", "weights server unreachable"),
    "a wrong weights hash": (
        _manifest(lambda d: d["weights"][0].update(sha256="ab" * 32)), "weights", "the manifest says abab"),
    "a manifest with a missing field": (
        _manifest(lambda d: d.pop("entry_point")), "manifest", "'entry_point' is a required property"),
    "a size it cannot handle": (
        _manifest(lambda d: d.update(image_sizes=[[64, 128], [66, 130]])), "transmitter",
        "66x130 images: not handled (ValueError: image sides must be multiples of 4"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_submissions_are_refused_with_what_to_fix(tmp_path: Path, case: str) -> None:
    edit, check, words = BROKEN[case]
    if case == "a receiver that reads what the transmitter saw":
        def edit(folder: Path, first: Callable[[Path], None] = edit) -> None:
            first(folder)
            _codec("        h, w = transmission.side[\"image_size\"]\n",
                   "        return _SEEN['images']\n")(folder)  # in its own process nothing was seen
            _codec("HEADER_BITS = 16", "HEADER_BITS = 16\n_SEEN: dict = {}")(folder)
    report = check_submission(_submission(tmp_path, edit))
    assert not report.passed
    failed = [f for f in report.findings if not f.ok]
    assert any(f.check == check and words in f.message for f in failed), _failed(report)


def test_a_submission_past_the_time_limit_is_stopped(tmp_path: Path) -> None:
    folder = _submission(tmp_path, _codec('    """The leaderboard\'s entry point (manifest.json: "codec:build")."""\n',
                                          '    import time\n    time.sleep(600)\n'))
    report = check_submission(folder, timeout_s=20)
    assert any(f.check == "transmitter" and "ran past the 20 s limit" in f.message for f in report.findings), \
        _failed(report)
