"""Exactly once per part (issue 12): an interrupted delivery resumes at its first missing part, per
chat, for Telegram and the outbox alike; a lost answer is the one documented at-least-once case.

Against the local Bot API double; every test takes well under a second except the lost-answer
ones (they wait out a held-back answer, about a second each)."""
# ruff: noqa: F811 — the imported telegram_double fixture is "redefined" by the tests' parameters

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from feedpulse.telegram import (
    Delivery,
    DeliveryError,
    Document,
    Photo,
    SentLog,
    TelegramClient,
    TelegramSettings,
    deliver,
)
from feedpulse.telegram.outbox import OutboxWriter
from feedpulse.telegram.parts import plan
from tests.telegram_double import TelegramDouble, telegram_double  # noqa: F401

DAY = dt.date(2024, 5, 1)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PNG2 = b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 300


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def report(name: str = "feed_report") -> Delivery:
    """Text, a media group of two photos and a document: three parts."""
    return Delivery(
        name,
        DAY,
        "<b>Feed</b> 2024-05-01: DAU 18 700",
        photos=[Photo("dau", PNG, "DAU"), Photo("ctr", PNG2)],
        documents=[Document("metrics.csv", b"day,dau\n2024-05-01,18700\n")],
    )


def methods(double: TelegramDouble, chat: str) -> list[str]:
    return [call.method for call in double.sent(chat_id=chat)]


@pytest.fixture
def log(tmp_path) -> SentLog:
    return SentLog(tmp_path / "sent.sqlite")


# --- Telegram --------------------------------------------------------------------------------------


def test_text_accepted_photo_refused_then_each_part_exactly_once(telegram_double, log):
    """The fault: the text went out, the photos were refused (outage); the re-run sent the text again."""
    settings = telegram_double.settings(chat_ids=("1", "2"))
    telegram_double.fail_next("sendMediaGroup", status=503, times=5)  # every retry of chat 1's photos
    with pytest.raises(DeliveryError) as info:
        deliver(report(), settings, sleep=Sleeps(), sent_log=log)
    assert list(info.value.failures) == ["1"] and info.value.receipt.chat_ids == ["2"]
    assert methods(telegram_double, "1") == ["sendMessage"]
    assert methods(telegram_double, "2") == ["sendMessage", "sendMediaGroup", "sendDocument"]

    again = deliver(report(), settings, sleep=Sleeps(), sent_log=log)  # the retried run
    assert methods(telegram_double, "1") == ["sendMessage", "sendMediaGroup", "sendDocument"]  # once each
    assert methods(telegram_double, "2") == ["sendMessage", "sendMediaGroup", "sendDocument"]
    assert (again.chat_ids, again.resumed, again.already_delivered) == (["1"], ["1"], ["2"])
    assert (again.parts_sent, again.parts_skipped, again.uncertain_parts) == (2, 1, [])

    third = deliver(report(), settings, sleep=Sleeps(), sent_log=log)
    assert third.chat_ids == [] and third.already_delivered == ["1", "2"] and len(telegram_double.calls) == 6
    assert "already delivered to 1, 2" in third.summary()


def test_key_is_stable_identity_not_text(telegram_double, log):
    """Alerts key their deliveries on bucket/slice/kind: a reworded message is still the same delivery."""
    settings = telegram_double.settings()
    first = Delivery("alert-1915-total-firing", DAY, "views −40 %", key="alert/2024-05-01T19:15/total/firing")
    deliver(first, settings, sleep=Sleeps(), sent_log=log)
    reworded = Delivery("alert-1915-total-firing", DAY, "Views dropped 40 %", key=first.key)
    assert deliver(reworded, settings, sleep=Sleeps(), sent_log=log).already_delivered == ["1001"]
    assert len(telegram_double.sent("sendMessage")) == 1


def test_an_error_answer_means_not_delivered_and_is_simply_retried(telegram_double, log, caplog):
    settings = telegram_double.settings()
    telegram_double.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    with pytest.raises(DeliveryError) as info:
        deliver(report(), settings, sleep=Sleeps(), sent_log=log)
    assert info.value.failures["1001"].maybe_delivered is False
    assert log.parts("feed_report/2024-05-01", "1001") == []  # nothing may have arrived
    caplog.set_level(logging.WARNING)
    receipt = deliver(report(), settings, sleep=Sleeps(), sent_log=log)
    assert receipt.uncertain_parts == [] and "may have arrived" not in caplog.text
    assert methods(telegram_double, "1001") == ["sendMessage", "sendMediaGroup", "sendDocument"]


