"""The real Label Studio server: installed into its own environment by the code users run, started on 127.0.0.1,
reached through the SDK, refused clearly when down or given a wrong key, stopped cleanly."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from semcom_bench.errors import SemcomError
from semcom_bench.review.server import Credentials, LabelStudioServer, connect, ensure_venv, healthy

pytestmark = pytest.mark.slow


def test_credentials_never_show_in_their_repr() -> None:
    creds = Credentials("a@b.c", "hunter2-password", "0123456789abcdef")
    assert "hunter2" not in repr(creds) and "0123456789" not in repr(creds) and "a@b.c" in repr(creds)


def test_a_server_that_is_not_there_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SemcomError, match="does not answer"):
        connect(f"http://127.0.0.1:{port}", "token")
    with pytest.raises(SemcomError, match="no Label Studio server to talk to"):
        connect("", "")


def test_the_real_server_starts_answers_and_stops(tmp_path: Path) -> None:
    ensure_venv()  # the same install a user's first `review serve` makes (in the toolkit's own environment)
    server = LabelStudioServer(tmp_path / "ls")
    with server:
        assert healthy(server.url)
        client = connect(server.url, server.credentials.api_key)
        assert client.users.whoami().email == server.credentials.username
        assert list(client.projects.list()) == []
        with pytest.raises(SemcomError, match="refused the API key"):
            connect(server.url, "0" * 40)
        with pytest.raises(SemcomError, match="already has a server"):
            LabelStudioServer(tmp_path / "other", port=server.port).start()
    assert not healthy(server.url)  # stopped with the block
    log = (tmp_path / "ls" / "server.log").read_text()
    assert server.credentials.password not in log and server.credentials.api_key not in log
