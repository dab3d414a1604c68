"""Domain types: Persona, Topic, TopicSource, RunSpec, Turn, Conversation.

Plain dataclasses with stable ids, so that any stored conversation can be traced back to the
persona, topic, run, endpoint, model and parameters that produced it.  Ids are short content
hashes: the same inputs always give the same id, on any machine.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from synth.persona_blocks import JudgeSpec, UserSimulator

ApiStyle = Literal["completion", "chat"]
Role = Literal["user", "assistant"]


def stable_id(*parts: Any, length: int = 12) -> str:
    """A short hex id that depends only on ``parts`` (JSON-serialised, key-sorted)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


@dataclass
class PatternRule:
    """A persona's own rule for one speaker's turns.

    ``require_any``: every turn of ``applies_to`` must match at least one of these regexes
    (e.g. ``["\\?"]`` - "every assistant turn contains a question mark").
    ``forbid``: no turn of ``applies_to`` may match any of these regexes.
    """

    name: str
    applies_to: Role = "assistant"
    require_any: list[str] = field(default_factory=list)
    forbid: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass
class FilterRules:
    """Which aberration rules apply to a persona's conversations, and their limits."""

    min_turns: int = 4
    max_turns: int = 40
    alternation: bool = True  # must start with the user, end with the persona, alternate
    empty_turns: bool = True
    leaked_labels: bool = True
    repeated_lines: bool = True
    refusals: bool = True
    truncated: bool = True  # stopped at max_tokens, or cut by a stop sequence inside a turn
    near_duplicates: float = 0.8  # Jaccard threshold across a run; 0 turns the rule off
    patterns: list[PatternRule] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "FilterRules":
        data = dict(data or {})
        pats = [p if isinstance(p, PatternRule) else PatternRule(**p) for p in data.pop("patterns", [])]
        return cls(patterns=pats, **data)


SAMPLING_FIELDS = ("top_p", "presence_penalty", "frequency_penalty", "repeat_penalty")
NEWER_DEFAULTS: dict[str, Any] = {**{k: None for k in SAMPLING_FIELDS}, "examples": [],
                                  "examples_per_prompt": 1, "example_refs": [],
                                  "resolved_examples": [], "method": "transcript",
                                  "user_simulator": None}
Method = Literal["transcript", "roleplay"]


@dataclass
class Persona:
    """A chatbot's pattern: who speaks, how the synthesis prompt reads, and how to judge it."""

    id: str  # the file's stem, e.g. "eve"
    name: str
    persona_label: str  # "EVE"
    user_label: str  # "USER"
    system_prompt: str  # goes into exported data
    synthesis_prompt: str  # template with {topic} / {context} and label placeholders
    description: str = ""
    style: ApiStyle = "completion"
    temperature: float = 0.8
    max_tokens: int = 800
    stop: list[str] = field(default_factory=list)
    rules: FilterRules = field(default_factory=FilterRules)
    path: Path | None = None
    judge: JudgeSpec | None = None  # the LLM judge's rubric (judging only, like rules)
    # optional sampling values (None: not sent, the server's default)
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repeat_penalty: float | None = None
    # few-shot examples: whole conversations in the persona's labels ("USER: ...\nEVE: ...")
    examples: list[str] = field(default_factory=list)
    examples_per_prompt: int = 1
    # how conversations are written: one request imagines both sides (transcript), or a
    # simulated user talks with the persona turn by turn (roleplay: user_simulator)
    method: Method = "transcript"
    user_simulator: UserSimulator | None = None
    # examples given as ids of stored conversations ("- conversation: ID" or "RUN/ID"), and
    # their text in this persona's labels once a run start (or `check`) has looked them up
    # (synth.dataset.example_refs); a run's spec holds them resolved
    example_refs: list[str] = field(default_factory=list)
    resolved_examples: list[str] = field(default_factory=list)

    def all_examples(self) -> list[str]:
        """Every example a prompt may show: the inline ones, then those given by id."""
        if len(self.resolved_examples) != len(self.example_refs):
            from synth.errors import LibraryError

            raise LibraryError("examples given by conversation id were not looked up "
                               "(synth.dataset.example_refs.resolve_examples)", path=self.path,
                               field="examples")
        return self.examples + self.resolved_examples if self.example_refs else self.examples

    def sampling(self) -> dict[str, float]:
        """The optional sampling values that are set."""
        return {k: getattr(self, k) for k in SAMPLING_FIELDS if getattr(self, k) is not None}

    def content_hash(self) -> str:
        d = self.to_dict()
        d.pop("path", None)
        d.pop("resolved_examples", None)  # what the refs say is in example_refs
        for key, default in NEWER_DEFAULTS.items():  # later fields: keep earlier hashes
            if d.get(key) == default:
                del d[key]
        if d["rules"].get("truncated") is True:  # a later default: keep earlier runs' ids
            del d["rules"]["truncated"]
        if d.get("judge") is None:  # a later field: keep earlier hashes
            d.pop("judge", None)
        return stable_id(d)

    # the fields that shape what the model writes (the prompt and its labels); the system
    # prompt (export only) and the filter rules (judging only) are not among them
    PATTERN_FIELDS = ("name", "description", "persona_label", "user_label", "synthesis_prompt")

    def pattern(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.PATTERN_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path) if self.path else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Persona":
        d = dict(d)
        d["examples"] = list(d.get("examples") or [])
        d["example_refs"] = list(d.get("example_refs") or [])
        d["resolved_examples"] = list(d.get("resolved_examples") or [])
        d["rules"] = FilterRules.from_dict(d.get("rules"))
        d["judge"] = JudgeSpec.from_dict(d.get("judge"))
        sim = d.get("user_simulator")
        d["user_simulator"] = UserSimulator(**sim) if isinstance(sim, dict) else sim
        d["path"] = Path(d["path"]) if d.get("path") else None
        return cls(**d)


