"""The real Label Studio server, in a virtual environment of its own, started on 127.0.0.1 and stopped cleanly.

Label Studio pins ``openai<2`` and ``pyarrow<25``, so it cannot share the toolkit's environment: :func:`ensure_venv`
installs it into ``<toolkit venv>/label-studio`` on first use (about 75 s, 1 GB). :class:`LabelStudioServer` starts
it headless on loopback with a fresh or reused data folder, the credentials from the environment and a fixed API
token, waits for ``/health`` (30-40 s on a new data folder: database migrations) and stops it on exit.

Credentials (never printed, never written to label sets): ``LABEL_STUDIO_USERNAME`` (an e-mail address),
``LABEL_STUDIO_PASSWORD`` and ``LABEL_STUDIO_API_KEY`` (the token clients send); when unset, :func:`credentials`
makes random ones for this server only. Connecting to a server that is already running takes ``LABEL_STUDIO_URL``
and ``LABEL_STUDIO_API_KEY`` (:func:`connect`).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from semcom_bench.errors import SemcomError

LABEL_STUDIO_REQUIREMENT = "label-studio>=1.23,<1.24"
SERVER_PINS = ("sentry-sdk<3",)  # sentry-sdk 3 dropped an option Label Studio 1.23 passes at start-up
STARTUP_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Credentials:
    """The admin account and API token the server is started with."""

    username: str
    password: str
    api_key: str

    def __repr__(self) -> str:  # keeps secrets out of logs and tracebacks
        return f"Credentials(username={self.username!r}, password=***, api_key=***)"


def credentials() -> Credentials:
    """From ``LABEL_STUDIO_USERNAME``, ``LABEL_STUDIO_PASSWORD`` and ``LABEL_STUDIO_API_KEY``, random where unset."""
    return Credentials(os.environ.get("LABEL_STUDIO_USERNAME", "reviewer@semcom-bench.local"),
                       os.environ.get("LABEL_STUDIO_PASSWORD") or secrets.token_urlsafe(16),
                       os.environ.get("LABEL_STUDIO_API_KEY") or secrets.token_hex(20))


def default_venv() -> Path:
    """``<the toolkit's environment>/label-studio``: inside the project's own ``.venv`` when installed there."""
    return Path(sys.prefix) / "label-studio"


def ensure_venv(venv: Path | None = None, progress: Any = None) -> Path:
    """The ``label-studio`` executable of ``venv`` (default :func:`default_venv`), installed there first if absent."""
    venv = Path(venv) if venv is not None else default_venv()
    exe = venv / "bin" / "label-studio"
    if exe.is_file():
        return exe
    if progress is not None:
        progress(f"installing Label Studio into {venv} (first use, about a minute)")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, text=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", LABEL_STUDIO_REQUIREMENT, *SERVER_PINS],
                       check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as err:
        tail = (err.stderr or err.stdout or "").strip().splitlines()[-1:] or ["(no output)"]
        raise SemcomError(f"installing {LABEL_STUDIO_REQUIREMENT} into {venv} failed: {tail[0]}",
                          hint="check that the package registry is reachable, or delete the folder and retry") from None
    return exe


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(url: str, timeout_s: float = 2.0) -> bool:
    """Whether ``url/health`` answers 200."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout_s) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class LabelStudioServer:
    """``with LabelStudioServer(data_dir) as server: server.url, server.credentials``: the real server on
    127.0.0.1, started, healthy, and stopped (terminated, then killed after 15 s) when the block ends."""

    def __init__(self, data_dir: str | Path, port: int | None = None, venv: Path | None = None,
                 creds: Credentials | None = None, files_root: Path | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.venv = venv
        self.credentials = creds or credentials()
        self.files_root = Path(files_root).resolve() if files_root else self.data_dir
        self._process: subprocess.Popen[bytes] | None = None

    def _environment(self) -> dict[str, str]:
        home = self.data_dir / "home"
        home.mkdir(parents=True, exist_ok=True)
        return {**os.environ, "HOME": str(home), "DJANGO_DB": "sqlite", "LATEST_VERSION_CHECK": "false",
                "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir),
                "LABEL_STUDIO_USERNAME": self.credentials.username,
                "LABEL_STUDIO_PASSWORD": self.credentials.password,
                "LABEL_STUDIO_USER_TOKEN": self.credentials.api_key,
                "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
                "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
                "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(self.files_root)}

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> LabelStudioServer:
        """Start the server and wait until it answers ``/health`` on its port."""
        exe = ensure_venv(self.venv)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if healthy(self.url, 0.5):
            raise SemcomError(f"port {self.port} already has a server", hint="pass another --port, or connect to it "
                              "with --url and LABEL_STUDIO_API_KEY")
        log = (self.data_dir / "server.log").open("ab")
        self._process = subprocess.Popen(
            [str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(self.port),
             "--data-dir", str(self.data_dir)], env=self._environment(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if healthy(self.url):
                return self
            time.sleep(1.0)
        tail = self.log_tail()
        self.stop()
        raise SemcomError(f"Label Studio did not answer {self.url}/health within {timeout_s:g} s (it may have taken "
                          f"another port, or failed): {tail}", hint=f"see {self.data_dir / 'server.log'}")

    def log_tail(self, lines: int = 3) -> str:
        """The last lines of the server's log, one string."""
        path = self.data_dir / "server.log"
        text = path.read_text(errors="replace").strip().splitlines() if path.is_file() else []
        return " | ".join(text[-lines:]) or "(no output)"

    def stop(self) -> None:
        """Terminate the server and wait for it (kill after 15 s)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> LabelStudioServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def connect(url: str | None = None, api_key: str | None = None) -> Any:
    """A ``label_studio_sdk.LabelStudio`` client for ``url`` (or ``LABEL_STUDIO_URL``) with ``api_key`` (or
    ``LABEL_STUDIO_API_KEY``), checked with one request: a server that is down or a wrong key is a clear error."""
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.api_error import ApiError

    url = url or os.environ.get("LABEL_STUDIO_URL")
    api_key = api_key or os.environ.get("LABEL_STUDIO_API_KEY")
    if not url or not api_key:
        raise SemcomError("no Label Studio server to talk to", hint="start one with `semcom-bench review serve`, "
                          "or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY")
    if not healthy(url):
        raise SemcomError(f"Label Studio at {url} does not answer", hint="start it with `semcom-bench review serve`")
    client = LabelStudio(base_url=url, api_key=api_key)
    try:
        client.users.whoami()
    except ApiError as err:
        raise SemcomError(f"Label Studio at {url} refused the API key (HTTP {err.status_code})",
                          hint="set LABEL_STUDIO_API_KEY to the token of an account on that server") from None
    return client
