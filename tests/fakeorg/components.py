"""Component XML helpers: parsing, schema checks, defaults and the read view."""

from __future__ import annotations

import copy

from lxml import etree

from . import registry
from .registry import MD_NS, MetadataType

_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)


class ComponentError(ValueError):
    """A component file that the org rejects. The message is the deploy `problem` text."""

    def __init__(self, problem: str, line: int | None = None):
        super().__init__(problem)
        self.problem = problem
        self.line = line


def parse(data: bytes) -> etree._Element:
    """Parse component bytes, raising ComponentError with the parser's message."""
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ComponentError(f"Error parsing file: {exc.msg}", line=exc.lineno) from exc


def canonical_bytes(root: etree._Element) -> bytes:
    """Serialize `root` the way the store keeps it: UTF-8, declaration, 4-space indent."""
    root = copy.deepcopy(root)
    for node in root.iter():
        if isinstance(node.tag, str) and len(node):
            node.text = None
        node.tail = None
    etree.indent(root, space="    ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root, encoding="UTF-8") + b"\n"


def md(tag: str) -> str:
    return f"{{{MD_NS}}}{tag}"


def get_field(root: etree._Element, name: str) -> str | None:
    child = root.find(md(name))
    if child is None:
        return None
    return (child.text or "").strip()


def set_field(root: etree._Element, type_name: str, name: str, value: str) -> None:
    """Set top-level field `name`, inserting it at its schema position when absent."""
    child = root.find(md(name))
    if child is not None:
        child.text = value
        return
    child = etree.Element(md(name))
    child.text = value
    decl = registry.schema().complex_type(type_name)
    order = decl.index() if decl else {}
    position = order.get(name, len(order))
    for index, sibling in enumerate(root):
        if not isinstance(sibling.tag, str):
            continue
        if order.get(etree.QName(sibling).localname, len(order)) > position:
            root.insert(index, child)
            return
    root.append(child)


def remove_field(root: etree._Element, name: str) -> None:
    for child in root.findall(md(name)):
        root.remove(child)


def new_component(metadata_type: MetadataType) -> etree._Element:
    return etree.Element(md(metadata_type.root_element), nsmap={None: MD_NS})


def _invalid_element(name: str, namespace: str | None, type_name: str) -> ComponentError:
    qualified = f"{{{namespace}}}{name}" if namespace else name
    return ComponentError(f"Error parsing file: Element {qualified} invalid at this location in type {type_name}")


def validate(metadata_type: MetadataType, root: etree._Element, version: float) -> None:
    """Check a deploy file against the schema at API `version`, raising ComponentError on the first problem."""
    qname = etree.QName(root)
    if qname.namespace != MD_NS or qname.localname != metadata_type.root_element:
        raise _invalid_element(qname.localname, qname.namespace, metadata_type.root_element)
    decl = registry.schema().complex_type(metadata_type.root_element)
    if decl is None:
        raise ComponentError(f"The fake org has no schema for type {metadata_type.name}")
    _check_sequence(decl, root, version, top_level=True)
    for name in metadata_type.required:
        if root.find(md(name)) is None:
            raise ComponentError(f"Required field is missing: {name}")


def _check_sequence(decl: registry.ComplexDecl, element: etree._Element, version: float, top_level: bool) -> None:
    index = decl.index()
    position = -1
    present: set[str] = set()
    for child in element:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        name = qname.localname
        known = qname.namespace == MD_NS and name in index
        if known and top_level:
            known = registry.field_valid_at(decl.name, name, version)
        if not known:
            raise _invalid_element(name, qname.namespace, decl.name)
        slot = index[name]
        element_decl = decl.elements[slot]
        # Elements must follow the WSDL sequence order, which is alphabetical for
        # the ECA family. Only repeatable elements may appear twice in a row.
        if slot < position or (slot == position and not element_decl.repeated):
            raise _invalid_element(name, qname.namespace, decl.name)
        position = slot
        present.add(name)
        _check_value(element_decl, child, version)
    for element_decl in decl.elements:
        if element_decl.min_occurs > 0 and element_decl.name not in present:
            raise ComponentError(f"Required field is missing: {element_decl.name}")


def _check_value(element_decl: registry.ElementDecl, child: etree._Element, version: float) -> None:
    schema = registry.schema()
    text = (child.text or "").strip()
    xsd_type = element_decl.xsd_type
    nested = schema.complex_type(xsd_type)
    if nested is not None:
        _check_sequence(nested, child, version, top_level=False)
        return
    if len(child):
        raise _invalid_element(etree.QName(child[0]).localname, etree.QName(child[0]).namespace, element_decl.name)
    if xsd_type in schema.enums:
        if text not in schema.enums[xsd_type]:
            raise ComponentError(f"Error parsing file: '{text}' is not a valid value for the enum '{xsd_type}'")
    elif xsd_type == "boolean":
        if text not in ("true", "false", "1", "0"):
            raise ComponentError(f"Error parsing file: '{text}' is not a valid value for the type boolean in element {element_decl.name}")
    elif xsd_type in ("int", "long", "double"):
        try:
            float(text) if xsd_type == "double" else int(text)
        except ValueError:
            raise ComponentError(
                f"Error parsing file: '{text}' is not a valid value for the type {xsd_type} in element {element_decl.name}"
            ) from None


def apply_defaults(metadata_type: MetadataType, root: etree._Element, version: float) -> None:
    """Fill omitted fields with their defaults, as a declarative deploy does."""
    for name, value in registry.DEPLOY_DEFAULTS.get(metadata_type.name, {}).items():
        if root.find(md(name)) is None and registry.field_valid_at(metadata_type.name, name, version):
            set_field(root, metadata_type.root_element, name, value)


def read_view(metadata_type: MetadataType, stored: bytes, version: float, expose_consumer_secret: bool) -> etree._Element:
    """Return the component as a read or retrieve at API `version` shows it.

    Fields that do not exist at `version` are dropped. A ConnectedApp's
    consumer secret is never returned; an ECA's secret is returned only when the org
    exposes consumer secrets through the Metadata API.
    """
    root = etree.fromstring(stored, _PARSER)
    for child in list(root):
        if isinstance(child.tag, str) and not registry.field_valid_at(
            metadata_type.name, etree.QName(child).localname, version
        ):
            root.remove(child)
    for path in registry.ALWAYS_HIDDEN.get(metadata_type.name, ()):
        for node in root.findall("/".join(md(p) for p in path)):
            node.getparent().remove(node)
    if metadata_type.name == registry.GLOBAL_OAUTH and not expose_consumer_secret:
        remove_field(root, "consumerSecret")
    return root
