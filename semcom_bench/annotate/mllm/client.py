"""One structured-JSON question per image to an OpenAI-compatible server: cache, retries, validation, call rows.

:class:`MLLMClient` is shared by the MLLM labeler and the MLLM relation predictor and is safe to use from many
threads at once (the ``openai`` client pools connections; the cache writes atomically; nothing else is shared).

Failures are of two kinds, both ending in an :class:`Answer` with ``error`` set instead of an exception:

* transport (HTTP 408/409/429/5xx, timeouts, refused connections): retried by the ``openai`` SDK itself with
  exponential backoff, honouring ``Retry-After``, up to ``max_retries`` times;
* invalid answers (not JSON, against the schema, failing the caller's semantic check): sent back to the model with
  the problems listed, up to ``validation_retries`` times.

A server that cannot be used at all is different: retrying cannot fix a refused key (HTTP 401/403) or an unknown
model (404), so :meth:`MLLMClient.ask` raises :class:`ServerUnusableError` for them, and :meth:`MLLMClient.check`
looks for them (and for a server that cannot be reached) once, before a run sends its first question.

Every ``llm_calls`` row is also appended to a ledger file (``MLLMSettings.ledger``, JSON lines, flushed to disk)
the moment it is made, so the cost of answers received before a crash is still counted after the resume, when those
answers come back from the cache at $0 (:mod:`~semcom_bench.annotate.mllm.ledger`).

The API key is read from ``OPENAI_API_KEY`` only and lives in the ``openai`` client alone: it is not part of the
settings, the cache key, cache files, ``llm_calls`` rows, log records or error texts (which are scrubbed of it).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import openai

from semcom_bench.annotate.mllm.cache import AnswerCache, request_key
from semcom_bench.annotate.mllm.cost import cost_usd, image_tokens, resolve_price, text_tokens
from semcom_bench.annotate.mllm.ledger import append_row
from semcom_bench.annotate.mllm.prompts import message_text, retry_message
from semcom_bench.errors import SemcomError
from semcom_bench.schemas.answers import schema_errors

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o"
PLACEHOLDER_API_KEY = "no-key"
"""Sent to servers other than api.openai.com when ``OPENAI_API_KEY`` is unset; vLLM and Ollama ignore the key."""

_DETAILS = ("high", "low", "auto")
# Anything shaped like an API key, e.g. the masked echo "sk-abc***xyz" in OpenAI's 401 message.
_KEY_LIKE = re.compile(r"\b(?:sk|rk|pk|key)[-_][A-Za-z0-9*_\-]{6,}")


@dataclass(frozen=True)
class MLLMSettings:
    """How to reach the model and how hard to try; the labeler's and relation predictor's constructor arguments.

    Attributes:
        base_url: the server's OpenAI-compatible API root, e.g. ``http://127.0.0.1:8000/v1`` (vLLM) or
            ``http://127.0.0.1:11434/v1`` (Ollama); ``None`` means ``$OPENAI_BASE_URL`` or api.openai.com.
        model: model name as the server knows it.
        cache_dir: folder of the answer cache; ``None`` disables caching.
        ledger: JSON-lines file every ``llm_calls`` row is appended to as it is made; ``None``: no ledger.
        timeout_s: seconds one HTTP request may take before it counts as timed out.
        max_retries: transport retries per request (429, 5xx, timeouts, connection errors), done by the SDK.
        validation_retries: how many times an invalid answer is sent back with its problems before the image fails.
        temperature: sampling temperature; ``None`` sends none (reasoning models accept only their default).
        max_tokens: cap on the answer's tokens (sent as ``max_completion_tokens`` to api.openai.com, which
            deprecated ``max_tokens``, and as ``max_tokens`` elsewhere).
        detail: image detail asked for: ``high``, ``low`` or ``auto``.
        price_in_per_m, price_out_per_m: USD per 1M input/output tokens, overriding the price table (e.g. 0 for
            a local server); where neither gives a price, costs are ``None``.
    """

    base_url: str | None = None
    model: str = DEFAULT_MODEL
    cache_dir: Path | None = None
    ledger: Path | None = None
    timeout_s: float = 120.0
    max_retries: int = 3
    validation_retries: int = 2
    temperature: float | None = 0.0
    max_tokens: int = 4096
    detail: str = "high"
    price_in_per_m: float | None = None
    price_out_per_m: float | None = None

    def __post_init__(self) -> None:
        # Frozen: normalised values are set through object.__setattr__.
        base_url = self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        object.__setattr__(self, "base_url", base_url.rstrip("/"))
        for name in ("cache_dir", "ledger"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        failed = {
            "model is empty": not self.model,
            f"timeout_s must be > 0, got {self.timeout_s}": not self.timeout_s > 0,
            f"max_retries must be >= 0, got {self.max_retries}": self.max_retries < 0,
            f"validation_retries must be >= 0, got {self.validation_retries}": self.validation_retries < 0,
            f"max_tokens must be > 0, got {self.max_tokens}": self.max_tokens <= 0,
            f"detail must be one of {', '.join(_DETAILS)}, got {self.detail!r}": self.detail not in _DETAILS,
        }
        problems = [message for message, bad in failed.items() if bad]
        if problems:
            raise SemcomError(f"invalid MLLM settings: {'; '.join(problems)}", hint="fix the labeler options")

    @classmethod
    def from_options(cls, **options: Any) -> MLLMSettings:
        """Settings from keyword options; an unknown option raises :class:`SemcomError` listing the known ones."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise SemcomError(f"unknown MLLM option(s): {', '.join(unknown)}",
                              hint=f"known options: {', '.join(known)}")
        return cls(**options)

    def public(self) -> dict[str, Any]:
        """The settings as JSON-ready values, for the label set's manifest (no secrets: the key is not a setting)."""
        values = dataclasses.asdict(self)
        values["base_url"] = safe_url(self.base_url or "")
        values["cache_dir"] = str(self.cache_dir) if self.cache_dir is not None else None
        values["ledger"] = str(self.ledger) if self.ledger is not None else None
        return values