def test_connection_refused_is_known_not_delivered(log):
    down = TelegramDouble().start()
    settings = down.settings()
    down.stop()
    client = TelegramClient(settings, max_attempts=2, backoff=0.01, sleep=Sleeps())
    with pytest.raises(DeliveryError) as info:
        deliver(report(), settings, client=client, sent_log=log)
    assert info.value.failures["1001"].maybe_delivered is False
    assert log.parts("feed_report/2024-05-01", "1001") == []


def test_lost_answer_is_retried_and_counted_as_at_least_once(telegram_double, log, caplog):
    """The one unknowable case: Telegram carried out the request, the answer never came (read timeout).
    Documented behaviour: the part is sent again — it may arrive twice — and the receipt and log say so;
    every other part arrives once, and a re-run sends nothing."""
    caplog.set_level(logging.WARNING)
    settings = telegram_double.settings()
    client = TelegramClient(settings, timeout=0.3, backoff=0.01, sleep=Sleeps())
    telegram_double.lose_next_answer("sendMessage", delay=1.0)
    receipt = deliver(report(), settings, client=client, sent_log=log)
    assert receipt.chat_ids == ["1001"] and receipt.uncertain_parts == [("1001", 0)]
    assert methods(telegram_double, "1001") == ["sendMessage", "sendMessage", "sendMediaGroup", "sendDocument"]
    assert "may have arrived twice" in caplog.text and "may have arrived twice" in receipt.summary()
    again = deliver(report(), settings, client=client, sent_log=log)
    assert again.already_delivered == ["1001"] and len(telegram_double.calls) == 4


def test_lost_answer_then_failure_resends_that_part_on_the_rerun(telegram_double, log, caplog):
    """No retry left after the lost answer: the run fails with the part 'maybe delivered'; the re-run
    sends it again (at-least-once, with a warning) and the rest once."""
    caplog.set_level(logging.WARNING)
    settings = telegram_double.settings()
    one_try = TelegramClient(settings, timeout=0.3, max_attempts=1, sleep=Sleeps())
    telegram_double.lose_next_answer("sendMediaGroup", delay=1.0)
    with pytest.raises(DeliveryError) as info:
        deliver(report(), settings, client=one_try, sent_log=log)
    assert info.value.failures["1001"].maybe_delivered is True
    assert [(part, state) for _, part, _, state in log.parts("feed_report/2024-05-01", "1001")] == [
        (0, "sent"),
        (1, "sending"),
    ]
    receipt = deliver(report(), settings, sleep=Sleeps(), sent_log=log)
    assert receipt.uncertain_parts == [("1001", 1)] and receipt.resumed == ["1001"]
    assert methods(telegram_double, "1001") == ["sendMessage", "sendMediaGroup", "sendMediaGroup", "sendDocument"]
    assert "part 2 (media group of 2 photos) to chat 1001 may have arrived already" in caplog.text


def test_process_killed_between_request_and_record(telegram_double, log, monkeypatch):
    """A run killed after Telegram accepted a part but before the log recorded it: that part is the
    unknowable case again (sent once more on the re-run); the parts recorded before are not."""
    settings = telegram_double.settings()
    real_sent = SentLog.sent

    def killed_after_the_photos(self, delivery, chat, generation, part, message_ids):
        if part == 1:
            raise KeyboardInterrupt  # stands for SIGKILL: nothing after the request ran
        real_sent(self, delivery, chat, generation, part, message_ids)

    monkeypatch.setattr(SentLog, "sent", killed_after_the_photos)
    with pytest.raises(KeyboardInterrupt):
        deliver(report(), settings, sleep=Sleeps(), sent_log=log)
    monkeypatch.setattr(SentLog, "sent", real_sent)
    receipt = deliver(report(), settings, sleep=Sleeps(), sent_log=log)
    assert receipt.uncertain_parts == [("1001", 1)]
    assert methods(telegram_double, "1001") == ["sendMessage", "sendMediaGroup", "sendMediaGroup", "sendDocument"]


def test_resend_gives_a_new_copy_but_completes_an_interrupted_one_first(telegram_double, log):
    settings = telegram_double.settings()
    telegram_double.fail_next("sendDocument", status=400)
    with pytest.raises(DeliveryError):
        deliver(report(), settings, sleep=Sleeps(), sent_log=log, resend=True)
    completed = deliver(report(), settings, sleep=Sleeps(), sent_log=log, resend=True)  # a retry of that run
    assert completed.resumed == ["1001"] and completed.parts_sent == 1
    assert methods(telegram_double, "1001") == ["sendMessage", "sendMediaGroup", "sendDocument"]
    copy = deliver(report(), settings, sleep=Sleeps(), sent_log=log, resend=True)
    assert copy.resumed == [] and copy.parts_sent == 3 and len(telegram_double.calls) == 6


