"""The turn corpus with the bundled language model (SmolLM2-135M) as LlmAssist: rules only vs
rules + model, per task. The model is kept only where it does not lower accuracy; it is never
asked for a safety slot (pregnancy, anticoagulants, autoimmune, dental work)."""

from __future__ import annotations

import pytest

from appliance.clinic.nlu import LlmAssist
from appliance.config import Settings
from appliance.models.resolver import resolve_all
from appliance.voice.engines import load_llm
from appliance.voice.llm import LlamaLanguageModel
from tests.clinic.test_turns import report, run_corpus

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def llm() -> LlamaLanguageModel:
    settings = Settings()
    return LlamaLanguageModel(load_llm(resolve_all(settings, ("llm",))["llm"], settings))


async def test_the_shipped_model_tasks_never_lower_accuracy(llm: LlamaLanguageModel) -> None:
    """What the product ships (LlmAssist.TASKS) against rules alone: never lower, above all on safety slots."""
    rules = await run_corpus()
    shipped = await run_corpus(llm)
    print("\n" + report(rules, "rules only"))
    print(f"shipped ({sorted(LlmAssist.TASKS)}): intent {shipped['intent']:.1%}, slots {shipped['slots']:.1%}")
    assert shipped["intent"] >= rules["intent"] and shipped["slots"] >= rules["slots"]
    for slot in ("pregnant_or_breastfeeding", "anticoagulants", "autoimmune", "dental_work"):
        assert shipped["per_slot"].get(slot, 1.0) >= rules["per_slot"].get(slot, 1.0)


@pytest.mark.measure
async def test_each_model_task_measured_against_rules(llm: LlamaLanguageModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """The measurement behind LlmAssist.TASKS (about 6 minutes; `make bench` runs it): rules + model
    per task, and on every non-safety task at once. The shipped set is the one that never lowers accuracy."""
    rules = await run_corpus()
    print("\n" + report(rules, "rules only"))
    for task in ("caller", "reason", "treatment", "prior"):
        monkeypatch.setattr(LlmAssist, "TASKS", frozenset({task}))
        r = await run_corpus(llm)
        print(f"rules + model on {task}: intent {r['intent']:.1%}, slots {r['slots']:.1%}")
    monkeypatch.setattr(LlmAssist, "TASKS", frozenset({"caller", "reason", "treatment", "prior", "category"}))
    every = await run_corpus(llm)
    print(report(every, "rules + model (every non-safety task)"))
    for slot in ("pregnant_or_breastfeeding", "anticoagulants", "autoimmune", "dental_work"):
        assert every["per_slot"].get(slot, 1.0) >= rules["per_slot"].get(slot, 1.0)  # never asked: unchanged
