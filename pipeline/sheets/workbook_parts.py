"""The input workbook handed back as a package: the data sheet's part rewritten with the
tool's cells, the few parts that must follow it edited in place, every other part copied.

What changes, and why each: the data sheet's part (``worksheet_xml``); the styles part, to
which the result columns' formats are added (a bold header, a link font, status fills, a
date-time format) once, reused by later runs; the sheet's relationships (one per result
link); the workbook part, for the filter's defined name and ``fullCalcOnLoad`` (Excel then
recomputes formulas that read the result columns; the values saved with them stay for every
other reader); a table that ends where the result columns begin, stretched over them; the
content types of any part added or left out. Left out: the calculation chain only when a
result cell replaced a formula it lists, and the macros when the output is an ``.xlsx``
(Excel refuses to open an ``.xlsx`` that holds them). Everything else, other sheets, shared
strings, charts, drawings, pivot tables, images, macros in an ``.xlsm``, is copied as it is.
"""

from __future__ import annotations

import io
import posixpath
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from typing import IO, BinaryIO
from xml.parsers.expat import ExpatError

from pipeline.sheets.ooxml import (
    CONTENT_TYPES_NS,
    PKG_REL_NS,
    STRICT_MAIN_NS,
    Element,
    PartError,
    attribute_text,
    column_letters,
    elements,
    end_tag_end,
    new_parser,
    parse_range,
    prefix_of,
    quote,
    splice,
    tag_end,
    text,
    with_attributes,
)
from pipeline.sheets.worksheet_xml import ResultCell, SheetChanges, SheetOutcome, rewrite_sheet

__all__ = ["PartError", "ResultCell", "SheetChanges", "WorkbookPackage"]

_WORKBOOK_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
_MACRO_WORKBOOK_TYPE = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
_MACRO_WORKBOOK_TYPES = frozenset(
    {
        "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
        "application/vnd.ms-excel.template.macroEnabled.main+xml",
    }
)
_STYLES_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"
_RELS_TYPE = "application/vnd.openxmlformats-package.relationships+xml"
_HYPERLINK = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink"
_STRICT_HYPERLINK = "http://purl.oclc.org/ooxml/officeDocument/relationships/hyperlink"
_STYLES_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"
_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
# The name Excel gives a sheet's filter range: LibreOffice finds the filter by it.
_FILTER_NAME = "_xlnm._FilterDatabase"
_TIME_FORMAT = 'yyyy-mm-dd hh:mm:ss "UTC"'
_FILLS = {"done": "FFC6EFCE", "failed": "FFFFC7CE", "going": "FFFFEB9C"}
_LINK_COLOUR = "FF0563C1"
# The children of <workbook> and of <styleSheet>, in their schemas' order.
# fmt: off
_WORKBOOK_ORDER = [
    "fileVersion", "fileSharing", "workbookPr", "workbookProtection", "bookViews", "sheets",
    "functionGroups", "externalReferences", "definedNames", "calcPr", "oleSize",
    "customWorkbookViews", "pivotCaches", "smartTagPr", "smartTagTypes", "webPublishing",
    "fileRecoveryPr", "webPublishObjects", "extLst",
]
_STYLES_ORDER = [
    "numFmts", "fonts", "fills", "borders", "cellStyleXfs", "cellXfs", "cellStyles", "dxfs",
    "tableStyles", "colors", "extLst",
]
# fmt: on
# What a styles part must hold first for the result styles' indexes to mean what they say.
_STYLE_DEFAULTS = {
    "fonts": b'<%(p)sfont><%(p)ssz val="11"/><%(p)sname val="Calibri"/></%(p)sfont>',
    "fills": (
        b'<%(p)sfill><%(p)spatternFill patternType="none"/></%(p)sfill>'
        b'<%(p)sfill><%(p)spatternFill patternType="gray125"/></%(p)sfill>'
    ),
    "borders": b"<%(p)sborder><%(p)sleft/><%(p)sright/><%(p)stop/><%(p)sbottom/>"
    b"<%(p)sdiagonal/></%(p)sborder>",
    "cellXfs": b'<%(p)sxf numFmtId="0" fontId="0" fillId="0" borderId="0"/>',
}
_EMPTY_STYLES = (
    _XML_DECLARATION
    + b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b"</styleSheet>"
)


