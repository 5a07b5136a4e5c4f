"""A real local OpenAI-compatible HTTP server for tests and benchmarks: ``POST /v1/chat/completions`` (scriptable)
and ``GET /v1/models``.

It listens on 127.0.0.1 on a free port, answers in the OpenAI wire format (with ``usage``), records every request
(path, headers without ``Authorization``, JSON body) and checks what it receives: a data-URL image part, a
``json_schema`` response format with ``strict``, a bearer key (the expected one, if given). A request that breaks
these rules is answered 400 and its problems are listed in :attr:`LocalOpenAIServer.problems`, so a test can assert
``server.problems == []``.

What it answers is scripted: each request takes the next :data:`Responder` queued with
:meth:`~LocalOpenAIServer.script`, or :attr:`~LocalOpenAIServer.default` once the queue is empty. Responders:
:func:`answer` (a JSON answer built from the request, e.g. :func:`importance_answer`), :func:`content` (any text,
e.g. malformed JSON), :func:`error` (an HTTP error, optionally with ``Retry-After``), :func:`stall` (waits, e.g. past
the client's timeout). ``latency_s`` delays every answer, for benchmarks.

Failure modes of a server that cannot be used at all: ``api_key`` (a wrong key gets 401 on every path), ``refuse``
(every request gets that status, e.g. 403), ``models`` (the models served: ``GET /v1/models`` lists them and a chat
request for another model gets 404, as vLLM answers; ``None`` serves any model and lists none). ``GET /v1/models`` is
answered by the server itself, never from the script.

    with LocalOpenAIServer() as server:
        server.script(content("{not json"), answer(importance_answer))
        labeler = LABELERS.get("mllm")(base_url=server.base_url, model="test-model")
        ...
    # leaving the block stops the server and wakes any stalled handler
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

from semcom_bench.annotate.mllm.prompts import INSTANCE_LINE

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"


@dataclass
class RecordedRequest:
    """One request as the server saw it. The key itself is never kept: ``authorized`` says whether a bearer key
    came, ``key_matches`` whether it was the expected one (``None`` when the server expects none).
    ``received_at`` is ``time.monotonic()`` on arrival."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    authorized: bool
    key_matches: bool | None = None
    problems: list[str] = field(default_factory=list)
    received_at: float = field(default_factory=time.monotonic)

    @property
    def schema_name(self) -> str | None:
        """``response_format.json_schema.name`` of the request, if any."""
        try:
            return str(self.body["response_format"]["json_schema"]["name"])
        except (KeyError, TypeError):
            return None

    @property
    def schema(self) -> dict[str, Any] | None:
        """``response_format.json_schema.schema`` of the request, if any."""
        try:
            return dict(self.body["response_format"]["json_schema"]["schema"])
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages sent, ``[]`` if the body had none."""
        messages = self.body.get("messages") if isinstance(self.body, dict) else None
        return messages if isinstance(messages, list) else []

    def texts(self) -> list[str]:
        """Every text of every message, in order."""
        found: list[str] = []
        for message in self.messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                found.append(content)
            elif isinstance(content, list):
                found += [p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return found

    def numbered_objects(self) -> list[tuple[int, str]]:
        """``(number, class_name)`` of the instance list in the first text that holds one."""
        for text in self.texts():
            found = [(int(m.group(1)), m.group(2)) for m in INSTANCE_LINE.finditer(text)]
            if found:
                return found
        return []


@dataclass
class Reply:
    """What to send back: status, JSON body (dict) or raw text, extra headers, and a wait before sending."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Responder = Callable[[RecordedRequest], Reply]
"""Makes the reply to one request."""

AnswerBuilder = Callable[[RecordedRequest], Any]
"""Makes the answer (a JSON value) to one request."""


# Tiers by class for the built-in importance answer: fixed, so tests can tell objects apart after the mapping back.
CLASS_TIERS: dict[str, int] = {"person": 3, "rider": 3, "car": 2, "truck": 2, "bus": 2}


def importance_answer(request: RecordedRequest) -> dict[str, Any]:
    """A valid ``mllm_answer``: every listed object, tier from :data:`CLASS_TIERS` (1 for other classes)."""
    return {
        "objects": [
            {"id": n, "rationale": f"the {cls} numbered {n}", "importance": CLASS_TIERS.get(cls, 1)}
            for n, cls in request.numbered_objects()
        ]
    }


def missing_object_answer(request: RecordedRequest) -> dict[str, Any]:
    """An ``mllm_answer`` that leaves out the last listed object (schema-valid, semantically not)."""
    full = importance_answer(request)
    return {"objects": full["objects"][:-1]}


