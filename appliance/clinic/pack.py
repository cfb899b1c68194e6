"""Load a protocol pack folder and validate it; every problem names file, line and expectation.

    PACK/clinic.yaml      clinic, hours, providers, on-call chain, pack id + version
    PACK/menu.yaml        areas, treatments with dose ranges and prices, deposit policies
    PACK/screen.yaml      intake and contraindication questions with outcomes, general red flags
    PACK/dialogue.yaml    the conversation's own lines
    PACK/outbound.yaml    the lines of outbound aftercare and recall calls (optional: needed to
                          place those calls)
    PACK/facts.yaml       approved answers to clinic-fact questions: hours (computed from
                          clinic.yaml), address, parking, payments ... (optional)
    PACK/messages.yaml    the approved texts of SMS and email to patients: payment links, written
                          aftercare (optional: needed to send them; see messages_schema.py)
    PACK/workflows/*.yaml one workflow per procedure (per device and indication for lasers)
    PACK/approval.yaml    written by `appliance protocol approve` (see approval.py)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from appliance.clinic.checkin import check_in_problems
from appliance.clinic.errors import PackError
from appliance.clinic.facts_schema import Facts, check_facts
from appliance.clinic.facts_words import fact_words
from appliance.clinic.messages_schema import Messages
from appliance.clinic.schema import (
    FAMILIES,
    Clinic,
    Dialogue,
    DialogueKey,
    Menu,
    OutboundLines,
    RedFlag,
    Screen,
    Treatment,
    Workflow,
)
from appliance.clinic.yamlload import Loc, LocatedYaml, YamlProblem, load_located

TOP_FILES: dict[str, type[BaseModel]] = {
    "clinic.yaml": Clinic, "menu.yaml": Menu, "screen.yaml": Screen, "dialogue.yaml": Dialogue,
    "outbound.yaml": OutboundLines, "facts.yaml": Facts, "messages.yaml": Messages,
}
OPTIONAL_FILES = frozenset({"outbound.yaml", "facts.yaml", "messages.yaml"})  # a pack may leave out what it does not use
APPROVAL_FILE = "approval.yaml"
DEMO_PACK = Path(__file__).parent / "packs" / "demo"


@dataclass(frozen=True)
class Pack:
    root: Path
    clinic: Clinic
    menu: Menu
    screen: Screen
    dialogue: Dialogue
    workflows: dict[str, Workflow]
    outbound: OutboundLines | None = None  # outbound.yaml, when the pack has it
    facts: Facts | None = None  # facts.yaml, when the pack has it
    messages: Messages | None = None  # messages.yaml, when the pack has it
    data: dict[str, Any] = field(repr=False, default_factory=dict)  # relative path -> parsed YAML

    @property
    def ref(self) -> str:
        return f"{self.clinic.pack.id}@{self.clinic.pack.version}"

    def prov(self, item_id: str) -> str:
        return f"{self.ref}#{item_id}"

    def treatment(self, treatment_id: str) -> Treatment | None:
        return next((t for t in self.menu.treatments if t.id == treatment_id), None)

    def workflow_of(self, treatment_id: str) -> Workflow | None:
        t = self.treatment(treatment_id)
        return self.workflows.get(t.workflow) if t else None

    def all_red_flags(self) -> list[tuple[RedFlag, str | None]]:
        """(flag, workflow id or None for the general ones)."""
        flags: list[tuple[RedFlag, str | None]] = [(f, None) for f in self.screen.red_flags]
        for wf in self.workflows.values():
            flags += [(f, wf.id) for f in wf.red_flags]
        return flags


def _expected(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    msg = str(err["msg"])
    if kind == "missing":
        return "this field is required"
    if kind == "extra_forbidden":
        return "not a field of this section (check its spelling)"
    if kind == "literal_error":
        return msg.replace("Input should be", "expected")
    return msg.removeprefix("Value error, ")


def _problems(err: ValidationError, located: LocatedYaml, rel: str) -> list[str]:
    out = []
    for e in err.errors():
        loc: Loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # literal/union errors append the tried type to loc; keep the written part only
        while loc and loc not in located.lines and loc[:-1] in located.lines and e["type"] != "missing":
            loc = loc[:-1]
        line = located.line_of(loc)
        key = ".".join(str(p) for p in loc) or "(top level)"
        got = e.get("input")
        shown = f" (got {got!r})" if e["type"] not in ("missing",) and isinstance(got, str | int | float) else ""
        out.append(f"{rel}:{line or '?'}: {key}: {_expected(e)}{shown}")
    return out


def _validate(model: type[BaseModel], located: LocatedYaml, rel: str, problems: list[str]) -> Any:
    if not isinstance(located.data, dict):
        problems.append(f"{rel}:{located.line_of(()) or 1}: expected a mapping of keys (the file is empty or a list)")
        return None
    try:
        return model.model_validate(located.data)
    except ValidationError as e:
        problems.extend(_problems(e, located, rel))
        return None


def _cross_check(clinic: Clinic, menu: Menu, screen: Screen, workflows: dict[str, tuple[Workflow, str, LocatedYaml]],
                 files: dict[str, LocatedYaml], problems: list[str], facts: Facts | None = None) -> None:
    def at(rel: str, loc: Loc) -> str:
        return f"{rel}:{files[rel].line_of(loc) or '?'}"

    providers = {p.id for p in clinic.providers}
    for i, oc in enumerate(clinic.on_call):
        if oc.provider not in providers:
            problems.append(f"{at('clinic.yaml', ('on_call', i, 'provider'))}: on_call.{i}.provider: "
                            f"unknown provider {oc.provider!r}; expected one of {sorted(providers)}")
    if clinic.after_hours is not None:
        for i, after in enumerate(clinic.after_hours.on_call):
            if after.provider not in providers:
                problems.append(f"{at('clinic.yaml', ('after_hours', 'on_call', i, 'provider'))}: "
                                f"after_hours.on_call.{i}.provider: unknown provider {after.provider!r}; "
                                f"expected one of {sorted(providers)}")
    areas = {a.id for a in menu.areas}
    policies = {p.id for p in menu.deposit_policies}
    if menu.consult.deposit and menu.consult.deposit not in policies:
        problems.append(f"{at('menu.yaml', ('consult', 'deposit'))}: consult.deposit: unknown deposit policy "
                        f"{menu.consult.deposit!r}; expected one of {sorted(policies)}")
    for i, t in enumerate(menu.treatments):
        entry = workflows.get(t.workflow)
        if entry is None:
            problems.append(f"{at('menu.yaml', ('treatments', i, 'workflow'))}: treatments.{i}.workflow: unknown "
                            f"procedure workflow {t.workflow!r}; expected one of {sorted(workflows)}")
        elif entry[0].family != t.family:
            problems.append(f"{at('menu.yaml', ('treatments', i, 'family'))}: treatments.{i}.family: {t.family!r} "
                            f"but workflow {t.workflow!r} is {entry[0].family!r}; expected the same family")
        if t.deposit not in policies:
            problems.append(f"{at('menu.yaml', ('treatments', i, 'deposit'))}: treatments.{i}.deposit: unknown "
                            f"deposit policy {t.deposit!r}; expected one of {sorted(policies)}")
        for area in t.doses:
            if area not in areas:
                problems.append(f"{at('menu.yaml', ('treatments', i, 'doses', area))}: treatments.{i}.doses: "
                                f"unknown area {area!r}; expected one of {sorted(areas)}")
    lasers: dict[tuple[str, str], str] = {}
    for wf, rel, _ in workflows.values():
        if wf.family == "laser":
            key = ((wf.device or "").lower(), (wf.indication or "").lower())
            if key in lasers:
                problems.append(f"{at(rel, ('indication',))}: indication: {lasers[key]} already covers this device "
                                "and indication; expected one workflow per device and indication")
            lasers[key] = rel
    seen: dict[str, str] = {}

    def claim(item_id: str, where: str) -> None:
        if item_id in seen:
            problems.append(f"{where}: id {item_id!r} is already used at {seen[item_id]}; expected ids unique in the pack")
        else:
            seen[item_id] = where

    for i, q in enumerate(screen.questions):
        claim(q.id, at("screen.yaml", ("questions", i, "id")))
    for i, f in enumerate(screen.red_flags):
        claim(f.id, at("screen.yaml", ("red_flags", i, "id")))
    for wf, rel, _ in workflows.values():
        for section in ("immediate_instructions", "check_ins", "questions", "topics", "red_flags"):
            for i, item in enumerate(getattr(wf, section)):
                claim(item.id, at(rel, (section, i, "id")))
        for i, ci in enumerate(wf.check_ins):
            for j, x in enumerate(ci.lines):
                if not isinstance(x, str):  # a check-in's own approved line: its id is cited too
                    claim(x.id, at(rel, ("check_ins", i, "lines", j, "id")))
        problems.extend(check_in_problems(wf, partial(at, rel)))
    if facts is not None:
        for i, fact in enumerate(facts.facts):
            claim(fact.id, at("facts.yaml", ("facts", i, "id")))
        check_facts(facts, lambda loc: at("facts.yaml", loc), set(fact_words().topics), problems)


AFTER_HOURS_LINES: tuple[DialogueKey, ...] = ("greeting_after_hours", "concern_noted_at", "clinical_question_noted_at",
                     "escalate_urgent_after_hours", "transfer_failed_at")


def _after_hours_lines(clinic: Clinic, dialogue: Dialogue | None, files: dict[str, LocatedYaml],
                       problems: list[str]) -> None:
    """A pack that names who is on call after hours also says so to callers: without these lines
    a caller at 2 a.m. would hear the daytime promises ("within 15 minutes")."""
    if clinic.after_hours is None or dialogue is None:
        return
    missing = [k for k in AFTER_HOURS_LINES if not dialogue.text(k)]
    if missing:
        line = files["clinic.yaml"].line_of(("after_hours",)) or "?"
        problems.append(f"clinic.yaml:{line}: after_hours: the after-hours lines are missing from dialogue.yaml: "
                        f"{', '.join(missing)}; expected each of them (with {{when}} for the call-back time), "
                        "or remove after_hours")


def load_pack(root: Path) -> Pack:
    """Parse and validate every file of the pack; raise PackError listing all problems."""
    root = Path(root)
    if not root.is_dir():
        raise PackError(f"{root}: protocol pack folder not found", fix="pass the folder that holds clinic.yaml")
    problems: list[str] = []
    files: dict[str, LocatedYaml] = {}
    models: dict[str, Any] = {}
    for name in sorted(p.name for p in root.glob("*.yaml")):
        if name not in TOP_FILES and name != APPROVAL_FILE:
            problems.append(f"{name}:1: unexpected file; expected {', '.join(TOP_FILES)} and workflows/*.yaml")
    if (root / "outbound").is_dir():
        problems.append("outbound/: the outbound call lines are a top-level file now; expected outbound.yaml "
                        "(move outbound/lines.yaml there, delete outbound/, then approve the pack again)")
    for rel, model in TOP_FILES.items():
        path = root / rel
        if not path.is_file() and rel in OPTIONAL_FILES:
            continue
        if not path.is_file():
            problems.append(f"{rel}: file missing; expected {rel} in the pack folder")
            continue
        try:
            files[rel] = load_located(path)
        except YamlProblem as e:
            problems.append(f"{rel}:{e.line or '?'}: {e.message}")
            continue
        models[rel] = _validate(model, files[rel], rel, problems)
    workflows: dict[str, tuple[Workflow, str, LocatedYaml]] = {}
    wf_failed = False
    wf_paths = sorted((root / "workflows").glob("*.yaml")) if (root / "workflows").is_dir() else []
    if not wf_paths:
        problems.append("workflows/: no workflow files; expected one workflows/NAME.yaml per procedure")
    for path in wf_paths:
        rel = f"workflows/{path.name}"
        try:
            files[rel] = located = load_located(path)
        except YamlProblem as e:
            problems.append(f"{rel}:{e.line or '?'}: {e.message}")
            wf_failed = True
            continue
        wf = _validate(Workflow, located, rel, problems)
        if wf is None:
            wf_failed = True
            continue
        if wf.id in workflows:
            problems.append(f"{rel}:{located.line_of(('id',))}: id: workflow {wf.id!r} is also defined in "
                            f"{workflows[wf.id][1]}; expected one file per workflow id")
            continue
        workflows[wf.id] = (wf, rel, located)
    if not wf_failed and all(models.get(k) is not None for k in TOP_FILES if k not in OPTIONAL_FILES):
        _cross_check(models["clinic.yaml"], models["menu.yaml"], models["screen.yaml"], workflows, files, problems,
                     facts=models.get("facts.yaml"))
        _after_hours_lines(models["clinic.yaml"], models.get("dialogue.yaml"), files, problems)
    if problems:
        raise PackError(f"{root}: the protocol pack is not valid ({len(problems)} problem"
                        f"{'s' if len(problems) != 1 else ''})", problems=problems,
                        fix="correct each file at the line shown, then run `appliance protocol validate` again")
    return Pack(root=root, clinic=models["clinic.yaml"], menu=models["menu.yaml"], screen=models["screen.yaml"],
                dialogue=models["dialogue.yaml"], workflows={k: v[0] for k, v in workflows.items()},
                outbound=models.get("outbound.yaml"), facts=models.get("facts.yaml"), messages=models.get("messages.yaml"),
                data={rel: f.data for rel, f in files.items()})


def missing_families(pack: Pack) -> list[str]:
    """Procedure families with no workflow (a warning: a clinic need not offer everything)."""
    have = {wf.family for wf in pack.workflows.values()}
    return [f for f in FAMILIES if f not in have]
