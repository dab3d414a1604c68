"""OpenAI-compatible endpoints -> one call that every run goes through.

``Endpoint`` is a resolved endpoint (URL, model, key, limits) with an ``AsyncOpenAI`` client
that never retries by itself (``max_retries=0``): the engine owns retries, backoff and
Retry-After.  ``stream_completion`` sends either API style through the SDK, streamed or not,
and yields text deltas, then a final ``StreamEnd`` with the finish reason and usage (the
server's, or an estimate); the answer's bytes are read by ``synth.generate.sse``.

Errors are sorted into the two kinds of ``synth.generate.faults`` the engine acts on:
``FatalError`` (retrying can't help) and ``TransientError`` (retry later).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Sequence

import httpx
import openai

try:  # the transport the openai SDK runs on: httpx2 from openai 3, httpx before
    import httpx2
    _TIMEOUTS: tuple[type[BaseException], ...] = (httpx2.TimeoutException, httpx.TimeoutException)
    _TRANSPORT: tuple[type[BaseException], ...] = (httpx2.TransportError, httpx.TransportError)
except ImportError:  # pragma: no cover - an older openai
    _TIMEOUTS, _TRANSPORT = (httpx.TimeoutException,), (httpx.TransportError,)

from synth.generate.faults import EndpointError, FatalError, StreamEnd, TransientError
from synth.generate.sse import read_stream, read_whole
from synth.models import ApiStyle

__all__ = ["Endpoint", "EndpointError", "FatalError", "StreamEnd", "TransientError", "classify",
           "stream_completion", "EndpointSession", "list_models", "estimate_tokens"]

NO_KEY = "no-key-needed"  # what a keyless local server is sent as the bearer token
FATAL_STATUS = {400, 401, 403, 404, 405, 413, 415, 422}
OPENAI_MAX_STOP = 4


def _plain_http(url: str) -> bool:
    """A URL without TLS (a local server): no certificates to load (a tenth of a second each
    time on a slow machine), and no redirects, which could lead to a TLS URL unchecked."""
    return url.lower().startswith("http://")


def _transport(base_url: str) -> Any:
    """aiohttp under the SDK where it is installed: its HTTP parser is C, where httpx's h11
    parses every streamed chunk in Python (a fifth of a stream's client CPU, bench_engine).
    CHATSYNTH_TRANSPORT=httpx keeps the SDK's own."""
    plain = _plain_http(base_url)
    kw: dict[str, Any] = {"verify": False, "follow_redirects": False} if plain else {}
    if os.environ.get("CHATSYNTH_TRANSPORT") == "httpx":
        return openai.DefaultAsyncHttpxClient(**kw) if kw else None
    try:
        return openai.DefaultAioHttpClient(**kw)
    except RuntimeError:  # pragma: no cover - aiohttp missing: the SDK's own transport
        return openai.DefaultAsyncHttpxClient(**kw) if kw else None


@dataclass
class Endpoint:
    """A resolved endpoint: everything a request needs, the key included (never printed)."""

    name: str
    base_url: str
    model: str
    style: ApiStyle = "chat"
    api_key: str = field(default=NO_KEY, repr=False)
    max_stop: int | None = None
    timeout: float = 120.0
    connect_timeout: float = 10.0
    headers: dict[str, str] = field(default_factory=dict)
    label: str = ""  # how the UI names it, e.g. "local (small offline demo model: ...)"
    free: bool = False  # an embedded/local model costs nothing
    include_usage: bool = True  # ask for usage in the stream (stream_options)
    # request parameters this server rejected (learned from its 400s): "temperature", "seed",
    # "stop", "stream_options", a sampling value (SAMPLING_PARAMS); and "max_tokens" -> "max_completion_tokens" for newer models
    dropped: set[str] = field(default_factory=set)
    token_param: str = "max_tokens"
    _client: openai.AsyncOpenAI | None = field(default=None, repr=False)
    _client_loop: Any = field(default=None, repr=False)  # the event loop its connections are on

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The SDK client, made on first use.  Its connections belong to the event loop that
        first used it: an endpoint used again under a new loop (a second ``asyncio.run``: a
        benchmark's second side, a second brainstorm) gets a new client, where the old one
        would fail with "Event loop is closed"."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self._client is not None and loop is not None:
            if self._client_loop is None:
                self._client_loop = loop
            elif self._client_loop is not loop:
                self._client = None  # its loop has ended; so have its connections
        if self._client is None:
            self._client_loop = loop
            self._client = openai.AsyncOpenAI(
                api_key=self.api_key or NO_KEY,
                base_url=self.base_url,
                max_retries=0,
                timeout=openai.Timeout(self.timeout, connect=self.connect_timeout),
                default_headers=self.headers or None,
                http_client=_transport(self.base_url),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def request_stops(self, stops: Sequence[str]) -> list[str]:
        """The stop sequences sent to the server: at most ``max_stop`` of them, in order."""
        s = [x for x in stops if x]
        return s[: self.max_stop] if self.max_stop is not None else s


def classify(exc: BaseException) -> EndpointError:
    """An SDK or transport exception -> FatalError or TransientError with the server's words."""
    if isinstance(exc, EndpointError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        msg = server_message(exc)
        if status in FATAL_STATUS:
            return FatalError(f"HTTP {status}: {msg}", status=status)
        return TransientError(f"HTTP {status}: {msg}", status=status,
                              retry_after=retry_after_of(exc.response.headers))
    root = _root_cause(exc)
    if root is not None:  # aiohttp under the SDK: its errors come mapped loosely (a dropped
        # connection as a ConnectTimeout), so say what really happened
        if isinstance(root, (TimeoutError, sys.modules["aiohttp"].ServerTimeoutError)):
            return TransientError("timed out waiting for the server")
        return TransientError(f"connection failed or dropped ({type(root).__name__}: {root})")
    if isinstance(exc, openai.APITimeoutError):
        return TransientError("timed out waiting for the server")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        detail = f" ({type(cause).__name__}: {cause})" if cause else ""
        return TransientError(f"connection failed or dropped{detail}")
    if isinstance(exc, openai.APIError):  # an error event inside the stream
        return TransientError(f"error in stream: {exc.message}")
    if isinstance(exc, _TIMEOUTS):  # reading the answer's bytes ourselves
        return TransientError("timed out waiting for the server")
    if isinstance(exc, _TRANSPORT):
        return TransientError(f"connection failed or dropped ({type(exc).__name__}: {exc})")
    if isinstance(exc, (json.JSONDecodeError, ValueError, TypeError, KeyError, AttributeError)):
        return TransientError(f"garbled stream ({type(exc).__name__}: {exc})")
    if isinstance(exc, (TimeoutError, ConnectionError, OSError)):
        return TransientError(f"{type(exc).__name__}: {exc}")
    return TransientError(f"{type(exc).__name__}: {exc}")


def _root_cause(exc: BaseException) -> BaseException | None:
    """The aiohttp error at the bottom of ``exc``'s causes, if any."""
    aiohttp = sys.modules.get("aiohttp")  # not imported: not the transport
    if aiohttp is None:
        return None
    seen = 0
    e: BaseException | None = exc
    while e is not None and seen < 8:
        if isinstance(e, aiohttp.ClientError):
            return e
        e, seen = e.__cause__ or e.__context__, seen + 1
    return None


def server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(body.get("message"), str):
            return body["message"]
        if isinstance(body.get("detail"), str):
            return body["detail"]
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return exc.message


def retry_after_of(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After (seconds or HTTP date) or retry-after-ms header."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# sampling values an OpenAI-style server takes as named parameters; others (repeat_penalty, for
# llama.cpp and vLLM) go in the body as extra fields
_NAMED_SAMPLING = ("top_p", "presence_penalty", "frequency_penalty")
SAMPLING_PARAMS = (*_NAMED_SAMPLING, "repeat_penalty")


def request_params(ep: Endpoint, max_tokens: int, temperature: float, stop: Sequence[str],
                    seed: int | None, sampling: dict[str, float] | None = None,
                    stream: bool = True) -> dict[str, Any]:
    kw: dict[str, Any] = {"model": ep.model, "stream": stream, ep.token_param: max_tokens}
    if "temperature" not in ep.dropped:
        kw["temperature"] = temperature
    stops = ep.request_stops(stop)
    if stops and "stop" not in ep.dropped:
        kw["stop"] = stops
    if seed is not None and "seed" not in ep.dropped:
        kw["seed"] = seed
    if stream and ep.include_usage and "stream_options" not in ep.dropped:
        kw["stream_options"] = {"include_usage": True}
    extra = {}
    for name, value in (sampling or {}).items():
        if value is not None and name not in ep.dropped:
            if name in _NAMED_SAMPLING:
                kw[name] = value
            else:
                extra[name] = value
    if extra:
        kw["extra_body"] = extra
    return kw


def _adapt(ep: Endpoint, message: str, kw: dict[str, Any]) -> bool:
    """Learn from a 400 that names a parameter this server or model does not take."""
    m = message.lower()
    if "max_completion_tokens" in m and ep.token_param == "max_tokens" and "max_tokens" in kw:
        ep.token_param = "max_completion_tokens"
        return True
    if not any(w in m for w in ("unsupported", "not support", "unrecognized", "unknown",
                                "extra inputs", "not permitted", "only the default")):
        return False
    sent = set(kw) | set(kw.get("extra_body") or ())
    for name in ("stream_options", "temperature", "seed", "stop", *SAMPLING_PARAMS):
        if name in sent and name not in ep.dropped and (f"'{name}'" in m or f"`{name}`" in m
                                                      or f'"{name}"' in m or f" {name} " in m
                                                      or f"{name}:" in m):
            ep.dropped.add(name)
            return True
    return False


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (about 4 characters a token) for when nothing better is known."""
    return max(1, (len(text) + 3) // 4) if text else 0


async def stream_completion(
    ep: Endpoint,
    *,
    prompt: str,
    messages: list[dict[str, Any]] | None,
    style: ApiStyle,
    max_tokens: int,
    temperature: float,
    stop: Sequence[str],
    seed: int | None = None,
    sampling: dict[str, float] | None = None,
    stream: bool = True,
) -> AsyncIterator[str | StreamEnd]:
    """Yield text deltas, then one StreamEnd.  Raises FatalError / TransientError.

    ``stream=False`` asks for the whole answer at once and yields it as one piece: no text
    until the end, but no per-chunk work either (for runs nobody watches)."""
    try:
        for _ in range(10):  # a 400 naming an unsupported parameter: drop it and ask again
            kw = request_params(ep, max_tokens, temperature, stop, seed, sampling, stream)
            # the SDK sends the request and raises on an error status; the answer's bytes are
            # read by synth.generate.sse (the SDK's per-chunk objects cost ~4x the CPU)
            if style == "chat":
                cm = ep.client.chat.completions.with_streaming_response.create(
                    messages=messages or [{"role": "user", "content": prompt}], **kw)
            else:
                cm = ep.client.completions.with_streaming_response.create(prompt=prompt, **kw)
            try:
                response = await cm.__aenter__()
                break
            except openai.APIStatusError as exc:
                if exc.status_code not in (400, 422) or not _adapt(ep, server_message(exc), kw):
                    raise
        else:  # pragma: no cover - each adaptation removes a parameter; nine at most
            raise FatalError("the server rejected every form of the request")
        try:
            if stream:
                async for piece in read_stream(response.http_response, style):
                    yield piece
            else:
                text, end = read_whole(await response.read(), style)
                if text:
                    yield text
                yield end
        finally:
            await cm.__aexit__(None, None, None)
    except EndpointError:
        raise
    except (GeneratorExit, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - sorted by classify; CancelledError re-raised
        import asyncio

        if isinstance(exc, asyncio.CancelledError):
            raise
        raise classify(exc) from exc


# -- from configuration to a usable endpoint --------------------------------------------------


def _err(message: str, **kw: Any):
    from synth.errors import ChatsynthError

    return ChatsynthError(message, **kw)


def list_models(base_url: str, api_key: str = NO_KEY, timeout: float = 10.0) -> list[str]:
    """Model ids a server offers (GET /models), for picking a default."""
    r = httpx.get(base_url.rstrip("/") + "/models", timeout=timeout,
                  headers={"Authorization": f"Bearer {api_key or NO_KEY}"},
                  verify=not _plain_http(base_url))
    if r.status_code != 200:
        try:
            msg = r.json().get("error", {}).get("message") or r.text[:200]
        except ValueError:
            msg = r.text[:200]
        raise FatalError(f"HTTP {r.status_code}: {msg}", status=r.status_code)
    return [m.get("id") for m in (r.json().get("data") or []) if isinstance(m, dict) and m.get("id")]


class EndpointSession:
    """``with EndpointSession(config, ...) as ep``: an Endpoint ready to use; an embedded model
    is started on enter and stopped on exit.  Blocking (call it from a thread in a UI)."""

    def __init__(self, config: Any, *, name: str | None = None, base_url: str | None = None,
                 model: str | None = None, style: str | None = None, api_key: str | None = None,
                 key_name: str | None = None, persona_style: str = "completion") -> None:
        self.config = config
        self.name = name
        self.base_url = base_url
        self.model = model
        self.style = style
        self.api_key = api_key
        self.key_name = key_name
        self.persona_style = persona_style
        self.server: Any = None
        self.endpoint: Endpoint | None = None
        self.concurrency: int | None = None
        self.rpm: int | None = None
        self.tpm: int | None = None

    def __enter__(self) -> Endpoint:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> Endpoint:
        from synth.library import secrets
        from synth.library.workspace import EndpointConfig

        if self.base_url:
            from synth import checks

            checks.base_url(self.base_url, field="--base-url")
            cfg = EndpointConfig(name=self.base_url, kind="openai", base_url=self.base_url,
                                 key_name=self.key_name, style=self.style or self.persona_style)
            style = self.style or self.persona_style
        else:
            cfg = self.config.endpoint(self.name)
            style = self.style or cfg.style
        if cfg.is_embedded:
            from synth.generate import local
            srv = local.LocalServer(cfg.model_path)
            srv.start()
            self.server = srv
            ep = Endpoint(name=cfg.name, base_url=srv.base_url, model=self.model or srv.model,
                          style=style, max_stop=cfg.max_stop, timeout=cfg.timeout,
                          label=f"{cfg.name} ({local.LABEL})", free=True)
            self.concurrency = cfg.concurrency or 1  # llama.cpp serves one request at a time
        else:
            key = secrets.get_key(cfg.key_name, self.api_key)
            if cfg.key_name and key.value is None:
                raise _err(f"no API key for endpoint {cfg.name!r}: "
                           f"{secrets.how_to_store(cfg.key_name)}", field="key")
            api_key = key.value or NO_KEY
            base = str(cfg.base_url).rstrip("/")
            model = self.model or cfg.default_model
            if not model:
                try:
                    models = list_models(base, api_key)
                except FatalError as err:
                    raise _err(f"{base}: {err.message}", field="model") from None
                except Exception as exc:  # noqa: BLE001 - connection problems
                    raise _err(f"can't reach {base} to list its models ({type(exc).__name__}); "
                               "is the server running? Or give --model", field="model") from None
                if not models:
                    raise _err(f"{base} lists no models; give --model", field="model")
                model = models[0]
            max_stop = cfg.max_stop
            if max_stop is None and "api.openai.com" in base:
                max_stop = OPENAI_MAX_STOP
            ep = Endpoint(name=cfg.name, base_url=base, model=model, style=style,
                          api_key=api_key, max_stop=max_stop, timeout=cfg.timeout,
                          headers=dict(cfg.headers or {}), label=f"{cfg.name} ({model})")
        self.endpoint = ep
        self.rpm, self.tpm = cfg.rpm, cfg.tpm
        if not cfg.is_embedded:
            self.concurrency = cfg.concurrency
        return ep

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
