"""The data sheet's XML part rewritten as it streams: the tool's cells written in, every other
byte as it was.

expat reads the part in chunks and says where each row and cell starts and ends; the bytes
are copied through, and only where the tool writes are bytes spliced in: its cells in the
header row and in each data row (each at its column, among the user's cells), the dimension,
a frozen header when the sheet has no pane, the new columns' widths, the autofilter stretched
over the result columns, and the result links. The user's cells, formulas and the values they
last computed (``<v>``) are never touched, so every reader, pandas and the next run included,
sees them as the user's program saved them.

Text results are inline strings (``t="inlineStr"``), numbers and date-times plain values, so
the workbook's shared strings part is copied as it is rather than rewritten (the strings a
previous openpyxl output kept there stay, unused, a few bytes each).
"""

from __future__ import annotations

import datetime as dt
import re
import xml.parsers.expat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, NamedTuple

from pipeline.sheets.ooxml import (
    REL_NS,
    STRICT_MAIN_NS,
    STRICT_REL_NS,
    PartError,
    cell_ref,
    column_index,
    column_letters,
    end_tag_end,
    new_parser,
    parse_range,
    prefix_of,
    qualified_name,
    range_ref,
    split_name,
    tag_end,
    text,
    with_attributes,
)

_CHUNK = 1 << 20
_DIGITS = "0123456789"
_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)
_DAY = dt.timedelta(days=1)

# The children of <worksheet>, in the order its schema requires: an element is added before
# the first present one that comes after it.
# fmt: off
_ORDER = {name: index for index, name in enumerate([
    "sheetPr", "dimension", "sheetViews", "sheetFormatPr", "cols", "sheetData", "sheetCalcPr",
    "sheetProtection", "protectedRanges", "scenarios", "autoFilter", "sortState",
    "dataConsolidate", "customSheetViews", "mergeCells", "phoneticPr", "conditionalFormatting",
    "dataValidations", "hyperlinks", "printOptions", "pageMargins", "pageSetup", "headerFooter",
    "rowBreaks", "colBreaks", "customProperties", "cellWatches", "ignoredErrors", "smartTags",
    "drawing", "legacyDrawing", "legacyDrawingHF", "drawingHF", "picture", "oleObjects",
    "controls", "webPublishItems", "tableParts", "extLst",
])}
# fmt: on


class ResultCell(NamedTuple):
    """A cell the tool writes, typed: text (an inline string), a number or a date-time."""

    value: str | int | float | dt.datetime
    style: str | None = None
    """Which of the result styles it takes (a key of the styles map), or none."""
    link: str | None = None
    """A URL the cell links to."""


@dataclass
class SheetChanges:
    """What the tool writes into the data sheet."""

    header_row: int
    rows: Sequence[int]
    """The rows that may get cells, ascending (the header row first)."""
    cells: Callable[[int], Sequence[tuple[int, ResultCell | None]]]
    """A row's cells by 0-based column, ascending; None clears the cell there."""
    link_columns: frozenset[int]
    added: Mapping[int, str]
    """The columns the tool adds (right of the input's), by 0-based column: their headers."""
    widths: Mapping[int, float]
    """Widths of the columns the tool adds."""
    first_column: int
    last_input_column: int
    last_column: int
    bottom: int
    """The last data row."""
    add_filter: bool
    """Whether a filter goes on the header when the sheet has none (not when it has tables)."""
    styles: Mapping[str, int]
    date1904: bool = False


@dataclass
class SheetOutcome:
    """What the rest of the package must follow: the links' relationships, the filter's range
    for its defined name, and whether a formula the calculation chain lists was replaced."""

    links: list[tuple[str, str]] = field(default_factory=list)
    """(relationship id, URL) of each new link."""
    dropped_ids: set[str] = field(default_factory=set)
    """Relationship ids of the links that went with replaced cells."""
    kept_ids: set[str] = field(default_factory=set)
    filter_ref: str | None = None
    replaced_formula: bool = False