@dataclass(slots=True)
class _Relationship:
    id: str
    type: str
    target: str
    external: bool
    start: int
    end: int

    @property
    def kind(self) -> str:
        return self.type.rsplit("/", 1)[-1]


class WorkbookPackage:
    """An input workbook's parts, located and checked once; each :meth:`write` rewrites the
    data sheet from the same input bytes, so that edits to the file during a run never mix
    with the rows that were read."""

    def __init__(self, data: bytes, sheet_name: str | None) -> None:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError) as exc:
            raise PartError(f"it is not a zip archive ({exc})") from None
        self.names = {info.filename: info for info in archive.infolist()}
        self._archive = archive
        self.content_types = self._read("[Content_Types].xml")
        root = _relationships(self._read("_rels/.rels"), "")
        office = next((r for r in root if r.kind == "officeDocument"), None)
        if office is None:
            raise PartError("its package names no workbook part")
        self.workbook_part = office.target
        self.workbook = self._read(self.workbook_part)
        self.workbook_rels_part = _rels_part(self.workbook_part)
        self.workbook_rels = self._read(self.workbook_rels_part)
        book = elements(self.workbook, max_depth=3)
        self._book = book
        sheets = [e for e in book if e.name == "sheet" and e.depth == 3]
        chosen = _pick(sheets, sheet_name)
        if chosen is None:
            raise PartError(f"it has no sheet {sheet_name!r}")
        self.sheet_index = sheets.index(chosen)
        self.sheet_name = chosen.attributes.get("name", "")
        rel_id = next((v for k, v in chosen.attributes.items() if k.endswith("}id")), "")
        relationships = _relationships(self.workbook_rels, self.workbook_part)
        self._workbook_relationships = relationships
        sheet_rel = next((r for r in relationships if r.id == rel_id), None)
        if sheet_rel is None or sheet_rel.target not in self.names:
            raise PartError(f"the part of sheet {self.sheet_name!r} is missing")
        self.sheet_part = sheet_rel.target
        self.sheet_rels_part = _rels_part(self.sheet_part)
        self.sheet_rels = (
            self._read(self.sheet_rels_part) if self.sheet_rels_part in self.names else None
        )
        sheet_relationships = (
            _relationships(self.sheet_rels, self.sheet_part) if self.sheet_rels else []
        )
        self._sheet_relationships = sheet_relationships
        self.tables = [
            r.target for r in sheet_relationships if r.kind == "table" and r.target in self.names
        ]
        by_kind = {r.kind: r for r in relationships if not r.external}
        styles = by_kind.get("styles")
        self.styles_part = styles.target if styles and styles.target in self.names else None
        calc_chain = by_kind.get("calcChain")
        self.calc_chain = calc_chain.target if calc_chain else None
        self.macro_parts = self._macro_parts(relationships)
        properties = next((e for e in book if e.name == "workbookPr" and e.depth == 2), None)
        self.date1904 = properties is not None and properties.attributes.get(
            "date1904", ""
        ).lower() in ("1", "true")
        original = self._read(self.styles_part) if self.styles_part else _EMPTY_STYLES
        self.new_styles, self.styles = _add_styles(original)
        for part in self.tables:
            self._read(part)  # checked now, not at the first write

    # --- reading -------------------------------------------------------------------------

    def _read(self, name: str) -> bytes:
        info = self.names.get(name)
        if info is None:
            raise PartError(f"its part {name} is missing")
        try:
            data = self._archive.read(info)
        except Exception as exc:  # zipfile raises many types on a damaged entry
            raise PartError(f"its part {name} cannot be unpacked ({exc})") from None
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise PartError(f"its part {name} is UTF-16, which no spreadsheet program writes")
        try:
            elements(data, max_depth=1)
        except PartError as exc:
            raise PartError(f"its part {name}: {exc}") from None
        return data

    def _macro_parts(self, relationships: list[_Relationship]) -> set[str]:
        found = {r.target for r in relationships if r.kind == "vbaProject" and not r.external}
        for part in list(found):
            rels = _rels_part(part)
            if rels in self.names:
                found.add(rels)
                found.update(
                    r.target for r in _relationships(self._read(rels), part) if not r.external
                )
        return {part for part in found if part in self.names}

    # --- writing -------------------------------------------------------------------------

    def write(self, changes: SheetChanges, f: BinaryIO, *, keep_macros: bool) -> None:
        """Write the workbook with ``changes`` in its data sheet to ``f``: an ``.xlsm`` when
        ``keep_macros`` (macros kept, the workbook typed macro-enabled), else an ``.xlsx``
        (macros left out). PartError when a part cannot be read."""
        sheet_relationships = self._sheet_relationships
        taken = {r.id for r in sheet_relationships}
        links = {r.id for r in sheet_relationships if r.type in (_HYPERLINK, _STRICT_HYPERLINK)}
        with tempfile.SpooledTemporaryFile(max_size=32 << 20) as sheet_xml:
            try:
                with self._archive.open(self.names[self.sheet_part]) as stream:
                    outcome = rewrite_sheet(stream.read, sheet_xml, changes, taken, links)
            except PartError as exc:
                raise PartError(f"its part {self.sheet_part}: {exc}") from None
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise PartError(f"its part {self.sheet_part} cannot be unpacked ({exc})") from None
            dropped = set() if keep_macros else set(self.macro_parts)
            if outcome.replaced_formula and self.calc_chain:
                dropped.add(self.calc_chain)
            replaced: dict[str, bytes] = {
                self.workbook_part: self._workbook_xml(outcome),
                self.workbook_rels_part: self._workbook_rels(dropped),
            }
            added: dict[str, bytes] = {}
            if self.styles_part:
                replaced[self.styles_part] = self.new_styles
            else:
                added["xl/styles.xml"] = self.new_styles
            sheet_rels = self._sheet_rels(sheet_relationships, outcome)
            if sheet_rels is not None:
                if self.sheet_rels is None:
                    added[self.sheet_rels_part] = sheet_rels
                else:
                    replaced[self.sheet_rels_part] = sheet_rels
            for part in self.tables:
                table = _stretch_table(self._read(part), changes)
                if table is not None:
                    replaced[part] = table
            replaced["[Content_Types].xml"] = self._content_types(dropped, added, keep_macros)
            sheet_xml.seek(0)
            self._zip(f, sheet_xml, replaced, added, dropped)

    def _zip(
        self,
        f: BinaryIO,
        sheet_xml: IO[bytes],
        replaced: dict[str, bytes],
        added: dict[str, bytes],
        dropped: set[str],
    ) -> None:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as out:
            for name, info in self.names.items():
                if name in dropped:
                    continue
                copy = zipfile.ZipInfo(name, date_time=info.date_time)
                copy.compress_type = (
                    info.compress_type
                    if info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
                    else zipfile.ZIP_DEFLATED
                )
                copy.external_attr = info.external_attr
                if name == self.sheet_part:
                    with out.open(copy, "w") as target:
                        shutil.copyfileobj(sheet_xml, target, 1 << 20)
                elif name in replaced:
                    out.writestr(copy, replaced[name])
                else:
                    with self._archive.open(info) as source, out.open(copy, "w") as target:
                        shutil.copyfileobj(source, target, 1 << 20)
            for name, data in added.items():
                info = zipfile.ZipInfo(name, date_time=_newest(self.names))
                info.compress_type = zipfile.ZIP_DEFLATED
                out.writestr(info, data)

    def _workbook_xml(self, outcome: SheetOutcome) -> bytes:
        data, book = self.workbook, self._book
        root = book[0]
        p = prefix_of(data, root.start)
        children = [book[i] for i in root.children]
        edits: list[tuple[int, int, bytes]] = []
        calc = next((e for e in children if e.name == "calcPr"), None)
        if calc is None:
            edits.append(_insert(data, root, children, _WORKBOOK_ORDER, "calcPr",
                                 b'<%scalcPr fullCalcOnLoad="1"/>' % p))  # fmt: skip
        else:
            tag = with_attributes(data[calc.start : calc.tag_end], fullCalcOnLoad="1")
            edits.append((calc.start, calc.tag_end, tag))
        if outcome.filter_ref is not None:
            edits.append(self._filter_name(data, book, children, p, outcome.filter_ref))
        return splice(data, edits)

    def _filter_name(
        self, data: bytes, book: list[Element], children: list[Element], p: bytes, ref: str
    ) -> tuple[int, int, bytes]:
        bounds = parse_range(ref)
        assert bounds is not None
        top, left, bottom, right = bounds
        name = "'" + self.sheet_name.replace("'", "''") + "'"
        where = f"{name}!${column_letters(left)}${top}:${column_letters(right)}${bottom}"
        names = next((e for e in children if e.name == "definedNames"), None)
        element = b'<%sdefinedName name="%s" localSheetId="%d" hidden="1">%s</%sdefinedName>' % (
            p,
            _FILTER_NAME.encode(),
            self.sheet_index,
            text(where),
            p,
        )
        if names is None:
            return _insert(data, book[0], children, _WORKBOOK_ORDER, "definedNames",
                           b"<%sdefinedNames>%s</%sdefinedNames>" % (p, element, p))  # fmt: skip
        for index in names.children:
            found = book[index]
            if found.attributes.get("name") == _FILTER_NAME and found.attributes.get(
                "localSheetId"
            ) == str(self.sheet_index):
                if found.empty:
                    return found.start, found.end, element
                close = data.rfind(b"<", found.tag_end, found.end)
                return found.tag_end, close, text(where)
        return _append(data, names, element)

    def _workbook_rels(self, dropped: set[str]) -> bytes:
        edits = [
            (r.start, r.end, b"")
            for r in self._workbook_relationships
            if not r.external and r.target in dropped
        ]
        if not self.styles_part:
            rels = elements(self.workbook_rels, max_depth=1)[0]
            element = b'<Relationship Id="%s" Type="%s" Target="%s"/>' % (
                _free_id({r.id for r in self._workbook_relationships}).encode(),
                _STYLES_REL.encode(),
                attribute_text(_relative(self.workbook_part, "xl/styles.xml")),
            )
            edits.append(_append(self.workbook_rels, rels, element))
        return splice(self.workbook_rels, edits)

    def _sheet_rels(
        self, relationships: list[_Relationship], outcome: SheetOutcome
    ) -> bytes | None:
        gone = outcome.dropped_ids - outcome.kept_ids
        removed = [
            r for r in relationships if r.id in gone and r.type in (_HYPERLINK, _STRICT_HYPERLINK)
        ]
        if not removed and not outcome.links:
            return None
        strict = self._book[0].namespace == STRICT_MAIN_NS
        hyperlink = _STRICT_HYPERLINK if strict else _HYPERLINK
        new = b"".join(
            b'<Relationship Id="%s" Type="%s" Target="%s" TargetMode="External"/>'
            % (rid.encode(), hyperlink.encode(), attribute_text(url))
            for rid, url in outcome.links
        )
        if self.sheet_rels is None:
            return _XML_DECLARATION + b'<Relationships xmlns="%s">%s</Relationships>' % (
                PKG_REL_NS.encode(),
                new,
            )
        edits = [(r.start, r.end, b"") for r in removed]
        if relationships:
            close = self.sheet_rels.rfind(b"</")  # the root's end tag: the part's last
            edits.append((close, close, new))
        else:
            edits.append(_append(self.sheet_rels, elements(self.sheet_rels)[0], new))
        return splice(self.sheet_rels, edits)

    def _content_types(
        self, dropped: set[str], added: dict[str, bytes], keep_macros: bool
    ) -> bytes:
        data = self.content_types
        found = elements(data, max_depth=2)
        root = found[0]
        p = prefix_of(data, root.start)
        edits: list[tuple[int, int, bytes]] = []
        defaults = {
            e.attributes.get("Extension", "").lower(): e for e in found if e.name == "Default"
        }
        for element in found:
            if element.name != "Override":
                continue
            part = element.attributes.get("PartName", "").lstrip("/")
            if part in dropped:
                edits.append((element.start, element.end, b""))
            elif part == self.workbook_part:
                # Excel opens a file only when its extension and this type agree.
                macros = element.attributes.get("ContentType") in _MACRO_WORKBOOK_TYPES
                if macros != keep_macros:
                    wanted = _MACRO_WORKBOOK_TYPE if keep_macros else _WORKBOOK_TYPE
                    tag = with_attributes(data[element.start : element.tag_end], ContentType=wanted)
                    edits.append((element.start, element.tag_end, tag))
        if not keep_macros:
            remaining = [n for n in self.names if n not in dropped and n.lower().endswith(".bin")]
            bin_default = defaults.get("bin")
            if bin_default is not None and self.macro_parts and not remaining:
                edits.append((bin_default.start, bin_default.end, b""))
        new: list[bytes] = []
        for part in added:
            if part.endswith(".rels") and "rels" in defaults:
                continue
            kind = _RELS_TYPE if part.endswith(".rels") else _STYLES_TYPE
            new.append(
                b'<%sOverride PartName="/%s" ContentType="%s"/>'
                % (p, attribute_text(part), kind.encode())
            )
        if new:
            edits.append(_append(data, root, b"".join(new)))
        if root.namespace != CONTENT_TYPES_NS:
            raise PartError("its content types part is not one")
        return splice(data, edits)


