"""Telegram Bot API over ``requests``: settings, errors and a small client with retries.

Retries are an explicit loop rather than urllib3's ``Retry``: Telegram says how long to wait
after a 429 in the JSON body (``parameters.retry_after``), which ``Retry`` cannot read (it only
knows the ``Retry-After`` header), and a 4xx must fail at once with Telegram's ``description``.
The loop retries network errors (connection errors, timeouts) and 5xx with exponential backoff
(``backoff * 2**n`` seconds), waits ``retry_after`` (capped) after a 429, and gives up after
``max_attempts`` attempts in all.

What a failure says about delivery: an error *answer* (4xx, 5xx, 429) means Telegram did not carry
the call out; a request that never left (connection refused, connect timeout, bad URL) did not
arrive either. A request that was sent but got no answer (read timeout, connection dropped
mid-answer) may have been carried out, and the Bot API has no way to ask: such an error has
``maybe_delivered``, and a call that succeeds on a retry after one counts in ``ambiguous_retries``
(the message may be there twice — at-least-once, the only case; see :mod:`.delivery`).

The bot token is part of every URL (``{api}/bot{token}/{method}``). It never leaves this module
in clear: reprs leave it out, exceptions (ours, and the messages of ``requests``' exceptions,
which quote the URL) are rebuilt with the token replaced by ``***`` and raised without the
original chained, and a logging filter redacts it from urllib3's debug lines.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
import urllib3.exceptions

from feedpulse.config import environment

DEFAULT_API_URL = "https://api.telegram.org"
REDACTED = "***"
_CHAT_ID_RE = re.compile(r"-?\d+|@[A-Za-z][A-Za-z0-9_]{3,}")

log = logging.getLogger(__name__)


# --- redaction ---------------------------------------------------------------------------------

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def redact(text: str) -> str:
    """``text`` with every known bot token (also URL-quoted) replaced by ``***``."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites log records that would show a bot token (urllib3 logs the request path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_FILTER = RedactingFilter()
_FILTERED_LOGGERS = ("urllib3", "urllib3.connectionpool", "urllib3.util.retry", "requests", __name__)


def register_secret(token: str) -> None:
    """Remember ``token`` for :func:`redact` and install the log filter (idempotent)."""
    with _secrets_lock:
        _secrets.update({token, quote(token, safe="")})
        for name in _FILTERED_LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)


# --- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TelegramSettings:
    """Where to send: bot token (never in the repr), chat ids and the Bot API's base URL.

    No token ⇒ deliveries go to the outbox folder; ``chat_ids`` then only say where they would
    have gone.
    """

    token: str | None = field(default=None, repr=False)
    chat_ids: tuple[str, ...] = ()
    api_url: str = DEFAULT_API_URL

    def __post_init__(self) -> None:
        object.__setattr__(self, "chat_ids", tuple(str(chat).strip() for chat in self.chat_ids))
        object.__setattr__(self, "api_url", self.api_url.rstrip("/"))
        if self.token:
            register_secret(self.token)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TelegramSettings:
        """Read ``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_CHAT_ID`` (comma-separated) and ``TELEGRAM_API_URL``."""
        env = dict(environment() if env is None else env)
        token = (env.get("TELEGRAM_BOT_TOKEN") or "").strip() or None
        if token and not re.fullmatch(r"[^\s/?#]+", token):
            raise ValueError("TELEGRAM_BOT_TOKEN must not contain whitespace, '/', '?' or '#'")
        chat_ids = parse_chat_ids(env.get("TELEGRAM_CHAT_ID") or "")
        if token and not chat_ids:
            raise ValueError("TELEGRAM_CHAT_ID is required when TELEGRAM_BOT_TOKEN is set (comma-separated chat ids)")
        api_url = (env.get("TELEGRAM_API_URL") or "").strip() or DEFAULT_API_URL
        if not re.match(r"https?://[^/]", api_url):
            raise ValueError(f"TELEGRAM_API_URL must be an http(s) URL, got {api_url!r}")
        return cls(token=token, chat_ids=chat_ids, api_url=api_url)


