"""Where mail goes: the SMTP server (or the .eml outbox) and how to reach it.

Kept apart from the sending so that the settings (rectify Settings, or a prefect-email block
edited in the Prefect UI) are read in one place, and so that the one lazy prefect_email import
sits in a module that does nothing else (tests/test_layers.py allows it here only).

The password stays a SecretStr until the ``login`` call; it is never logged.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import SecretStr


@dataclass
class MailConfig:
    host: str | None = None  # None: write .eml files to outbox_dir instead of sending
    port: int | None = None  # None: 25 / 587 / 465 by security
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = 30.0
    connections: int = 3
    mail_from: str = "整改台账 <rectify@localhost>"
    outbox_dir: Path = Path("outbox")
    validate_certs: bool = True
    ca_file: Path | None = None  # extra CA to trust, e.g. an internal or self-signed server


Security = Literal["none", "starttls", "tls"]
_BLOCK_SECURITY: dict[str, Security] = {"SSL": "tls", "STARTTLS": "starttls", "INSECURE": "none"}


def mail_config(settings) -> MailConfig:
    """Build the config from rectify Settings, or from a prefect-email block if named."""
    config = MailConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security.lower(),
        username=settings.smtp_username,
        password=settings.smtp_password,
        timeout=settings.smtp_timeout,
        connections=settings.smtp_connections,
        mail_from=settings.mail_from,
        outbox_dir=Path(settings.outbox_dir),
        validate_certs=settings.smtp_validate_certs,
        ca_file=settings.smtp_ca_file,
    )
    if config.security not in ("none", "starttls", "tls"):
        raise ValueError(f"邮件加密方式配置无效：{config.security!r}（应为 none、starttls 或 tls）")
    if settings.email_block:
        # Imported here so that importing notifications never pulls in prefect.
        from prefect_email import EmailServerCredentials

        # _sync=True: a plain block (sync API client) even when called inside an async flow,
        # where load() would otherwise hand back a coroutine.
        block = EmailServerCredentials.load(settings.email_block, _sync=True)
        config = config_from_block(block, config)
    return config


def config_from_block(block, base: MailConfig) -> MailConfig:
    """Take server, port, security and login from an EmailServerCredentials block."""
    server = getattr(block.smtp_server, "value", block.smtp_server)
    smtp_type = block.smtp_type
    password = block.password if block.password and block.password.get_secret_value() else None
    return MailConfig(
        host=str(server),
        port=block.smtp_port or smtp_type.value,  # the enum values are the default ports
        security=_BLOCK_SECURITY[smtp_type.name],
        username=block.username,
        password=password,
        timeout=base.timeout,
        connections=base.connections,
        mail_from=base.mail_from,
        outbox_dir=base.outbox_dir,
        validate_certs=block.verify is not False,
        ca_file=base.ca_file,
    )


def tls_context(config: MailConfig) -> ssl.SSLContext | None:
    """The TLS context for `config` (None without encryption): the system CAs plus ca_file,
    or no verification at all when validate_certs is off."""
    if config.security == "none":
        return None
    context = ssl.create_default_context()
    if config.ca_file:
        context.load_verify_locations(cafile=str(config.ca_file))  # in addition to the system CAs
    if not config.validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
