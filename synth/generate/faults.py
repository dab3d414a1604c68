"""What a request to an endpoint can end in: the two kinds of error the engine acts on, and the
end of an answer (finish reason and usage).  Shared by ``endpoints`` (sending the request) and
``sse`` (reading the answer).

``FatalError``     retrying can't help (400, 401, 403, 404, 422): stop the run with the message.
``TransientError`` retry later (408, 409, 429, 5xx, timeouts, dropped or garbled streams),
                   with ``retry_after`` seconds when the server said so.
"""

from __future__ import annotations

from dataclasses import dataclass

from synth.models import Usage


class EndpointError(Exception):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class FatalError(EndpointError):
    """The request can never succeed as sent (bad key, missing model, bad request)."""


class TransientError(EndpointError):
    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None, partial_text: str = "") -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after
        self.partial_text = partial_text


@dataclass
class StreamEnd:
    finish_reason: str | None
    usage: Usage | None  # None: the server reported none
