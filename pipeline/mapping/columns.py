"""How a sheet's headers are named in templates, and which columns a template reads.

A column is reachable as ``{{ row["First Name"] }}`` and by its snake_case form
``{{ first_name }}``; a header that is already a valid name (``Email``) also as written. A
snake_case form two headers share names neither, and names Jinja2 reads as words (``if``,
``true``) or that the mapper reserves (``row``) name no column. The template helpers find the
headers a template names literally and tell a bare column (``{{ script }}``), which the mapper
reads straight from the cell.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from jinja2 import nodes

# Names Jinja2 reads as literals or operators: a column named so is reachable only as row[...].
_JINJA_WORDS = frozenset(
    {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if"}
    | {"else", "row", "loop", "self", "super", "varargs", "kwargs"}
)
_NON_WORD = re.compile(r"[\W_]+")


def snake_case(header: str) -> str:
    """``"First Name"`` -> ``"first_name"``: the name a column has in templates."""
    return _NON_WORD.sub("_", header.lower()).strip("_")


def _template_names(headers: Sequence[str]) -> dict[str, str]:
    """Template name -> header, for every header that has a usable, unambiguous name."""
    counts: dict[str, int] = {}
    for header in headers:
        snake = snake_case(header)
        counts[snake] = counts.get(snake, 0) + 1
    names: dict[str, str] = {}
    for header in headers:
        snake = snake_case(header)
        if counts[snake] == 1 and snake.isidentifier() and snake not in _JINJA_WORDS:
            names[snake] = header
    for header in headers:
        if header.isidentifier() and header not in _JINJA_WORDS and header not in names:
            names[header] = header
    return names


def _ambiguous_names(headers: Sequence[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for header in headers:
        groups.setdefault(snake_case(header), []).append(header)
    return {
        snake: group for snake, group in groups.items() if len(group) > 1 and snake not in headers
    }


def _row_lookups(ast: nodes.Template) -> list[str]:
    """Headers named literally through ``row["X"]`` or ``row.X``."""
    found: list[str] = []
    for node in ast.find_all((nodes.Getitem, nodes.Getattr)):
        if isinstance(node, nodes.Getitem) and _is_row(node.node):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.append(node.arg.value)
        elif isinstance(node, nodes.Getattr) and _is_row(node.node):
            found.append(node.attr)
    return found


def _is_row(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "row"


def _bare_column(ast: nodes.Template) -> str | None:
    """The column of a template that is only ``{{ name }}`` or ``{{ row["X"] }}``."""
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    output = ast.body[0].nodes
    if len(output) != 1:
        return None
    node = output[0]
    if isinstance(node, nodes.Name):
        return node.name if node.name != "row" else None
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.node, nodes.Name)
        and node.node.name == "row"
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        return node.arg.value
    return None