@dataclass
class Topic:
    """One topic (a short line) or one context (a document's text, for document sources)."""

    text: str  # the topic line, or the document's name for a folder source
    context: str | None = None  # a document's full text
    source_line: int | None = None
    parent: str | None = None  # the topic this one narrows down (brainstorm --expand)

    @property
    def id(self) -> str:
        return stable_id(self.text, self.context)


@dataclass
class TopicSource:
    """A YAML list, a text file (one topic a line) or a folder of documents."""

    id: str  # the file's stem or the folder's name
    kind: Literal["yaml", "text", "folder"]
    topics: list[Topic]
    path: Path | None = None
    persona: str | None = None  # the persona this list was written for, if the file says so

    def content_hash(self) -> str:
        return stable_id([t.id for t in self.topics])


@dataclass
class RunSpec:
    """Everything that decides what a run writes.  The same spec again resumes the same run.

    A run is "this persona's pattern x this topic source x these settings"; its work items are
    computed from the topic source as it is now, so adding topics or raising ``per_topic``
    extends the same run.  Fields that only govern *how* a run proceeds (per_topic,
    concurrency, rate limits, budget, limit) are not part of the run's identity.
    """

    persona: Persona
    topics: TopicSource
    per_topic: int = 1
    endpoint: str = "local"
    model: str = ""
    style: ApiStyle = "completion"
    temperature: float = 0.8
    max_tokens: int = 800
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repeat_penalty: float | None = None
    method: Method = "transcript"  # roleplay: the persona's user_simulator talks with it
    # how, not what:
    concurrency: int = 4
    rpm: int | None = None
    tpm: int | None = None
    budget: float | None = None  # money, in USD
    limit: int | None = None  # write at most this many conversations in this invocation
    # the stored run this spec continues, when the store found one whose id was made another
    # way (a run written before work-item ids); set by Store.bind, never part of the identity
    run_ref: str | None = None

    @property
    def run_id(self) -> str:
        return self.run_ref or stable_id(self.identity())

    def sampling(self) -> dict[str, float]:
        """The optional sampling values that are set (sent with each request)."""
        return {k: getattr(self, k) for k in SAMPLING_FIELDS if getattr(self, k) is not None}

    def identity(self) -> dict[str, Any]:
        """What decides a conversation's text, apart from its topic and k.  The optional sampling
        values and the persona's examples count only when set, so earlier runs keep their ids."""
        ident = {
            "scheme": 2,
            "persona": self.persona.id,
            "persona_pattern": stable_id(self.persona.pattern()),
            "topics": self.topics.id,
            "endpoint": self.endpoint,
            "model": self.model,
            "style": self.style,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
        }
        ident.update(self.sampling())
        shown = self.persona.all_examples()
        if shown and self.persona.examples_per_prompt:
            ident["examples"] = stable_id(shown, self.persona.examples_per_prompt)
        if self.method == "roleplay":  # the persona's own prompt and the simulator shape the text
            sim = self.persona.user_simulator
            ident["method"] = "roleplay"
            ident["roleplay"] = stable_id(self.persona.system_prompt, asdict(sim) if sim else None)
        return ident

    @classmethod
    def for_persona(cls, persona: Persona, topics: TopicSource, **overrides: Any) -> "RunSpec":
        """A spec that takes its sampling defaults from the persona unless overridden."""
        base: dict[str, Any] = dict(
            style=persona.style,
            temperature=persona.temperature,
            max_tokens=persona.max_tokens,
            stop=list(persona.stop),
            method=persona.method,
            **persona.sampling(),
        )
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(persona=persona, topics=topics, **base)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record of the spec, including the persona and topics as they were."""
        return {
            "run_id": self.run_id,
            **self.identity(),
            "per_topic": self.per_topic,
            "persona_snapshot": self.persona.to_dict(),
            "topic_source": {
                "id": self.topics.id,
                "kind": self.topics.kind,
                "path": str(self.topics.path) if self.topics.path else None,
                "topics": [{"text": t.text, "context": t.context} for t in self.topics.topics],
            },
            "concurrency": self.concurrency,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "budget": self.budget,
            "limit": self.limit,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunSpec":
        ts = d["topic_source"]
        topics = TopicSource(
            id=ts["id"],
            kind=ts["kind"],
            path=Path(ts["path"]) if ts.get("path") else None,
            topics=[Topic(text=t["text"], context=t.get("context")) for t in ts["topics"]],
        )
        return cls(
            persona=Persona.from_dict(d["persona_snapshot"]),
            topics=topics,
            per_topic=d["per_topic"],
            endpoint=d["endpoint"],
            model=d["model"],
            style=d["style"],
            temperature=d["temperature"],
            max_tokens=d["max_tokens"],
            stop=list(d["stop"]),
            seed=d.get("seed"),
            **{k: d[k] for k in SAMPLING_FIELDS if d.get(k) is not None},
            method=d.get("method", "transcript"),
            concurrency=d.get("concurrency", 4),
            rpm=d.get("rpm"),
            tpm=d.get("tpm"),
            budget=d.get("budget"),
            limit=d.get("limit"),
        )


@dataclass
class WorkItem:
    """One conversation to write: the k-th conversation for a topic in a run."""

    run_id: str
    topic: Topic
    k: int

    @cached_property
    def conversation_id(self) -> str:
        # worked out once per item: a run asks for it about 16 times per conversation
        return conversation_id(self.run_id, self.topic.id, self.k)


def conversation_id(run_id: str, topic_id: str, k: int) -> str:
    return stable_id(run_id, topic_id, k, length=16)


@dataclass
class Turn:
    role: Role
    text: str
    label: str = ""  # the speaker label as the model wrote it ("Eve :", "USER")

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "text": self.text, "label": self.label}


@dataclass
class Trim:
    """Where the raw text was cut: which stop sequence fired, at what offset, what was cut."""

    stop: str | None = None  # None: nothing fired, the text is kept whole
    at: int | None = None  # character offset in raw_text
    tail: str = ""  # the trimmed-off text


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    source: Literal["server", "estimate"] = "server"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _plain(value: Any) -> Any:
    """A copy of nested dicts and lists (what asdict does to a field that is not a dataclass)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return asdict(value) if hasattr(value, "__dataclass_fields__") else copy.deepcopy(value)


