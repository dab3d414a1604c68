"""Where things live: a workspace holds personas/, topics/, runs/, exports/ and chatsynth.yaml.

Lookup order: the ``CHATSYNTH_WORKSPACE`` environment variable, then the current directory and
its parents (the first that holds ``chatsynth.yaml``), then a per-user default in the platform's
data directory (created with the example library on first use).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synth import checks
from synth.errors import Collector, WorkspaceError
from synth.library.yamlio import item_line, key_lines, load_yaml_mapping

CONFIG_NAME = "chatsynth.yaml"
ENV_VAR = "CHATSYNTH_WORKSPACE"


def examples_dir() -> Path:
    """The example personas/ and topics/: inside the wheel, or at the repo root in a checkout."""
    package = Path(__file__).resolve().parent.parent  # synth/
    packaged = package / "_examples"
    if (packaged / "personas").is_dir():
        return packaged
    return package.parent


DEFAULT_CONFIG = """\
# chatsynth workspace configuration.
# Secrets never go in this file: keys live in your system keyring (`chatsynth key set NAME`)
# or in the environment variable named by an endpoint's `key_name`.

# The endpoint runs use unless told otherwise. `local` is the embedded offline demo model
# (Gemma 3 270M, a small base model) that needs no key and no network.
default_endpoint: local

endpoints:
  - name: local
    kind: embedded
    style: completion
  - name: openai
    base_url: https://api.openai.com/v1
    key_name: OPENAI_API_KEY
    default_model: gpt-4o-mini
    style: chat
    max_stop: 4
  # Any OpenAI-compatible server works the same way, for example:
  # - name: ollama
  #   base_url: http://127.0.0.1:11434/v1
  #   default_model: llama3.2
  #   style: chat
  # - name: vllm
  #   base_url: http://127.0.0.1:8000/v1
  #   default_model: meta-llama/Llama-3.1-8B-Instruct
  #   key_name: VLLM_API_KEY

defaults:
  persona: eve
  topics: eve
  per_topic: 1
  concurrency: 4

# Prices in USD per million tokens, overriding the bundled price table:
# prices:
#   my-model: {input: 0.15, output: 0.60}
# Fine-tuning training prices in USD per million training tokens:
finetune_prices:
  gpt-4o-mini-2024-07-18: 3.00
  gpt-4o-2024-08-06: 25.00
  gpt-4.1-mini-2025-04-14: 5.00
  gpt-4.1-2025-04-14: 25.00
  gpt-3.5-turbo: 8.00
