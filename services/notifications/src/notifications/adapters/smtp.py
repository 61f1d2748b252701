"""E-mail over SMTP (aiosmtplib): any relay (Brevo, Mailpit, a regional relay) speaks it."""

from __future__ import annotations

from email.message import EmailMessage as MimeMessage
from email.utils import formatdate

import aiosmtplib

from notifications.ports import EmailMessage, PermanentFailure, TransientFailure


class SmtpSender:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._options = dict(
            hostname=host,
            port=port,
            username=username,
            password=password,
            use_tls=use_tls,
            start_tls=start_tls,
            timeout=timeout_s,
        )
        self._sender = sender

    def mime(self, message: EmailMessage) -> MimeMessage:
        mime = MimeMessage()
        mime["From"] = self._sender
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Date"] = formatdate(localtime=False)
        mime["Message-ID"] = message.message_id
        for name, value in message.headers.items():
            mime[name] = value
        mime.set_content(message.text)
        mime.add_alternative(message.html, subtype="html")
        return mime

    async def send(self, message: EmailMessage) -> str:
        try:
            _, answer = await aiosmtplib.send(self.mime(message), **self._options)  # type: ignore[arg-type]
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            error = f"recipient refused by the relay: {exc.recipients[0].message if exc.recipients else exc}"
            raise (PermanentFailure if all(500 <= c < 600 for c in codes) else TransientFailure)(
                error
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            error = f"relay answered {exc.code} {exc.message}"
            raise (PermanentFailure if 500 <= exc.code < 600 else TransientFailure)(error) from exc
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise TransientFailure(f"relay unreachable: {exc!r}") from exc
        return answer or message.message_id
