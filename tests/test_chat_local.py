"""The playground on the embedded model for real: one short prompted exchange with Eve."""

from __future__ import annotations

import asyncio
import importlib.util
import os

import pytest

from synth.generate.chat import ChatSession
from synth.generate.endpoints import EndpointSession
from synth.library.personas import load_persona
from synth.library.workspace import Config
from tests.conftest import REPO

if importlib.util.find_spec("llama_cpp") is None and not os.environ.get("CI"):
    pytest.skip("llama-cpp-python is not installed (make test installs it)", allow_module_level=True)

pytestmark = pytest.mark.local_model


def test_one_prompted_exchange_on_the_embedded_model():
    eve = load_persona(REPO / "personas" / "eve.yaml")
    with EndpointSession(Config(), name="local") as ep:
        chat = ChatSession(ep, eve, topic="feeling sad after a bad week", max_tokens=48)

        async def go() -> str:
            try:
                return "".join([p async for p in chat.say("hey Eve, I am sad")])
            finally:
                await ep.aclose()
        answer = asyncio.run(go())
    assert answer.strip(), "the model answered nothing"
    assert "\nUSER:" not in answer  # one turn: stopped at the user's label
    assert [t.role for t in chat.turns] == ["user", "assistant"]
    e = chat.exchanges[0]
    assert e.cost == 0.0 and e.usage.prompt_tokens > 100  # free, and the whole prompt was sent
