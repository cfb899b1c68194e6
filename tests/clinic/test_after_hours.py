"""After hours: opening hours, holidays, who is on call, the call-back time promised (pure), and
the pack's after_hours section validated with file and line.

The demo clinic (America/Los_Angeles, local times): Mon-Wed 9-18, Thu 9-19, Fri 9-17, Sat 10-14,
Sunday closed; holidays include 2025-07-04 (a Friday) and 2025-12-25 (a Thursday). After hours:
the NP by number on Monday to Thursday nights (transfers), the MD's desk phone every night (page only).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from appliance.clinic import after_hours as ah
from appliance.clinic.pack import DEMO_PACK, load_pack
from appliance.clinic.promises import Promises
from tests.clinic.packcheck import line_of, unapproved_copy
from tests.clinic.packcheck import problems as pack_problems

CLINIC = load_pack(DEMO_PACK).clinic
NP, MD = "+15550199", "202"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def dials(now: str) -> list[tuple[str, bool]]:
    return [(t.dial, t.transfers) for t in ah.paging_chain(CLINIC, at(now))]


@pytest.mark.parametrize(("now", "open_"), [
    ("2025-03-12T08:59", False), ("2025-03-12T09:00", True), ("2025-03-12T17:59", True),
    ("2025-03-12T18:00", False), ("2025-03-13T18:30", True),  # Thursday: open until 7 PM
    ("2025-03-15T13:59", True), ("2025-03-15T14:00", False),  # Saturday
    ("2025-03-16T11:00", False),  # Sunday
    ("2025-07-04T11:00", False), ("2025-12-25T10:00", False),  # holidays on a weekday
])
def test_open_or_closed(now: str, open_: bool) -> None:
    assert ah.is_open(CLINIC, at(now)) is open_


def test_weekday_evening() -> None:
    now = at("2025-03-11T19:30")  # Tuesday evening
    assert ah.next_opening(CLINIC, now) == at("2025-03-12T09:00")
    assert ah.night_of(CLINIC, now) == "tue"
    assert dials("2025-03-11T19:30") == [(NP, True), (MD, False)]
    assert ah.transfer_target(CLINIC, now) == NP
    assert ah.opening_spoken(CLINIC, now) == "tomorrow at 9 AM"
    p = ah.promise(CLINIC, now, urgent=False, minutes=15, hours=24)
    assert (p.when, p.record, p.after_hours) == ("first thing tomorrow at 9 AM", "2025-03-12T09:00", True)
    assert ah.promise(CLINIC, now, urgent=True, minutes=15, hours=24).when == "within 15 minutes"


def test_two_am() -> None:
    now = at("2025-03-12T02:00")  # Wednesday 2 a.m.: Tuesday night
    assert ah.night_of(CLINIC, now) == "tue" and ah.closed_since(CLINIC, now) == at("2025-03-11T18:00")
    assert dials("2025-03-12T02:00") == [(NP, True), (MD, False)]
    assert ah.opening_spoken(CLINIC, now) == "this morning at 9 AM"
    routine = ah.promise(CLINIC, now, urgent=False, minutes=15, hours=24)
    assert (routine.when, routine.record) == ("first thing this morning at 9 AM", "2025-03-12T09:00")
    urgent = ah.promise(CLINIC, now, urgent=True, minutes=30, hours=24)
    assert (urgent.when, urgent.record, urgent.after_hours) == ("within 30 minutes", "within 30 minutes", True)


def test_saturday_after_close_is_saturday_night_until_monday() -> None:
    now = at("2025-03-15T16:00")
    assert ah.night_of(CLINIC, now) == "sat"
    assert dials("2025-03-15T16:00") == [(MD, False)]  # the NP covers Monday to Thursday nights only
    assert ah.transfer_target(CLINIC, now) is None  # nobody takes a patient's transfer now
    assert ah.opening_spoken(CLINIC, now) == "on Monday at 9 AM"
    assert ah.promise(CLINIC, now, urgent=False, minutes=15, hours=24).when == "first thing Monday at 9 AM"
    assert ah.promise(CLINIC, now, urgent=True, minutes=15, hours=24).when == "within 15 minutes"  # the MD is paged


def test_sunday_closed_all_day() -> None:
    now = at("2025-03-16T12:00")
    assert not ah.is_open(CLINIC, now) and ah.night_of(CLINIC, now) == "sat"
    assert ah.opening_spoken(CLINIC, now) == "tomorrow at 9 AM"
    assert ah.next_opening(CLINIC, now) == at("2025-03-17T09:00")


def test_holiday() -> None:
    now = at("2025-12-25T10:00")  # Christmas, a Thursday: Wednesday night runs into Friday morning
    assert ah.night_of(CLINIC, now) == "wed"
    assert dials("2025-12-25T10:00") == [(NP, True), (MD, False)]
    assert ah.next_opening(CLINIC, now) == at("2025-12-26T09:00")
    independence = at("2025-07-04T11:00")  # a Friday holiday: Saturday opens at 10
    assert ah.promise(CLINIC, independence, urgent=False, minutes=15, hours=24).record == "2025-07-05T10:00"
    assert ah.opening_spoken(CLINIC, at("2025-12-24T20:00")) == "on Friday at 9 AM"


def test_just_before_opening_and_far_ahead() -> None:
    now = at("2025-03-12T08:59")
    assert ah.next_opening(CLINIC, now) == at("2025-03-12T09:00")
    assert ah.promise(CLINIC, now, urgent=False, minutes=15, hours=24).when == "first thing this morning at 9 AM"
    assert ah.spoken_time(at("2025-03-12T08:00"), at("2025-03-12T13:00")) == "today at 1 PM"
    assert ah.spoken_time(at("2025-03-12T08:00"), at("2025-03-20T09:30")) == "on Thursday, March 20, at 9:30 AM"


def test_open_hours_change_nothing() -> None:
    now = at("2025-03-12T10:00")
    assert dials("2025-03-12T10:00") == [("201", True), ("202", True)]  # the daytime on_call chain
    assert ah.transfer_target(CLINIC, now) == "201"
    p = ah.promise(CLINIC, now, urgent=False, minutes=15, hours=24)
    assert (p.when, p.after_hours) == ("within 24 hours", False)


def test_without_after_hours_the_daytime_chain_is_kept() -> None:
    clinic = CLINIC.model_copy(update={"after_hours": None})
    now = at("2025-03-12T02:00")
    assert [t.dial for t in ah.paging_chain(clinic, now)] == ["201", "202"]
    assert ah.transfer_target(clinic, now) == "201"
    # nobody is listed on call: even an urgent call-back is promised for the opening
    assert ah.promise(clinic, now, urgent=True, minutes=15, hours=24).when == "first thing this morning at 9 AM"


def test_promises_pick_the_after_hours_line_and_record_it() -> None:
    pack = load_pack(DEMO_PACK)
    slots: dict[str, object] = {}
    night = Promises(pack.clinic, pack.dialogue, at("2025-03-15T16:00"), slots)
    assert night.line("concern_noted", {"hours": 24}) == ("concern_noted_at", {"hours": 24, "when": "first thing Monday at 9 AM"})
    assert slots["promised_callback"] == "2025-03-17T09:00"
    assert night.line("transfer_failed", {"minutes": 30})[1]["when"] == "within 30 minutes"
    assert slots["promised_callback"] == "within 30 minutes"
    assert night.line("goodbye", {}) == ("goodbye", {})
    assert night.greeting() == "on Monday at 9 AM"
    day = Promises(pack.clinic, pack.dialogue, at("2025-03-12T10:00"), slots)
    assert day.line("concern_noted", {"hours": 24}) == ("concern_noted", {"hours": 24})
    assert slots["promised_callback"] == "within 24 hours" and day.greeting() is None


# ---- the pack's after_hours section ----

@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    return unapproved_copy(tmp_path)


def test_unknown_provider_names_file_and_line(pack_dir: Path) -> None:
    clinic = pack_dir / "clinic.yaml"
    clinic.write_text(clinic.read_text().replace("{provider: md-chen, extension", "{provider: md-chan, extension"))
    line = line_of(clinic, "provider: md-chan")
    problems = pack_problems(pack_dir)
    assert any(p.startswith(f"clinic.yaml:{line}: after_hours.on_call.1.provider: unknown provider 'md-chan'")
               for p in problems), problems


def test_number_and_extension_together_is_refused(pack_dir: Path) -> None:
    clinic = pack_dir / "clinic.yaml"
    clinic.write_text(clinic.read_text().replace('extension: "202", transfers: false}',
                                                 'extension: "202", number: "+1 555 0123", transfers: false}'))
    line = line_of(clinic, 'number: "+1 555 0123"')
    problems = pack_problems(pack_dir)
    assert any(p.startswith(f"clinic.yaml:{line}: after_hours.on_call.1: give either extension") for p in problems), \
        problems


def test_bad_number_and_night_name_file_and_line(pack_dir: Path) -> None:
    clinic = pack_dir / "clinic.yaml"
    clinic.write_text(clinic.read_text().replace('"+1 555 0199"', '"call Alex"').replace("thu]}", "thursday]}"))
    line = line_of(clinic, '"call Alex"')
    problems = pack_problems(pack_dir)
    want = f"clinic.yaml:{line}: after_hours.on_call.0.number: expected a phone number the PBX can dial"
    assert any(p.startswith(want) for p in problems), problems
    assert any(p.startswith(f"clinic.yaml:{line}: after_hours.on_call.0.nights.3: expected 'mon'") for p in problems), \
        problems


def test_after_hours_needs_its_lines(pack_dir: Path) -> None:
    dialogue = pack_dir / "dialogue.yaml"
    dialogue.write_text("\n".join(x for x in dialogue.read_text().splitlines() if not x.startswith("concern_noted_at:")))
    line = line_of(pack_dir / "clinic.yaml", "after_hours:")
    problems = pack_problems(pack_dir)
    assert any(p.startswith(f"clinic.yaml:{line}: after_hours: the after-hours lines are missing from dialogue.yaml: "
                            "concern_noted_at") for p in problems), problems


# ---- the clinic clock's test hook: demo packs only ----

def test_clock_hook_sets_a_demo_packs_time_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from appliance.clinic.clinic_clock import ENV, clinic_now

    pack = load_pack(DEMO_PACK)
    monkeypatch.setenv(ENV, "2025-03-12T02:00")
    assert clinic_now(pack) == at("2025-03-12T02:00")
    real_pack = type(pack)(**{**pack.__dict__, "clinic": pack.clinic.model_copy(
        update={"pack": pack.clinic.pack.model_copy(update={"demo": False})})})
    assert abs((clinic_now(real_pack) - at("2025-03-12T02:00")).days) > 300  # a clinic's own pack: the real clock
    monkeypatch.setenv(ENV, "open")
    assert ah.is_open(pack.clinic, clinic_now(pack))
    monkeypatch.setenv(ENV, "2 a.m.")
    with pytest.raises(ValueError, match="expected a local time such as 2025-03-12T02:00, or open"):
        clinic_now(pack)
