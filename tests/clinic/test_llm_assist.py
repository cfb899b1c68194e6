"""The engine with the real local language model (SmolLM2 over llama.cpp): an extra signal only."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from appliance.clinic.context import CallerContext
from appliance.clinic.engine import ClinicConversation
from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.clinic.script import load_script, run_script
from appliance.config import Settings
from appliance.models.resolver import resolve_all
from appliance.voice.engines import load_llm
from appliance.voice.llm import LlamaLanguageModel
from tests.clinic.scenario_check import check

pytestmark = pytest.mark.models
PACK = load_pack(DEMO_PACK)
NOW = datetime(2025, 3, 12, 10, 0)
SCENARIOS = Path(__file__).parent / "scenarios"


@pytest.fixture(scope="module")
def llm() -> LlamaLanguageModel:
    settings = Settings()
    return LlamaLanguageModel(load_llm(resolve_all(settings, ("llm",))["llm"], settings))


async def test_label_is_schema_constrained(llm: LlamaLanguageModel) -> None:
    c = ClinicConversation(PACK, now=NOW, llm=llm)
    label = await c.assist.choose("answer", ("yes", "no", "unsure", "other"), "Are you pregnant?", "purple monkey")
    assert label in ("yes", "no", "unsure", "other")


async def test_model_never_lowers_a_rule_hit(llm: LlamaLanguageModel) -> None:
    c = ClinicConversation(PACK, now=NOW, llm=llm, caller=CallerContext(known_patient=True, procedure="ha-filler",
                                                                        treated_on=date(2025, 3, 11)))
    c.start()
    reply = await c.caller_said("it's probably nothing but my vision is blurry since the filler")
    assert any(a.kind == "transfer" for a in reply.actions)
    assert c.out.escalations[0].severity == "emergency"


async def test_concern_without_phrase_is_escalated_at_least_routine(llm: LlamaLanguageModel) -> None:
    c = ClinicConversation(PACK, now=NOW, llm=llm, caller=CallerContext(known_patient=True, procedure="chemical-peel",
                                                                        treated_on=date(2025, 3, 9)))
    c.start()
    await c.caller_said("I'm worried about my peel")
    await c.caller_said("my skin feels really tight and strange")
    out = c.ended("caller-hung-up")
    assert out.escalations and out.escalations[0].severity in ("routine", "urgent", "emergency")
    assert out.booking is None


@pytest.mark.parametrize("name", ["filler_blanching_touch_up", "pregnant_wants_botox", "medical_advice_outside_pack",
                                  "botox_touch_up"])
async def test_scenarios_hold_with_the_model(llm: LlamaLanguageModel, name: str) -> None:
    import yaml

    path = SCENARIOS / f"{name}.yaml"
    doc = await run_script(PACK, load_script(path), now=NOW, llm=llm)
    check(doc, yaml.safe_load(path.read_text())["expect"])
