"""A real SMTP server (aiosmtpd) on a free loopback port, keeping every message it receives, and
the settings of every test that mails (tests/conftest.py has their fixtures: `mailbox`, one server
a test module; `mail_app`, an app whose worker sends to it; `mail_client`)."""

import re
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

# The worker's settings in mail tests: links to made-up public addresses, retries within
# milliseconds. The SMTP timeout is generous: the server is a thread of the test's own process,
# which a loaded machine can starve for seconds, and no test waits on it running out.
MAIL_SETTINGS: dict[str, object] = {
    "public_base_url": "https://app.example.org",
    "api_base_url": "https://api.example.org",
    "email_from": "Mutual Aid <no-reply@example.org>",
    "webhook_backoff_base_seconds": 0.01,
    "webhook_backoff_cap_seconds": 0.05,
    "smtp_timeout_seconds": 30.0,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Mailbox:
    """Messages as received; `refuse` makes the server answer every RCPT with a permanent 550,
    and it answers the next `defer` recipients with a temporary 451, as a greylisting server does."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse = False
        self.defer = 0
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[Any]
    ) -> str:
        if self.refuse:
            return "550 No such user here"
        if self.defer > 0:
            self.defer -= 1
            return "451 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def link_token(message: EmailMessage) -> str:
    """The `token=` of the one link in the plain-text body."""
    found = re.findall(r"https?://\S+\?token=([A-Za-z0-9_-]+)", bodies(message)[0])
    assert len(found) == 1, found
    return str(found[0])
