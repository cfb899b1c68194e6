"""YAML with line numbers: the data plus, for every key path, the line it is written on.

`yaml.compose` keeps each node's `start_mark`; we construct the data with the safe loader and
walk the same node tree to map paths such as ("red_flags", 2, "action") to 1-based lines, so a
validation error can name the file and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Loc = tuple[str | int, ...]


@dataclass
class LocatedYaml:
    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """The line of `loc`, else of its nearest written parent (a missing key: its mapping)."""
        probe = tuple(loc)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), None)


class StrictLoader(yaml.SafeLoader):
    """Safe loader where only true/false are booleans: `yes`, `no`, `on`, `off` stay text
    (a caller's "no" or an answer key `yes:` must not turn into a boolean)."""


StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def _timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """A date that does not exist (2025-05-32) is a problem at its line, not a crash."""
    try:
        if not isinstance(node, yaml.ScalarNode):  # (the timestamp tag resolves scalars only)
            raise ValueError("expected a scalar")
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as e:
        raise yaml.constructor.ConstructorError(None, None, f"not a valid date ({e}): {node.value}",
                                                node.start_mark) from e


StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


class YamlProblem(Exception):
    def __init__(self, path: Path, line: int | None, message: str) -> None:
        super().__init__(f"{path}:{line or '?'}: {message}")
        self.path, self.line, self.message = path, line, message


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: Path) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            if key in seen:
                raise YamlProblem(path, key_node.start_mark.line + 1, f"duplicate key `{key}`")
            seen.add(key)
            lines[loc + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, loc + (key,), lines, path)
            lines[loc + (key,)] = key_node.start_mark.line + 1  # the key's line, not its value's
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, loc + (i,), lines, path)


def load_located(path: Path) -> LocatedYaml:
    """Parse one YAML file; raise YamlProblem (file, line, message) on a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise YamlProblem(path, None, f"cannot read: {e}") from e
    try:
        node = yaml.compose(text, Loader=StrictLoader)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise YamlProblem(path, line, f"not valid YAML: {e.problem or e}") from e
    except yaml.YAMLError as e:
        raise YamlProblem(path, None, f"not valid YAML: {e}") from e
    if node is None:
        return LocatedYaml(path, None, {(): 1})
    lines: dict[Loc, int] = {}
    _walk(node, (), lines, path)
    loader = StrictLoader("")
    try:
        data = loader.construct_document(node)
    except yaml.constructor.ConstructorError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise YamlProblem(path, line, f"cannot read value: {e.problem}") from e
    finally:
        loader.dispose()
    return LocatedYaml(path, data, lines)
