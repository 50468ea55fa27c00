"""Finding elements in an OOXML part by their byte positions, and editing the part there.

A part is parsed with expat, the standard library's streaming XML parser, for where each
element starts and ends; it is edited by splicing bytes at those places, so that every byte
not edited comes back as it was. Re-serialising a parsed tree (ElementTree, openpyxl) would
rename namespace prefixes, and Excel refuses a part whose ``mc:Ignorable="x14ac"`` then names
a prefix no longer declared; a tree model also drops what it does not know.

No DTD is ever read: a part that declares one, or an entity, is refused before anything in it
is expanded (a billion laughs, or an external entity naming a local file).
"""

from __future__ import annotations

import re
import xml.parsers.expat
from collections.abc import Iterable
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from pipeline.errors import ArgilBatchError

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT_MAIN_NS = "http://purl.oclc.org/ooxml/spreadsheetml/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
STRICT_REL_NS = "http://purl.oclc.org/ooxml/officeDocument/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT_TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"

# The rest of a start tag after its "<": attribute values may hold ">" (XML allows it).
_TAG_REST = re.compile(rb"""(?:[^>"']|"[^"]*"|'[^']*')*?(/?)>""")
_NAME = re.compile(rb"[^\s/>]+")
_CELL_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")


class PartError(ArgilBatchError):
    """A part cannot be parsed, or declares a DTD; the message says which and why."""


@dataclass(slots=True)
class Element:
    """One element of a part: where it is, its local name and its attributes."""

    name: str
    namespace: str
    attributes: dict[str, str]
    """Unprefixed attributes by name; namespaced ones as ``"{uri}name"``."""
    start: int
    """Offset of its "<"."""
    tag_end: int
    """Offset just past its start tag."""
    end: int = -1
    """Offset just past its end tag (``tag_end`` when self-closed)."""
    depth: int = 0
    parent: int = -1
    """Index of the parent in the list :func:`elements` returns (-1 for the root)."""
    children: list[int] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.end == self.tag_end


def new_parser() -> xml.parsers.expat.XMLParserType:
    """An expat parser that reports names as ``uri}local`` and refuses any DTD or entity."""
    parser = xml.parsers.expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_: object) -> None:
        raise PartError("it declares a DTD or an entity, which is refused for safety")

    def refuse_external(*_: object) -> int:
        raise PartError("it refers to an external entity, which is refused for safety")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse_external
    return parser


def split_name(name: str) -> tuple[str, str]:
    """(namespace, local name) from expat's ``uri}local``."""
    namespace, _, local = name.rpartition("}")
    return namespace, local


def attribute_key(name: str) -> str:
    """expat's attribute name as :attr:`Element.attributes` keys it."""
    namespace, local = split_name(name)
    return f"{{{namespace}}}{local}" if namespace else local


def tag_end(data: bytes | bytearray, start: int) -> tuple[int, bool]:
    """(offset past the start tag at ``start``, whether it is self-closed)."""
    match = _TAG_REST.match(data, start + 1)
    if match is None:
        raise PartError(f"a tag at byte {start} does not end")
    return match.end(), bool(match.group(1))


def end_tag_end(data: bytes | bytearray, start: int) -> int:
    """Offset past the end tag that starts at ``start``."""
    found = data.find(b">", start)
    if found < 0:
        raise PartError(f"an end tag at byte {start} does not end")
    return found + 1


def qualified_name(data: bytes | bytearray, start: int) -> bytes:
    """The element's name as written at ``start`` (``row``, ``x:row``)."""
    match = _NAME.match(data, start + 1)
    if match is None:
        raise PartError(f"no element name at byte {start}")
    return match.group()


def prefix_of(data: bytes | bytearray, start: int) -> bytes:
    """The namespace prefix of the element at ``start`` with its colon (``x:``), or b""."""
    name = qualified_name(data, start)
    return name[: name.index(b":") + 1] if b":" in name else b""


