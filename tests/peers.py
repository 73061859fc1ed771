"""Real peers on loopback for the alert and webhook tests: an SMTP server (aiosmtpd) that Django's SMTP backend
talks to, and a partner's webhook receiver (http.server in a thread) that checks each request's signature the way
the README tells partners to, with its own HMAC code (not ours)."""

import email
import email.policy
import hashlib
import hmac
import http.server
import json
import threading
import time
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller

from tests.billing.payments.conftest import free_port


class _Collect:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 -- aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)
        return "250 OK"


@dataclass
class Mailbox:
    handler: _Collect

    @property
    def messages(self) -> list:
        return self.handler.messages

    def texts(self) -> list[tuple[str, str, str]]:
        """(to, subject, body) of each message received; SMTP's CRLF line ends read as \n."""
        return [(m["To"], str(m["Subject"]).strip(), m.get_content().replace("\r\n", "\n")) for m in self.messages]


@pytest.fixture
def smtp(settings):
    """Django sends through SMTP to an aiosmtpd server on 127.0.0.1 for this test."""
    handler = _Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield Mailbox(handler)
    finally:
        controller.stop()


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    signature_ok: bool
    answered: int

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A partner's webhook endpoint. `secret` is set once the endpoint is registered; `answers` is the status code
    to give for each request in turn (then 200). A request whose signature does not verify, or whose timestamp is
    more than 5 minutes away from now, is answered 401."""

    url: str
    secret: str = ""
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def verify(self, header: str, body: bytes) -> bool:
        try:
            parts = dict(item.split("=", 1) for item in header.split(","))
            timestamp = int(parts["t"])
        except (KeyError, ValueError):
            return False
        if abs(time.time() - timestamp) > 300:
            return False  # a replay of an old request
        signed = f"{timestamp}.".encode() + body
        expected = hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts.get("v1", ""))


def _handler_for(receiver: Receiver):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 -- http.server's hook name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ok = receiver.verify(self.headers.get("Hub-Signature", ""), body)
            code = receiver.answers.pop(0) if receiver.answers else 200
            if not ok:
                code = 401
            receiver.received.append(Received(self.path, dict(self.headers), body, ok, code))
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def webhook_receiver():
    port = free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hooks/hub")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _handler_for(receiver))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