@dataclass
class Conversation:
    """One finished (or, after a cancel, partial) conversation, as stored."""

    id: str
    run_id: str
    persona_id: str
    topic_id: str
    topic: str
    k: int
    endpoint: str
    model: str
    params: dict[str, Any]  # style, temperature, max_tokens, stop, seed
    prompt: str  # the rendered synthesis prompt (for chat style: the user message)
    raw_text: str  # everything the model wrote
    turns: list[Turn]
    trim: Trim = field(default_factory=Trim)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    status: Literal["complete", "partial"] = "complete"
    created_at: float = 0.0
    duration_s: float = 0.0
    cost: float | None = None  # USD, where a price is known
    context: str | None = None  # the document's text for folder sources
    verdict: dict[str, Any] | None = None  # the filters' verdict when it was written

    def to_dict(self) -> dict[str, Any]:
        # what dataclasses.asdict gives, written out: asdict deep-copies value by value and was
        # half the cost of storing a conversation (tests/test_models.py compares the two)
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["params"] = _plain(self.params)
        d["turns"] = [{"role": t.role, "text": t.text, "label": t.label} for t in self.turns]
        d["trim"] = {"stop": self.trim.stop, "at": self.trim.at, "tail": self.trim.tail}
        u = self.usage
        d["usage"] = {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                      "source": u.source}
        d["verdict"] = _plain(self.verdict)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Conversation":
        known = cls.__dataclass_fields__
        d = {k: v for k, v in d.items() if k in known}  # newer records: ignore what we don't know
        d["turns"] = [Turn(**t) for t in d.get("turns", [])]
        d["trim"] = Trim(**(d.get("trim") or {}))
        d["usage"] = Usage(**(d.get("usage") or {}))
        return cls(**d)
