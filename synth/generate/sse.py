"""Reading a completion's answer from the HTTP response's bytes: a streamed one (server-sent
events) or a whole one, pulling out only what chatsynth uses (the text, the finish reason and
the usage).

The openai SDK still sends the request (auth, base URL, status errors); only the answer is read
here.  Its own stream builds a pydantic object for every chunk, which cost about 20 ms of client
CPU per conversation (measured in bench/bench_engine.py); ``httpx_sse`` splits the events and
``orjson`` decodes each one into plain dicts, a few microseconds a chunk.

Every fault becomes a ``TransientError`` the engine retries: a line that is not JSON, a chunk
that is not a completion chunk, an error event, a transport error mid-stream.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

import orjson
from httpx_sse import EventSource

from synth.generate.faults import StreamEnd, TransientError
from synth.models import ApiStyle, Usage


def _usage(u: Any) -> Usage | None:
    if not isinstance(u, dict) or u.get("completion_tokens") is None:
        return None
    try:
        return Usage(prompt_tokens=int(u.get("prompt_tokens") or 0),
                     completion_tokens=int(u["completion_tokens"]))
    except (TypeError, ValueError):
        raise TransientError("garbled stream (usage is not a number)") from None


def _decode(data: str | bytes) -> dict[str, Any]:
    try:
        d = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise TransientError(f"garbled stream (JSONDecodeError: {exc})") from None
    if not isinstance(d, dict):
        raise TransientError(f"garbled stream (a {type(d).__name__} where a chunk belongs)")
    err = d.get("error")
    if err is not None:
        msg = err.get("message") if isinstance(err, dict) else err
        raise TransientError(f"error in stream: {msg}")
    return d


def _first_choice(d: dict[str, Any]) -> dict[str, Any] | None:
    choices = d.get("choices")
    if not choices:
        return None
    if not isinstance(choices, list):
        raise TransientError("garbled stream (choices is not a list)")
    c = choices[0]
    if not isinstance(c, dict):
        raise TransientError("garbled stream (a choice is not an object)")
    return c


async def read_stream(response: Any, style: ApiStyle) -> AsyncIterator[str | StreamEnd]:
    """Yield the text deltas of a streamed answer, then one StreamEnd."""
    finish: str | None = None
    usage: Usage | None = None
    got_any = False
    chat = style == "chat"
    events = EventSource(response).aiter_sse()
    done = False
    try:
        async for ev in events:
            data = ev.data
            if done or not data:
                continue  # read to the end, so that the connection can serve the next request
            if data == "[DONE]":
                done = True
                continue
            if ev.event == "error":
                raise TransientError(f"error in stream: {data[:300]}")
            d = _decode(data)
            u = d.get("usage")
            if u is not None:
                usage = _usage(u) or usage
            c = _first_choice(d)
            if c is None:
                continue
            if chat:
                delta = c.get("delta")
                text = delta.get("content") if isinstance(delta, dict) else None
            else:
                text = c.get("text")
            if text:
                if not isinstance(text, str):
                    raise TransientError("garbled stream (the text is not a string)")
                got_any = True
                yield text
            fr = c.get("finish_reason")
            if fr:
                finish = str(fr)
    finally:
        await events.aclose()
    if finish is None:
        raise TransientError("the stream ended without a finish reason (cut off?)" if got_any
                             else "the server sent no text and no finish reason")
    yield StreamEnd(finish_reason=finish, usage=usage)


def read_whole(body: bytes, style: ApiStyle) -> tuple[str, StreamEnd]:
    """The text and end of a non-streamed answer (the whole JSON body)."""
    d = _decode(body)
    c = _first_choice(d)
    text: Any = None
    finish: Any = None
    if c is not None:
        if style == "chat":
            msg = c.get("message")
            text = msg.get("content") if isinstance(msg, dict) else None
        else:
            text = c.get("text")
        finish = c.get("finish_reason")
    if text is not None and not isinstance(text, str):
        raise TransientError("garbled answer (the text is not a string)")
    if not finish:
        raise TransientError("the answer had no finish reason (cut off?)" if text
                             else "the server sent no text and no finish reason")
    return text or "", StreamEnd(finish_reason=str(finish), usage=_usage(d.get("usage")))