def _pick(sheets: list[Element], name: str | None) -> Element | None:
    if not sheets:
        return None
    if name is None:
        return sheets[0]
    for element in sheets:
        if element.attributes.get("name") == name:
            return element
    folded = [e for e in sheets if e.attributes.get("name", "").casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def _relationships(data: bytes, source: str) -> list[_Relationship]:
    """The relationships of a part (``source``), targets resolved to part names. A sheet's
    may hold one per link, a hundred thousand: parsed without a tree."""
    found: list[_Relationship] = []
    parser = new_parser()

    def start(name: str, attributes: dict[str, str]) -> None:
        if not name.endswith("}Relationship"):
            return
        at = parser.CurrentByteIndex
        end, _ = tag_end(data, at)
        target = attributes.get("Target", "")
        external = attributes.get("TargetMode", "") == "External"
        found.append(
            _Relationship(
                attributes.get("Id", ""),
                attributes.get("Type", ""),
                target if external else _resolve(source, target),
                external,
                at,
                end,
            )
        )

    def end(name: str) -> None:
        if name.endswith("}Relationship") and data[found[-1].end - 2 : found[-1].end] != b"/>":
            found[-1].end = end_tag_end(data, parser.CurrentByteIndex)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except (ExpatError, LookupError) as exc:
        # LookupError: its declaration names an encoding Python does not know.
        raise PartError(f"it is not well-formed XML ({exc})") from None
    return found


def _resolve(source: str, target: str) -> str:
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


def _relative(source: str, target: str) -> str:
    return posixpath.relpath(target, posixpath.dirname(source) or ".")


def _rels_part(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{name}.rels")


def _free_id(taken: set[str]) -> str:
    n = len(taken) + 1
    while f"rId{n}" in taken:
        n += 1
    return f"rId{n}"


def _newest(names: dict[str, zipfile.ZipInfo]) -> tuple[int, int, int, int, int, int]:
    return max((info.date_time for info in names.values()), default=(1980, 1, 1, 0, 0, 0))


def _append(data: bytes, parent: Element, xml: bytes) -> tuple[int, int, bytes]:
    """An edit adding ``xml`` as the last children of ``parent``."""
    if parent.empty:
        tag = data[parent.start : parent.tag_end]
        return parent.start, parent.end, tag[:-2].rstrip() + b">" + xml + b"</" + _name(tag) + b">"
    close = data.rfind(b"<", parent.tag_end, parent.end)
    return close, close, xml


def _insert(
    data: bytes,
    parent: Element,
    children: list[Element],
    order: list[str],
    name: str,
    xml: bytes,
) -> tuple[int, int, bytes]:
    """An edit adding ``xml`` (a ``name`` element) where ``order`` puts it among ``children``."""
    rank = order.index(name)
    for child in children:
        if child.name in order and order.index(child.name) > rank:
            return child.start, child.start, xml
    return _append(data, parent, xml)


def _add_styles(data: bytes) -> tuple[bytes, dict[str, int]]:
    """The styles part with the result styles added (or found, from a previous run), and
    each style's index in ``cellXfs``."""
    found = elements(data, max_depth=4)
    root = found[0]
    p = prefix_of(data, root.start)
    children = [found[i] for i in root.children]
    named = {child.name: child for child in children}

    def raw(element: Element) -> bytes:
        return data[element.start : element.end]

    def items(name: str) -> list[bytes]:
        container = named.get(name)
        return [raw(found[i]) for i in container.children] if container else []

    # The workbook's own font, so that the header and the links look like the rest.
    size, face = b"11", b"Calibri"
    fonts = named.get("fonts")
    if fonts is not None and fonts.children:
        for index in found[fonts.children[0]].children:
            child = found[index]
            value = attribute_text(child.attributes.get("val", ""))
            if child.name == "sz" and value:
                size = value
            elif child.name == "name" and value:
                face = value
    plan: dict[str, list[bytes]] = {name: items(name) for name in _STYLE_DEFAULTS}
    additions: dict[str, list[bytes]] = {name: [] for name in _STYLE_DEFAULTS}
    for name, default in _STYLE_DEFAULTS.items():
        if not plan[name]:
            additions[name] = [default % {b"p": p}]
            plan[name] = list(additions[name])

    def index_of(name: str, xml: bytes) -> int:
        if xml in plan[name]:
            return plan[name].index(xml)
        plan[name].append(xml)
        additions[name].append(xml)
        return len(plan[name]) - 1

    bold = index_of(
        "fonts", b'<%sfont><%sb/><%ssz val="%s"/><%sname val="%s"/></%sfont>'
        % (p, p, p, size, p, face, p),
    )  # fmt: skip
    link = index_of(
        "fonts",
        b'<%sfont><%su/><%ssz val="%s"/><%scolor rgb="%s"/><%sname val="%s"/></%sfont>'
        % (p, p, p, size, p, _LINK_COLOUR.encode(), p, face, p),
    )
    fills = {
        key: index_of(
            "fills",
            b'<%sfill><%spatternFill patternType="solid"><%sfgColor rgb="%s"/>'
            b'<%sbgColor rgb="%s"/></%spatternFill></%sfill>'
            % (p, p, p, colour.encode(), p, colour.encode(), p, p),
        )
        for key, colour in _FILLS.items()
    }
    formats = [found[i] for i in named["numFmts"].children] if "numFmts" in named else []
    time_format = next(
        (
            int(f.attributes["numFmtId"])
            for f in formats
            if f.attributes.get("formatCode") == _TIME_FORMAT
            and f.attributes.get("numFmtId", "").isdigit()
        ),
        None,
    )
    new_format = b""
    if time_format is None:
        ids = [int(f.attributes.get("numFmtId", "0")) for f in formats
               if f.attributes.get("numFmtId", "").isdigit()]  # fmt: skip
        time_format = max([163, *ids]) + 1
        new_format = b'<%snumFmt numFmtId="%d" formatCode=%s/>' % (
            p, time_format, quote(_TIME_FORMAT),
        )  # fmt: skip
    styled = bool(items("cellStyleXfs"))
    base = b' borderId="0"' + (b' xfId="0"' if styled else b"")

    def xf(number: int = 0, font: int = 0, fill: int = 0, extra: bytes = b"") -> bytes:
        return b'<%sxf numFmtId="%d" fontId="%d" fillId="%d"%s%s/>' % (
            p, number, font, fill, base, extra,
        )  # fmt: skip

    styles = {
        "header": index_of("cellXfs", xf(font=bold, extra=b' applyFont="1"')),
        "quoted": index_of("cellXfs", xf(extra=b' quotePrefix="1"')),
        "link": index_of("cellXfs", xf(font=link, extra=b' applyFont="1"')),
        "moment": index_of("cellXfs", xf(number=time_format, extra=b' applyNumberFormat="1"')),
    }
    for key, fill in fills.items():
        styles[key] = index_of("cellXfs", xf(fill=fill, extra=b' applyFill="1"'))
    edits: list[tuple[int, int, bytes]] = []
    if new_format:
        container = named.get("numFmts")
        if container is None:
            edits.append((root.tag_end, root.tag_end,
                          b'<%snumFmts count="1">%s</%snumFmts>' % (p, new_format, p)))  # fmt: skip
        else:
            edits.extend(_grow(data, container, [new_format], len(formats) + 1))
    for name in _STYLE_DEFAULTS:
        if not additions[name]:
            continue
        container = named.get(name)
        body = b"".join(additions[name])
        if container is None:
            xml = b'<%s%s count="%d">%s</%s%s>' % (
                p, name.encode(), len(plan[name]), body, p, name.encode(),
            )  # fmt: skip
            if root.empty:
                edits.append(_append(data, root, xml))
            else:
                edits.append(_insert(data, root, children, _STYLES_ORDER, name, xml))
        else:
            edits.extend(_grow(data, container, additions[name], len(plan[name])))
    return splice(data, _merge_insertions(edits)), styles


def _grow(
    data: bytes, container: Element, new: list[bytes], count: int
) -> list[tuple[int, int, bytes]]:
    """Edits appending ``new`` to ``container`` and setting its count."""
    tag = with_attributes(data[container.start : container.tag_end], count=str(count))
    if container.empty:
        name = _name(tag)
        body = b"".join(new)
        return [
            (container.start, container.end, tag[:-2].rstrip() + b">" + body + b"</" + name + b">")
        ]
    return [(container.start, container.tag_end, tag), _append(data, container, b"".join(new))]


def _name(tag: bytes) -> bytes:
    """The element name a start tag opens with (``x:row`` in ``<x:row r="1">``)."""
    return tag[1:].split(None, 1)[0].rstrip(b"/>")


def _merge_insertions(edits: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """Insertions at one place joined in the order they were made, so that splicing keeps it."""
    merged: list[tuple[int, int, bytes]] = []
    for start, end, xml in edits:
        if merged and start == end and merged[-1][0] == start and merged[-1][1] == end:
            merged[-1] = (start, end, merged[-1][2] + xml)
        else:
            merged.append((start, end, xml))
    return merged


def _stretch_table(data: bytes, changes: SheetChanges) -> bytes | None:
    """A table whose header is the sheet's and that ends at the last input column, with the
    result columns added to it; None when the table is elsewhere or already has them."""
    found = elements(data, max_depth=3)
    root = found[0]
    bounds = parse_range(root.attributes.get("ref", ""))
    if bounds is None:
        return None
    top, left, bottom, right = bounds
    added = sorted(c for c in changes.added if c > right)
    if top != changes.header_row or right != changes.last_input_column or not added:
        return None
    if added != list(range(right + 1, right + 1 + len(added))):
        return None
    new_right = added[-1]
    p = prefix_of(data, root.start)
    edits = []
    ref = f"{column_letters(left)}{top}:{column_letters(new_right)}{bottom}"
    edits.append(
        (root.start, root.tag_end, with_attributes(data[root.start : root.tag_end], ref=ref))
    )
    children = [found[i] for i in root.children]
    for child in children:
        if child.name == "autoFilter":
            inner = parse_range(child.attributes.get("ref", ""))
            if inner is not None:
                new = f"{column_letters(inner[1])}{inner[0]}:{column_letters(new_right)}{inner[2]}"
                tag = with_attributes(data[child.start : child.tag_end], ref=new)
                edits.append((child.start, child.tag_end, tag))
        if child.name == "tableColumns":
            columns = [found[i] for i in child.children]
            ids = [int(c.attributes.get("id", "0")) for c in columns
                   if c.attributes.get("id", "").isdigit()]  # fmt: skip
            next_id = max([0, *ids]) + 1
            names = changes.added
            xml = b"".join(
                b'<%stableColumn id="%d" name="%s"/>'
                % (p, next_id + k, attribute_text(names.get(column, "")))
                for k, column in enumerate(added)
            )
            edits.extend(_grow(data, child, [xml], len(columns) + len(added)))
    return splice(data, edits)
