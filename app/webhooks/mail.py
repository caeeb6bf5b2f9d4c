"""One mail attempt over SMTP (aiosmtplib), classified like a webhook attempt."""

import time
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

import aiosmtplib

from app.core.config import Settings
from app.webhooks.delivery import Outcome


def compose(
    *, sender: str, to: str, subject: str, text: str, html: str, headers: Sequence[Sequence[str]] = ()
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    for name, value in headers:
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


async def send_mail(message: EmailMessage, settings: Settings) -> Outcome:
    """Send once; never raises. A 5xx reply is permanent (the address or the message is refused:
    retrying cannot help); a 4xx, a timeout or a connection failure is retried with backoff."""
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    permanent = False
    if not settings.smtp_url:
        error, permanent = "No SMTP_URL is set; mail cannot be sent.", True
    else:
        url = urlsplit(settings.smtp_url)
        tls = url.scheme == "smtps"
        try:
            await aiosmtplib.send(
                message,
                hostname=url.hostname or "localhost",
                port=url.port or (465 if tls else 25),
                username=unquote(url.username) if url.username else None,
                password=unquote(url.password) if url.password else None,
                use_tls=tls,
                timeout=settings.smtp_timeout_seconds,
            )
            status = 250
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # One recipient per message: its refusal is the answer.
            code = exc.recipients[0].code if exc.recipients else 550
            status, permanent, error = code, 500 <= code < 600, f"The mail server answered {code}."
        except aiosmtplib.SMTPResponseException as exc:
            status, permanent = exc.code, 500 <= exc.code < 600
            error = f"The mail server answered {exc.code}."
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError, OSError):
            error = "Could not connect to the mail server."
        except aiosmtplib.SMTPException as exc:
            error = f"Sending failed ({type(exc).__name__})."
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return Outcome(status_code=status, error=error, duration_ms=elapsed_ms, permanent=permanent)
