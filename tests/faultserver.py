"""A real loopback HTTP server that speaks enough of the OpenAI API to misbehave on purpose.

Real sockets, HTTP/1.1 keep-alive, chunked SSE streams.  Endpoints: ``GET /v1/models``,
``POST /v1/completions``, ``POST /v1/chat/completions``.

Scripted scenarios: ``server.script(actions, match=None)`` queues actions for requests whose
prompt contains ``match`` (any request when None), consumed in order; a request with no queued
action gets ``server.default`` (``"ok"``).  Actions:

  ok              a well-formed streamed transcript (usage in the last chunk when asked for)
  nousage         the same without usage
  429:S           429 with ``Retry-After: S`` seconds;  429date:S  the same as an HTTP date
  429             429 with no Retry-After
  500 502 503     a server error (JSON body)
  cut             a few chunks, then the connection is dropped mid-stream
  stall:S         nothing at all (not even headers) for S seconds, then ok
  stallmid:S      a few chunks, then silence for S seconds, then the rest
  malformed       a few chunks, then a ``data:`` line that is not JSON
  wrongjson       a chunk that is JSON but not a completion chunk, then ok
  empty           chunks with an empty ``choices`` list only
  400 401 403 404 an OpenAI-style error body; 404 says the model does not exist

Judge requests (a chat request whose system message starts like chatsynth's judge) get a JSON
judgement of every criterion the prompt lists, each scored ``server.judge_score`` (4), or, as
scripted: ``jlow`` (every score 2), ``jnotjson`` (prose), ``jmissing`` (the first criterion
only), ``j0`` / ``j9`` / ``jhigh`` (that score for every criterion), ``jfence`` (the JSON in a
code fence with prose around it).  ``server.reject_params = {"response_format"}`` makes it a
server that answers 400 to a JSON schema.

A topic-brainstorming request (its prompt says "topics for conversations with") is answered with
a list: a JSON list for chat, the numbered list continued for completions.  A good answer holds
the topics asked for plus a re-cased existing topic, a repeat and a near-duplicate (to be left
out).  ``ideas:MODE`` misbehaves instead: ``empty``, ``notlist`` (prose), ``dupes`` (only the
list's own topics, re-cased), ``lines`` (10,000 lines), ``badjson`` (a list of objects).

Fast mode (``chunk_delay`` seconds between chunks, 0 by default) is the well-behaved "ok" stream
the benchmark uses.  A request with ``"stream": false`` gets the whole answer after the time its
stream would have taken (so paced figures compare like with like), with the same faults.  Every request is recorded in ``server.requests`` with a monotonic timestamp,
so a test can check that Retry-After was honoured and that nothing came after a cancel.

In-thread:   ``with FaultServer() as fs: fs.url``  (``http://127.0.0.1:PORT/v1``)
Subprocess:  ``python tests/faultserver.py --port 0 [--chunk-delay S]`` prints the URL on its
first stdout line and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import json
import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

LABELS = ("USER", "EVE")
JUDGE_MARK = "You are a strict judge of synthetic chatbot conversations."


@dataclass
class Request:
    t: float  # time.monotonic() when the request arrived
    path: str
    action: str
    model: str = ""
    prompt: str = ""
    stop: list[str] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class FaultServer:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, chunk_delay: float = 0.0,
                 labels: tuple[str, str] = LABELS, turns: int = 6, words_per_turn: int = 12,
                 known_models: set[str] | None = None, honour_stop: bool = True,
                 record: bool = True) -> None:
        self.host = host
        self.port = port
        self.chunk_delay = chunk_delay
        self.labels = labels
        self.turns = turns
        self.words_per_turn = words_per_turn
        self.known_models = known_models
        self.honour_stop = honour_stop
        self.record = record  # False: keep no request log (a long benchmark)
        self.default = "ok"
        # parameters this "model" rejects with a 400, as newer OpenAI models do (max_tokens,
        # temperature, ...): the message names the parameter like OpenAI's does
        self.reject_params: set[str] = set()
        # response_format types refused with a 500 naming the field, as llama-cpp-python's
        # server does for a json_schema (its request validation takes text or json_object only)
        self.reject_formats: set[str] = set()
        self.judge_score: Any = 4
        self.requests: list[Request] = []
        self._rules: list[tuple[str | None, deque[str]]] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._conns: set[asyncio.StreamWriter] = set()

    # -- scripting ----------------------------------------------------------------------------
    def script(self, actions: list[str] | str, match: str | None = None) -> None:
        if isinstance(actions, str):
            actions = [actions]
        with self._lock:
            self._rules.append((match, deque(actions)))

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()
            self.requests.clear()
            self.default = "ok"

    def _next_action(self, prompt: str) -> str:
        with self._lock:
            for match, q in self._rules:
                if q and (match is None or match in prompt):
                    return q.popleft()
            return self.default

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def requests_for(self, match: str) -> list[Request]:
        return [r for r in list(self.requests) if match in r.prompt]

    # -- lifecycle ----------------------------------------------------------------------------
    async def start_async(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                  backlog=512)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> "FaultServer":
        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start_async())
            self._ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=main, name="faultserver", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if not self._loop:
            return

        async def shut() -> None:
            if self._server:
                self._server.close()
            for w in list(self._conns):
                w.transport.abort()

        fut = asyncio.run_coroutine_threadsafe(shut(), self._loop)
        try:
            fut.result(5)
        except Exception:  # pragma: no cover - best effort
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(5)
        self._loop = None

    def __enter__(self) -> "FaultServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP ---------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = (lines[0].split(" ") + ["", ""])[:3]
                headers = {}
                for ln in lines[1:]:
                    if ":" in ln:
                        k, v = ln.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                n = int(headers.get("content-length") or 0)
                raw = await reader.readexactly(n) if n else b""
                keep = await self._dispatch(method, path, raw, writer, headers)
                if not keep or headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.CancelledError, asyncio.IncompleteReadError):
            return  # a client that went away mid-request (e.g. killed by a crash test)
        finally:
            self._conns.discard(writer)
            try:
                writer.close()
            except Exception:  # pragma: no cover
                pass

    async def _send(self, writer: asyncio.StreamWriter, status: int, body: dict[str, Any],
                    extra: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                  404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
                  502: "Bad Gateway", 503: "Service Unavailable"}.get(status, "Error")
        hdrs = {"Content-Type": "application/json", "Content-Length": str(len(data)),
                **(extra or {})}
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        writer.write(head.encode() + b"\r\n" + data)
        await writer.drain()

    async def _error(self, writer: asyncio.StreamWriter, status: int, message: str, etype: str,
                     code: str | None = None, extra: dict[str, str] | None = None) -> None:
        await self._send(writer, status, {"error": {"message": message, "type": etype,
                                                    "param": None, "code": code}}, extra)

    async def _dispatch(self, method: str, path: str, raw: bytes, writer: asyncio.StreamWriter,
                        headers: dict[str, str] | None = None) -> bool:
        path = path.split("?", 1)[0]
        if method == "GET" and path.rstrip("/") == "/v1/models":
            models = sorted(self.known_models or {"fault-model"})
            await self._send(writer, 200, {"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": "faultserver"} for m in models]})
            return True
        if method != "POST" or path not in ("/v1/completions", "/v1/chat/completions"):
            await self._error(writer, 404, f"no route {method} {path}", "invalid_request_error")
            return True
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            await self._error(writer, 400, "body is not JSON", "invalid_request_error")
            return True
        chat = path.endswith("chat/completions")
        if chat:
            prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages") or [])
        else:
            prompt = str(body.get("prompt", ""))
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        model = str(body.get("model", ""))
        action = self._next_action(prompt)
        if self.record:
            self.requests.append(Request(t=time.monotonic(), path=path, action=action,
                                         model=model, prompt=prompt, stop=stop, body=body,
                                         headers=dict(headers or {})))
        if self.known_models is not None and model not in self.known_models and action == "ok":
            action = "404"
        bad = sorted(p for p in self.reject_params if p in body)
        if bad:
            hint = " Use 'max_completion_tokens' instead." if bad[0] == "max_tokens" else ""
            await self._error(writer, 400, f"Unsupported parameter: '{bad[0]}' is not supported "
                              f"with this model.{hint}", "invalid_request_error",
                              "unsupported_parameter")
            return True
        kind = (body.get("response_format") or {}).get("type")
        if kind in self.reject_formats:
            await self._error(writer, 500, "1 validation error: {'type': 'literal_error', 'loc': "
                              "('body', 'response_format', 'type'), 'msg': \"Input should be "
                              "'text' or 'json_object'\"}", "server_error", None)
            return True
        return await self._act(action, writer, body, chat, prompt, stop, model)

    async def _act(self, action: str, writer: asyncio.StreamWriter, body: dict[str, Any],
                   chat: bool, prompt: str, stop: list[str], model: str) -> bool:
        name, _, arg = action.partition(":")
        if name == "429":
            extra = {}
            if arg:
                extra["Retry-After"] = arg
            await self._error(writer, 429, "Rate limit reached for requests; slow down.",
                              "requests", "rate_limit_exceeded", extra)
            return True
        if name == "429date":
            when = email.utils.formatdate(time.time() + float(arg), usegmt=True)
            await self._error(writer, 429, "Rate limit reached (date).", "requests",
                              "rate_limit_exceeded", {"Retry-After": when})
            return True
        if name in ("500", "502", "503"):
            await self._error(writer, int(name), "The server had an error while processing "
                              "your request. Sorry about that!", "server_error")
            return True
        if name == "400":
            await self._error(writer, 400, "Invalid value for 'temperature': too large.",
                              "invalid_request_error")
            return True
        if name == "401":
            await self._error(writer, 401, "Incorrect API key provided: sk-te***. You can find "
                              "your API key at your provider's dashboard.", "invalid_request_error",
                              "invalid_api_key")
            return True
        if name == "403":
            await self._error(writer, 403, "You are not allowed to sample from this model",
                              "invalid_request_error")
            return True
        if name == "404":
            await self._error(writer, 404, f"The model `{model}` does not exist or you do not "
                              "have access to it.", "invalid_request_error", "model_not_found")
            return True
        if name == "stall":
            await asyncio.sleep(float(arg or 5))
            name = "ok"
        if chat and JUDGE_MARK in prompt:
            text = self._judgement(name, prompt)
            await self._send(writer, 200, {
                "id": "chatcmpl-judge", "object": "chat.completion", "created": int(time.time()),
                "model": model, "choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": text}}], "usage": self._usage(prompt, text)})
            return True
        ideas = arg if name == "ideas" else "ok"
        if name == "ideas":
            name = "ok"
        if not body.get("stream"):
            return await self._whole(name, arg, writer, chat, prompt, stop, model, ideas, body)
        return await self._stream(name, arg, writer, body, chat, prompt, stop, model, ideas)

    async def _whole(self, name: str, arg: str, writer: asyncio.StreamWriter, chat: bool,
                     prompt: str, stop: list[str], model: str, ideas: str = "ok",
                     body: dict | None = None) -> bool:
        """A non-streamed answer, after the time its stream would have taken (chunk_delay a
        piece), with the same faults: cut, malformed, wrongjson, empty, stallmid, nousage."""
        text, finish = self._text(prompt, chat, stop, ideas, body)
        pieces = len(re.findall(r"\s*\S+", text)) or 1
        if name == "stallmid":
            await asyncio.sleep(float(arg or 5))
        if name == "cut":  # dropped before the answer was complete
            await asyncio.sleep(self.chunk_delay * (pieces // 3))
            writer.transport.abort()
            return False
        if self.chunk_delay:
            await asyncio.sleep(self.chunk_delay * pieces)
        if name == "malformed":
            data = b'{"id": "cmpl-x", "choices": [{"text": "oops'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
            await writer.drain()
            return True
        if chat:
            choice: dict[str, Any] = {"index": 0, "finish_reason": finish,
                                      "message": {"role": "assistant", "content": text}}
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
        out: dict[str, Any] = {"id": "cmpl-x", "created": int(time.time()), "model": model,
                               "object": "chat.completion" if chat else "text_completion",
                               "choices": [choice]}
        if name == "empty":
            out["choices"] = []
        elif name == "wrongjson":
            out = {"hello": "world", "choices": "nope"}
        if name != "nousage":
            out["usage"] = self._usage(prompt, text)
        await self._send(writer, 200, out)
        return True

    def _judgement(self, name: str, prompt: str) -> str:
        crit = re.findall(r"^- ([^:\n]+): ", prompt.split("Criteria:", 1)[-1], re.MULTILINE)
        score: Any = {"jlow": 2, "j0": 0, "j9": 9, "jhigh": "high"}.get(name, self.judge_score)
        if name == "jnotjson":
            return "I think this conversation is quite good overall."
        if name == "jmissing":
            crit = crit[:1]
        ans = {"criteria": [{"name": c, "score": score, "reason": f"{c} scored {score}."}
                            for c in crit], "turns": [2] if score == 2 else []}
        text = json.dumps(ans)
        return f"Here is my judgement:\n```json\n{text}\n```\nThanks." if name == "jfence" else text

    def _text(self, prompt: str, chat: bool, stop: list[str],
              ideas: str = "ok", body: dict | None = None) -> tuple[str, str]:
        if re.search(r"topics for conversations with", prompt, re.IGNORECASE):
            return _ideas(prompt, chat, stop, ideas, self.honour_stop)
        user, bot = self.labels
        rp = _roleplay_turn(prompt, chat, body or {}, stop, self.labels, self.words_per_turn)
        if rp is not None:
            hits = [rp.find(s) for s in stop if s and s in rp] if self.honour_stop else []
            return (rp[:min(hits)], "stop") if hits else (rp, "length")
        m = re.search(r"^Topic:\s*(.+)$", prompt, re.MULTILINE)
        topic = m.group(1).strip() if m else "something on my mind"
        filler = ("I hear you and that sounds hard to carry what would a good week look like "
                  "for you if you try one small step").split()
        parts = []
        for i in range(self.turns):
            who = user if i % 2 == 0 else bot
            words = " ".join(filler[(i * 3 + j) % len(filler)] for j in range(self.words_per_turn))
            line = f"{who}: {words}" + ("?" if who == bot else f" about {topic}.")
            parts.append(line)
        text = "\n".join(parts) + "\nEND OF CONVERSATION\n\nTopic: another one\n" + f"{user}: more"
        if not chat:
            text = text[len(user) + 1:]  # the prompt ended with the user's label
        finish = "length"
        if self.honour_stop and stop:
            hits = [text.find(s) for s in stop if s and s in text]
            if hits:
                text, finish = text[:min(hits)], "stop"
        return text, finish

    @staticmethod
    def _usage(prompt: str, text: str) -> dict[str, int]:
        p = max(1, len(prompt.split()))
        c = max(1, len(re.findall(r"\S+\s*", text)))
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    async def _stream(self, name: str, arg: str, writer: asyncio.StreamWriter,
                      body: dict[str, Any], chat: bool, prompt: str, stop: list[str],
                      model: str, ideas: str = "ok") -> bool:
        head = ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(head.encode())
        text, finish = self._text(prompt, chat, stop, ideas, body)
        pieces = re.findall(r"\s*\S+", text) or [text]
        want_usage = bool((body.get("stream_options") or {}).get("include_usage")) and name != "nousage"
        created = int(time.time())
        obj = "chat.completion.chunk" if chat else "text_completion"

        def chunk(piece: str | None, fin: str | None = None, usage: dict | None = None,
                  empty: bool = False) -> bytes:
            if empty:
                choices: list[dict[str, Any]] = []
            elif chat:
                delta = {"content": piece} if piece is not None else {}
                choices = [{"index": 0, "delta": delta, "finish_reason": fin}]
            else:
                choices = [{"index": 0, "text": piece or "", "finish_reason": fin,
                            "logprobs": None}]
            d = {"id": "cmpl-fault", "object": obj, "created": created, "model": model,
                 "choices": choices}
            if usage is not None:
                d["usage"] = usage
            return _sse(json.dumps(d))

        async def send(b: bytes) -> None:
            writer.write(b)
            await writer.drain()

        if name == "empty":
            for _ in range(3):
                await send(chunk(None, empty=True))
            await send(_sse("[DONE]") + b"0\r\n\r\n")
            return True
        if name == "wrongjson":
            await send(_sse(json.dumps({"hello": "world", "choices": "nope"})))
        delay = self.chunk_delay
        cut_at = max(1, len(pieces) // 3)
        for i, p in enumerate(pieces):
            if i == cut_at:
                if name == "cut":
                    writer.transport.abort()
                    return False
                if name == "malformed":
                    await send(_sse('{"id": "cmpl-fault", "choices": [{"text": "oops'))
                    await send(_sse("[DONE]") + b"0\r\n\r\n")
                    return True
                if name == "stallmid":
                    await asyncio.sleep(float(arg or 5))
            await send(chunk(p))
            if delay:
                await asyncio.sleep(delay)
        out = chunk("" if not chat else None, fin=finish)
        if want_usage:
            out += chunk(None, usage=self._usage(prompt, text), empty=True)
        await send(out + _sse("[DONE]") + b"0\r\n\r\n")
        return True


_IDEAS = ["I want to start running again after an injury",
          "My sister and I have not spoken since the wedding",
          "I freeze whenever my manager asks me a question in meetings",
          "Moving to a new city where I know nobody",
          "I spend every weekend catching up on sleep",
          "Deciding whether to go back to school at forty",
          "My best friend keeps cancelling our plans at the last minute",
          "I feel guilty saying no to extra shifts",
          "Learning to cook so I stop ordering takeaway",
          "My teenage son only talks to me through text messages",
          "Keeping a budget when my income changes every month",
          "I miss the structure I had before I retired"]
_FACETS = ["at work", "with my family", "late at night", "when I am tired", "on weekends",
           "after a bad day", "in front of strangers", "when money is tight"]


def _ideas(prompt: str, chat: bool, stop: list[str], mode: str,
           honour_stop: bool) -> tuple[str, str]:
    """A brainstorm answer: the topics asked for, a re-cased old one, a repeat and a near-copy."""
    if chat:
        existing = re.findall(r"^- (.+)$", prompt, re.MULTILINE)
        m = re.search(r"Write (\d+)", prompt)
        n = int(m.group(1)) if m else 5
    else:
        existing = re.findall(r"^\d+\. (.+)$", prompt, re.MULTILINE)
        last = int(re.search(r"(\d+)\.$", prompt).group(1))
        m = re.match(r"\n(\d+)\.", stop[0]) if stop else None
        n = int(m.group(1)) - last if m else 5
    parent = re.search(r'(?:subtopics of this topic:|All within) "(.+?)"', prompt)
    if parent:
        fresh = [f"{f.capitalize()}: {t.lower()}" for f, t in zip(_FACETS, reversed(_IDEAS))]
    else:
        fresh = [t for t in _IDEAS if t not in existing]
    fresh += [f"Idea number {i} about something else entirely" for i in range(1, n + 1)]
    items = fresh[:n]
    if items:
        items.insert(1, items[0].upper() + "!")  # a repeat (case and punctuation aside)
        items.insert(2, items[0] + " again")  # a near-duplicate
    if existing:
        items.insert(0, existing[0].lower() + ".")  # already in the list
    if mode == "empty":
        items = []
    elif mode == "dupes":
        items = [t.upper() for t in existing[:n + 2]] or ["same", "same"]
    elif mode == "lines":
        items = [f"Topic line {i}" for i in range(10_000)]
    if mode == "notlist":
        text = "Sure! Here are some lovely ideas you could consider for your coaching sessions."
    elif mode == "badjson":
        text = json.dumps([{"title": t} for t in items])
    elif mode == "empty":
        text = ""
    elif chat:
        text = "```json\n" + json.dumps(items, indent=1) + "\n```"
    else:
        first = int(re.search(r"(\d+)\.$", prompt).group(1))
        text = "".join(f"{'' if i == 0 else f'{first + i}.'} {t}\n" for i, t in enumerate(items))
        text = text.rstrip("\n") + "\n\nSome unrelated text after the list."
    finish = "stop" if chat else "length"
    if honour_stop and stop:
        hits = [text.find(s) for s in stop if s and s in text]
        if hits:
            text, finish = text[:min(hits)], "stop"
    return text, finish


# -- role-play (synth.generate.roleplay): the simulated user's side and the persona's side ------
RP_END = "[END]"  # the end marker; a request whose instructions mention it is the user's side


def _roleplay_turn(prompt: str, chat: bool, body: dict, stop: list[str],
                   labels: tuple[str, str], words: int) -> str | None:
    """One turn of a role-play conversation, or None for any other request.  Chat: a request
    that opens with a system message (the user's side when it mentions [END]); completion: a
    request whose first two stops are the two speakers' labels, the other's first ("\nUSER:":
    the persona's side).  The
    simulated user writes [END] after 1-4 of its turns (by the topic), so some conversations
    end on the marker (one before min_turns too) and some reach max_turns; completion answers
    run on into the other speaker's label, for the stop to cut.  A topic with "leak" in it
    gets a user that writes the persona's label inside its own turn."""
    user, bot = labels
    msgs = body.get("messages") or []
    if chat:
        if not msgs or msgs[0].get("role") != "system" or JUDGE_MARK in prompt:
            return None
        side = "user" if RP_END in str(msgs[0].get("content")) else "persona"
        done = len([m for m in msgs[1:] if not str(m.get("content")).startswith("(Write your")])
    else:
        if set(stop[:2]) != {f"\n{user}:", f"\n{bot}:"}:
            return None
        side = "persona" if stop[0] == f"\n{user}:" else "user"
        done = len(re.findall(rf"^(?:{user}|{bot}):", prompt, re.MULTILINE)) - 1
    m = re.search(r"Topic:\s*(.+)$", prompt, re.MULTILINE)
    topic = m.group(1).strip() if m else "my week"
    filler = "that sounds like a lot to carry so what would one small step this week".split()
    said = " ".join(filler[(done + j) % len(filler)] for j in range(words))
    if side == "user":
        import zlib

        ends_after = 1 + zlib.crc32(topic.encode()) % 4
        text = ("Thanks, that really helps. " + RP_END if done // 2 >= ends_after
                else f"I keep thinking about {topic}, {said}.")
        if "leak" in topic:  # a simulated user that writes the persona's turn too
            text = f"{text} {bot}: I would tell you to rest."
    else:
        text = said.capitalize() + "?"
    return text if chat else f" {text}\n{bot if side == 'user' else user}: and so on"


def _sse(data: str) -> bytes:
    payload = f"data: {data}\n\n".encode()
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--chunk-delay", type=float, default=0.0)
    ap.add_argument("--turns", type=int, default=6)
    ap.add_argument("--words-per-turn", type=int, default=12)
    ap.add_argument("--default", default="ok", help="the action for unscripted requests")
    ap.add_argument("--no-record", action="store_true", help="keep no request log (benchmarks)")
    a = ap.parse_args(argv)
    fs = FaultServer(port=a.port, chunk_delay=a.chunk_delay, turns=a.turns,
                     words_per_turn=a.words_per_turn, record=not a.no_record)
    fs.default = a.default

    async def serve() -> None:
        await fs.start_async()
        print(fs.url, flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())


# -- helpers for the engine tests and the benchmark ---------------------------------------------

def make_spec(n_topics: int = 6, *, per_topic: int = 1, tag: str = "t", **overrides: Any):
    """A RunSpec for a small USER/EVE persona over ``n_topics`` distinct topics."""
    from synth.models import Persona, RunSpec, Topic, TopicSource

    persona = Persona(
        id="eve-test", name="Eve", persona_label="EVE", user_label="USER",
        system_prompt="You are Eve.", style="completion", max_tokens=200,
        synthesis_prompt="A coaching session with {name}.\n\nTopic: {topic}\n\n{user_label}:",
        stop=["END OF CONVERSATION", "Topic:"])
    topics = TopicSource(id=f"topics-{tag}", kind="text",
                         topics=[Topic(text=f"{tag} topic number {i}") for i in range(n_topics)])
    overrides.setdefault("endpoint", "fault")
    overrides.setdefault("model", "fault-model")
    return RunSpec.for_persona(persona, topics, per_topic=per_topic, **overrides)
