"""Stable ids: the same spec is the same run on any machine; ids trace back to their inputs."""

from __future__ import annotations

import subprocess
import sys

from synth.library.personas import find_persona

from synth.library.topics import find_topics
from synth.models import Conversation, RunSpec, TopicSource, Turn, Usage, WorkItem


def test_run_id_stable_across_processes(workspace):
    spec = RunSpec.for_persona(find_persona(workspace, "eve"), find_topics(workspace, "eve"), model="m")
    code = ("from synth.library.workspace import Workspace; from synth.library.personas import *; from synth.library.topics import *; "
            "from synth.models import RunSpec; ws = Workspace.find(); "
            "print(RunSpec.for_persona(find_persona(ws,'eve'), find_topics(ws,'eve'), model='m').run_id)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == spec.run_id


def test_run_id_depends_on_what_not_how(workspace):
    eve, topics = find_persona(workspace, "eve"), find_topics(workspace, "eve")
    a = RunSpec.for_persona(eve, topics, model="m")
    assert RunSpec.for_persona(eve, topics, model="m", concurrency=32, budget=1.0).run_id == a.run_id
    assert RunSpec.for_persona(eve, topics, model="m", temperature=0.1).run_id != a.run_id
    assert RunSpec.for_persona(eve, topics, model="other").run_id != a.run_id
    # the run is this persona's pattern x this topic source: a longer list, more per topic, a
    # new system prompt (export only) or new filter rules extend or keep the same run
    assert RunSpec.for_persona(eve, topics, model="m", per_topic=3).run_id == a.run_id
    fewer = TopicSource(id=topics.id, kind=topics.kind, topics=topics.topics[:2])
    assert RunSpec.for_persona(eve, fewer, model="m").run_id == a.run_id
    before = a.run_id
    eve.system_prompt += " changed"
    eve.rules.min_turns += 1
    assert RunSpec.for_persona(eve, topics, model="m").run_id == before
    eve.synthesis_prompt += " changed"
    assert RunSpec.for_persona(eve, topics, model="m").run_id != before


def test_spec_round_trip(workspace):
    spec = RunSpec.for_persona(find_persona(workspace, "bank-support"),
                               find_topics(workspace, "bank-support"), model="m", per_topic=2)
    again = RunSpec.from_dict(spec.to_dict())
    assert again.run_id == spec.run_id and again.per_topic == 2


def test_conversation_ids_and_round_trip(workspace):
    topics = find_topics(workspace, "eve")
    a = WorkItem("r1", topics.topics[0], 0).conversation_id
    assert a == WorkItem("r1", topics.topics[0], 0).conversation_id
    assert a != WorkItem("r1", topics.topics[0], 1).conversation_id
    assert a != WorkItem("r2", topics.topics[0], 0).conversation_id
    c = Conversation(id=a, run_id="r1", persona_id="eve", topic_id=topics.topics[0].id,
                     topic=topics.topics[0].text, k=0, endpoint="local", model="m",
                     params={"temperature": 0.8}, prompt="p", raw_text="t",
                     turns=[Turn("user", "hi", "USER")], usage=Usage(3, 4))
    d = c.to_dict()
    d["a_future_field"] = 1
    back = Conversation.from_dict(d)
    assert back == c and back.usage.total_tokens == 7


def test_conversation_to_dict_is_asdict_and_a_copy():
    # Conversation.to_dict is written out for speed (collecting 100,000 batch answers): it must
    # give exactly what dataclasses.asdict gives, and share no mutable part with the object
    from dataclasses import asdict

    from synth.models import Trim

    c = Conversation(id="c1", run_id="r1", persona_id="eve", topic_id="t", topic="x", k=2,
                     endpoint="e", model="m", params={"stop": ["\nUSER:"], "nested": {"a": [1]}},
                     prompt="p", raw_text="t", turns=[Turn("user", "hi", "USER"),
                                                      Turn("assistant", "yo")],
                     trim=Trim(stop="END", at=3, tail="x"), usage=Usage(3, 4, "estimate"),
                     status="partial", created_at=1.5, cost=0.25, context="doc",
                     verdict={"ok": False, "reasons": ["short"]})
    d = c.to_dict()
    assert d == asdict(c) and list(d) == list(asdict(c))
    d["params"]["stop"].append("more")
    d["params"]["nested"]["a"].append(2)
    d["verdict"]["reasons"].clear()
    assert c.params == {"stop": ["\nUSER:"], "nested": {"a": [1]}}
    assert c.verdict == {"ok": False, "reasons": ["short"]}
    bare = Conversation(id="c2", run_id="r1", persona_id="eve", topic_id="t", topic="x", k=0,
                        endpoint="e", model="m", params={}, prompt="", raw_text="", turns=[])
    assert bare.to_dict() == asdict(bare)
