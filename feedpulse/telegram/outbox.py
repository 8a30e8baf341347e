"""The outbox: where deliveries go when no bot token is configured.

Each delivery becomes a folder ``$FEEDPULSE_HOME/outbox/<date>/<name>/`` holding what Telegram
would have received, in the same order::

    message.html                 the text (message-1.html, message-2.html, … when it is split
                                 to Telegram's limit: one file per message)
    <photo>.png                  each photo; its caption is in the manifest
    <document file name>         each document (e.g. a CSV), under its own file name
    manifest.json                {name, date, created_at, chat_ids, parts: [{kind, file, caption}]}

``chat_ids`` are the chats it would have gone to (``TELEGRAM_CHAT_ID``, possibly empty). The
folder is written in a temporary sibling (``.<name>.tmp-*``) and renamed into place, so readers
never see half a delivery; delivering the same (date, name) again replaces the whole folder, so no
file of an earlier delivery stays behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feedpulse.config import feedpulse_home
from feedpulse.telegram.messages import split_html

if TYPE_CHECKING:
    from feedpulse.telegram.delivery import Delivery

MANIFEST = "manifest.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file or folder name from ``name``: letters, digits, ``.``, ``_``, ``-`` only, no leading dot."""
    cleaned = _UNSAFE.sub("_", name.strip()).lstrip(".")
    if not cleaned.strip("_"):
        raise ValueError(f"not usable as a file name: {name!r}")
    return cleaned


def outbox_dir(day: dt.date, name: str, home: Path | None = None) -> Path:
    return (home or feedpulse_home()) / "outbox" / day.isoformat() / safe_name(name)


def _unique(name: str, used: set[str]) -> str:
    stem, dot, suffix = name.rpartition(".") if "." in name else (name, "", "")
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{stem}-{n}{dot}{suffix}"
    used.add(candidate)
    return candidate


def _plan(delivery: Delivery) -> list[tuple[dict[str, Any], bytes]]:
    """(manifest part, file content) in Telegram's order: text, photos, documents."""
    used = {MANIFEST}
    texts = split_html(delivery.html)
    planned: list[tuple[dict[str, Any], bytes]] = []
    for index, text in enumerate(texts, start=1):
        file = _unique("message.html" if len(texts) == 1 else f"message-{index}.html", used)
        planned.append(({"kind": "text", "file": file, "caption": ""}, text.encode()))
    for photo in delivery.photos:
        stem = safe_name(photo.name)
        file = _unique(stem if stem.lower().endswith(".png") else f"{stem}.png", used)
        planned.append(({"kind": "photo", "file": file, "caption": photo.caption}, photo.png))
    for document in delivery.documents:
        file = _unique(safe_name(document.name), used)
        planned.append(({"kind": "document", "file": file, "caption": document.caption}, document.data))
    return planned


def write_outbox(delivery: Delivery, chat_ids: Sequence[str] = (), home: Path | None = None) -> Path:
    """Write ``delivery`` to its outbox folder (atomically, replacing an earlier one); the folder."""
    target = outbox_dir(delivery.day, delivery.name, home)
    target.parent.mkdir(parents=True, exist_ok=True)
    planned = _plan(delivery)
    manifest = {
        "name": delivery.name,
        "date": delivery.day.isoformat(),
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "chat_ids": [str(chat) for chat in chat_ids],
        "parts": [part for part, _ in planned],
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)
        for part, content in planned:
            (tmp / part["file"]).write_bytes(content)
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        _swap(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _swap(tmp: Path, target: Path) -> None:
    """Move ``tmp`` to ``target``; an existing ``target`` is moved aside first, then removed."""
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex}"
    try:
        target.rename(old)
    except FileNotFoundError:
        old = None
    tmp.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