def relations_answer(request: RecordedRequest) -> dict[str, Any]:
    """A valid ``mllm_relations``: every listed object ``on road``, and every rider ``riding`` the first listed
    bicycle or motorcycle (an instance object)."""
    objects = request.numbered_objects()
    triplets: list[dict[str, Any]] = [{"subject": n, "predicate": "on", "object": "road"} for n, _ in objects]
    vehicle = next((n for n, cls in objects if cls in ("bicycle", "motorcycle")), None)
    if vehicle is not None:
        triplets += [{"subject": n, "predicate": "riding", "object": vehicle} for n, cls in objects if cls == "rider"]
    return {"triplets": triplets, "unrelated": []}


def omitting_relations_answer(request: RecordedRequest) -> dict[str, Any]:
    """An ``mllm_relations`` answer that drops the last listed object's triplets and does not list it as unrelated
    (schema-valid, semantically incomplete)."""
    full = relations_answer(request)
    last = max((n for n, _ in request.numbered_objects()), default=None)
    return {"triplets": [t for t in full["triplets"] if last not in (t["subject"], t["object"])], "unrelated": []}


def default_answer(request: RecordedRequest) -> Any:
    """:func:`importance_answer` or :func:`relations_answer`, by the schema name the request asks for."""
    return relations_answer(request) if request.schema_name == "mllm_relations" else importance_answer(request)


def answer(build: AnswerBuilder = default_answer) -> Responder:
    """Reply 200 with the JSON text of ``build(request)`` as the assistant's message."""
    return lambda request: Reply(body=_completion(request, json.dumps(build(request))))


def content(text: str) -> Responder:
    """Reply 200 with ``text`` (e.g. malformed JSON) as the assistant's message."""
    return lambda request: Reply(body=_completion(request, text))


def error(status: int, message: str = "scripted error", retry_after: float | None = None) -> Responder:
    """Reply ``status`` with an OpenAI-style error body, and ``Retry-After`` (seconds) if given."""
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    body = {"error": {"message": message, "type": "server_error" if status >= 500 else "invalid_request_error",
                      "param": None, "code": None}}
    return lambda request: Reply(status=status, body=body, headers=headers)


def stall(seconds: float, then: Responder | None = None) -> Responder:
    """Wait ``seconds`` (cut short when the server stops), then reply as ``then`` (a valid answer by default)."""
    after = then or answer()

    def respond(request: RecordedRequest) -> Reply:
        reply = after(request)
        reply.delay_s += seconds
        return reply

    return respond