def parse_chat_ids(text: str) -> tuple[str, ...]:
    """``"-100123, @channel"`` → ``("-100123", "@channel")``; anything else names TELEGRAM_CHAT_ID."""
    chat_ids = tuple(chat.strip() for chat in text.split(",") if chat.strip())
    for chat in chat_ids:
        if not _CHAT_ID_RE.fullmatch(chat):
            raise ValueError(f"TELEGRAM_CHAT_ID: {chat!r} is neither an integer chat id nor an @channel name")
    return chat_ids


# --- errors ------------------------------------------------------------------------------------


class TelegramError(Exception):
    """A Bot API call failed: ``status`` is the HTTP status (``None`` for a network error).

    ``maybe_delivered``: the request was sent and no answer came (on this or an earlier attempt of
    the call), so Telegram may have carried it out.
    """

    def __init__(self, method: str, status: int | None, description: str, *, maybe_delivered: bool = False) -> None:
        description = redact(description)
        super().__init__(method, status, description)
        self.method = method
        self.status = status
        self.description = description
        self.maybe_delivered = maybe_delivered

    def __str__(self) -> str:
        status = "network error" if self.status is None else f"HTTP {self.status}"
        return f"Telegram {self.method} failed ({status}): {self.description}"


class TelegramNetworkError(TelegramError):
    """The API could not be reached (connection error or timeout), after the retries."""

    def __init__(self, method: str, description: str, *, maybe_delivered: bool = False) -> None:
        super().__init__(method, None, description, maybe_delivered=maybe_delivered)


