"""The secret key 验证码 are derived with: kept outside the ledger, never logged.

Whoever can read the ledger database (a backup, a report of the DB, a second administrator)
must not be able to act as anyone: so the ledger holds no code and nothing a guess can be
checked against, only each code's random nonce (rectify.codes). A code is
HMAC-SHA256(key, nonce) reduced to six digits; without the key a nonce says nothing.

The key is RECTIFY_CODE_SECRET (at least 32 characters: a short passphrase could be recovered
by an insider from the codes in their own emails), or, when unset, the file `code.key` in the
data folder (RECTIFY_HOME), created on first use with mode 0600 (atomically: two processes
starting together agree on one file). Every process that sends mail or checks codes needs the
same key (docs/operations.md); the key's id (a keyed hash of a constant, not the key) is
stored with each code so that a process with another key says so instead of refusing
correct codes as wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rectify.errors import RectifyError

ENV = "RECTIFY_CODE_SECRET"
KEY_FILE = "code.key"
MIN_SECRET = 32


class CodeKeyError(RectifyError):
    """The key cannot be read or is unsafe: one line saying which and what to do."""


@dataclass(frozen=True)
class CodeKey:
    key: bytes
    key_id: str  # stored with each code: which key derived it (not the key)

    def __repr__(self) -> str:  # never the key, in a traceback or a log line
        return f"CodeKey(id={self.key_id})"


def _make(key: bytes) -> CodeKey:
    return CodeKey(key, hmac.new(key, b"rectify-code-key-id", hashlib.sha256).hexdigest()[:16])


def current() -> CodeKey:
    """The key of this process: RECTIFY_CODE_SECRET, else <RECTIFY_HOME>/code.key."""
    from rectify.settings import get_settings

    settings = get_settings()
    secret = settings.code_secret.get_secret_value() if settings.code_secret else ""
    return load(secret, settings.home or Path.cwd())


@lru_cache(maxsize=8)
def load(secret: str, home: Path) -> CodeKey:
    secret = (secret or "").strip()
    if secret:
        if len(secret) < MIN_SECRET:
            raise CodeKeyError(
                f"{ENV} 太短（至少{MIN_SECRET}个字符），可用 "
                'python -c "import secrets; print(secrets.token_hex(32))" 生成'
            )
        return _make(secret.encode())
    return _make(_key_file(Path(home) / KEY_FILE))


def _key_file(path: Path) -> bytes:
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # fails if another process made it first: theirs is the key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return _read(path)
    except OSError as exc:
        raise CodeKeyError(f"无法创建验证码密钥文件 {path}：{exc.strerror or exc}（或设置 {ENV}）") from None


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CodeKeyError(
            f"验证码密钥文件 {path} 的权限过宽（{stat.filemode(mode)}），请执行 chmod 600 {path}"
        )
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if len(text) < MIN_SECRET:
        raise CodeKeyError(
            f"验证码密钥文件 {path} 内容无效（应为64位十六进制），"
            "删除后会重新生成（此前发出的验证码随之失效）"
        )
    return text.encode()
