"""`chatsynth chat --persona eve`: the playground in a plain terminal, a line-based REPL.

Each line you type is your turn; the persona's answer streams back (``synth.generate.chat``).
Commands: /retry, /edit TEXT, /save (stores the exchange in the persona's playground run,
``synth.dataset.playground``), /tokens, /help, /quit.  Works with piped input: EOF ends it, asking
nothing.  Ctrl-C during an answer stops it (what came is kept); at the prompt it quits.
An endpoint error keeps the conversation (so /save and /retry still work) and says what
happened; a refused request (a bad key, a missing model) makes the exit code 3.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from synth.errors import ChatsynthError

HELP = ("type a message and press Enter; /retry writes the last answer again, /edit TEXT "
        "replaces your last turn, /save stores the exchange, /tokens shows the counts, /quit "
        "(or EOF) ends")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "chat", help="talk to a persona (the playground), line by line",
        description="Talk to a persona through any endpoint, one answer at a time. Mode "
        "'prompted' sends the persona's synthesis prompt with the conversation so far (a "
        "completion endpoint stops at your label, so each answer is one turn); 'finetuned' "
        "sends only the exported system prompt and the turns, as a fine-tuned model is used. "
        + HELP + ".")
    p.add_argument("--persona", help="persona name or YAML file (default: config defaults.persona)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--endpoint", help="endpoint name from chatsynth.yaml ('local': the embedded model)")
    g.add_argument("--base-url", help="any OpenAI-compatible URL, e.g. http://127.0.0.1:8080/v1")
    p.add_argument("--key-name", help="keyring entry / environment variable with the key for --base-url")
    p.add_argument("--model", help="model id (default: the endpoint's default_model, else the first it lists)")
    p.add_argument("--style", choices=["chat", "completion"], help="API style (default: the endpoint's)")
    p.add_argument("--mode", choices=["prompted", "finetuned"], default="prompted",
                   help="prompted: the synthesis prompt and the conversation (default); "
                   "finetuned: only the system prompt and the turns")
    p.add_argument("--topic", help="the topic the synthesis prompt is rendered for (prompted mode; "
                   "default: a neutral one); saved exchanges are filed under it")
    p.add_argument("--max-tokens", type=int, help="the most tokens an answer may take "
                   "(default: the persona's)")
    p.set_defaults(func=cmd_chat)


def cmd_chat(args: argparse.Namespace) -> int:
    from synth.cli.main import workspace_from
    from synth.dataset.example_refs import resolve_examples
    from synth.dataset.store import Store
    from synth.generate.endpoints import EndpointSession
    from synth.library.personas import find_persona

    if args.max_tokens is not None and args.max_tokens < 1:
        raise ChatsynthError(f"must be 1 or more, got {args.max_tokens}", field="--max-tokens")
    ws = workspace_from(args)
    cfg = ws.config
    defaults = cfg.defaults or {}
    store = Store(ws.runs_dir)
    persona = find_persona(ws, args.persona or str(defaults.get("persona", "eve")))
    persona = resolve_examples(store, persona)
    session = EndpointSession(cfg, name=args.endpoint, base_url=args.base_url, model=args.model,
                              style=args.style, key_name=args.key_name, persona_style=persona.style)
    if not args.base_url and cfg.endpoint(args.endpoint).is_embedded:
        print("starting the embedded small offline demo model (Gemma 3 270M)...",
              file=sys.stderr, flush=True)
    with session as ep:
        from synth.generate.chat import ChatSession
        from synth.pricing import cost_fn

        chat = ChatSession(ep, persona, mode=args.mode, topic=args.topic, price=cost_fn(cfg.prices or None),
                           max_tokens=args.max_tokens)
        return asyncio.run(Repl(chat, store).run_and_close())


class Repl:
    def __init__(self, chat: Any, store: Any) -> None:
        self.chat = chat
        self.store = store
        self.tty = sys.stdin.isatty()
        self.failed: ChatsynthError | None = None  # the last answer's error, if it failed

    def err(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    async def run_and_close(self) -> int:
        try:
            return await self.run()
        finally:
            await self.chat.endpoint.aclose()

    async def run(self) -> int:
        c = self.chat
        lines = self._reader()
        if self.tty:
            self.err(f"talking to {c.persona.name} through {c.endpoint.label or c.endpoint.name} "
                     f"({c.mode}, {c.api_style} style); {HELP}")
        while True:
            if self.tty:
                print(f"{c.persona.user_label}> ", end="", flush=True)
            line = await lines.get()
            if line is None:  # EOF: end without asking anything
                break
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if not await self.command(line):
                    break
                continue
            await self.answer(lambda: c.say(line))
        if self.tty:
            print()
        return self.failed.exit_code if self.failed is not None else 0

    def _reader(self) -> "asyncio.Queue[str | None]":
        """Lines of stdin, read by a daemon thread (a blocked read never holds up the exit;
        Ctrl-C at the prompt ends the program as usual)."""
        import threading

        loop = asyncio.get_running_loop()
        q: asyncio.Queue[str | None] = asyncio.Queue()

        def read() -> None:
            for line in sys.stdin:
                loop.call_soon_threadsafe(q.put_nowait, line)
            loop.call_soon_threadsafe(q.put_nowait, None)

        threading.Thread(target=read, name="chat-stdin", daemon=True).start()
        return q

    async def command(self, line: str) -> bool:
        """Run a /command; False ends the session."""
        c = self.chat
        name, _, rest = line.partition(" ")
        name = name.lower()
        try:
            if name in ("/quit", "/exit", "/q"):
                return False
            if name == "/help":
                print(HELP, flush=True)
            elif name == "/retry":
                await self.answer(c.retry)
            elif name == "/edit":
                await self.answer(lambda: c.edit(rest))
            elif name == "/save":
                from synth.dataset.playground import save_exchange

                run_id, cid = save_exchange(self.store, c)
                n = len(c.answered_turns())
                print(f"saved {n} turns as conversation {cid} in run {run_id} "
                      f"(`chatsynth review {run_id}`)", flush=True)
            elif name == "/tokens":
                print(self.tokens(), flush=True)
            else:
                self.err(f"{name}: no such command; {HELP}")
        except ChatsynthError as err:
            self.err(f"chatsynth: error: {err}")
        return True

    def tokens(self) -> str:
        from synth.pricing import format_usd

        c = self.chat
        out = []
        for i, e in enumerate(c.exchanges, 1):
            cost = "cost unknown" if e.cost is None else format_usd(e.cost)
            est = " (estimated)" if e.usage.source == "estimate" else ""
            out.append(f"answer {i}: {e.usage.prompt_tokens} prompt + {e.usage.completion_tokens} "
                       f"completion tokens{est}, {cost}")
        p, k, cost = c.totals()
        out.append(f"total: {p} prompt + {k} completion tokens over {len(c.exchanges)} answers, "
                   + ("cost unknown" if cost is None else format_usd(cost)))
        return "\n".join(out)

    async def answer(self, start) -> None:
        c = self.chat
        try:
            pieces = start()
        except ChatsynthError as err:
            self.err(f"chatsynth: error: {err}")
            return
        loop = asyncio.get_running_loop()
        try:  # Ctrl-C while an answer streams stops it (what came is kept)
            loop.add_signal_handler(signal.SIGINT, c.stop)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
            pass
        print(f"{c.persona.persona_label}: ", end="", flush=True)
        try:
            async for piece in pieces:
                print(piece.replace("\n", "\n  "), end="", flush=True)
            self.failed = None
        except ChatsynthError as err:
            self.failed = err
            print(flush=True)
            self.err(f"chatsynth: error: {err.message}; the conversation so far "
                     f"({len(c.turns)} turns) is kept: /retry asks again, /save stores it")
            return
        finally:
            try:
                loop.remove_signal_handler(signal.SIGINT)
            except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
                pass
        print(flush=True)
        if c.exchanges and c.turns[-1].role == "assistant":
            e = c.exchanges[-1]
            note = " (stopped; kept what came)" if e.partial else ""
            self.err(f"[{e.usage.prompt_tokens} + {e.usage.completion_tokens} tokens"
                     + ("" if e.cost is None else f", ${e.cost:.6f}") + f"]{note}")
