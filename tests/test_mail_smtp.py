import email
import email.policy
import itertools
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from notifications.compose import Recipient, build_message
from notifications.smtp import (
    DeliveryResult,
    MailConfig,
    OutgoingMail,
    config_from_block,
    deliver,
    mail_config,
)
from smtp_servers import (
    DROP,
    HOST,
    RecordingHandler,
    ScriptedHandler,
    Stall,
    free_port,
    implicit_tls_server,
    make_self_signed_cert,
    plain_server,
    starttls_auth_server,
)

PASSWORD = "s3cr3t-密码-xyzzy"
FAST = dict(backoff=0.01)


def mails(n: int, prefix: str = "m") -> list[OutgoingMail]:
    out = []
    for i in range(n):
        msg = build_message(
            sender="整改台账 <rectify@localhost>",
            to=[Recipient("张三", f"owner{i}@example.org")],
            cc=[Recipient("李四", "leader@example.org")],
            subject=f"【整改催办】第{i}封",
            text=f"正文{i}\n.以点开头的行\n",
            html=f"<p>正文{i}</p>",
            message_id=f"<reminder-{prefix}{i}@rectify>",
        )
        out.append(OutgoingMail(f"{prefix}{i}", msg))
    return out


def config(controller=None, **over) -> MailConfig:
    base = MailConfig(
        host=HOST if controller else None,
        port=controller.port if controller else None,
        timeout=2.0,
        connections=1,
    )
    for k, v in over.items():
        setattr(base, k, v)
    return base


@pytest.fixture
def cert(tmp_path):
    return make_self_signed_cert(tmp_path)


async def test_plain_batch_uses_one_connection():
    handler = RecordingHandler()
    seen: list[DeliveryResult] = []
    with plain_server(handler) as server:
        results = await deliver(mails(5), config(server), on_result=seen.append)
    assert [r.status for r in results] == ["sent"] * 5
    assert [r.key for r in results] == [f"m{i}" for i in range(5)]
    assert all(r.attempts == 1 and r.error is None for r in results)
    assert len(seen) == 5
    assert len(handler.messages) == 5 and len(handler.peers) == 1
    first = handler.messages[0]
    assert first.mail_from == "rectify@localhost"
    assert first.rcpt_tos == ["owner0@example.org", "leader@example.org"]
    parsed = email.message_from_bytes(first.content, policy=email.policy.default)
    assert parsed["Message-ID"] == "<reminder-m0@rectify>"
    assert parsed["Subject"] == "【整改催办】第0封"
    assert ".以点开头的行" in parsed.get_body(("plain",)).get_content()


async def test_lines_starting_with_a_dot_are_stuffed():
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "rectify@localhost", "a@example.org", "dots"
    msg.set_content(".\n.hidden\nend\n", cte="7bit")  # a lone "." would end DATA early
    handler = RecordingHandler()
    with plain_server(handler) as server:
        results = await deliver([OutgoingMail("d", msg)], config(server))
    assert results[0].status == "sent"
    body = email.message_from_bytes(handler.messages[0].content, policy=email.policy.default).get_content()
    assert body.replace("\r\n", "\n") == ".\n.hidden\nend\n"


async def test_connections_are_shared_out():
    handler = RecordingHandler()
    with plain_server(handler) as server:
        results = await deliver(mails(12), config(server, connections=3))
    assert all(r.status == "sent" for r in results)
    assert [r.key for r in results] == [f"m{i}" for i in range(12)]
    assert len(handler.messages) == 12
    assert 1 < len(handler.peers) <= 3


async def test_starttls_with_login(cert):
    handler = RecordingHandler()
    with starttls_auth_server(handler, *cert, users={"rectify": PASSWORD}) as server:
        cfg = config(
            server, security="starttls", ca_file=cert[0], username="rectify", password=SecretStr(PASSWORD)
        )
        results = await deliver(mails(3), cfg)
    assert [r.status for r in results] == ["sent"] * 3
    assert len(handler.peers) == 1


async def test_starttls_without_login_is_refused(cert):
    handler = RecordingHandler()
    with starttls_auth_server(handler, *cert, users={"rectify": PASSWORD}) as server:
        results = await deliver(mails(1), config(server, security="starttls", ca_file=cert[0]), **FAST)
    # the server wants a login we lack: its state, so the message waits (not failed)
    assert (results[0].status, results[0].attempts) == ("retry", 0) and "530" in results.refusal
    assert handler.messages == []


async def test_wrong_password_is_the_servers_state_and_password_never_shows(cert, caplog):
    caplog.set_level(logging.DEBUG)
    cfg = None
    with starttls_auth_server(RecordingHandler(), *cert, users={"rectify": PASSWORD}) as server:
        cfg = config(
            server,
            security="starttls",
            ca_file=cert[0],
            username="rectify",
            password=SecretStr("wrong-" + PASSWORD),
        )
        results = await deliver(mails(3), cfg, **FAST)
    # a refused login is the server's answer to us, not to a message: none is failed or
    # charged an attempt, all wait for a retry, and the reply is kept to be told once
    assert all(r.status == "retry" and r.attempts == 0 and "535" in r.error for r in results)
    assert "535" in results.refusal
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(cfg) and PASSWORD not in str(cfg)
    assert all(PASSWORD not in (r.error or "") for r in results)
    assert caplog.text.count("邮件服务器拒绝连接或登录") == 1  # one line, not one per message