class ServerUnusableError(SemcomError):
    """The server cannot be used at all (unreachable, key refused, model unknown): stop instead of retrying."""


FATAL_STATUSES = (401, 403, 404)
"""HTTP statuses no retry can fix: the key is refused or the model is unknown."""


class InvalidAnswer(ValueError):
    """Raised by an answer check: the answer breaks the rules; ``problems`` go back to the model."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


AnswerCheck = Callable[[dict[str, Any]], None]
"""Semantic check of a schema-valid answer; raises :class:`InvalidAnswer`."""


@dataclass
class Answer:
    """The outcome of one question: the valid answer or an error, and the ``llm_calls`` rows of its attempts."""

    key: str
    payload: dict[str, Any] | None
    calls: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def safe_url(url: str) -> str:
    """``url`` without credentials or query, fit to print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def url_secrets(url: str) -> list[str]:
    """The credentials ``url`` carries: user name and password, and every query value (e.g. ``?api-key=``)."""
    parts = urlsplit(url)
    found = [parts.username, parts.password, *(value for _, value in parse_qsl(parts.query))]
    return [secret for secret in found if secret]


def is_openai(base_url: str) -> bool:
    """Whether ``base_url`` points at OpenAI's own API."""
    return urlsplit(base_url).hostname == "api.openai.com"


@dataclass
class _Attempt:
    """One HTTP attempt: when it started, and its status and end once a response came."""

    started: float = field(default_factory=time.perf_counter)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: int | None = None
    ended: float | None = None


