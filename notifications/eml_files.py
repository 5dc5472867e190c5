"""The outbox mode: each message written as <key>.eml in a directory instead of sent.

For a site without an SMTP server (or a test, or a demo): the secretary's mail program or a
relay picks the files up. Apart from the sending because the durability questions are a
file system's (atomic rename, one directory fsync per group), not a server's.
"""

from __future__ import annotations

import os
import re
from typing import Callable, Iterable

from notifications.outcomes import DeliveryResult, Failure, OutgoingMail, one_line
from notifications.wire import wire_bytes

_SAFE_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def write_outbox(
    outbox: str,
    pending: Iterable[tuple[int, OutgoingMail]],
    emit: Callable[[int, DeliveryResult], None],
    group: int = 500,
) -> None:
    """Write each message as <key>.eml: temp file + os.replace, so readers never see half
    a file and a rewrite (same key) replaces the file whole.

    No fsync per file (it cost more than everything else together). Instead the results
    of a group are reported (through `emit`, with the mail's index) only after one fsync of
    the directory: a file is recorded "sent" only once its rename is on disk. A crash before
    that leaves the rows claimed; the next sweep writes the same files again, which is
    harmless.
    """
    os.makedirs(outbox, exist_ok=True)
    pid, flags = os.getpid(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    pending = list(pending)
    for start in range(0, len(pending), group):
        done = []
        for index, mail in pending[start : start + group]:
            key = str(mail.key)
            temp = None
            try:
                if not _SAFE_KEY.fullmatch(key):
                    raise Failure("failed", f"邮件编号不能用作文件名：{key!r}")
                try:
                    data = wire_bytes(mail.message)
                except Exception as exc:
                    raise Failure("failed", f"邮件无法编码：{one_line(exc)}") from exc
                temp = os.path.join(outbox, f".{key}.{pid}.tmp")
                fd = os.open(temp, flags, 0o666)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
                os.replace(temp, os.path.join(outbox, f"{key}.eml"))
                result = DeliveryResult(mail.key, "sent", None, 1)
            except Failure as failure:
                result = DeliveryResult(mail.key, failure.status, failure.error, 1)
            except OSError as exc:
                if temp is not None:
                    try:
                        os.unlink(temp)
                    except OSError:
                        pass
                result = DeliveryResult(mail.key, "retry", f"写入发件箱失败：{one_line(exc)}", 1)
            done.append((index, result))
        if any(r.status == "sent" for _, r in done):
            try:
                _fsync_dir(outbox)
            except OSError as exc:
                error = f"写入发件箱失败（目录同步）：{one_line(exc)}"
                done = [
                    (i, DeliveryResult(r.key, "retry", error, 1) if r.status == "sent" else r)
                    for i, r in done
                ]
        for index, result in done:
            emit(index, result)


def _fsync_dir(path: str) -> None:
    """Make the renames in `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (PermissionError, IsADirectoryError):  # e.g. Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