def test_parts_follow_the_sending_order_and_long_captions():
    delivery = Delivery(
        "x",
        DAY,
        "line\n" * 1200,  # two messages
        photos=[Photo("one", PNG, "c" * 1100)],  # a caption over 1024: sent after the photo
        documents=[Document("a.csv", b"1")],
    )
    assert [(p.index, p.kind) for p in plan(delivery)] == [
        (0, "text"),
        (1, "text"),
        (2, "photo"),
        (3, "text"),
        (4, "document"),
    ]
    assert plan(delivery)[2].attachments[0].caption == "" and plan(delivery)[3].text == "c" * 1100


def test_a_log_from_before_parts_is_taken_over(tmp_path, telegram_double):
    path = tmp_path / "sent.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE sent (report TEXT NOT NULL, partition TEXT NOT NULL, chat TEXT NOT NULL, "
            "destination TEXT NOT NULL, sent_at TEXT NOT NULL, PRIMARY KEY (report, partition, chat))"
        )
        conn.execute("INSERT INTO sent VALUES ('feed_report', '2024-05-01', '1001', 'telegram', '2024-05-02')")
    receipt = deliver(report(), telegram_double.settings(), sleep=Sleeps(), sent_log=SentLog(path))
    assert receipt.already_delivered == ["1001"] and telegram_double.calls == []
    assert SentLog(path).delivered_to("feed_report/2024-05-01") == {"1001"}  # opening again changes nothing


# --- outbox ----------------------------------------------------------------------------------------


@pytest.fixture
def outbox_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("FEEDPULSE_HOME", str(tmp_path))
    return tmp_path


def test_outbox_follows_the_same_per_part_rules(outbox_home, log, monkeypatch):
    settings = TelegramSettings(chat_ids=("5",))  # no token: the outbox
    real_write = OutboxWriter.write

    def disk_full_at_the_document(self, part):
        if part.kind == "document":
            raise OSError(28, "No space left on device")
        real_write(self, part)

    monkeypatch.setattr(OutboxWriter, "write", disk_full_at_the_document)
    with pytest.raises(OSError, match="No space left"):
        deliver(report(), settings, sent_log=log)
    folder = outbox_home / "outbox" / "2024-05-01" / "feed_report"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] is False and [p["part"] for p in manifest["parts"]] == [0, 1, 1]
    text_written = (folder / "message.html").stat().st_mtime_ns

    monkeypatch.setattr(OutboxWriter, "write", real_write)
    receipt = deliver(report(), settings, sent_log=log)
    assert (receipt.resumed, receipt.parts_sent, receipt.parts_skipped) == (["outbox"], 1, 2)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["chat_ids"] == ["5"]
    assert [(p["part"], p["file"]) for p in manifest["parts"]] == [
        (0, "message.html"),
        (1, "dau.png"),
        (1, "ctr.png"),
        (2, "metrics.csv"),
    ]
    assert (folder / "message.html").stat().st_mtime_ns == text_written  # not written again
    assert (folder / "metrics.csv").read_bytes() == b"day,dau\n2024-05-01,18700\n"
    assert sorted(p.name for p in folder.iterdir()) == [
        "ctr.png",
        "dau.png",
        "manifest.json",
        "message.html",
        "metrics.csv",
    ]

    again = deliver(report(), settings, sent_log=log)
    assert again.already_delivered == ["outbox"] and again.parts_sent == 0
    assert json.loads((folder / "manifest.json").read_text()) == manifest  # untouched, created_at included

    fresh = deliver(report(), settings, sent_log=log, resend=True)
    assert fresh.parts_sent == 3 and json.loads((folder / "manifest.json").read_text())["complete"] is True
    assert sorted(p.name for p in folder.parent.iterdir()) == ["feed_report"]  # no temporary or old folders


def test_experiment_report_resumes_each_part_once(telegram_double, log):
    from feedpulse.experiments.pipeline import ExperimentReport, send

    report_ = ExperimentReport(
        name="ab_test_feed_ranking", result=None, markdown="", html="<b>A/B</b>: roll out", pngs={"ctr": PNG, "p": PNG2}
    )  # type: ignore[arg-type]
    settings = telegram_double.settings()
    telegram_double.fail_next("sendMediaGroup", status=400)
    with pytest.raises(DeliveryError):
        send(report_, DAY, settings, sent_log=log)
    receipt = send(report_, DAY, settings, sent_log=log)
    assert receipt.resumed == ["1001"] and methods(telegram_double, "1001") == ["sendMessage", "sendMediaGroup"]
    assert send(report_, DAY, settings, sent_log=log).already_delivered == ["1001"]
    assert send(report_, DAY, settings, sent_log=log, resend=True).parts_sent == 2