class LocalOpenAIServer:
    """The server; a context manager (start on enter, stop on exit) and usable from a pytest fixture.

    Args:
        latency_s: added before every reply (the benchmark's model latency).
        api_key: if given, a request whose bearer key differs is answered 401 and counted as a problem.
        default: the responder once the script is used up (default: :func:`answer` with :func:`default_answer`).
        models: the model names served (``None``: any); see the module docstring.
        refuse: answer every request with this HTTP status (e.g. 403), or ``None``.
    """

    def __init__(self, *, latency_s: float = 0.0, api_key: str | None = None, default: Responder | None = None,
                 models: list[str] | None = None, refuse: int | None = None) -> None:
        self.latency_s = latency_s
        self.default: Responder = default or answer()
        self.models = models
        self.refuse = refuse
        self._api_key = api_key
        self._script: deque[Responder] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"LocalOpenAIServer(base_url={self.base_url!r})" if self._httpd else "LocalOpenAIServer(stopped)"

    @property
    def base_url(self) -> str:
        """The API root to give a client, ``http://127.0.0.1:<port>/v1``."""
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def questions(self) -> list[RecordedRequest]:
        """The chat-completion requests among :attr:`requests` (a client's ``GET /v1/models`` checks left out)."""
        return [r for r in self.requests if r.path == CHAT_PATH]

    @property
    def problems(self) -> list[str]:
        """Rule violations of all requests, ``"request <i>: <problem>"``; empty when every request was well-formed."""
        return [f"request {i}: {p}" for i, r in enumerate(self.requests) for p in r.problems]

    def script(self, *responders: Responder) -> None:
        """Queue responders: the next requests are answered by them, one each, in order."""
        with self._lock:
            self._script.extend(responders)

    def start(self) -> LocalOpenAIServer:
        """Bind a free port on 127.0.0.1 and serve in a background thread."""
        self._stopping.clear()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="local-openai-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake stalled handlers and release the port."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LocalOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle(self, request: RecordedRequest) -> Reply:
        """Check and record ``request`` and make its reply."""
        request.problems += _problems(request)
        model = request.body.get("model") if isinstance(request.body, dict) else None
        if request.key_matches is False:
            request.problems.append("the bearer key is not the expected one")
            reply = error(401, "Incorrect API key provided")(request)
        elif self.refuse is not None:
            reply = error(self.refuse, f"scripted refusal (HTTP {self.refuse})")(request)
        elif request.problems:
            reply = error(404 if request.path != CHAT_PATH else 400, "; ".join(request.problems))(request)
        elif request.path == MODELS_PATH:
            reply = Reply(body={"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                            "owned_by": "local"} for m in self.models or []]})
        elif self.models is not None and model not in self.models:
            reply = error(404, f"The model `{model}` does not exist.")(request)
        else:
            with self._lock:
                responder = self._script.popleft() if self._script else self.default
            reply = responder(request)
        with self._lock:
            self._requests.append(request)
        reply.delay_s += self.latency_s
        return reply


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the benchmark opens many connections at once; the default 5 would drop SYNs
    owner: LocalOpenAIServer


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        self._serve(body)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(None)

    def _serve(self, body: Any) -> None:
        owner = self.server.owner
        auth = self.headers.get("Authorization", "")
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"}
        request = RecordedRequest(
            method=self.command, path=self.path, headers=headers, body=body,
            authorized=auth.startswith("Bearer ") and len(auth) > len("Bearer "),
            key_matches=None if owner._api_key is None else auth == f"Bearer {owner._api_key}",
        )
        reply = owner._handle(request)
        if reply.delay_s > 0 and owner._stopping.wait(reply.delay_s):
            return  # stopping: drop the connection
        payload = (reply.body if isinstance(reply.body, str) else json.dumps(reply.body)).encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature of the base class)
        """Silent: tests read :attr:`LocalOpenAIServer.requests` instead of stderr."""


def _problems(request: RecordedRequest) -> list[str]:
    """How ``request`` breaks the rules an MLLM request must follow."""
    if request.method == "GET" and request.path == MODELS_PATH:
        return [] if request.authorized else ["no bearer key in Authorization"]
    if request.method != "POST" or request.path != CHAT_PATH:
        return [f"{request.method} {request.path}: only POST {CHAT_PATH} and GET {MODELS_PATH} are served"]
    if not isinstance(request.body, dict):
        return ["the body is not a JSON object"]
    problems = []
    if not request.authorized:
        problems.append("no bearer key in Authorization")
    if not isinstance(request.body.get("model"), str) or not request.body["model"]:
        problems.append("no model")
    if not request.messages:
        problems.append("no messages")
    images = [
        part["image_url"].get("url", "")
        for message in request.messages if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") == "image_url" and isinstance(part.get("image_url"), dict)
    ]
    if not images:
        problems.append("no image_url part")
    problems += [p for url in images if (p := _data_url_problem(url))]
    response_format = request.body.get("response_format")
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        problems.append("response_format is not json_schema")
    else:
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or not spec.get("name") or not isinstance(spec.get("schema"), dict):
            problems.append("response_format.json_schema lacks a name or a schema")
        elif spec.get("strict") is not True:
            problems.append("response_format.json_schema.strict is not true")
    return problems


def _data_url_problem(url: str) -> str | None:
    """Why ``url`` is not a base64 data URL of a decodable image, or ``None``."""
    prefix, _, data = url.partition(";base64,")
    if not prefix.startswith("data:image/") or not data:
        return f"image_url is not a base64 image data URL: {url[:40]!r}"
    try:
        with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as image:
            image.verify()
    except (binascii.Error, ValueError, OSError) as err:
        return f"image_url does not decode to an image: {err}"
    return None


def _completion(request: RecordedRequest, text: str) -> dict[str, Any]:
    """A ``chat.completion`` object answering ``text``, with usage: ~4 characters a token, 85 per image."""
    chars = sum(len(t) for t in request.texts())
    images = sum(
        1 for m in request.messages if isinstance(m.get("content"), list)
        for p in m["content"] if isinstance(p, dict) and p.get("type") == "image_url"
    )
    prompt_tokens = math.ceil(chars / 4) + 85 * images
    completion_tokens = math.ceil(len(text) / 4)
    body = request.body if isinstance(request.body, dict) else {}
    return {
        "id": f"chatcmpl-local-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }
