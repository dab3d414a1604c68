"""The headless command line.  ``chatsynth`` with no command opens the TUI (imported lazily).

Each group of commands lives in its own ``synth/cmd_*.py`` module with a ``register(sub)``
function that adds argparse sub-parsers whose ``func`` takes ``(args)`` and returns an exit code.

Exit codes: 0 done; 1 finished with problems (failed conversations, invalid examples);
2 bad input (file:line: field: message on stderr); 3 stopped by the endpoint (bad key, missing
model); 4 paused (every request kept failing); 5 budget reached; 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from synth import __version__
from synth.errors import ChatsynthError

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_BAD_INPUT = 2
EXIT_STOPPED = 3
EXIT_PAUSED = 4
EXIT_BUDGET = 5
EXIT_INTERRUPTED = 130

COMMAND_MODULES = [
    "synth.cli.library",
    "synth.cli.run",
    "synth.cli.export",
    "synth.cli.review",
    "synth.cli.judge",
    "synth.cli.dataset",
    "synth.cli.keys",
    "synth.cli.endpoint",
    "synth.cli.batch",
    "synth.cli.compare",
    "synth.cli.chat",
    "synth.cli.eval",
    "synth.cli.preview",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatsynth",
        description="Synthesize chatbot fine-tuning datasets from personas and topics. "
        "With no command, opens the terminal app.",
    )
    parser.add_argument("--version", action="version", version=f"chatsynth {__version__}")
    parser.add_argument("-w", "--workspace", type=Path, default=None,
                        help="workspace folder (default: $CHATSYNTH_WORKSPACE, else the nearest "
                        "folder upward holding chatsynth.yaml, else your per-user workspace)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a command group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if not getattr(args, "command", None):
            return open_tui(args)
        return int(args.func(args) or 0)
    except ChatsynthError as err:
        print(f"chatsynth: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("chatsynth: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


def open_tui(args: argparse.Namespace) -> int:
    ws = workspace_from(args)
    from tui import startup_gc

    startup_gc.pause()  # the app's imports too: the app turns collection back on when drawn
    from tui.app import run_app  # lazy: the engine never imports textual

    return run_app(ws)


def workspace_from(args: argparse.Namespace):
    from synth.library.workspace import Workspace

    if getattr(args, "workspace", None):
        from synth.errors import WorkspaceError

        root = args.workspace.expanduser()
        if not (root / "chatsynth.yaml").is_file():
            raise WorkspaceError("not a workspace (no chatsynth.yaml); create one with "
                                 f"`chatsynth init {root}`", path=root)
        return Workspace(root.resolve())
    return Workspace.find()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
