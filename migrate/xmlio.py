"""Safe XML reading and Salesforce-layout XML writing for metadata files."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from migrate.errors import InputError

METADATA_NS = "http://soap.sforce.com/2006/04/metadata"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
INDENT = "    "

# Real connected-app and ECA files are a few kilobytes, so a file near this size is
# not metadata. Rejecting it early keeps a bad input from exhausting memory.
MAX_XML_BYTES = 5 * 1024 * 1024


def _make_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


_PARSER = _make_parser()


def parse_metadata_xml(data: bytes, path: str, *, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse one metadata file with entities, DTDs and network access off.

    Raises InputError naming the file (and line where lxml reports one) when the
    file is too large, not well-formed, or carries a DOCTYPE.
    """
    if len(data) > max_bytes:
        raise InputError(
            path,
            f"file is {len(data):,} bytes, larger than the {max_bytes:,}-byte limit for a metadata file",
            hint="check that this is a connected-app or ECA metadata file",
        )
    try:
        root = etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or None
        # lxml appends ", line N, column M" to the message; the line is reported separately.
        message = re.sub(r", line \d+, column \d+$", "", exc.msg or str(exc))
        raise InputError(path, f"not well-formed XML: {message}", line=line, hint="fix the XML and run again") from None
    doctype = root.getroottree().docinfo.doctype
    if doctype:
        raise InputError(path, "DOCTYPE declarations are not allowed in metadata files", line=1)
    return root


def local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


def namespace_of(element: etree._Element) -> str | None:
    return etree.QName(element).namespace


@dataclass(frozen=True, slots=True)
class XmlNode:
    """One element to write: a leaf with text, or a parent with child nodes."""

    tag: str
    text: str | None = None
    children: tuple[XmlNode, ...] = ()


def escape_text(text: str) -> str:
    """Escape text the way Salesforce writes metadata: quotes as entities too."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def render_document(root_tag: str, nodes: Iterable[XmlNode]) -> bytes:
    """Render a metadata document: declaration, 4-space indent, one trailing newline."""
    lines = [XML_DECLARATION, f'<{root_tag} xmlns="{METADATA_NS}">\n']
    for node in nodes:
        _render_node(node, 1, lines)
    lines.append(f"</{root_tag}>\n")
    return "".join(lines).encode("utf-8")


def _render_node(node: XmlNode, depth: int, lines: list[str]) -> None:
    pad = INDENT * depth
    if node.children:
        lines.append(f"{pad}<{node.tag}>\n")
        for child in node.children:
            _render_node(child, depth + 1, lines)
        lines.append(f"{pad}</{node.tag}>\n")
    elif node.text is None or node.text == "":
        lines.append(f"{pad}<{node.tag}></{node.tag}>\n")
    else:
        lines.append(f"{pad}<{node.tag}>{escape_text(node.text)}</{node.tag}>\n")
