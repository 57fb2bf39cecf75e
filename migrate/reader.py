"""Read connected apps and ECA components from files, folders, zips and retrieved bytes."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from migrate.errors import InputError
from migrate.layout import CONNECTED_APP, ECA_LAYOUTS, classify
from migrate.model import (
    ECA_TYPES_BY_NAME,
    CanvasMetadata,
    ConnectedApp,
    EcaComponent,
    UnknownElement,
    schema,
)
from migrate.xmlio import MAX_XML_BYTES, METADATA_NS, local_name, namespace_of, parse_metadata_xml

REQUIRED_CONNECTED_APP_FIELDS = ("contactEmail", "label")

# Limits for reading a zip, so that a crafted archive cannot exhaust memory.
MAX_ZIP_ENTRIES = 20_000
MAX_ZIP_TOTAL_BYTES = 256 * 1024 * 1024

# Folders never searched for metadata: tool caches and dependencies.
SKIPPED_FOLDERS = frozenset({".git", ".sf", ".sfdx", "node_modules", "__pycache__", ".venv"})


@dataclass(frozen=True, slots=True)
class SourceApp:
    """A parsed connected app and where it came from."""

    app: ConnectedApp
    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class MetadataFile:
    path: str
    data: bytes


# --- XML to model ------------------------------------------------------------------------


def _scalar(kind: type, text: str | None, path: str, field_path: str, line: int | None) -> Any:
    raw = text if text is not None else ""
    if kind is bool:
        stripped = raw.strip()
        if stripped in ("true", "false"):
            return stripped == "true"
        raise InputError(path, f"field {field_path} must be true or false, not {raw!r}", line=line)
    if kind is int:
        try:
            return int(raw.strip())
        except ValueError:
            raise InputError(path, f"field {field_path} must be a whole number, not {raw!r}", line=line) from None
    return raw


def _unknown(element: etree._Element, field_path: str) -> UnknownElement:
    children = tuple(_unknown(child, f"{field_path}.{local_name(child)}") for child in element)
    text = None if children else (element.text or "")
    return UnknownElement(path=field_path, text=text, line=element.sourceline, children=children)


def _build(
    cls: type,
    element: etree._Element,
    path: str,
    prefix: str,
    unknown: list[UnknownElement],
    **extra: Any,
) -> Any:
    specs = schema(cls)
    values: dict[str, Any] = dict(extra)
    lists: dict[str, list[Any]] = {}
    for child in element:
        name = local_name(child)
        field_path = f"{prefix}{name}"
        spec = specs.get(name)
        if spec is None or namespace_of(child) != METADATA_NS:
            unknown.append(_unknown(child, field_path))
            continue
        if spec.struct is CanvasMetadata:
            value: Any = CanvasMetadata(tuple(_unknown(item, f"{field_path}.{local_name(item)}") for item in child))
        elif spec.struct is not None:
            value = _build(spec.struct, child, path, f"{field_path}.", unknown)
        else:
            value = _scalar(spec.scalar, child.text, path, field_path, child.sourceline)
        if spec.repeated:
            lists.setdefault(name, []).append(value)
        elif name in values:
            raise InputError(path, f"element <{name}> appears more than once", line=child.sourceline)
        else:
            values[name] = value
    for name, items in lists.items():
        values[name] = tuple(items)
    return cls(**values)


def _check_root(root: etree._Element, expected: str, path: str) -> None:
    name = local_name(root)
    if name != expected:
        raise InputError(path, f"root element is <{name}>, expected <{expected}>", line=root.sourceline)
    namespace = namespace_of(root)
    if namespace != METADATA_NS:
        found = f"namespace {namespace!r}" if namespace else "no namespace"
        raise InputError(path, f"<{name}> has {found}, expected {METADATA_NS!r}", line=root.sourceline)


def parse_connected_app(data: bytes, path: str, full_name: str) -> SourceApp:
    """Parse one connected-app file into a SourceApp, or raise InputError naming the file."""
    root = parse_metadata_xml(data, path)
    _check_root(root, "ConnectedApp", path)
    unknown: list[UnknownElement] = []
    app = _build(ConnectedApp, root, path, "", unknown, fullName=full_name)
    for required in REQUIRED_CONNECTED_APP_FIELDS:
        if not getattr(app, required):
            raise InputError(
                path,
                f"missing required field <{required}>",
                hint="every connected app needs a label and a contact email",
            )
    app = dataclasses.replace(app, unknown=tuple(unknown))
    return SourceApp(app=app, path=path, sha256=hashlib.sha256(data).hexdigest())


def parse_eca_component(data: bytes, path: str, type_name: str, full_name: str) -> EcaComponent:
    """Parse one ECA component file of the given type."""
    cls = ECA_TYPES_BY_NAME[type_name]
    root = parse_metadata_xml(data, path)
    _check_root(root, type_name, path)
    unknown: list[UnknownElement] = []
    component = _build(cls, root, path, "", unknown, fullName=full_name)
    return dataclasses.replace(component, unknown=tuple(unknown))


# --- Finding files ------------------------------------------------------------------------


def _walk_folder(folder: Path) -> Iterator[Path]:
    def fail(error: OSError) -> None:
        raise InputError(str(error.filename or folder), f"cannot read folder: {error.strerror or error}")

    for current, dirs, files in os.walk(folder, onerror=fail):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_FOLDERS)
        for name in sorted(files):
            yield Path(current) / name


def _read_file(path: Path) -> bytes:
    """Read a regular file, checking its size first so a huge or endless file is never loaded."""
    try:
        if not path.is_file():
            raise InputError(str(path), "not a regular file", hint="pass a metadata file, a folder or a .zip")
        size = path.stat().st_size
        if size > MAX_XML_BYTES:
            raise InputError(str(path), f"file is {size:,} bytes, larger than the {MAX_XML_BYTES:,}-byte limit for a metadata file")
        return path.read_bytes()
    except OSError as error:
        raise InputError(str(path), f"cannot read file: {error.strerror or error}") from None


def _zip_members(archive: Path) -> Iterator[MetadataFile]:
    try:
        with zipfile.ZipFile(archive) as bundle:
            infos = bundle.infolist()
            if len(infos) > MAX_ZIP_ENTRIES:
                raise InputError(str(archive), f"zip has {len(infos):,} entries, more than the {MAX_ZIP_ENTRIES:,} allowed")
            total = sum(info.file_size for info in infos)
            if total > MAX_ZIP_TOTAL_BYTES:
                raise InputError(str(archive), f"zip expands to {total:,} bytes, more than the {MAX_ZIP_TOTAL_BYTES:,} allowed")
            seen: set[str] = set()
            for info in sorted(infos, key=lambda item: item.filename):
                if info.is_dir() or classify(info.filename) is None:
                    continue
                where = f"{archive}!{info.filename}"
                if info.filename in seen:
                    raise InputError(where, "the zip contains two entries with this name")
                seen.add(info.filename)
                if info.file_size > MAX_XML_BYTES:
                    raise InputError(where, f"entry is {info.file_size:,} bytes, larger than the {MAX_XML_BYTES:,}-byte limit for a metadata file")
                yield MetadataFile(where, _read_member(bundle, info, where))
    except zipfile.BadZipFile as exc:
        raise InputError(str(archive), f"not a readable zip file: {exc}") from None
    except OSError as exc:
        raise InputError(str(archive), f"cannot read zip: {exc.strerror or exc}") from None


def _read_member(bundle: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
    try:
        # Read at most one byte past the limit, whatever size the entry claims.
        with bundle.open(info) as member:
            data = member.read(MAX_XML_BYTES + 1)
    except (RuntimeError, NotImplementedError, zipfile.BadZipFile, OSError, EOFError) as exc:
        # RuntimeError: encrypted entry; NotImplementedError: unsupported compression.
        raise InputError(where, f"cannot read zip entry: {exc}") from None
    if len(data) > MAX_XML_BYTES:
        raise InputError(where, f"entry expands past the {MAX_XML_BYTES:,}-byte limit for a metadata file")
    return data


def metadata_files(source: str | os.PathLike[str]) -> Iterator[MetadataFile]:
    """Yield every connected-app or ECA metadata file in a file, folder or zip."""
    path = Path(source)
    if not path.exists():
        raise InputError(str(path), "path does not exist", hint="pass a connected-app file, a folder or a .zip")
    if path.is_dir():
        for item in _walk_folder(path):
            if classify(item.name) is not None:
                yield MetadataFile(str(item), _read_file(item))
        return
    if path.suffix.lower() == ".zip":
        yield from _zip_members(path)
        return
    if classify(path.name) is None:
        raise InputError(
            str(path),
            "not a connected-app file",
            hint="expected a name ending in .connectedApp-meta.xml or .connectedApp, a folder or a .zip",
        )
    yield MetadataFile(str(path), _read_file(path))


def read_connected_apps(source: str | os.PathLike[str]) -> tuple[SourceApp, ...]:
    """Read every connected app in a file, folder or zip, in path order.

    Raises InputError for a path that does not exist, a file that fails to parse,
    or a folder or zip that contains no connected app.
    """
    apps: list[SourceApp] = []
    for item in metadata_files(source):
        layout, full_name = classify(item.path)
        if layout is CONNECTED_APP:
            apps.append(parse_connected_app(item.data, item.path, full_name))
    if not apps:
        raise InputError(
            str(source),
            "no connected app found",
            hint="expected files named <App>.connectedApp-meta.xml or connectedApps/<App>.connectedApp",
        )
    names: dict[str, str] = {}
    for source_app in apps:
        other = names.get(source_app.app.fullName)
        if other is not None:
            raise InputError(source_app.path, f"connected app {source_app.app.fullName!r} is also defined in {other}")
        names[source_app.app.fullName] = source_app.path
    return tuple(apps)


def read_eca_components(source: str | os.PathLike[str]) -> tuple[EcaComponent, ...]:
    """Read every ECA component in a file, folder or zip, in path order."""
    components: list[EcaComponent] = []
    for item in metadata_files(source):
        layout, full_name = classify(item.path)
        if layout.type_name in ECA_LAYOUTS:
            components.append(parse_eca_component(item.data, item.path, layout.type_name, full_name))
    return tuple(components)