def _maybe_sent(exc: requests.RequestException) -> bool:
    """Did the request perhaps reach Telegram? Only a failure before sending says no."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ReadTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        not_sent = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
        return not isinstance(reason, not_sent)
    return False


# --- client ------------------------------------------------------------------------------------

Files = Mapping[str, tuple[str, bytes, str]]


class TelegramClient:
    """The few Bot API methods feedpulse needs; each returns Telegram's ``result``."""

    def __init__(
        self,
        settings: TelegramSettings,
        session: requests.Session | None = None,
        max_attempts: int = 5,
        backoff: float = 0.5,
        sleep: Callable[[float], Any] = time.sleep,
        timeout: float = 30,
        max_retry_after: float = 60,
    ) -> None:
        if not settings.token:
            raise ValueError("TelegramClient needs a bot token (TELEGRAM_BOT_TOKEN)")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        register_secret(settings.token)
        self.settings = settings
        self.session = session or requests.Session()
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.sleep = sleep
        self.timeout = timeout
        self.max_retry_after = max_retry_after
        self.ambiguous_retries = 0  # calls that succeeded on a retry after a request without an answer

    def __repr__(self) -> str:
        return f"TelegramClient(api_url={self.settings.api_url!r}, chat_ids={self.settings.chat_ids!r})"

    # Bot API methods

    def get_me(self) -> dict[str, Any]:
        """The bot itself: a cheap check that the API is reachable and the token valid."""
        return self.call("getMe")

    def send_message(self, chat_id: str | int, html: str, *, link_preview: bool = False) -> dict[str, Any]:
        payload: dict[str, Any] = {"chat_id": str(chat_id), "text": html, "parse_mode": "HTML"}
        if not link_preview:
            payload["link_preview_options"] = {"is_disabled": True}
        return self.call("sendMessage", json_body=payload)

    def send_photo(self, chat_id: str | int, png: bytes, caption: str = "", name: str = "photo.png") -> dict[str, Any]:
        data = {"chat_id": str(chat_id), **_caption_fields(caption)}
        return self.call("sendPhoto", data=data, files={"photo": (_png_name(name), png, "image/png")})

    def send_media_group(self, chat_id: str | int, photos: Sequence[Any]) -> list[dict[str, Any]]:
        """``photos``: 2 to 10 :class:`~feedpulse.telegram.Photo` or (name, png, caption) tuples, sent as
        multipart files ``file0``, ``file1``… that the ``media`` JSON references as ``attach://fileN``."""
        media, files = [], {}
        for index, photo in enumerate(photos):
            name, png, caption = photo if isinstance(photo, tuple) else (photo.name, photo.png, photo.caption)
            attach = f"file{index}"
            media.append({"type": "photo", "media": f"attach://{attach}", **_caption_fields(caption)})
            files[attach] = (_png_name(name), png, "image/png")
        data = {"chat_id": str(chat_id), "media": json.dumps(media, ensure_ascii=False)}
        return self.call("sendMediaGroup", data=data, files=files)

    def send_document(self, chat_id: str | int, name: str, data: bytes, caption: str = "") -> dict[str, Any]:
        fields = {"chat_id": str(chat_id), **_caption_fields(caption)}
        return self.call("sendDocument", data=fields, files={"document": (name, data, _content_type(name))})

    # transport

    def call(
        self,
        method: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        files: Files | None = None,
    ) -> Any:
        """POST ``method`` with retries (see the module docstring); Telegram's ``result`` or TelegramError."""
        unanswered = False  # an earlier attempt was sent and got no answer
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            outcome = self._attempt(method, json_body, data, files)
            if isinstance(outcome, _Success):
                if unanswered:
                    self.ambiguous_retries += 1
                    log.warning(
                        "Telegram %s: delivered on a retry after a request without an answer; "
                        "it may have arrived twice (at-least-once)",
                        method,
                    )
                return outcome.result
            unanswered = unanswered or outcome.maybe_delivered
            outcome.maybe_delivered = unanswered
            if isinstance(outcome, TelegramError) and (last or not self._retryable(outcome)):
                raise outcome
            wait = self._wait(outcome, attempt)
            log.warning("Telegram %s: %s; retry %d/%d in %.1fs", method, outcome, attempt, self.max_attempts - 1, wait)
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self, method: str, json_body: Mapping[str, Any] | None, data: Mapping[str, str] | None, files: Files | None
    ) -> _Success | TelegramError:
        url = f"{self.settings.api_url}/bot{self.settings.token}/{method}"
        failure: TelegramError | None = None
        try:
            response = self.session.post(url, json=json_body, data=data, files=files, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            # Built here, raised by the caller outside this block: no chained exception with the URL.
            failure = TelegramNetworkError(method, f"{type(exc).__name__}: {exc}", maybe_delivered=_maybe_sent(exc))
        except requests.RequestException as exc:
            failure = TelegramError(method, None, f"{type(exc).__name__}: {exc}")  # e.g. a bad URL: no retry
        if failure is not None:
            return failure
        return _interpret(method, response)

    @staticmethod
    def _retryable(error: TelegramError) -> bool:
        if isinstance(error, TelegramNetworkError):
            return True
        return error.status is not None and (error.status == 429 or error.status >= 500)

    def _wait(self, error: TelegramError, attempt: int) -> float:
        if isinstance(error, RateLimited):
            return min(float(error.retry_after), self.max_retry_after)
        return self.backoff * 2 ** (attempt - 1)


@dataclass
class _Success:
    result: Any


class RateLimited(TelegramError):
    """429 Too Many Requests: Telegram asks to wait ``retry_after`` seconds."""

    def __init__(self, method: str, description: str, retry_after: float) -> None:
        super().__init__(method, 429, description)
        self.retry_after = retry_after


def _interpret(method: str, response: requests.Response) -> _Success | TelegramError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text[:200].strip()
        return TelegramError(method, response.status_code, f"non-JSON answer: {text!r}")
    if response.ok and body.get("ok"):
        return _Success(body.get("result"))
    status = int(body.get("error_code") or response.status_code)
    description = str(body.get("description") or response.reason or "unknown error")
    parameters = body.get("parameters") or {}
    if status == 429:
        return RateLimited(method, description, float(parameters.get("retry_after") or 1))
    return TelegramError(method, status, description)


def _caption_fields(caption: str) -> dict[str, str]:
    return {"caption": caption, "parse_mode": "HTML"} if caption else {}


def _png_name(name: str) -> str:
    return name if name.lower().endswith(".png") else f"{name}.png"


def _content_type(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "text/csv"
    if lowered.endswith(".html"):
        return "text/html"
    if lowered.endswith(".json"):
        return "application/json"
    return "application/octet-stream"