async def test_implicit_tls(cert):
    handler = RecordingHandler()
    with implicit_tls_server(handler, *cert) as server:
        results = await deliver(mails(2), config(server, security="tls", ca_file=cert[0]))
    assert [r.status for r in results] == ["sent", "sent"]
    assert len(handler.peers) == 1


async def test_implicit_tls_untrusted_cert_is_not_sent(cert):
    handler = RecordingHandler()
    with implicit_tls_server(handler, *cert) as server:
        results = await deliver(mails(1), config(server, security="tls"), max_attempts=1)
    assert results[0].status == "retry" and handler.messages == []


async def test_421_then_accepted_is_retried():
    handler = ScriptedHandler(mail=["421 4.7.0 服务繁忙，请稍后再试"])
    with plain_server(handler) as server:
        results = await deliver(mails(2), config(server), **FAST)
    assert [(r.status, r.attempts) for r in results] == [("sent", 2), ("sent", 1)]
    assert len(handler.messages) == 2
    assert len(handler.peers) == 1  # 421 closed the first connection before any message


async def test_451_forever_gives_retry_after_max_attempts():
    handler = ScriptedHandler(rcpt=itertools.repeat("451 4.3.0 暂时无法处理"))
    with plain_server(handler) as server:
        results = await deliver(mails(1), config(server), max_attempts=3, **FAST)
    r = results[0]
    assert (r.status, r.attempts) == ("retry", 3) and "451" in r.error
    assert handler.calls["RCPT"] == 3 * 2  # two recipients per attempt


async def test_451_after_data_is_retried():
    handler = ScriptedHandler(data=["451 4.3.0 队列已满"])
    with plain_server(handler) as server:
        results = await deliver(mails(1), config(server), **FAST)
    assert (results[0].status, results[0].attempts) == ("sent", 2)


async def test_550_recipients_fail_without_retry_and_connection_is_reused():
    handler = ScriptedHandler(rcpt=["550 5.1.1 查无此人", "550 5.1.1 查无此人"])
    with plain_server(handler) as server:
        results = await deliver(mails(2), config(server), **FAST)
    assert (results[0].status, results[0].attempts) == ("failed", 1)
    assert "全部收件人被拒收" in results[0].error
    assert results[1].status == "sent"
    assert len(handler.messages) == 1 and handler.calls["MAIL"] == 2


async def test_one_refused_recipient_still_sends():
    handler = ScriptedHandler(rcpt=["550 5.1.1 查无此人"])
    with plain_server(handler) as server:
        results = await deliver(mails(1), config(server), **FAST)
    assert results[0].status == "sent" and "owner0@example.org" in results[0].error
    assert handler.messages[0].rcpt_tos == ["leader@example.org"]


async def test_554_after_data_fails_without_retry():
    handler = ScriptedHandler(data=["554 5.6.0 内容被拒绝"])
    with plain_server(handler) as server:
        results = await deliver(mails(2), config(server), **FAST)
    assert (results[0].status, results[0].attempts) == ("failed", 1) and "554" in results[0].error
    assert handler.calls["DATA"] == 2 and results[1].status == "sent"


async def test_drop_before_data_reconnects_and_sends():
    handler = ScriptedHandler(rcpt=[DROP])
    with plain_server(handler) as server:
        results = await deliver(mails(2), config(server), **FAST)
    assert [(r.status, r.attempts) for r in results] == [("sent", 2), ("sent", 1)]
    assert len(handler.messages) == 2


async def test_drop_after_data_is_unknown_and_not_resent():
    handler = ScriptedHandler(data=[DROP])
    with plain_server(handler) as server:
        results = await deliver(mails(2), config(server), **FAST)
    assert (results[0].status, results[0].attempts) == ("unknown", 1)
    assert "未自动重发" in results[0].error
    assert handler.calls["DATA"] == 2  # not resent; the next message went on a new connection
    assert results[1].status == "sent"


async def test_stall_after_data_is_unknown():
    handler = ScriptedHandler(data=[Stall()])
    with plain_server(handler) as server:
        results = await deliver(mails(1), config(server), **FAST)
    assert (results[0].status, results[0].attempts) == ("unknown", 1)
    assert "超时" in results[0].error


async def test_stall_before_data_is_retried():
    handler = ScriptedHandler(mail=[Stall()])
    with plain_server(handler) as server:
        results = await deliver(mails(1), config(server), **FAST)
    assert (results[0].status, results[0].attempts) == ("sent", 2)


async def test_stall_before_data_forever_gives_retry():
    handler = ScriptedHandler(rcpt=itertools.repeat(Stall()))
    with plain_server(handler) as server:
        results = await deliver(mails(1), config(server), max_attempts=2, **FAST)
    assert (results[0].status, results[0].attempts) == ("retry", 2) and "超时" in results[0].error