"""

ENDPOINT_KEYS = {
    "name", "kind", "base_url", "key_name", "default_model", "style", "max_stop", "rpm", "tpm",
    "concurrency", "timeout", "model_path", "headers", "batch",
}
CONFIG_KEYS = {"default_endpoint", "endpoints", "defaults", "prices", "finetune_prices"}


@dataclass
class EndpointConfig:
    """One OpenAI-compatible endpoint, as data.  ``kind: embedded`` is the built-in local model."""

    name: str
    kind: str = "openai"  # "openai" (any compatible server) or "embedded"
    base_url: str | None = None
    key_name: str | None = None  # keyring entry / environment variable holding the key
    default_model: str | None = None
    style: str = "chat"  # "chat" or "completion"
    max_stop: int | None = None  # how many stop sequences the server accepts (OpenAI: 4)
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None
    timeout: float = 120.0
    model_path: str | None = None  # embedded only: a GGUF file other than the packaged one
    headers: dict[str, str] = field(default_factory=dict)
    batch: bool = False  # takes batch jobs (OpenAI-compatible Files + Batches APIs)

    @property
    def is_embedded(self) -> bool:
        return self.kind == "embedded"

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ENDPOINT_KEYS}
        return {k: v for k, v in d.items() if v not in (None, {}, "") and v is not False}


@dataclass
class Config:
    default_endpoint: str = "local"
    endpoints: list[EndpointConfig] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    finetune_prices: dict[str, float] = field(default_factory=dict)
    path: Path | None = None

    def endpoint(self, name: str | None = None) -> EndpointConfig:
        name = name or self.default_endpoint
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        if name == "local":
            return EndpointConfig(name="local", kind="embedded", style="completion")
        known = ", ".join(e.name for e in self.endpoints) or "none"
        raise WorkspaceError(f"no endpoint named {name!r} (configured: {known})",
                             path=self.path, field="endpoints")


def parse_config(path: Path) -> Config:
    """chatsynth.yaml as a Config.  Every problem is found (the first is raised, the others in
    its ``.more``), each naming chatsynth.yaml:LINE: field."""
    data, lines = load_yaml_mapping(path, allowed=CONFIG_KEYS, what="config")
    cfg = Config(path=path)
    take = Collector()
    if "default_endpoint" in data:
        cfg.default_endpoint = str(data["default_endpoint"])
    raw_eps = data.get("endpoints") or []
    if not isinstance(raw_eps, list):
        take.add(WorkspaceError("must be a list of endpoints", path=path,
                                line=lines.get("endpoints"), field="endpoints"))
        raw_eps = []
    for i, ep in enumerate(raw_eps):
        line = item_line(raw_eps, i) or lines.get("endpoints")
        parsed = take(_endpoint, ep, f"endpoints[{i}]", path, line)
        if parsed is not None:
            if any(e.name == parsed.name for e in cfg.endpoints):
                take.add(WorkspaceError(f"a second endpoint named {parsed.name!r}", path=path,
                                        line=line, field=f"endpoints[{i}].name"))
            cfg.endpoints.append(parsed)
    for key in ("defaults", "prices", "finetune_prices"):
        val = data.get(key) or {}
        if not isinstance(val, dict):
            take.add(WorkspaceError("must be a mapping", path=path, line=lines.get(key), field=key))
            val = {}
        setattr(cfg, key, dict(val))
    dlines = key_lines(data.get("defaults"))
    for key in ("per_topic", "concurrency"):
        if cfg.defaults.get(key) is not None:
            take(checks.number, key, cfg.defaults[key], path=path, field=f"defaults.{key}",
                 line=dlines.get(key, lines.get("defaults")), error=WorkspaceError)
    take.done()
    return cfg


def _endpoint(ep: Any, fld: str, path: Path, line: int | None) -> EndpointConfig:
    """One entry of ``endpoints:``; the first problem of the entry is raised."""
    if not isinstance(ep, dict) or "name" not in ep:
        raise WorkspaceError("each endpoint needs a name", path=path, line=line, field=fld)
    elines = key_lines(ep)
    at = lambda key: elines.get(key, line)  # noqa: E731 - the line of one key of the entry
    unknown = set(ep) - ENDPOINT_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise WorkspaceError(f"unknown key {key!r} (known: {', '.join(sorted(ENDPOINT_KEYS))})",
                             path=path, line=at(key), field=fld)
    take = Collector()
    take(checks.name, ep["name"], path=path, line=at("name"), field=f"{fld}.name",
         error=WorkspaceError)
    if ep.get("style", "chat") not in ("chat", "completion"):
        take.add(WorkspaceError("style must be 'chat' or 'completion'", path=path,
                                line=at("style"), field=f"{fld}.style"))
    kind = ep.get("kind", "openai")
    if kind not in ("openai", "embedded"):
        take.add(WorkspaceError("kind must be 'openai' or 'embedded'", path=path, line=at("kind"),
                                field=f"{fld}.kind"))
    if kind == "openai" and not ep.get("base_url"):
        take.add(WorkspaceError("an OpenAI-compatible endpoint needs base_url", path=path,
                                line=line, field=f"{fld}.base_url"))
    elif ep.get("base_url") is not None:
        take(checks.base_url, ep["base_url"], path=path, line=at("base_url"),
             field=f"{fld}.base_url", error=WorkspaceError)
    if ep.get("batch") is not None and not isinstance(ep["batch"], bool):
        take.add(WorkspaceError("must be true or false (whether it takes batch jobs)", path=path,
                                line=at("batch"), field=f"{fld}.batch"))
    elif ep.get("batch") and kind == "embedded":
        take.add(WorkspaceError("the embedded model takes no batch jobs; remove batch: true",
                                path=path, line=at("batch"), field=f"{fld}.batch"))
    if ep.get("headers") is not None and not isinstance(ep["headers"], dict):
        take.add(WorkspaceError("must be a mapping of header: value", path=path,
                                line=at("headers"), field=f"{fld}.headers"))
    for key in ("max_stop", "rpm", "tpm", "concurrency", "timeout"):
        if ep.get(key) is not None:
            take(checks.number, key, ep[key], path=path, line=at(key), field=f"{fld}.{key}",
                 error=WorkspaceError)
    take.done()
    return EndpointConfig(**{k: (dict(v or {}) if k == "headers" else bool(v) if k == "batch"
                                 else v) for k, v in ep.items()})


@dataclass
class Workspace:
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def personas_dir(self) -> Path:
        return self.root / "personas"

    @property
    def topics_dir(self) -> Path:
        return self.root / "topics"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = parse_config(self.config_path) if self.config_path.exists() else Config()
        return self._config

    def reload(self) -> None:
        self._config = None

    # -- finding and making --------------------------------------------------------------
    @classmethod
    def find(cls, start: Path | None = None) -> "Workspace":
        env = os.environ.get(ENV_VAR)
        if env:
            root = Path(env).expanduser()
            if not (root / CONFIG_NAME).exists():
                init_workspace(root)
            return cls(root.resolve())
        here = (start or Path.cwd()).resolve()
        for d in (here, *here.parents):
            if (d / CONFIG_NAME).is_file():
                return cls(d)
        root = user_default_dir()
        if not (root / CONFIG_NAME).exists():
            init_workspace(root)
        return cls(root)


def user_default_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("chatsynth", appauthor=False)) / "workspace"


def init_workspace(root: Path, *, examples: bool = True) -> tuple[Workspace, list[Path]]:
    """Create a workspace at ``root``; never overwrites a file that is already there.

    Returns the workspace and the files it created.
    """
    root = Path(root).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise WorkspaceError("exists and is not a folder", path=root)
    created: list[Path] = []
    for sub in ("personas", "topics"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for sub in ("runs", "exports"):  # conversations can hold private documents: owner-only
        (root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
    cfg = root / CONFIG_NAME
    if not cfg.exists():
        fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(DEFAULT_CONFIG)
        created.append(cfg)
    if examples:
        src = examples_dir()
        for sub in ("personas", "topics"):
            for item in sorted((src / sub).iterdir()):
                if item.name.startswith((".", "_")):
                    continue
                dest = root / sub / item.name
                if dest.exists():
                    continue
                if item.is_dir():
                    shutil.copytree(item, dest)
                else:
                    shutil.copy2(item, dest)
                created.append(dest)
    return Workspace(root.resolve()), created
