"""Write ECA components as deployable files, atomically, in source or metadata API layout."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from migrate.errors import OutputError
from migrate.layout import ECA_LAYOUTS
from migrate.model import EcaComponent, UnknownElement, schema
from migrate.xmlio import XmlNode, render_document

Layout = Literal["source", "mdapi"]

# Never written to any file, whatever a component holds.
NEVER_WRITTEN = frozenset({"consumerSecret"})

SOURCE_PACKAGE_DIR = "force-app/main/default"


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _struct_nodes(value: Any) -> tuple[XmlNode, ...]:
    nodes: list[XmlNode] = []
    for name, spec in schema(type(value)).items():
        nodes.extend(_field_nodes(name, spec, getattr(value, name)))
    return tuple(nodes)


def _field_nodes(name: str, spec: Any, value: Any) -> list[XmlNode]:
    if value is None or value == ():
        return []
    items = value if spec.repeated else (value,)
    if spec.struct is not None:
        return [XmlNode(name, children=_struct_nodes(item)) for item in items]
    return [XmlNode(name, _scalar_text(item)) for item in items]


def _unknown_node(element: UnknownElement) -> XmlNode:
    tag = element.path.rsplit(".", 1)[-1]
    return XmlNode(tag, element.text, tuple(_unknown_node(child) for child in element.children))


def render_component(component: EcaComponent) -> bytes:
    """Render one ECA component exactly as Salesforce writes it: elements in schema order.

    Elements the model does not know (kept from a read) are merged in by name,
    which is the schema order for these types. A consumer secret is never written.
    """
    nodes: list[XmlNode] = []
    for name, spec in schema(type(component)).items():
        if name in NEVER_WRITTEN:
            continue
        nodes.extend(_field_nodes(name, spec, getattr(component, name)))
    nodes.extend(_unknown_node(element) for element in component.unknown if "." not in element.path)
    nodes.sort(key=lambda node: node.tag)
    return render_document(type(component).__name__, nodes)


def render_package_xml(members: Mapping[str, Iterable[str]], api_version: str) -> bytes:
    """Render a package.xml listing members by type, types and members sorted."""
    nodes = []
    for type_name in sorted(members):
        children = [XmlNode("members", name) for name in sorted(set(members[type_name]))]
        children.append(XmlNode("name", type_name))
        nodes.append(XmlNode("types", children=tuple(children)))
    nodes.append(XmlNode("version", api_version))
    return render_document("Package", nodes)


def layout_files(components: Iterable[EcaComponent], layout: Layout, api_version: str) -> dict[str, bytes]:
    """Return {relative path: bytes} for the components and a package.xml, in the given layout."""
    files: dict[str, bytes] = {}
    members: dict[str, list[str]] = {}
    for component in components:
        type_name = type(component).__name__
        type_layout = ECA_LAYOUTS[type_name]
        members.setdefault(type_name, []).append(component.fullName)
        if layout == "source":
            path = f"{SOURCE_PACKAGE_DIR}/{type_layout.source_path(component.fullName)}"
        else:
            path = type_layout.mdapi_path(component.fullName)
        files[path] = render_component(component)
    package = render_package_xml(members, api_version)
    if layout == "source":
        files["manifest/package.xml"] = package
        project = {
            "packageDirectories": [{"path": "force-app", "default": True}],
            "sourceApiVersion": api_version,
        }
        files["sfdx-project.json"] = (json.dumps(project, indent=2) + "\n").encode()
    else:
        files["package.xml"] = package
    return files


def check_output_dir(output_dir: str | os.PathLike[str], *, force: bool, protected: Iterable[str] = ()) -> Path:
    """Return the output folder, or raise OutputError when writing there is not allowed.

    With `force` the folder is replaced whole, so it must not be (or contain) the
    current folder, a git work tree, or any of the `protected` input paths.
    """
    target = Path(output_dir)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: exists and is not a folder; choose another --output-dir")
    resolved = target.resolve()
    guarded = [Path.cwd().resolve(), *(Path(_outside_archive(path)).resolve() for path in protected)]
    for path in guarded:
        if path == resolved or resolved in path.parents:
            raise OutputError(
                f"{target}: the output folder contains {path}, which would be replaced; choose a new folder for the ECA files"
            )
    if target.is_dir() and any(target.iterdir()):
        if not force:
            raise OutputError(f"{target}: folder is not empty; choose an empty folder or pass --force to replace it")
        if (target / ".git").exists():
            raise OutputError(f"{target}: folder is a git work tree; --force will not replace it, choose another folder")
    return target


def _outside_archive(path: str) -> str:
    """Return the file system part of a path, without a `!member` inside a zip."""
    return path.split("!", 1)[0]


def write_tree_atomically(
    files: Mapping[str, bytes],
    output_dir: str | os.PathLike[str],
    *,
    force: bool,
    protected: Iterable[str] = (),
) -> Path:
    """Write files into output_dir through a temporary folder renamed into place.

    An existing non-empty folder is refused unless force is set; then it is replaced
    whole, and only after the new tree is complete.
    """
    target = check_output_dir(output_dir, force=force, protected=protected)
    parent = target.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
        # mkdtemp creates the folder private (0700); give it the mode a plain mkdir would.
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)
    except OSError as exc:
        raise OutputError(f"{parent}: cannot create a folder here: {exc.strerror}") from None
    try:
        for relative, data in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if target.is_dir():
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=parent))
            try:
                os.replace(target, retired / target.name)
            except OSError:
                shutil.rmtree(retired, ignore_errors=True)
                raise
            try:
                os.replace(staging, target)
            except OSError:
                # Put the old folder back, so a failure changes nothing.
                os.replace(retired / target.name, target)
                shutil.rmtree(retired, ignore_errors=True)
                raise
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(f"{target}: writing failed, nothing was changed: {exc.strerror or exc}") from None
    return target