async def test_connection_refused_leaves_everything_for_retry():
    cfg = MailConfig(host=HOST, port=free_port(), timeout=1.0, connections=2)
    results = await deliver(mails(5), cfg, max_attempts=2, **FAST)
    # the server's state: no message is charged an attempt, the reason is told once
    assert all(r.status == "retry" and r.attempts == 0 for r in results)
    assert "Connect call failed" in results.refusal


async def test_outbox_writes_parseable_files_idempotently(tmp_path):
    cfg = config(outbox_dir=tmp_path / "outbox")
    batch = mails(3)
    seen = []
    first = await deliver(batch, cfg, on_result=seen.append)
    again = await deliver(batch, cfg)
    assert [r.status for r in first + again] == ["sent"] * 6 and len(seen) == 3
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == ["m0.eml", "m1.eml", "m2.eml"]  # no temp files left behind
    parsed = email.message_from_bytes(
        (tmp_path / "outbox" / "m1.eml").read_bytes(), policy=email.policy.default
    )
    assert parsed["Subject"] == "【整改催办】第1封"
    assert parsed["Message-ID"] == "<reminder-m1@rectify>"


async def test_outbox_refuses_unsafe_key(tmp_path):
    cfg = config(outbox_dir=tmp_path)
    mail = mails(1)[0]
    mail.key = "../escape"
    results = await deliver([mail], cfg)
    assert results[0].status == "failed"
    assert not (tmp_path.parent / "escape.eml").exists()


def test_repr_hides_password():
    cfg = MailConfig(host="smtp.example.org", username="u", password=SecretStr(PASSWORD))
    assert PASSWORD not in repr(cfg)


def test_mail_config_from_settings(tmp_path):
    from rectify.settings import Settings

    s = Settings(
        _env_file=None,
        smtp_host="smtp.example.org",
        smtp_port=587,
        smtp_security="starttls",
        smtp_username="u",
        smtp_password=PASSWORD,
        outbox_dir=tmp_path,
    )
    cfg = mail_config(s)
    assert (cfg.host, cfg.port, cfg.security, cfg.connections) == ("smtp.example.org", 587, "starttls", 3)
    assert cfg.password.get_secret_value() == PASSWORD and PASSWORD not in repr(cfg)
    with pytest.raises(ValueError):
        mail_config(Settings(_env_file=None, smtp_security="ssl"))


@pytest.mark.parametrize(
    "smtp_type,port,security,expected_port",
    [("SSL", None, "tls", 465), ("STARTTLS", None, "starttls", 587), ("INSECURE", 2525, "none", 2525)],
)
def test_config_from_prefect_email_block(smtp_type, port, security, expected_port):
    from prefect_email import EmailServerCredentials

    block = EmailServerCredentials(
        smtp_server="mail.example.org",
        smtp_type=smtp_type,
        smtp_port=port,
        username="u",
        password=PASSWORD,
        verify=False,
    )
    cfg = config_from_block(block, MailConfig(timeout=7.0, outbox_dir=Path("x")))
    assert (cfg.host, cfg.port, cfg.security) == ("mail.example.org", expected_port, security)
    assert cfg.password.get_secret_value() == PASSWORD and cfg.validate_certs is False
    assert cfg.timeout == 7.0 and PASSWORD not in repr(cfg)


@pytest.mark.parametrize(
    "subject,names",
    [
        ("【整改催办】2项整改事项将于5个工作日内到期", ["张三"]),
        ("ZG-2021-007 整改" + "很长的主题" * 30, ["张三"] * 12),
        ("Plain ASCII subject " * 8, ['Zhang, "San"', "王五", ""]),
        ("催办", ["欧阳" * 30]),  # an overlong name goes the stdlib way
    ],
)
def test_wire_serialisation_matches_stdlib(subject, names):
    from notifications.wire import WIRE_POLICY

    msg = build_message(
        sender="整改台账 <rectify@localhost>",
        to=[Recipient(n, f"user{i}@example.org") for i, n in enumerate(names)],
        cc=[Recipient("李四", "lisi@example.org")],
        subject=subject,
        text="正文",
        html="<p>正文</p>",
        message_id="<m@rectify>",
    )
    ours = msg.as_bytes(policy=WIRE_POLICY)
    theirs = msg.as_bytes(policy=email.policy.SMTP)
    a = email.message_from_bytes(ours, policy=email.policy.default)
    b = email.message_from_bytes(theirs, policy=email.policy.default)
    assert [(k, str(v)) for k, v in a.items()] == [(k, str(v)) for k, v in b.items()]
    assert a["Subject"] == subject
    if max(map(len, names)) < 20:  # the stdlib itself adds spaces decoding a split long name
        assert [x.display_name for x in a["To"].addresses] == names
    assert a.get_body(("plain",)).get_content() == b.get_body(("plain",)).get_content()
    head = ours.split(b"\r\n\r\n", 1)[0]
    assert ours.count(b"\n") == ours.count(b"\r\n") and ours.isascii()
    assert all(len(line) <= 78 for line in head.split(b"\r\n") if b"?=" in line or b"@" in line)
