"""Real in-process aiosmtpd servers for the mail tests: recording and misbehaving handlers,
plain / STARTTLS+AUTH / implicit-TLS controllers, and a self-signed certificate maker."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Received:
    peer: tuple
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class RecordingHandler:
    """Accepts everything and keeps what arrived; `peers` tells connections apart."""

    messages: list[Received] = field(default_factory=list)

    @property
    def peers(self) -> set:
        return {m.peer for m in self.messages}

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            Received(session.peer, envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return "250 2.0.0 OK"


DROP = "DROP"  # close the connection instead of replying


@dataclass(frozen=True)
class Stall:
    """No reply until the client gives up: aiosmtpd cancels the handler when the connection is
    lost, so the stall ends on the client's timeout, however slow the machine; `seconds` is only
    a ceiling for a client that never hangs up."""

    seconds: float = 60.0


class ScriptedHandler(RecordingHandler):
    """Replies to MAIL / RCPT / end-of-data from scripts, then normally once a script runs out.

    A script is any iterable of actions: an SMTP reply line, DROP, or Stall(seconds);
    `itertools.repeat("451 ...")` misbehaves forever.
    """

    def __init__(self, *, mail: Iterable = (), rcpt: Iterable = (), data: Iterable = ()):
        super().__init__()
        self.scripts = {"MAIL": iter(mail), "RCPT": iter(rcpt), "DATA": iter(data)}
        self.calls = {"MAIL": 0, "RCPT": 0, "DATA": 0}

    async def _act(self, server, verb: str) -> str | None:
        self.calls[verb] += 1
        action = next(self.scripts[verb], None)
        if action == DROP:
            server.transport.close()
            return "421 4.3.0 closing"  # written to a closed transport: the client never sees it
        if isinstance(action, Stall):
            await asyncio.sleep(action.seconds)
            return None
        return action

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = await self._act(server, "MAIL")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = await self._act(server, "RCPT")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = await self._act(server, "DATA")
        if reply:
            return reply
        return await super().handle_DATA(server, session, envelope)


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write cert.pem / key.pem for 127.0.0.1 and localhost; cert.pem doubles as the CA file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rectify test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


class Authenticator:
    def __init__(self, users: dict[str, str]):
        self.users = users

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(login) == password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@contextlib.contextmanager
def running(handler, **kwargs) -> Iterator[Controller]:
    """Start an aiosmtpd Controller on 127.0.0.1 at a free port; stop it afterwards."""
    controller = Controller(handler, hostname=HOST, port=free_port(), **kwargs)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def plain_server(handler):
    return running(handler)


def starttls_auth_server(handler, cert_path: Path, key_path: Path, users: dict[str, str]):
    return running(
        handler,
        tls_context=server_tls_context(cert_path, key_path),
        require_starttls=True,
        auth_required=True,
        authenticator=Authenticator(users),
    )


def implicit_tls_server(handler, cert_path: Path, key_path: Path):
    return running(handler, ssl_context=server_tls_context(cert_path, key_path))