class MLLMClient:
    """Asks one structured question per image of an OpenAI-compatible chat-completions endpoint."""

    def __init__(self, settings: MLLMSettings) -> None:
        self.settings = settings
        self.endpoint = safe_url(f"{settings.base_url}/chat/completions")
        self._cache = AnswerCache(settings.cache_dir) if settings.cache_dir is not None else None
        self._price = resolve_price(settings.model, settings.price_in_per_m, settings.price_out_per_m)
        self._openai: openai.OpenAI | None = None
        self._lock = threading.Lock()
        self._local = threading.local()  # the HTTP attempts of the request this thread is making

    def __repr__(self) -> str:
        return f"MLLMClient(model={self.settings.model!r}, endpoint={self.endpoint!r})"

    @property
    def params(self) -> dict[str, Any]:
        """Sampling parameters that shape the answer (part of the request key)."""
        return {"temperature": self.settings.temperature, "max_tokens": self.settings.max_tokens}

    def key(self, messages: list[dict[str, Any]], schema: dict[str, Any]) -> str:
        """The request (and cache) key of a question."""
        return request_key(self.settings.model, messages, self.params, schema)

    def is_cached(self, key: str) -> bool:
        """Whether a valid answer of ``key`` is in the cache."""
        return self._cache is not None and self._cache.get(key) is not None

    def estimate(
        self, messages: list[dict[str, Any]], image_size: tuple[int, int], tokens_out: int
    ) -> dict[str, int | float | None]:
        """Expected ``requests``, ``tokens_in``, ``tokens_out``, ``cost_usd`` of one question (see ``cost``)."""
        tokens_in = text_tokens(message_text(messages)) + image_tokens(*image_size, self.settings.model,
                                                                         self.settings.detail)
        return {
            "requests": 1,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost_usd": cost_usd(tokens_in, tokens_out, self._price),
        }

    def check(self) -> None:
        """Raise :class:`ServerUnusableError` naming the URL (without credentials), the model and the fix when the
        server cannot be reached, refuses the key or does not serve the model (by ``GET /models``; a server without
        that endpoint is taken at its word). Other HTTP errors are left to the run's retries."""
        root = safe_url(self.settings.base_url or "")
        model = self.settings.model
        try:
            listed = self._client().with_options(max_retries=0, timeout=min(self.settings.timeout_s, 30.0)).models.list()
            served = [m.id for m in listed.data]
        except openai.APIConnectionError as err:  # timeouts included
            cause = self._redact(_shorten(str(err.__cause__ or err)))
            raise ServerUnusableError(
                f"cannot reach the MLLM server at {root} ({cause}) to ask model {model!r}; nothing was written",
                hint="start the server (e.g. vLLM or Ollama) or fix --base-url",
            ) from None
        except openai.APIStatusError as err:
            if err.status_code in (401, 403):
                raise ServerUnusableError(
                    f"the MLLM server at {root} refused the API key (HTTP {err.status_code}) for model {model!r}; "
                    "nothing was written",
                    hint="export OPENAI_API_KEY with a key this server accepts",
                ) from None
            log.info("%s: GET /models answered HTTP %d; the model is not checked", root, err.status_code)
            return
        if served and model not in served:
            raise ServerUnusableError(
                f"the MLLM server at {root} does not serve model {model!r}; it serves: {', '.join(served)}; "
                "nothing was written",
                hint=f"pass --model {served[0]} (or another of those)",
            )

    def ask(
        self,
        image_id: str,
        messages: list[dict[str, Any]],
        schema_name: str,
        schema: dict[str, Any],
        check: AnswerCheck,
    ) -> Answer:
        """The valid answer to ``messages`` (from the cache if there), or the error that prevented one.

        Raises :class:`SemcomError` only for configuration errors (no API key for api.openai.com) and
        :class:`ServerUnusableError` when the server refuses the key or does not know the model.
        """
        key = self.key(messages, schema)
        if self._cache is not None and (entry := self._cache.get(key)) is not None:
            if not schema_errors(schema, entry.get("answer")) and _passes(check, entry["answer"]):
                # The original call's tokens, but nothing was paid this time.
                row = self._row(key, image_id, "cached", _Attempt(), entry.get("tokens_in", 0),
                                entry.get("tokens_out", 0), free=True)
                return Answer(key, entry["answer"], [row])
        client = self._client()
        conversation = list(messages)
        calls: list[dict[str, Any]] = []
        problems: list[str] = []
        for turn in range(self.settings.validation_retries + 1):
            self._local.attempts = attempts = []
            try:
                completion = client.chat.completions.create(**self._request(conversation, schema_name, schema))
            except openai.OpenAIError as err:
                error = self._redact(self._describe(err))
                if isinstance(err, openai.APIStatusError) and err.status_code in FATAL_STATUSES:
                    raise ServerUnusableError(
                        f"{error}; model {self.settings.model!r}: the run stops, as no retry can fix this",
                        hint="check OPENAI_API_KEY, --model and --base-url; the same command resumes what is done",
                    ) from None
                calls += self._retried_rows(key, image_id, attempts)
                calls.append(self._row(key, image_id, "error", attempts[-1] if attempts else _Attempt(), 0, 0,
                                       error=error))
                log.warning("%s: %s", image_id, error)
                return Answer(key, None, calls, error)
            finally:
                self._local.attempts = None
            calls += self._retried_rows(key, image_id, attempts)
            last = attempts[-1] if attempts else _Attempt()
            last.ended = time.perf_counter()  # the hook fires at the headers; the body is read by now
            usage = completion.usage
            tokens_in = usage.prompt_tokens if usage else 0
            tokens_out = usage.completion_tokens if usage else 0
            content, payload, problems = self._parse(completion, schema, check)
            if payload is not None:
                calls.append(self._row(key, image_id, "ok", last, tokens_in, tokens_out))
                if self._cache is not None:
                    self._cache.put(key, {"answer": payload, "model": self.settings.model, "tokens_in": tokens_in,
                                          "tokens_out": tokens_out, "created_at": last.created_at.isoformat()})
                return Answer(key, payload, calls)
            error = self._redact("invalid answer: " + "; ".join(problems))
            calls.append(self._row(key, image_id, "invalid", last, tokens_in, tokens_out, error=error))
            log.info("%s: answer %d: %s", image_id, turn + 1, error)
            conversation += [{"role": "assistant", "content": content or "(no answer)"}, retry_message(problems)]
        error = self._redact(
            f"no valid answer after {self.settings.validation_retries + 1} attempt(s); last: {'; '.join(problems)}"
        )
        log.warning("%s: %s", image_id, error)
        return Answer(key, None, calls, error)

    def _retried_rows(self, key: str, image_id: str, attempts: list[_Attempt]) -> list[dict[str, Any]]:
        """``error`` rows for the HTTP attempts the SDK retried (all but the last of one ``create`` call)."""
        rows = []
        for this, after in zip(attempts, attempts[1:]):
            what = f"HTTP {this.status}" if this.status is not None else "no response (timeout or connection error)"
            # No hook sees a timeout or refused connection end: such an attempt lasts until the next one starts.
            this.ended = this.ended if this.ended is not None else after.started
            rows.append(self._row(key, image_id, "error", this, 0, 0,
                                  error=f"{what} from {self.endpoint}; retried by the client"))
        return rows

    def _client(self) -> openai.OpenAI:
        """The ``openai`` client, made on first use so that estimates need no key."""
        with self._lock:
            if self._openai is None:
                self._openai = openai.OpenAI(
                    base_url=self.settings.base_url,
                    api_key=_api_key(self.settings.base_url or ""),
                    timeout=self.settings.timeout_s,
                    max_retries=self.settings.max_retries,
                    # The hooks see every HTTP attempt, the SDK's own retries included, so each gets its row.
                    http_client=openai.DefaultHttpxClient(
                        event_hooks={"request": [self._on_request], "response": [self._on_response]}
                    ),
                )
            return self._openai

    def _on_request(self, request: Any) -> None:
        attempts = getattr(self._local, "attempts", None)
        if attempts is not None:
            attempts.append(_Attempt())

    def _on_response(self, response: Any) -> None:
        attempts = getattr(self._local, "attempts", None)
        if attempts:
            attempts[-1].status = response.status_code
            attempts[-1].ended = time.perf_counter()

    def _request(self, conversation: list[dict[str, Any]], schema_name: str, schema: dict[str, Any]) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.settings.model,
            "messages": conversation,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": True},
            },
        }
        limit_name = "max_completion_tokens" if is_openai(self.settings.base_url or "") else "max_tokens"
        request[limit_name] = self.settings.max_tokens
        if self.settings.temperature is not None:
            request["temperature"] = self.settings.temperature
        return request

    def _parse(
        self, completion: Any, schema: dict[str, Any], check: AnswerCheck
    ) -> tuple[str | None, dict[str, Any] | None, list[str]]:
        """``(content, payload, problems)``: payload is the valid answer, or ``None`` with the problems found."""
        if not completion.choices:
            return None, None, ["the response holds no choices"]
        choice = completion.choices[0]
        content = choice.message.content
        if getattr(choice.message, "refusal", None):
            return content, None, [f"the model refused: {choice.message.refusal}"]
        if choice.finish_reason == "length":
            return content, None, [f"the answer was cut off at max_tokens={self.settings.max_tokens}"]
        if not content:
            return content, None, ["the answer is empty"]
        try:
            payload = json.loads(content)
        except ValueError as err:
            return content, None, [f"the answer is not valid JSON ({err})"]
        problems = schema_errors(schema, payload)
        if not problems:
            try:
                check(payload)
            except InvalidAnswer as err:
                problems = err.problems
        return content, (None if problems else payload), problems

    def _describe(self, err: openai.OpenAIError) -> str:
        """What failed and where, for the ``llm_calls`` row and the image's error."""
        n = self.settings.max_retries
        retries = f"after {n} {'retry' if n == 1 else 'retries'}" if n else "no retries"
        if isinstance(err, openai.APITimeoutError):  # before APIConnectionError, its base class
            return f"no answer from {self.endpoint} within {self.settings.timeout_s:g} s ({retries})"
        if isinstance(err, openai.APIConnectionError):
            cause = f": {err.__cause__}" if err.__cause__ else ""
            return f"cannot reach {self.endpoint}{cause} ({retries})"
        if isinstance(err, openai.APIStatusError):
            retried = err.status_code in (408, 409, 429) or err.status_code >= 500  # what the SDK retries
            return (f"{self.endpoint} answered HTTP {err.status_code}: {_shorten(err.message)}"
                    + (f" ({retries})" if retried else ""))
        return f"request to {self.endpoint} failed: {_shorten(str(err))}"

    def _redact(self, text: str) -> str:
        key = self._openai.api_key if self._openai is not None else None
        if key and key != PLACEHOLDER_API_KEY:
            text = text.replace(key, "[redacted]")
        for secret in url_secrets(self.settings.base_url or ""):
            text = text.replace(secret, "[redacted]")
        return _KEY_LIKE.sub("[redacted]", text)

    def _row(
        self,
        key: str,
        image_id: str,
        status: str,
        attempt: _Attempt,
        tokens_in: int,
        tokens_out: int,
        *,
        error: str | None = None,
        free: bool = False,
    ) -> dict[str, Any]:
        """One ``llm_calls`` row for ``attempt`` (its latency runs to its end, or to now if it has none), appended
        to the ledger at once."""
        ended = attempt.ended if attempt.ended is not None else time.perf_counter()
        row = {
            "request_key": key,
            "image_id": image_id,
            "model": self.settings.model,
            "tokens_in": int(tokens_in),
            "tokens_out": int(tokens_out),
            "cost_usd": 0.0 if free else cost_usd(tokens_in, tokens_out, self._price),
            "latency_s": ended - attempt.started,
            "status": status,
            "error": error,
            "created_at": attempt.created_at,
            "call_id": uuid.uuid4().hex,
        }
        if self.settings.ledger is not None:
            append_row(self.settings.ledger, row)  # paid for: on disk before the answer is used
        return row


def _api_key(base_url: str) -> str:
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    if is_openai(base_url):
        raise SemcomError(
            "OPENAI_API_KEY is not set, and api.openai.com needs it",
            hint="export OPENAI_API_KEY, or point base_url at a local OpenAI-compatible server (vLLM, Ollama)",
        )
    return PLACEHOLDER_API_KEY


def _passes(check: AnswerCheck, payload: dict[str, Any]) -> bool:
    try:
        check(payload)
    except InvalidAnswer:
        return False
    return True


def _shorten(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