def rewrite_sheet(
    read: Callable[[int], bytes],
    out: IO[bytes],
    changes: SheetChanges,
    taken_ids: set[str],
    link_ids: set[str],
) -> SheetOutcome:
    """Copy the worksheet part ``read`` gives (in chunks, b"" at its end) to ``out`` with
    ``changes`` written in; PartError when the part cannot be read. ``taken_ids`` are the
    sheet's relationship ids, ``link_ids`` those of its links: a new link reuses the id of
    one it replaces, so that ids do not grow run after run."""
    rewriter = _Rewriter(changes, out, taken_ids, link_ids)
    try:
        while chunk := read(_CHUNK):
            rewriter.feed(chunk)
        rewriter.close()
    except (xml.parsers.expat.ExpatError, LookupError) as exc:
        # LookupError: its declaration names an encoding Python does not know.
        raise PartError(f"it is not well-formed XML ({exc})") from None
    return rewriter.outcome


class _Node:
    """An element outside the rows (few of them): where it is and what it holds."""

    __slots__ = ("attributes", "children", "end", "name", "start", "tag_end")

    def __init__(self, name: str, attributes: dict[str, str], start: int, end: int) -> None:
        self.name = name
        self.attributes = attributes
        self.start = start
        self.tag_end = end
        self.end = -1
        self.children: list[_Node] = []


