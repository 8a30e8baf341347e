"""Telegram client, delivery and outbox, against the local Bot API double (no network)."""
# ruff: noqa: F811 — the imported telegram_double fixture is "redefined" by the tests' parameters

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import socket
import traceback
from pathlib import Path

import pytest
import requests

from feedpulse.telegram import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    Delivery,
    DeliveryError,
    Document,
    Html,
    Photo,
    TelegramClient,
    TelegramError,
    TelegramNetworkError,
    TelegramSettings,
    bold,
    code,
    deliver,
    escape,
    fmt,
    italic,
    join,
    link,
    photo_groups,
    pre,
    split_html,
    utf16_len,
)
from tests.telegram_double import TOKEN, TelegramDouble, parse_html, telegram_double  # noqa: F401

DAY = dt.date(2024, 5, 1)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8  # every byte value, incl. CR/LF and NUL
PNG2 = b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 500


class Sleeps(list):
    """A sleep function that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(double: TelegramDouble, **kwargs) -> tuple[TelegramClient, Sleeps]:
    sleeps = Sleeps()
    kwargs.setdefault("backoff", 0.01)
    return TelegramClient(double.settings(), sleep=sleeps, **kwargs), sleeps


def long_report(lines: int = 400) -> str:
    return "".join(f"<b>metric {n}</b> — value &amp; change: <i>{n * 7 % 100}%</i> &lt;ok&gt;\n" for n in range(lines))


# --- HTML building and splitting -----------------------------------------------------------------


def test_escape_and_builders():
    assert escape('a & b < c > d "q"') == "a &amp; b &lt; c &gt; d &quot;q&quot;"
    assert escape(bold("x")) == "<b>x</b>"  # Html is not escaped twice
    assert fmt("<b>{}</b>: {v}", "<script>", v=italic("5 & 6")) == "<b>&lt;script&gt;</b>: <i>5 &amp; 6</i>"
    assert bold("DAU") + " & co" == "<b>DAU</b> &amp; co"
    assert isinstance(bold("a") + "b", Html)
    assert link("a<b", 'https://x/?a=1&b="2"') == '<a href="https://x/?a=1&amp;b=&quot;2&quot;">a&lt;b</a>'
    assert pre("x < y", "python") == '<pre><code class="language-python">x &lt; y</code></pre>'
    assert join("\n", ["<1>", bold(2)]) == "&lt;1&gt;\n<b>2</b>"


def test_built_html_is_accepted_and_raw_text_is_rejected(telegram_double):
    client, _ = client_for(telegram_double)
    html = join(
        "\n",
        [
            fmt("<b>{}</b> {}", "A&B <Co>", code("x<y")),
            link("dash & more", "https://h/?a=1&b=2"),
            pre("if a < b:\n    pass", "python"),
            fmt('<span class="tg-spoiler">{}</span>', "&"),
        ],
    )
    client.send_message("1001", html)
    assert parse_html(telegram_double.sent("sendMessage")[0].text).startswith("A&B <Co> x<y\ndash & more")
    for bad, reason in [
        ("a & b", "Character '&' is reserved"),
        ("1 < 2", "Unsupported start tag"),
        ("<br>", 'Unsupported start tag "br"'),
        ("<b>x", "Can't find end tag"),
        ("<b><i>x</b></i>", "Unmatched end tag"),
    ]:
        with pytest.raises(TelegramError, match="can't parse entities") as info:
            client.send_message("1001", bad)
        assert info.value.status == 400 and reason in info.value.description


def test_split_on_lines_each_part_accepted(telegram_double):
    html = long_report()
    assert len(html) > 3 * TEXT_LIMIT
    parts = split_html(html)
    assert len(parts) >= 4 and "".join(parts) == html
    assert all(utf16_len(part) <= TEXT_LIMIT and part.endswith("\n") for part in parts)
    receipt = deliver(Delivery("feed", DAY, html), telegram_double.settings(), sleep=Sleeps())
    texts = [call.text for call in telegram_double.sent("sendMessage")]
    assert texts == parts and len(receipt.message_ids) == len(parts)


def test_single_message_not_split():
    assert split_html("<b>short</b>\n") == ["<b>short</b>\n"]
    assert split_html("") == [] and split_html("\n \n") == []


def test_long_line_split_hard_never_inside_tags_or_entities():
    line = "<b>" + "x &amp; y &#128512; " * 800 + "</b>"  # one line, a tag open across the cuts
    parts = split_html(line, limit=500)
    assert len(parts) > 10
    for part in parts:
        assert utf16_len(part) <= 500
        assert part.startswith("<b>") and part.endswith("</b>")  # balanced: closed and reopened
        parse_html(part)  # valid Telegram HTML: no cut inside an entity or a tag
    assert "".join(parse_html(part) for part in parts) == parse_html(line)


def test_multiline_pre_reopened_and_blank_lines_never_alone():
    html = "intro\n<pre>" + "".join(f"row {n}\n" for n in range(200)) + "</pre>\n\n\n" + "tail\n"
    parts = split_html(html, limit=300)
    for part in parts:
        assert utf16_len(part) <= 300 and parse_html(part).strip()
    assert "".join(parse_html(part) for part in parts) == parse_html(html)


def test_split_counts_utf16_units():
    parts = split_html("📈" * 3000)  # 6000 UTF-16 units on one line
    assert [utf16_len(part) for part in parts] == [4096, 1904]


def test_photo_groups():
    assert [photo_groups(n) for n in (0, 1, 2, 10, 11, 12, 21)] == [[], [1], [2], [10], [6, 5], [6, 6], [7, 7, 7]]


# --- multipart: photos, media groups, documents --------------------------------------------------


def test_single_photo_document_and_order(telegram_double):
    delivery = Delivery(
        "alert",
        DAY,
        "<b>Alert</b>",
        photos=[Photo("dau", PNG, "DAU &amp; WAU")],
        documents=[Document("metrics-2024-05-01.csv", b"day,dau\n2024-05-01,10\n", "<i>raw</i>")],
    )
    receipt = deliver(delivery, telegram_double.settings(), sleep=Sleeps())
    assert [call.method for call in telegram_double.calls] == ["sendMessage", "sendPhoto", "sendDocument"]
    photo = telegram_double.sent("sendPhoto")[0]
    assert photo.files["photo"] == ("dau.png", PNG) and photo.caption == "DAU &amp; WAU"
    assert photo.params["parse_mode"] == "HTML"
    document = telegram_double.sent("sendDocument")[0]
    assert document.files["document"] == ("metrics-2024-05-01.csv", b"day,dau\n2024-05-01,10\n")
    assert document.caption == "<i>raw</i>"
    assert receipt.destination == "telegram" and receipt.message_ids == [1, 2, 3] and receipt.chat_ids == ["1001"]


def test_media_group_attachments_intact_and_chunked(telegram_double):
    photos = [Photo(f"chart{n}", PNG if n % 2 else PNG2, f"<b>chart {n}</b>") for n in range(12)]
    deliver(Delivery("feed", DAY, "report", photos=photos), telegram_double.settings(), sleep=Sleeps())
    groups = telegram_double.sent("sendMediaGroup")
    assert [len(group.media) for group in groups] == [6, 6]
    items = [item for group in groups for item in group.media]
    assert [item["file"] for item in items] == [(f"chart{n}.png", photos[n].png) for n in range(12)]
    assert [item["caption"] for item in items] == [photo.caption for photo in photos]
    assert all(item["media"].startswith("attach://") for item in items)
    assert not telegram_double.sent("sendPhoto")


def test_two_photos_are_one_media_group(telegram_double):
    client, _ = client_for(telegram_double)
    result = client.send_media_group("1001", [("a", PNG, ""), Photo("b", PNG2, "second")])
    assert [message["message_id"] for message in result] == [1, 2]
    (group,) = telegram_double.sent("sendMediaGroup")
    assert [item["file"][1] for item in group.media] == [PNG, PNG2]
    assert "caption" not in json.loads(group.params["media"])[0]


def test_long_caption_goes_as_message_after_the_photo(telegram_double):
    caption = "<b>long</b> " + "word " * 300
    assert utf16_len(caption) > CAPTION_LIMIT
    client, _ = client_for(telegram_double)
    with pytest.raises(TelegramError, match="message caption is too long"):
        client.send_photo("1001", PNG, caption)  # the double enforces the limit
    deliver(Delivery("feed", DAY, "", photos=[Photo("dau", PNG, caption)]), telegram_double.settings(), sleep=Sleeps())
    methods = [(call.method, call.caption, call.text) for call in telegram_double.calls]
    assert methods == [("sendPhoto", None, None), ("sendMessage", None, caption)]


# --- faults ----------------------------------------------------------------------------------


def test_429_then_502_delivered_exactly_once(telegram_double):
    telegram_double.fail_next("sendMessage", status=429, retry_after=2)
    telegram_double.fail_next("sendMessage", status=502)
    sleeps = Sleeps()
    receipt = deliver(Delivery("feed", DAY, "<b>hello</b>"), telegram_double.settings(), sleep=sleeps)
    assert len(telegram_double.sent("sendMessage")) == 1
    assert telegram_double.requests == [("sendMessage", 429), ("sendMessage", 502), ("sendMessage", 200)]
    assert sleeps[0] == 2 and len(sleeps) == 2  # retry_after, then one backoff
    assert receipt.message_ids == [1]


def test_retry_after_is_capped(telegram_double):
    telegram_double.fail_next("sendMessage", status=429, retry_after=3600)
    client, sleeps = client_for(telegram_double, max_retry_after=30)
    client.send_message("1001", "x")
    assert sleeps == [30]


def test_5xx_backoff_is_exponential_and_bounded(telegram_double):
    telegram_double.fail_next("sendPhoto", status=503, times=10)
    client, sleeps = client_for(telegram_double, max_attempts=4, backoff=0.5)
    with pytest.raises(TelegramError) as info:
        client.send_photo("1001", PNG)
    assert info.value.status == 503 and sleeps == [0.5, 1.0, 2.0]
    assert telegram_double.attempts("sendPhoto") == 4 and not telegram_double.sent()


def test_400_fails_at_once_with_description(telegram_double):
    client, sleeps = client_for(telegram_double)
    telegram_double.fail_next("sendDocument", status=400, description="Bad Request: chat not found")
    with pytest.raises(TelegramError) as info:
        client.send_document("1001", "a.csv", b"x")
    assert (info.value.method, info.value.status, info.value.description) == (
        "sendDocument",
        400,
        "Bad Request: chat not found",
    )
    assert "Bad Request: chat not found" in str(info.value)
    assert telegram_double.attempts("sendDocument") == 1 and sleeps == []
    with pytest.raises(TelegramError, match="message is too long"):
        client.send_message("1001", "x" * (TEXT_LIMIT + 1))


def test_unknown_token_and_method(telegram_double):
    bad = TelegramClient(telegram_double.settings(token="999:WRONG"), sleep=Sleeps())
    with pytest.raises(TelegramError) as info:
        bad.get_me()
    assert (info.value.status, info.value.description) == (401, "Unauthorized")
    client, _ = client_for(telegram_double)
    with pytest.raises(TelegramError) as info:
        client.call("sendSticker", data={"chat_id": "1"})
    assert (info.value.status, info.value.description) == (404, "Not Found")
    assert client.get_me()["is_bot"] is True


def test_network_error_retries_then_fails(telegram_double):
    client, sleeps = client_for(telegram_double, max_attempts=3, timeout=2)
    telegram_double.stop()
    with pytest.raises(TelegramNetworkError) as info:
        client.send_message("1001", "x")
    assert info.value.status is None and "ConnectionError" in str(info.value)
    assert sleeps == [0.01, 0.02]


def test_closed_port_and_timeout_are_retried(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    settings = TelegramSettings(token=TOKEN, chat_ids=("1",), api_url=f"http://127.0.0.1:{port}")
    client = TelegramClient(settings, max_attempts=2, backoff=0.1, sleep=sleeps)
    with pytest.raises(TelegramNetworkError):
        client.get_me()
    assert sleeps == [0.1]

    def timeout(*args, **kwargs):
        raise requests.ReadTimeout(f"Read timed out: {args[0]}")

    monkeypatch.setattr(client.session, "post", timeout)
    with pytest.raises(TelegramNetworkError, match="ReadTimeout"):
        client.get_me()
    assert sleeps == [0.1, 0.1]


# --- the token stays secret --------------------------------------------------------------------


def test_token_never_in_logs_exceptions_or_reprs(telegram_double, caplog):
    caplog.set_level(logging.DEBUG)
    settings = telegram_double.settings()
    client, _ = client_for(telegram_double, max_attempts=2)
    errors: list[BaseException] = []
    telegram_double.fail_next("sendMessage", status=429, retry_after=1)
    client.send_message("1001", "ok")
    for action in (lambda: client.send_message("1001", "a & b"), lambda: client.call("nope")):
        with pytest.raises(TelegramError) as info:
            action()
        errors.append(info.value)
    telegram_double.stop()
    with pytest.raises(TelegramNetworkError) as info:
        client.send_message("1001", "x")
    errors.append(info.value)
    with pytest.raises(DeliveryError) as info:
        deliver(Delivery("feed", DAY, "x"), settings, sleep=Sleeps())
    errors.append(info.value)
    ours = [record for record in caplog.records if record.name != "werkzeug"]  # werkzeug: the double's server log
    texts = [caplog.handler.format(record) for record in ours] + [repr(settings), repr(client)]
    for error in errors:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
    assert any("/bot***/" in text for text in texts)  # urllib3's debug lines were there, redacted
    for text in texts:
        assert TOKEN not in text and "123%3ATEST" not in text
    assert "***" in str(errors[2])


# --- outbox ------------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("FEEDPULSE_HOME", str(tmp_path))
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "TELEGRAM_API_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_outbox_layout_manifest_and_replacement(home, monkeypatch):
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "1, -100200")
    delivery = Delivery(
        "feed report",
        DAY,
        long_report(),
        photos=[Photo("dau", PNG, "<b>DAU</b>"), Photo("ctr", PNG2)],
        documents=[Document("metrics.csv", b"a,b\n1,2\n", "raw")],
    )
    receipt = deliver(delivery)
    folder = home / "outbox" / "2024-05-01" / "feed_report"
    assert receipt.destination == "outbox" and receipt.outbox_path == folder and receipt.message_ids == []
    assert receipt.chat_ids == ["outbox"]
    manifest = json.loads((folder / "manifest.json").read_text())
    texts = [part["file"] for part in manifest["parts"] if part["kind"] == "text"]
    assert texts == [f"message-{n}.html" for n in range(1, len(texts) + 1)] and len(texts) >= 4
    assert "".join((folder / file).read_text() for file in texts) == delivery.html
    n = len(texts)  # the parts: texts, one media group of two photos, the document
    assert manifest["parts"][n:] == [
        {"part": n, "kind": "photo", "file": "dau.png", "caption": "<b>DAU</b>"},
        {"part": n, "kind": "photo", "file": "ctr.png", "caption": ""},
        {"part": n + 1, "kind": "document", "file": "metrics.csv", "caption": "raw"},
    ]
    assert manifest["complete"] is True
    assert (manifest["name"], manifest["date"], manifest["chat_ids"]) == ("feed report", "2024-05-01", ["1", "-100200"])
    assert dt.datetime.fromisoformat(manifest["created_at"])
    assert (folder / "dau.png").read_bytes() == PNG and (folder / "metrics.csv").read_bytes() == b"a,b\n1,2\n"

    again = deliver(Delivery("feed report", DAY, "<b>short</b>", photos=[Photo("wau", PNG2)]))
    assert again.outbox_path == folder
    assert sorted(path.name for path in folder.iterdir()) == ["manifest.json", "message.html", "wau.png"]
    assert sorted(path.name for path in folder.parent.iterdir()) == ["feed_report"]  # no temp or old folders
    for path in home.rglob("*"):
        assert not path.is_file() or TOKEN.encode() not in path.read_bytes()


def test_outbox_without_chat_ids_and_name_clashes(home):
    delivery = Delivery(
        "alert/dau",
        DAY,
        "x",
        photos=[Photo("a", PNG), Photo("a.png", PNG2)],
        documents=[Document("manifest.json", b"{}"), Document("message.html", b"doc")],
    )
    receipt = deliver(delivery, TelegramSettings())
    files = [part["file"] for part in json.loads((receipt.outbox_path / "manifest.json").read_text())["parts"]]
    assert receipt.outbox_path.name == "alert_dau" and receipt.chat_ids == ["outbox"]
    assert json.loads((receipt.outbox_path / "manifest.json").read_text())["chat_ids"] == []
    assert files == ["message.html", "a.png", "a-2.png", "manifest-2.json", "message-2.html"]


# --- settings ----------------------------------------------------------------------------------


def test_settings_from_env():
    env = {"TELEGRAM_BOT_TOKEN": " 42:abc-DEF_g ", "TELEGRAM_CHAT_ID": "1, -1002003 ,@my_channel"}
    settings = TelegramSettings.from_env(env)
    assert settings.token == "42:abc-DEF_g" and settings.chat_ids == ("1", "-1002003", "@my_channel")
    assert settings.api_url == "https://api.telegram.org" and "42:abc" not in repr(settings)
    assert TelegramSettings.from_env({"TELEGRAM_CHAT_ID": "5"}) == TelegramSettings(chat_ids=("5",))
    custom = TelegramSettings.from_env({"TELEGRAM_API_URL": "http://127.0.0.1:8081/"})
    assert custom.api_url == "http://127.0.0.1:8081" and custom.token is None
    assert dataclasses.replace(settings, chat_ids=["7"]).chat_ids == ("7",)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"TELEGRAM_BOT_TOKEN": "1:x"}, "TELEGRAM_CHAT_ID"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_CHAT_ID": " , "}, "TELEGRAM_CHAT_ID"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_CHAT_ID": "12, mychat"}, "TELEGRAM_CHAT_ID"),
        ({"TELEGRAM_CHAT_ID": "1.5"}, "TELEGRAM_CHAT_ID"),
        ({"TELEGRAM_BOT_TOKEN": "1:x y", "TELEGRAM_CHAT_ID": "1"}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_API_URL": "api.telegram.org"}, "TELEGRAM_API_URL"),
    ],
)
def test_settings_errors_name_the_variable(env, variable):
    with pytest.raises(ValueError, match=variable) as info:
        TelegramSettings.from_env(env)
    assert "1:x" not in str(info.value)


# --- several chats -----------------------------------------------------------------------------


def test_several_chats_each_get_everything(telegram_double):
    settings = telegram_double.settings(chat_ids=("1", "-1002", "@feed_channel"))
    delivery = Delivery(
        "feed", DAY, "<b>hi</b>", photos=[Photo("a", PNG), Photo("b", PNG2)], documents=[Document("m.csv", b"1")]
    )
    receipt = deliver(delivery, settings, sleep=Sleeps())
    assert receipt.chat_ids == ["1", "-1002", "@feed_channel"] and len(receipt.message_ids) == 12
    for chat in settings.chat_ids:
        assert [call.method for call in telegram_double.sent(chat_id=chat)] == [
            "sendMessage",
            "sendMediaGroup",
            "sendDocument",
        ]


def test_failing_chat_does_not_stop_the_others(telegram_double):
    telegram_double.chats = {"1", "3"}
    with pytest.raises(DeliveryError, match="chat 2: Bad Request: chat not found") as info:
        deliver(Delivery("feed", DAY, "hi"), telegram_double.settings(chat_ids=("1", "2", "3")), sleep=Sleeps())
    assert info.value.receipt.chat_ids == ["1", "3"] and list(info.value.failures) == ["2"]
    assert [call.chat_id for call in telegram_double.sent("sendMessage")] == ["1", "3"]
    assert info.value.status == 400 and isinstance(info.value, TelegramError)


def test_double_checks_media_group_attachments(telegram_double):
    url = f"{telegram_double.url}/bot{TOKEN}/sendMediaGroup"
    media = json.dumps([{"type": "photo", "media": "attach://a"}, {"type": "photo", "media": "attach://b"}])
    answer = requests.post(url, data={"chat_id": "1", "media": media}, files={"a": ("a.png", PNG)}, timeout=5)
    assert answer.status_code == 400 and re.search(r"attached file \"b\"", answer.json()["description"])
    answer = requests.post(url, data={"chat_id": "1", "media": media[:40] + "]"}, timeout=5)
    assert answer.status_code == 400


def test_split_refuses_when_open_tags_leave_no_room():
    with pytest.raises(ValueError, match="no room"):
        split_html('<a href="https://example.com/' + "x" * 40 + '">' + "y" * 100 + "</a>", limit=60)
