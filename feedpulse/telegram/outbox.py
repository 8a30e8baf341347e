"""The outbox: where deliveries go when no bot token is configured — part by part, like a chat.

Each delivery becomes a folder ``$FEEDPULSE_HOME/outbox/<date>/<name>/`` holding what Telegram
would have received, in the same order and in the same parts (:func:`feedpulse.telegram.parts.plan`)::

    message.html                 the text (message-1.html, message-2.html, … when it is split
                                 to Telegram's limit, or a long caption follows its photo: one file
                                 per message)
    <photo>.png                  each photo; its caption is in the manifest
    <document file name>         each document (e.g. a CSV), under its own file name
    manifest.json                {name, date, created_at, chat_ids, complete,
                                  parts: [{part, kind, file, caption}]}

``chat_ids`` are the chats it would have gone to (``TELEGRAM_CHAT_ID``, possibly empty). The
outbox follows the same per-part rules as Telegram: a part's files are written under temporary
names and renamed into place, then the manifest (rewritten atomically) lists the part; a delivery
interrupted half-way is resumed at its first missing part, and ``complete`` turns true after the
last one. So a reader never sees a half-written file, and a part listed in the manifest is whole.
A new delivery of the same (date, name) — without a sent log, or a ``resend`` — starts a fresh
folder (the old one is moved aside and removed), so no file of an earlier delivery stays behind.
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
from typing import Any

from feedpulse.config import feedpulse_home
from feedpulse.telegram.parts import Delivery, Part, plan

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


def file_names(parts: Sequence[Part]) -> dict[int, list[str]]:
    """The file of each text and attachment, per part index — the same for every run of a delivery."""
    used = {MANIFEST}
    texts = sum(1 for part in parts if part.kind == "text")
    names: dict[int, list[str]] = {}
    text_number = 0
    for part in parts:
        if part.kind == "text":
            text_number += 1
            names[part.index] = [_unique("message.html" if texts == 1 else f"message-{text_number}.html", used)]
        elif part.kind == "document":
            names[part.index] = [_unique(safe_name(part.attachments[0].name), used)]
        else:
            stems = [safe_name(attachment.name) for attachment in part.attachments]
            names[part.index] = [_unique(s if s.lower().endswith(".png") else f"{s}.png", used) for s in stems]
    return names


def _write_atomically(path: Path, content: bytes) -> None:
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex}"
    try:
        tmp.write_bytes(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class OutboxWriter:
    """Writes one delivery's parts into its folder; :meth:`start` begins (or resumes) a copy."""

    def __init__(
        self, delivery: Delivery, parts: Sequence[Part], chat_ids: Sequence[str] = (), home: Path | None = None
    ):
        self.delivery = delivery
        self.parts = list(parts)
        self.chat_ids = [str(chat) for chat in chat_ids]
        self.path = outbox_dir(delivery.day, delivery.name, home)
        self.names = file_names(self.parts)

    def _manifest(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return self._empty_manifest()

    def _empty_manifest(self) -> dict[str, Any]:
        return {
            "name": self.delivery.name,
            "date": self.delivery.day.isoformat(),
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "chat_ids": self.chat_ids,
            "complete": False,
            "parts": [],
        }

    def _save(self, manifest: dict[str, Any]) -> None:
        text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
        _write_atomically(self.path / MANIFEST, text.encode("utf-8"))

    def start(self, fresh: bool) -> None:
        """A fresh copy replaces the folder (old one moved aside, then removed); else keep what is there."""
        if not fresh and (self.path / MANIFEST).is_file():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.tmp-", dir=self.path.parent))
        try:
            os.chmod(tmp, 0o755)
            text = json.dumps(self._empty_manifest(), ensure_ascii=False, indent=2) + "\n"
            (tmp / MANIFEST).write_text(text, encoding="utf-8")
            _swap(tmp, self.path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def write(self, part: Part) -> None:
        """The part's files, then its manifest entries (replacing any of an earlier attempt)."""
        files = self.names[part.index]
        if part.kind == "text":
            contents = [(files[0], part.text.encode("utf-8"), "text", "")]
        else:
            kind = "document" if part.kind == "document" else "photo"
            contents = [(f, a.data, kind, a.caption) for f, a in zip(files, part.attachments, strict=True)]
        for file, content, _, _ in contents:
            _write_atomically(self.path / file, content)
        manifest = self._manifest()
        entries = [entry for entry in manifest["parts"] if entry.get("part") != part.index]
        entries += [{"part": part.index, "kind": kind, "file": f, "caption": c} for f, _, kind, c in contents]
        manifest["parts"] = sorted(entries, key=lambda entry: entry["part"])
        self._save(manifest)

    def finish(self) -> None:
        manifest = self._manifest()
        manifest["complete"] = True
        self._save(manifest)


def write_outbox(delivery: Delivery, chat_ids: Sequence[str] = (), home: Path | None = None) -> Path:
    """Write the whole ``delivery`` as a fresh copy (no sent log); the folder."""
    writer = OutboxWriter(delivery, plan(delivery), chat_ids, home)
    writer.start(fresh=True)
    for part in writer.parts:
        writer.write(part)
    writer.finish()
    return writer.path


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
