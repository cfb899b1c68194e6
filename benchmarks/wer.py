"""Word error rate and product-name accuracy, on normalised words."""

from __future__ import annotations

import re

from num2words import num2words

from benchmarks.corpus import PRODUCTS


def normalise(text: str) -> list[str]:
    text = text.lower().replace("'", "")
    text = re.sub(r"\d+", lambda m: " " + num2words(int(m.group())) + " ", text)
    words = re.findall(r"[a-z]+", text.replace("-", " "))
    return words


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(refs: list[str], hyps: list[str]) -> float:
    errors = sum(edit_distance(normalise(r), normalise(h)) for r, h in zip(refs, hyps, strict=True))
    words = sum(len(normalise(r)) for r in refs)
    return errors / max(1, words)


def product_hits(ref: str, hyp: str) -> tuple[int, int]:
    """(product names in the reference, of those, how many the hypothesis spelled right)."""
    wanted = [w for w in normalise(ref) if w in PRODUCTS]
    got = set(normalise(hyp))
    return len(wanted), sum(1 for w in wanted if w in got)
