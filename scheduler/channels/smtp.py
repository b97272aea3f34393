"""E-mail channel (smtplib): STARTTLS, implicit TLS ("ssl") or none.

Certificates are verified (system CAs, or `ca_file`). The Message-ID derives from
the idempotency key, so a retried message has the same id and mail systems can
drop the repeat. Subject and body hold counts, refs, the page URL and times only.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate

from vahti.scheduler.channels.config import ChannelConfig, read_secret, read_username, smtp_port
from vahti.scheduler.channels.errors import DeliveryError
from vahti.scheduler.channels.message import Message


def message_id(idempotency_key: str, sender: str) -> str:
    domain = sender.rsplit("@", 1)[-1] or "vahti.invalid"
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]
    return f"<vahti.{digest}@{domain}>"


def build_email(channel: ChannelConfig, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = channel.option("from")
    mail["To"] = ", ".join(channel.option("to"))
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = message_id(message.idempotency_key, channel.option("from"))
    mail["X-Vahti-Idempotency-Key"] = message.idempotency_key
    mail.set_content(message.text)
    return mail


def _tls_context(channel: ChannelConfig) -> ssl.SSLContext:
    ca_file = channel.option("ca_file") or None
    return ssl.create_default_context(cafile=ca_file)


def _login(client: smtplib.SMTP, username: str, password: str) -> None:
    try:
        client.login(username, password)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"SMTP login refused ({exc.smtp_code})") from None
    except smtplib.SMTPServerDisconnected:  # some servers hang up after failed attempts
        raise DeliveryError("SMTP login refused (the server closed the connection)") from None


def send(channel: ChannelConfig, message: Message,
         environ: Mapping[str, str] | None = None) -> None:
    credentials = None
    if channel.option("username_env"):
        credentials = (read_username(channel, environ),
                       read_secret(channel, "password_env", "password_file", environ))
    mail = build_email(channel, message)
    host, port = channel.option("host"), smtp_port(channel)
    timeout = channel.option("timeout_s")
    security = channel.option("security")
    try:
        context = _tls_context(channel) if security != "none" else None
        if security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            client.ehlo()
            if security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if credentials:
                _login(client, *credentials)
            refused = client.send_message(mail)
        if refused:
            raise DeliveryError(f"{len(refused)} of {len(channel.option('to'))} recipients "
                                "refused")
    except DeliveryError:
        raise
    except smtplib.SMTPNotSupportedError:
        raise DeliveryError("the server does not offer STARTTLS or AUTH") from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {exc.smtp_code}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"all {len(exc.recipients)} recipients refused") from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"TLS error ({exc.reason or type(exc).__name__})") from None
    except TimeoutError:
        raise DeliveryError(f"no answer within {timeout:g} s") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP failed ({type(exc).__name__})") from None
