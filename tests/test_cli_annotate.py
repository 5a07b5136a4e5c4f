"""`semcom-bench annotate` as a user runs it (subprocesses) against the local OpenAI-compatible server: exit codes,
the retry command, --timeout, --checkpoint-every and what the logs show."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from semcom_bench.schemas import LabelSet
from semcom_bench.testing.openai_server import LocalOpenAIServer, answer, missing_object_answer, stall


def command(root: Path, out: Path, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "semcom_bench", *[e for e in extra if e.startswith("-v")], "annotate", "synthcity",
            "--root", str(root), "--split", "train", "--out", str(out), "--labeler", "mllm", "--relations",
            "geometric", "--base-url", url, "--model", "test-model", "--limit", "3", "--concurrency", "1",
            *[e for e in extra if not e.startswith("-v")]]


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


def test_failed_images_exit_3_with_the_command_that_retries_them(synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels"
    with LocalOpenAIServer(default=answer(missing_object_answer)) as server:  # no answer is ever complete
        done = run(command(synth_root, out, server.base_url))
    assert done.returncode == 3, done.stderr
    assert "3 image(s) failed" in done.stderr and "the same command retries them" in done.stderr
    assert f"semcom-bench annotate synthcity --root {synth_root}" in " ".join(done.stderr.split())
    with LocalOpenAIServer() as server:
        again = run(command(synth_root, out, server.base_url))
    assert again.returncode == 0, again.stderr
    assert all(r["importance"] is not None for r in LabelSet.open(out).read("objects").to_pylist())


def test_an_unusable_server_exits_2_and_writes_nothing(synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels"
    with LocalOpenAIServer(models=["another-model"]) as server:
        done = run(command(synth_root, out, server.base_url))
        assert server.questions == []
    assert done.returncode == 2 and "\nerror: the MLLM server" in "\n" + done.stderr
    assert "does not serve model 'test-model'" in done.stderr and "--model another-model" in done.stderr
    assert not out.exists()


def test_timeout_option_reaches_the_client(synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels"
    with LocalOpenAIServer() as server:
        server.script(stall(60))  # the first question hangs for a minute; the client gives up after --timeout 1
        done = run(command(synth_root, out, server.base_url, "--timeout", "1"))
    assert done.returncode == 0, done.stderr  # the client's retry got an answer: nothing waited for the hang
    assert LabelSet.open(out).manifest["config"]["mllm"]["timeout_s"] == 1.0
    calls = LabelSet.open(out).read("llm_calls").to_pylist()
    assert [c["status"] for c in calls].count("error") == 1
    assert "no response (timeout or connection error)" in next(c["error"] for c in calls if c["status"] == "error")


def test_checkpoint_every_bounds_what_a_kill_loses(synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels"
    with LocalOpenAIServer() as server:
        server.script(answer(), answer())
        server.default = stall(120)  # the third image hangs: the run is killed while waiting for it
        proc = subprocess.Popen(command(synth_root, out, server.base_url, "--checkpoint-every", "1"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while len(server.questions) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # let the second image's checkpoint reach the disk
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert len(list((out / "parts" / "images").glob("*.parquet"))) == 2  # one part per finished image


def test_request_logs_only_with_two_v_and_redacted(synth_root: Path, tmp_path: Path) -> None:
    with LocalOpenAIServer() as server:
        port = server.base_url.split(":")[2].split("/")[0]
        url = f"http://alice:hunter2secret@127.0.0.1:{port}/v1"  # basic auth: this server refuses it, images fail
        quiet = run(command(synth_root, tmp_path / "a", url))
        loud = run(command(synth_root, tmp_path / "b", url, "-v", "-v"))
    assert quiet.returncode == loud.returncode == 3
    assert "HTTP Request" not in quiet.stderr
    assert "HTTP Request" in loud.stderr and "127.0.0.1" in loud.stderr
    for text in (quiet.stdout, quiet.stderr, loud.stdout, loud.stderr):
        assert "hunter2secret" not in text
