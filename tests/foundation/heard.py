"""Did a line reach the listener? Whisper tiny on telephone audio mishears a word now and then
("transferring you to them" as "transferring each of them", "wrinkle relaxers" as "ring-core
relaxers"), so a line counts as heard when most of its words, in order, are in the transcript."""

from __future__ import annotations

import difflib
import re

HEARD_SHARE = 0.8  # of the line's words; another line of the demo pack shares at most about half


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def words_heard(line: str, heard: str) -> int:
    """How many of the line's words were found, in order, in what was heard."""
    blocks = difflib.SequenceMatcher(None, words(line), words(heard), autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks)


def line_heard(line: str, heard: str) -> float:
    """The share of the line's words found, in order, in what was heard."""
    return words_heard(line, heard) / len(words(line))
