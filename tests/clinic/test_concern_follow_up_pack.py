"""The pack's concern follow-up (`outbound.yaml` concern_follow_up): a bad value names the file,
the line and the fix; the demo pack's lines are what the follow-up call says."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.clinic.concern_call import answer_of
from appliance.clinic.pack import DEMO_PACK, load_pack
from tests.clinic.packcheck import line_of, problems, unapproved_copy


def _broken(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    root = unapproved_copy(tmp_path)
    path = root / "outbound.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return root, line_of(path, new.strip().splitlines()[0])


@pytest.mark.parametrize("bad", ["after_hours: 0", "after_hours: tomorrow", "after_hours: 1000"])
def test_a_bad_after_hours_names_the_file_the_line_and_the_fix(tmp_path: Path, bad: str) -> None:
    root, line = _broken(tmp_path, "after_hours: 24", bad)
    found = problems(root)
    assert len(found) == 1, found
    assert found[0].startswith(f"outbound.yaml:{line}: concern_follow_up.after_hours: expected a whole number of hours "
                               "from 1 to 720"), found
    assert "for example `after_hours: 24`" in found[0]


def test_a_missing_line_or_an_unknown_placeholder_is_named(tmp_path: Path) -> None:
    root, line = _broken(tmp_path, "  unclear: Sorry, I didn't catch that.", "  unclear: Sorry {name}, I didn't catch that.")
    found = problems(root)
    assert found == [f"outbound.yaml:{line}: concern_follow_up.unclear: unknown placeholder {{name}}; expected one of "
                     "{clinic}, {date}, {phone} (got \"Sorry {name}, I didn't catch that. Is it better, about the same, "
                     "or worse?\")"], found
    root2 = unapproved_copy(tmp_path / "b")
    path = root2 / "outbound.yaml"
    text = path.read_text()
    path.write_text("\n".join(x for x in text.splitlines() if not x.startswith("  closing:")) + "\n")
    found = problems(root2)
    assert found == [f"outbound.yaml:{line_of(path, 'concern_follow_up:')}: concern_follow_up.closing: "
                     "this field is required"], found


def test_the_demo_pack_follows_up_a_day_after_resolution() -> None:
    fu = load_pack(DEMO_PACK).outbound.concern_follow_up
    assert fu is not None and (fu.after_hours, fu.within_hours) == (24, 48)
    assert "{date}" in fu.intro and "better" in fu.ask and "worse" in fu.ask


@pytest.mark.parametrize(("said", "answer"), [
    ("It's a lot better now", "better"), ("much better thanks", "better"), ("it's gone", "better"),
    ("about the same", "same"), ("a bit better but still swollen", "same"), ("not better", "same"),
    ("no change really", "same"), ("worse", "worse"), ("it's getting bigger", "worse"),
    ("hmm", None), ("yes", None),
])
def test_only_a_clear_better_is_better(said: str, answer: str | None) -> None:
    assert answer_of(said) == answer
