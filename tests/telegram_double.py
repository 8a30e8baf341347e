"""A local stand-in for the Telegram Bot API, on pytest-httpserver (127.0.0.1, random port).

It behaves like Telegram for what feedpulse uses: ``/bot<token>/<method>`` (unknown token ⇒ 401,
unknown method ⇒ 404), required fields of getMe, sendMessage, sendPhoto, sendMediaGroup (``media``
JSON whose ``attach://<name>`` files must be attached) and sendDocument, Telegram's HTML parse
mode (supported tags only, balanced, ``&`` must start an entity, ``<`` must start a tag; a bare
``>`` is accepted, as Telegram does) and the length limits, counted on the parsed text in UTF-16
units like Telegram. Faults are injected with :meth:`TelegramDouble.fail_next` (an error answer:
nothing delivered) and :meth:`TelegramDouble.lose_next_answer` (the call is carried out, but the
answer comes only after the client gave up: a lost response). Every accepted call is recorded in
``calls``; every request (accepted or not) in ``requests``. The server is threaded, so a retry is
served while a lost answer is still pending.

Use it in a test module with::

    from tests.telegram_double import telegram_double  # noqa: F401

    def test_x(telegram_double):
        settings = telegram_double.settings(chat_ids=("1", "2"))
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from feedpulse.telegram import TelegramSettings

TOKEN = "123:TEST"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
SUPPORTED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler", "span", "blockquote",
}  # fmt: skip
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_ATTR_RE = re.compile(r"""\s+([A-Za-z][\w-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_STATUS_TEXT = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    400: "Bad Request",
    403: "Forbidden",
}


class ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def _entities(text: str, start: int, end: int, whole: str, base: int) -> str:
    """Decode ``text[start:end]``; a ``&`` that does not start an entity is an error (like Telegram's parser)."""
    out, i = [], start
    while i < end:
        if text[i] != "&":
            out.append(text[i])
            i += 1
            continue
        match = _ENTITY_RE.match(text, i, end)
        if not match:
            raise _bad(
                f"can't parse entities: Character '&' is reserved and must be escaped as &amp; "
                f"at byte offset {_offset(whole, base + i)}"
            )
        named, decimal, hexadecimal = match.groups()
        out.append(NAMED_ENTITIES[named] if named else chr(int(decimal or hexadecimal, 10 if decimal else 16)))
        i = match.end()
    return "".join(out)


def _attributes(tag: str, rest: str, whole: str, at: int) -> dict[str, str]:
    attrs, pos = {}, 0
    while pos < len(rest):
        match = _ATTR_RE.match(rest, pos)
        if not match:
            if rest[pos:].strip() in ("", "/"):
                break
            raise _bad(
                f"can't parse entities: Expected equal sign in declaration of an attribute of the tag "
                f'"{tag}" at byte offset {_offset(whole, at)}'
            )
        value = next((v for v in match.groups()[1:] if v is not None), "")
        attrs[match.group(1).lower()] = _entities(value, 0, len(value), whole, at)
        pos = match.end()
    return attrs


def parse_html(text: str) -> str:
    """The plain text of Telegram HTML, or ApiError 400 "can't parse entities: …" as Telegram answers."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "&":
            match = _ENTITY_RE.match(text, i)
            end = match.end() if match else i + 1
            out.append(_entities(text, i, end, text, 0))
            i = end
        elif char == "<":
            i = _tag(text, i, stack)
        else:
            out.append(char)
            i += 1
    if stack:
        raise _bad(f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\"")
    return "".join(out)


def _tag(text: str, at: int, stack: list[str]) -> int:
    """Check the tag at ``text[at] == "<"`` the way tdlib does; the index after it."""
    offset = _offset(text, at)
    end = text.find(">", at)
    if text.startswith("</", at):
        if end < 0:
            raise _bad(f"can't parse entities: Unclosed end tag at byte offset {offset}")
        name = text[at + 2 : end].strip().lower()
        if not stack:
            raise _bad(f"can't parse entities: Unexpected end tag at byte offset {offset}")
        if stack[-1] != name:
            raise _bad(
                f"can't parse entities: Unmatched end tag at byte offset {offset}, "
                f'expected "</{stack[-1]}>", found "</{name}>"'
            )
        stack.pop()
        return end + 1
    name_end = at + 1
    while name_end < len(text) and not text[name_end].isspace() and text[name_end] != ">":
        name_end += 1
    if name_end >= len(text):
        raise _bad(f"can't parse entities: Unclosed start tag at byte offset {offset}")
    name = text[at + 1 : name_end].lower()
    if name not in SUPPORTED_TAGS:
        raise _bad(f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}')
    if end < 0:
        raise _bad(f"can't parse entities: Unclosed start tag at byte offset {offset}")
    attrs = _attributes(name, text[name_end:end], text, at)
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise _bad(f'can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte offset {offset}')
    stack.append(name)
    return end + 1


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _QuickServer(HTTPServer):
    """pytest-httpserver polling for shutdown every 20 ms (instead of 0.5 s): fast teardown."""

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.02)


@dataclass
class Call:
    """One accepted Bot API call."""

    method: str
    chat_id: str | None
    params: dict[str, Any]
    text: str | None = None
    caption: str | None = None
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # form field → (file name, bytes)
    media: list[dict[str, Any]] = field(default_factory=list)  # sendMediaGroup items, with "file": (name, bytes)
    message_ids: list[int] = field(default_factory=list)


@dataclass
class _Fault:
    status: int
    retry_after: float | None
    description: str | None


class TelegramDouble:
    """The fake Bot API. ``url`` is its base URL (the ``api_url`` of the settings)."""

    def __init__(self, tokens: Iterable[str] = (TOKEN,), chats: Iterable[str] | None = None) -> None:
        self.tokens = set(tokens)
        self.chats = None if chats is None else {str(chat) for chat in chats}
        self.calls: list[Call] = []
        self.requests: list[tuple[str, int]] = []  # (method, status) of every request
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._lost: dict[str, deque[float]] = defaultdict(deque)  # delays of answers to hold back
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.server = _QuickServer(host="127.0.0.1", port=0, threaded=True)

    # lifecycle

    def start(self) -> TelegramDouble:
        self.server.expect_request(re.compile(r"^/.*")).respond_with_handler(self._handle)
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server.is_running():
            self.server.clear()
            self.server.stop()

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    def settings(self, chat_ids: Iterable[str] = ("1001",), token: str = TOKEN) -> TelegramSettings:
        return TelegramSettings(token=token, chat_ids=tuple(chat_ids), api_url=self.url)

    # fault injection and assertions

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: float | None = 2,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` fail with ``status`` (429 carries ``retry_after``)."""
        with self._lock:
            for _ in range(times):
                self._faults[method].append(_Fault(status, retry_after if status == 429 else None, description))

    def lose_next_answer(self, method: str, delay: float = 1.0, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` are carried out (recorded, delivered), but their answer
        is held back ``delay`` seconds — longer than the client's timeout, so the client sees a read timeout."""
        with self._lock:
            self._lost[method].extend([delay] * times)

    def sent(self, method: str | None = None, chat_id: str | None = None) -> list[Call]:
        """Accepted calls, optionally of one method and/or to one chat."""
        return [
            call
            for call in self.calls
            if (method is None or call.method == method) and (chat_id is None or call.chat_id == chat_id)
        ]

    def attempts(self, method: str) -> int:
        return sum(1 for m, _ in self.requests if m == method)

    # request handling

    def _handle(self, request: Request) -> Response:
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", request.path)
        method = match.group(2) if match else request.path
        try:
            if not match or match.group(1) not in self.tokens:
                raise ApiError(401, "Unauthorized") if match else ApiError(404, "Not Found")
            handler = getattr(self, f"_api_{method.lower()}", None)
            if handler is None:
                raise ApiError(404, "Not Found")
            with self._lock:
                fault = self._faults[method].popleft() if self._faults[method] else None
            if fault is not None:
                raise self._fault_error(fault)
            with self._lock:
                result = handler(request, self._params(request))
                delay = self._lost[method].popleft() if self._lost[method] else 0.0
            if delay:
                time.sleep(delay)  # the message is delivered; the answer arrives after the client gave up
        except ApiError as error:
            return self._answer(
                method,
                error.status,
                {
                    "ok": False,
                    "error_code": error.status,
                    "description": error.description,
                    **({"parameters": error.parameters} if error.parameters else {}),
                },
            )
        return self._answer(method, 200, {"ok": True, "result": result})

    def _answer(self, method: str, status: int, body: dict[str, Any]) -> Response:
        with self._lock:
            self.requests.append((method, status))
        return Response(json.dumps(body), status=status, content_type="application/json")

    @staticmethod
    def _fault_error(fault: _Fault) -> ApiError:
        if fault.status == 429:
            retry_after = fault.retry_after if fault.retry_after is not None else 1
            retry = int(retry_after) if float(retry_after).is_integer() else retry_after
            return ApiError(429, fault.description or f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        return ApiError(fault.status, fault.description or _STATUS_TEXT.get(fault.status, "Error"))

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.args.items())
        params.update(request.form.items())
        if request.is_json:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                raise _bad("can't parse JSON object")
            params.update(body)
        return params

    def _chat(self, params: dict[str, Any]) -> str:
        chat = str(params.get("chat_id", "")).strip()
        if not chat:
            raise _bad("chat_id is empty")
        if not re.fullmatch(r"-?\d+|@\w+", chat) or (self.chats is not None and chat not in self.chats):
            raise _bad("chat not found")
        return chat

    @staticmethod
    def _text(value: str, parse_mode: str | None, limit: int, too_long: str) -> str:
        plain = parse_html(value) if (parse_mode or "").upper() == "HTML" else value
        plain = plain.strip()
        if utf16_len(plain) > limit:
            raise _bad(too_long)
        return plain

    def _caption(self, params: dict[str, Any]) -> str | None:
        caption = params.get("caption")
        if caption is None:
            return None
        self._text(str(caption), params.get("parse_mode"), CAPTION_LIMIT, "message caption is too long")
        return str(caption)

    def _message(self, chat: str, **extra: Any) -> dict[str, Any]:
        chat_id: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
        return {"message_id": next(self._ids), "date": int(time.time()), "chat": {"id": chat_id}, **extra}

    @staticmethod
    def _file(request: Request, field_name: str) -> tuple[str, bytes] | None:
        storage = request.files.get(field_name)
        if storage is None:
            return None
        return storage.filename or "", storage.read()

    def _record(self, call: Call, results: list[dict[str, Any]]) -> None:
        call.message_ids = [result["message_id"] for result in results]
        self.calls.append(call)

    # Bot API methods (called with the lock held)

    def _api_getme(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(Call("getMe", None, params))
        return {"id": 123, "is_bot": True, "first_name": "feedpulse test", "username": "feedpulse_test_bot"}

    def _api_sendmessage(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad("message text is empty")
        plain = self._text(text, params.get("parse_mode"), TEXT_LIMIT, "message is too long")
        if not plain:
            raise _bad("message text is empty")
        result = self._message(chat, text=plain)
        self._record(Call("sendMessage", chat, params, text=text), [result])
        return result

    def _api_sendphoto(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        photo = self._file(request, "photo")
        if photo is None or not photo[1]:
            raise _bad("there is no photo in the request")
        caption = self._caption(params)
        result = self._message(chat, photo=[{"file_id": f"photo{len(self.calls)}", "file_size": len(photo[1])}])
        self._record(Call("sendPhoto", chat, params, caption=caption, files={"photo": photo}), [result])
        return result

    def _api_senddocument(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        document = self._file(request, "document")
        if document is None or not document[1]:
            raise _bad("there is no document in the request")
        caption = self._caption(params)
        result = self._message(chat, document={"file_name": document[0], "file_size": len(document[1])})
        self._record(Call("sendDocument", chat, params, caption=caption, files={"document": document}), [result])
        return result

    def _api_sendmediagroup(self, request: Request, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat = self._chat(params)
        media = params.get("media")
        try:
            items = json.loads(media) if isinstance(media, str) else media
        except ValueError:
            raise _bad("can't parse media JSON object") from None
        if not isinstance(items, list) or not items:
            raise _bad("media is empty" if not items else "can't parse media JSON object")
        if not 2 <= len(items) <= 10:
            raise _bad("media group must include 2-10 items")
        recorded, results, files = [], [], {}
        for item in items:
            if not isinstance(item, dict) or item.get("type") != "photo":
                raise _bad("can't parse InputMedia: media type must be photo")
            reference = str(item.get("media", ""))
            if not reference.startswith("attach://"):
                raise _bad("wrong file identifier/HTTP URL specified")
            attached = self._file(request, reference.removeprefix("attach://"))
            if attached is None or not attached[1]:
                raise _bad(f'can\'t find attached file "{reference.removeprefix("attach://")}"')
            caption = self._caption(item)
            files[reference.removeprefix("attach://")] = attached
            recorded.append({**item, "caption": caption, "file": attached})
            results.append(self._message(chat, photo=[{"file_size": len(attached[1])}], media_group_id="1"))
        self._record(Call("sendMediaGroup", chat, params, files=files, media=recorded), results)
        return results


@pytest.fixture
def telegram_double() -> Iterator[TelegramDouble]:
    """A running Bot API double, stopped after the test."""
    double = TelegramDouble().start()
    try:
        yield double
    finally:
        double.stop()
