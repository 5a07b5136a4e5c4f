"""Log set-up of the command line: our messages at INFO (DEBUG with ``-v``), the HTTP clients' request lines only
with ``-v -v``, and every record scrubbed of credentials before it is printed."""

from __future__ import annotations

import logging
import re

from rich.console import Console
from rich.logging import RichHandler

CLIENT_LOGGERS = ("httpx", "httpx2", "httpcore", "openai")
"""Loggers of the HTTP stack under the openai client: one INFO line per request, shown only with ``-v -v``."""

_SECRETS = (
    (re.compile(r"(://)[^/\s:@]+:[^/\s@]+@"), r"\1[redacted]@"),  # user:password@host
    (re.compile(r"([?&][^=&\s]*(?:key|token|secret|password|sig)[^=&\s]*=)[^&\s'\"]+", re.I), r"\1[redacted]"),
    (re.compile(r"\b(?:sk|rk|pk|key)[-_][A-Za-z0-9*_\-]{6,}"), "[redacted]"),  # API keys, e.g. sk-...
    (re.compile(r"(Bearer\s+)\S+", re.I), r"\1[redacted]"),
)


def redact(text: str) -> str:
    """``text`` with URL credentials, key-like query values, API keys and bearer tokens replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message through :func:`redact` (arguments folded in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


def configure(verbosity: int, console: Console) -> None:
    """Root logging for the CLI: 0 INFO, 1 DEBUG, 2 DEBUG plus the HTTP clients' request logs; always redacted."""
    handler = RichHandler(console=console, show_path=False)
    handler.addFilter(RedactingFilter())
    logging.basicConfig(level=logging.DEBUG if verbosity else logging.INFO, format="%(message)s", handlers=[handler],
                        force=True)
    for name in CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    # matplotlib logs "generated new fontManager" at INFO whenever it builds its font cache (a fresh MPLCONFIGDIR, as
    # `make demo` has on a clean clone), and -v would add its per-font scores: nothing a user can act on.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.WARNING)
