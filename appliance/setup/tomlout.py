"""A small TOML writer for the provisioned config: tables of strings, numbers, booleans, lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str | Path):
        return json.dumps(str(v))  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def dumps(doc: dict[str, Any], header: str = "") -> str:
    """Tables in insertion order; nested dicts become [a.b] tables; None values are left out."""
    out: list[str] = [header.rstrip("\n") + "\n"] if header else []

    def table(name: str, body: dict[str, Any]) -> None:
        scalars = {k: v for k, v in body.items() if v is not None and not isinstance(v, dict)}
        subs = {k: v for k, v in body.items() if isinstance(v, dict)}
        if scalars or not subs:
            out.append(f"\n[{name}]\n" if out else f"[{name}]\n")
            out.extend(f"{_key(k)} = {_value(v)}\n" for k, v in scalars.items())
        for k, v in subs.items():
            table(f"{name}.{_key(k)}", v)

    for name, body in doc.items():
        table(_key(name), body)
    return "".join(out)