def elements(data: bytes, max_depth: int = 64) -> list[Element]:
    """Every element of a small part down to ``max_depth`` (the root is depth 1), in order."""
    found: list[Element] = []
    stack: list[int] = []
    parser = new_parser()

    def start(name: str, attributes: dict[str, str]) -> None:
        depth = len(stack) + 1
        if depth > max_depth:
            stack.append(-1)
            return
        where = parser.CurrentByteIndex
        end, empty = tag_end(data, where)
        namespace, local = split_name(name)
        parent = stack[-1] if stack else -1
        element = Element(
            local,
            namespace,
            {attribute_key(k): v for k, v in attributes.items()},
            where,
            end,
            end if empty else -1,
            depth,
            parent,
        )
        if parent >= 0:
            found[parent].children.append(len(found))
        stack.append(len(found))
        found.append(element)

    def end(name: str) -> None:
        index = stack.pop()
        if index >= 0 and found[index].end < 0:
            found[index].end = end_tag_end(data, parser.CurrentByteIndex)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except (xml.parsers.expat.ExpatError, LookupError) as exc:
        # LookupError: its declaration names an encoding Python does not know.
        raise PartError(f"it is not well-formed XML ({exc})") from None
    if not found:
        raise PartError("it holds no element")
    return found


def splice(data: bytes, edits: Iterable[tuple[int, int, bytes]]) -> bytes:
    """``data`` with each ``(start, end, new)`` range replaced; ranges must not overlap."""
    pieces: list[bytes] = []
    at = 0
    for start, end, new in sorted(edits, key=lambda edit: (edit[0], edit[1])):
        if start < at:
            raise ValueError(f"overlapping edits at byte {start}")
        pieces.append(data[at:start])
        pieces.append(new)
        at = end
    pieces.append(data[at:])
    return b"".join(pieces)


def with_attributes(tag: bytes, **values: str) -> bytes:
    """The start tag ``tag`` with these unprefixed attributes set (replaced or added)."""
    for name, value in values.items():
        quoted = quote(value)
        pattern = re.compile(rb"""(\s%s\s*=\s*)(?:"[^"]*"|'[^']*')""" % re.escape(name.encode()))
        tag, count = pattern.subn(rb"\g<1>" + quoted.replace(b"\\", b"\\\\"), tag, count=1)
        if not count:
            close = len(tag) - (2 if tag.endswith(b"/>") else 1)
            tag = tag[:close].rstrip() + b" " + name.encode() + b"=" + quoted + tag[close:]
    return tag


def quote(value: str) -> bytes:
    """An attribute value, escaped and in double quotes."""
    return b'"' + attribute_text(value) + b'"'


def attribute_text(value: str) -> bytes:
    # A line break or tab in an attribute would be read back as a space: keep it as written.
    escaped = escape(value, {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})
    return escaped.encode("utf-8")


def text(value: str) -> bytes:
    """Element content, escaped."""
    if "&" in value or "<" in value or ">" in value:
        value = escape(value)
    return value.encode("utf-8")


def column_letters(index: int) -> str:
    """Letters of the 0-based column ``index``: 0 -> A, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_index(letters: str) -> int:
    """The 0-based column of ``letters``: A -> 0."""
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number - 1


def cell_ref(row: int, column: int) -> str:
    return f"{column_letters(column)}{row}"


def parse_ref(ref: str) -> tuple[int, int] | None:
    """(row, 0-based column) of a cell reference such as ``B7`` or ``$B$7``."""
    match = _CELL_REF.fullmatch(ref.strip())
    if match is None:
        return None
    return int(match.group(2)), column_index(match.group(1))


def parse_range(ref: str) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of ``A2:H39`` (0-based columns), or None."""
    first, _, last = ref.strip().partition(":")
    a = parse_ref(first)
    b = parse_ref(last or first)
    if a is None or b is None:
        return None
    return min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])


def range_ref(top: int, left: int, bottom: int, right: int) -> str:
    return f"{cell_ref(top, left)}:{cell_ref(bottom, right)}"