class _Rewriter:
    def __init__(
        self, changes: SheetChanges, out: IO[bytes], taken_ids: set[str], link_ids: set[str]
    ) -> None:
        self.changes = changes
        self.out = out
        self.outcome = SheetOutcome()
        self.taken_ids = set(taken_ids)
        self.link_ids = link_ids
        self.next_id = 1
        self.parser = new_parser()
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.StartNamespaceDeclHandler = self._namespace
        self.buf = bytearray()
        self.base = 0  # input offset of buf[0]
        self.pos = 0  # input offset written so far
        self.hold = 0  # input offset before which everything is decided
        self.edits: list[tuple[int, int, bytes]] = []
        self.depth = 0
        self.main = ""
        self.prefix = b""  # the main namespace's prefix on the root, with its colon
        self.declared: dict[str, str] = {}  # prefix -> namespace, on the root
        self.children: list[_Node] = []  # the root's, outside sheetData
        self.stack: list[_Node] = []
        self.in_data = False
        self.data_seen = False
        self.wanted = changes.rows
        self.next_wanted = 0
        self.row = 0
        # The open row: where it starts, whether it has spans or children, and its cells as
        # [column, start, offset of the end event, holds a formula, has children].
        self.row_open = False
        self.row_start = 0
        self.row_spans = False
        self.row_children = False
        self.cells: list[list[int]] = []
        self.cell: list[int] | None = None
        self.column = -1
        self.rewritten: set[bytes] = set()
        self.new_links: list[tuple[bytes, str]] = []  # (cell, URL); ids come at the end
        self.root_end = -1
        self.letters: dict[int, bytes] = {}
        self.columns: dict[str, int] = {}

    # --- feeding ---------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        self.buf += chunk
        self.parser.Parse(chunk, False)
        self._emit(self.hold)

    def close(self) -> None:
        self.parser.Parse(b"", True)
        if not self.data_seen:
            raise PartError("it has no sheetData")
        self._emit(self.base + len(self.buf))

    def _emit(self, upto: int) -> None:
        """Write the input up to ``upto`` with the edits before it; every edit that starts
        before ``hold`` is complete, and the edits are in order."""
        buf, base = self.buf, self.base
        pos = self.pos
        pieces: list[bytes | bytearray] = []
        done = 0
        for start, end, new in self.edits:
            if end > upto:
                break
            pieces.append(buf[pos - base : start - base])
            pieces.append(new)
            pos = end
            done += 1
        if done:
            del self.edits[:done]
        if upto > pos:
            pieces.append(buf[pos - base : upto - base])
            pos = upto
        self.out.write(b"".join(pieces))
        self.pos = pos
        if pos - base > _CHUNK:
            del buf[: pos - base]
            self.base = pos

    # --- expat's events ----------------------------------------------------------------

    def _namespace(self, prefix: str | None, uri: str) -> None:
        if self.depth == 0:
            self.declared[prefix or ""] = uri

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        # Called for every element of the part (millions): the cells' path comes first.
        self.depth += 1
        depth = self.depth
        if self.row_open:
            self.row_children = True
            if depth == 4 and name.endswith("}c"):
                ref = attributes.get("r")
                column = -1
                if ref:
                    letters = ref.rstrip(_DIGITS)
                    found = self.columns.get(letters)
                    if found is None and letters.isalpha() and letters.isascii():
                        found = self.columns[letters] = column_index(letters)
                    column = -1 if found is None else found
                self.column = column if column >= 0 else self.column + 1
                self.cell = [self.column, self.parser.CurrentByteIndex, -1, 0, 0]
                self.cells.append(self.cell)
            elif depth == 5 and self.cell is not None:
                self.cell[4] = 1
                if name.endswith("}f"):
                    self.cell[3] = 1
            return
        if self.in_data:
            if depth == 3 and name.endswith("}row"):
                self._row_begins(attributes)
            return
        at = self.parser.CurrentByteIndex
        if depth == 1:
            self.main, _ = split_name(name)
            self.prefix = prefix_of(self.buf, at - self.base)
            return
        if depth > 4:
            return
        end, empty = tag_end(self.buf, at - self.base)
        node = _Node(split_name(name)[1], attributes, at, end + self.base)
        if empty:
            node.end = node.tag_end
        if depth == 2:
            self.children.append(node)
            if node.name == "sheetData":
                self._head_done(node)
        else:
            self.stack[-1].children.append(node)
        self.stack.append(node)

    def _end(self, name: str) -> None:
        depth = self.depth
        self.depth -= 1
        if self.row_open:
            if depth == 4 and self.cell is not None:
                self.cell[2] = self.parser.CurrentByteIndex
                self.cell = None
            elif depth == 3:
                self._row_ends()
            return
        if self.in_data:
            if depth == 2:
                self._data_ends()
            return
        if depth == 1:
            self._root_ends(self.parser.CurrentByteIndex)
            return
        if depth > 4:
            return
        node = self.stack.pop()
        if node.tag_end - self.base >= 2 and self.buf[node.tag_end - self.base - 2] == 0x2F:
            node.end = node.tag_end  # self-closed: "/>"
        else:
            node.end = end_tag_end(self.buf, self.parser.CurrentByteIndex - self.base) + self.base

    # --- before the rows: dimension, the frozen header, widths ---------------------------

    def _head_done(self, data: _Node) -> None:
        changes = self.changes
        edits: list[tuple[int, int, bytes]] = []
        p = self.prefix
        named = {node.name: node for node in self.children}
        dimension = named.get("dimension")
        if dimension is not None:
            found = parse_range(dimension.attributes.get("ref", ""))
            if found is not None:
                top, left, bottom, right = found
                ref = range_ref(
                    min(top, changes.header_row),
                    min(left, changes.first_column),
                    max(bottom, changes.bottom),
                    max(right, changes.last_column),
                )
                edits.append(self._retag(dimension, ref=ref))
        pane = (
            f'<{p.decode()}pane ySplit="{changes.header_row}" '
            f'topLeftCell="A{changes.header_row + 1}" activePane="bottomLeft" state="frozen"/>'
        ).encode()
        views = named.get("sheetViews")
        if views is None:
            view = b'<%ssheetViews><%ssheetView workbookViewId="0">%s</%ssheetView></%ssheetViews>'
            edits.append(self._insert("sheetViews", view % (p, p, pane, p, p)))
        elif views.children and views.children[0].name == "sheetView":
            first = views.children[0]
            if not any(child.name == "pane" for child in first.children):
                if first.end == first.tag_end:
                    tag = bytes(self._bytes(first.start, first.tag_end))
                    opened = tag[:-2].rstrip() + b">"
                    edits.append(
                        (first.start, first.end, opened + pane + b"</" + p + b"sheetView>")
                    )
                else:
                    edits.append((first.tag_end, first.tag_end, pane))
        if changes.widths:
            edits.append(self._columns(named.get("cols"), data))
        self.edits.extend(sorted(edits, key=lambda edit: (edit[0], edit[1])))
        self.in_data = True
        self.data_seen = True
        if data.end == data.tag_end:
            # <sheetData/>: no rows at all; every wanted row is added inside it.
            rows = b"".join(self._new_row(n) for n in self.wanted)
            tag = bytes(self._bytes(data.start, data.tag_end))
            new = tag[:-2].rstrip() + b">" + rows + b"</" + p + b"sheetData>"
            self.edits.append((data.start, data.tag_end, new))
            self.next_wanted = len(self.wanted)
            self.in_data = False
            self.hold = data.tag_end
        else:
            self.hold = data.tag_end

    def _columns(self, cols: _Node | None, data: _Node) -> tuple[int, int, bytes]:
        """The <cols> with the new columns' widths, splitting any range that covers one
        (LibreOffice writes one range for every column past the data)."""
        p = self.prefix
        widths = self.changes.widths
        ours = sorted(widths)
        pieces: list[tuple[int, bytes]] = []
        if cols is not None:
            for col in cols.children:
                raw = bytes(self._bytes(col.start, col.end))
                try:
                    low, high = int(col.attributes["min"]), int(col.attributes["max"])
                except (KeyError, ValueError):
                    pieces.append((0, raw))
                    continue
                start = low
                for column in (c + 1 for c in ours if low <= c + 1 <= high):
                    if column > start:
                        pieces.append(
                            (start, with_attributes(raw, min=str(start), max=str(column - 1)))
                        )
                    start = column + 1
                if start == low:
                    pieces.append((low, raw))
                elif start <= high:
                    pieces.append((start, with_attributes(raw, min=str(start), max=str(high))))
        for column in ours:
            width = f"{widths[column]:g}"
            pieces.append(
                (
                    column + 1,
                    b'<%scol min="%d" max="%d" width="%s" customWidth="1"/>'
                    % (p, column + 1, column + 1, width.encode()),
                )
            )
        pieces.sort(key=lambda piece: piece[0])
        body = b"".join(raw for _, raw in pieces)
        if cols is None:
            return data.start, data.start, b"<%scols>%s</%scols>" % (p, body, p)
        tag = bytes(self._bytes(cols.start, cols.tag_end))
        if cols.end == cols.tag_end:
            tag = tag[:-2].rstrip() + b">"
        return cols.start, cols.end, tag + body + b"</" + p + b"cols>"

    # --- the rows ------------------------------------------------------------------------

    def _row_begins(self, attributes: dict[str, str]) -> None:
        at = self.parser.CurrentByteIndex
        ref = attributes.get("r", "").strip()
        number = int(ref) if ref.isascii() and ref.isdigit() else self.row + 1
        if number <= self.row:
            raise PartError(f"its rows are out of order (row {number} after row {self.row})")
        self.row = number
        wanted, k = self.wanted, self.next_wanted
        while k < len(wanted) and wanted[k] < number:
            # A row the sheet does not hold (only a Sheet built in Python can name one).
            self.edits.append((at, at, self._new_row(wanted[k])))
            k += 1
        self.next_wanted = k
        self.row_open = True
        self.row_start = at
        self.row_spans = "spans" in attributes
        self.row_children = False
        self.cells = []
        self.cell = None
        self.column = -1
        self.hold = at

    def _row_ends(self) -> None:
        at = self.parser.CurrentByteIndex
        self.row_open = False
        buf, base = self.buf, self.base
        empty = not self.row_children and buf[at - base - 2 : at - base] == b"/>"
        end = at if empty else end_tag_end(buf, at - base) + base
        k = self.next_wanted
        if k < len(self.wanted) and self.wanted[k] == self.row:
            self.next_wanted = k + 1
            self._write_row(at, empty)
        self.hold = end

    def _write_row(self, close: int, empty: bool) -> None:
        news = self.changes.cells(self.row)
        if not news:
            return
        buf, base = self.buf, self.base
        start = self.row_start - base
        p = b"" if buf[start + 1 : start + 4] == b"row" else prefix_of(buf, start)
        number = self.row
        links = self.changes.link_columns
        for column, _ in news:
            if column in links:
                self.rewritten.add(cell_ref(number, column).encode())
        if news[0][0] > self.column and not empty and not self.row_spans:
            # Every cell goes after the user's last one, as in a first run: one insertion.
            xml = b"".join(self._cell(p, number, c, new) for c, new in news if new is not None)
            if xml:
                self.edits.append((close, close, xml))
            return
        existing = {cell[0]: cell for cell in self.cells}
        starts = sorted((cell[0], cell[1]) for cell in self.cells)
        edits: list[tuple[int, int, bytes]] = []
        added: list[int] = []
        for column, new in news:
            xml = b"" if new is None else self._cell(p, number, column, new)
            old = existing.get(column)
            if old is not None:
                if old[3]:
                    self.outcome.replaced_formula = True
                edits.append((old[1], self._cell_end(old), xml))
                continue
            if new is None:
                continue
            added.append(column)
            where = next((start for c, start in starts if c > column), -1)
            edits.append((close if where < 0 else where, -1, xml))
        if added and (empty or self.row_spans):
            edits.append(self._row_tag(added, empty, close))
            if empty:
                edits.append((close, -1, b"</" + qualified_name(buf, start) + b">"))
        # An insertion is empty (start == end): it goes before a replacement at its place,
        # and insertions at one place keep the order they were made in (sorted is stable).
        fixed = [(s, s if e < 0 else e, x) for s, e, x in edits]
        fixed.sort(key=lambda edit: (edit[0], edit[1]))
        self.edits.extend(fixed)

    def _row_tag(self, added: list[int], empty: bool, close: int) -> tuple[int, int, bytes]:
        """The row's start tag with its spans covering the added cells; a self-closed row
        is opened (its cells, then an end tag, go where the tag ended)."""
        start = self.row_start
        tag_stop = close if empty else tag_end(self.buf, start - self.base)[0] + self.base
        tag = bytes(self._bytes(start, tag_stop))
        spans = re.search(rb"""\sspans\s*=\s*["']([^"']*)["']""", tag)
        if spans is not None:
            bounds = [int(n) for n in re.findall(rb"[0-9]+", spans.group(1))]
            low = min([*bounds, min(added) + 1])
            high = max([*bounds, max(added) + 1])
            tag = with_attributes(tag, spans=f"{low}:{high}")
        if empty:
            tag = tag[:-2].rstrip() + b">"
        return start, tag_stop, tag

    def _cell_end(self, cell: list[int]) -> int:
        at = cell[2]
        buf, base = self.buf, self.base
        if not cell[4] and buf[at - base - 2 : at - base] == b"/>":
            return at
        return end_tag_end(buf, at - base) + base

    def _data_ends(self) -> None:
        at = self.parser.CurrentByteIndex
        rest = self.wanted[self.next_wanted :]
        if rest:
            self.edits.append((at, at, b"".join(self._new_row(n) for n in rest)))
            self.next_wanted = len(self.wanted)
        self.in_data = False
        node = self.stack.pop()
        node.end = end_tag_end(self.buf, at - self.base) + self.base
        self.hold = node.end

    def _new_row(self, number: int) -> bytes:
        p = self.prefix
        news = self.changes.cells(number)
        links = self.changes.link_columns
        self.rewritten.update(cell_ref(number, c).encode() for c, _ in news if c in links)
        cells = [self._cell(p, number, c, new) for c, new in news if new is not None]
        if not cells:
            return b""
        return b'<%srow r="%d">%s</%srow>' % (p, number, b"".join(cells), p)

    def _cell(self, p: bytes, row: int, column: int, new: ResultCell) -> bytes:
        letters = self.letters.get(column)
        if letters is None:
            letters = self.letters[column] = column_letters(column).encode()
        ref = b"%s%d" % (letters, row)
        style = self.changes.styles.get(new.style, 0) if new.style else 0
        s = b' s="%d"' % style if style else b""
        value = new.value
        if new.link is not None:
            self.new_links.append((ref, new.link))
        if isinstance(value, str):
            space = b' xml:space="preserve"' if value[:1].isspace() or value[-1:].isspace() else b""
            return b'<%sc r="%s"%s t="inlineStr"><%sis><%st%s>%s</%st></%sis></%sc>' % (
                p, ref, s, p, p, space, text(value), p, p, p,
            )  # fmt: skip
        if isinstance(value, dt.datetime):
            epoch = _EPOCH_1904 if self.changes.date1904 else _EPOCH_1900
            number: int | float = (value - epoch) / _DAY
        else:
            number = value
        shown = str(number) if isinstance(number, int) else repr(number)
        return b'<%sc r="%s"%s><%sv>%s</%sv></%sc>' % (p, ref, s, p, shown.encode(), p, p)

    def _link_id(self) -> str:
        while f"rId{self.next_id}" in self.taken_ids:
            self.next_id += 1
        found = f"rId{self.next_id}"
        self.taken_ids.add(found)
        return found

    # --- after the rows: the filter and the links ----------------------------------------

    def _root_ends(self, at: int) -> None:
        changes, outcome = self.changes, self.outcome
        edits: list[tuple[int, int, bytes]] = []
        named = {node.name: node for node in self.children}
        self.root_end = at
        found = named.get("autoFilter")
        if found is not None:
            bounds = parse_range(found.attributes.get("ref", ""))
            if bounds is not None:
                top, left, bottom, right = bounds
                if (
                    top == changes.header_row
                    and changes.last_input_column <= right
                    and (right < changes.last_column or bottom < changes.bottom)
                ):
                    ref = range_ref(
                        top, left, max(bottom, changes.bottom), max(right, changes.last_column)
                    )
                    edits.append(self._retag(found, ref=ref))
                    outcome.filter_ref = ref
        elif changes.add_filter and "tableParts" not in named:
            ref = range_ref(
                changes.header_row,
                changes.first_column,
                max(changes.bottom, changes.header_row + 1),
                changes.last_column,
            )
            edits.append(
                self._insert(
                    "autoFilter", b'<%sautoFilter ref="%s"/>' % (self.prefix, ref.encode())
                )
            )
            outcome.filter_ref = ref
        links = self._hyperlinks(named.get("hyperlinks"))
        if links is not None:
            edits.append(links)
        self.edits.extend(sorted(edits, key=lambda edit: (edit[0], edit[1])))

    def _hyperlinks(self, existing: _Node | None) -> tuple[int, int, bytes] | None:
        outcome = self.outcome
        if existing is None and not self.new_links:
            return None
        p = self.prefix
        r = self._rel_prefix()
        declare = (
            b"" if r in self.declared else b' xmlns:%s="%s"' % (r.encode(), self._rel_ns().encode())
        )
        kept: list[bytes] = []
        if existing is not None:
            for link in existing.children:
                ref = link.attributes.get("ref", "").encode()
                ids = [v for k, v in link.attributes.items() if k.endswith("}id")]
                if ref in self.rewritten:
                    outcome.dropped_ids.update(ids)
                    continue
                outcome.kept_ids.update(ids)
                kept.append(bytes(self._bytes(link.start, link.end)))
            if not self.new_links and len(kept) == len(existing.children):
                return None
        self.taken_ids -= (outcome.dropped_ids - outcome.kept_ids) & self.link_ids
        rb = r.encode()
        new = []
        for ref, url in self.new_links:
            rid = self._link_id()
            outcome.links.append((rid, url))
            new.append(b'<%shyperlink ref="%s" %s:id="%s"/>' % (p, ref, rb, rid.encode()))
        body = b"".join(kept) + b"".join(new)
        if existing is not None:
            tag = bytes(self._bytes(existing.start, existing.tag_end))
            if existing.end == existing.tag_end:
                tag = tag[:-2].rstrip() + b">"
            if not body:
                return existing.start, existing.end, b""
            if declare and b"xmlns:%s=" % r.encode() not in tag:
                tag = tag[:-1] + declare + b">"
            return existing.start, existing.end, tag + body + b"</" + p + b"hyperlinks>"
        return self._insert(
            "hyperlinks", b"<%shyperlinks%s>%s</%shyperlinks>" % (p, declare, body, p)
        )

    def _rel_ns(self) -> str:
        return STRICT_REL_NS if self.main == STRICT_MAIN_NS else REL_NS

    def _rel_prefix(self) -> str:
        wanted = self._rel_ns()
        for prefix, uri in self.declared.items():
            if uri == wanted and prefix:
                return prefix
        prefix = "r"
        while prefix in self.declared:
            prefix += "r"
        return prefix

    # --- helpers -------------------------------------------------------------------------

    def _bytes(self, start: int, end: int) -> bytearray:
        return self.buf[start - self.base : end - self.base]

    def _retag(self, node: _Node, **values: str) -> tuple[int, int, bytes]:
        tag = bytes(self._bytes(node.start, node.tag_end))
        return node.start, node.tag_end, with_attributes(tag, **values)

    def _insert(self, name: str, xml: bytes) -> tuple[int, int, bytes]:
        """Where ``name`` goes among the root's children, as the schema orders them."""
        rank = _ORDER[name]
        for node in self.children:
            if _ORDER.get(node.name, -1) > rank:
                return node.start, node.start, xml
        if self.root_end < 0:
            raise PartError(f"no place for {name}")
        return self.root_end, self.root_end, xml
