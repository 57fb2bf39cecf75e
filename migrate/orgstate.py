"""Read what an org holds: its connected apps and the ECA family of each app."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from migrate.errors import InputError, SfecaError
from migrate.layout import CONNECTED_APP, ECA_LAYOUTS, classify
from migrate.model import EcaBundle, EcaComponent
from migrate.reader import SourceApp, parse_connected_app, parse_eca_component

if TYPE_CHECKING:
    from migrate.org import OrgSession

ECA_TYPE_NAMES = tuple(ECA_LAYOUTS)


class AppNotFound(SfecaError):
    """A connected app named with --app that the org does not have."""


@dataclass(frozen=True, slots=True)
class OrgState:
    """The org side of a plan: connected apps read from the org and every ECA family found."""

    label: str
    org_id: str | None
    connected_apps: tuple[SourceApp, ...]
    ecas: Mapping[str, EcaBundle]
    # Digest of every retrieved file; plans store the digest of their own apps' files.
    fingerprint: str
    # The retrieved files in metadata API layout, for a backup before changing anything.
    files: Mapping[str, bytes]


def _group_ecas(components: Iterable[EcaComponent]) -> dict[str, EcaBundle]:
    """Group components into bundles by the app they name, never by their file names."""
    grouped: dict[str, list[EcaComponent]] = {}
    for component in components:
        app = component.fullName if type(component).__name__ == "ExternalClientApplication" else component.externalClientApplication
        if app:
            grouped.setdefault(app, []).append(component)
    return {app: EcaBundle(app, tuple(items)) for app, items in grouped.items()}


def files_of_apps(state: OrgState, apps: Iterable[str]) -> dict[str, bytes]:
    """Return the retrieved files of the named apps: each connected app and its ECA family."""
    wanted = set(apps)
    owners = {(type(component).__name__, component.fullName): app for app, bundle in state.ecas.items() for component in bundle.components}
    chosen: dict[str, bytes] = {}
    for path, data in state.files.items():
        found = classify(path)
        if found is None:
            continue
        layout, full_name = found
        owner = full_name if layout is CONNECTED_APP else owners.get((layout.type_name, full_name))
        if owner in wanted:
            chosen[path] = data
    return chosen


def fingerprint_files(files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(files[path]).digest())
    return digest.hexdigest()


def parse_retrieved(files: Mapping[str, bytes], origin: str) -> tuple[list[SourceApp], list[EcaComponent]]:
    """Parse retrieved files (metadata API layout) into connected apps and ECA components."""
    apps: list[SourceApp] = []
    components: list[EcaComponent] = []
    for path in sorted(files):
        found = classify(path)
        if found is None:
            continue
        layout, full_name = found
        where = f"{origin}:{path}"
        if layout is CONNECTED_APP:
            apps.append(parse_connected_app(files[path], where, full_name))
        else:
            components.append(parse_eca_component(files[path], where, layout.type_name, full_name))
    return apps, components


def read_org_state(session: OrgSession, app_names: Iterable[str] | None) -> OrgState:
    """Read the named connected apps (or all, when app_names is None) and every ECA component.

    Uses one listMetadata batch and one retrieve whatever the number of apps, so the
    number of requests does not grow with the org's size, only with polling.
    """
    listing = session.list_metadata(["ConnectedApp", *ECA_TYPE_NAMES])
    available = sorted(item.full_name for item in listing.get("ConnectedApp", []))
    if app_names is None:
        wanted = available
    else:
        wanted = list(dict.fromkeys(app_names))
        missing = [name for name in wanted if name not in available]
        if missing:
            shown = ", ".join(available[:10]) or "none"
            if len(available) > 10:
                shown += ", ..."
            raise AppNotFound(
                f"org {session.label}: connected app {', '.join(repr(name) for name in missing)} not found "
                f"(connected apps in the org: {shown}); check the API name with --app"
            )
    members: dict[str, list[str]] = {}
    if wanted:
        members["ConnectedApp"] = wanted
    for type_name in ECA_TYPE_NAMES:
        names = [item.full_name for item in listing.get(type_name, [])]
        if names:
            members[type_name] = names
    files = session.retrieve(members) if members else {}
    origin = f"org {session.label}"
    apps, components = parse_retrieved(files, origin)
    found = {source.app.fullName for source in apps}
    lost = [name for name in wanted if name not in found]
    if lost:
        raise InputError(origin, f"listMetadata lists connected app {lost[0]!r} but the retrieve returned no file for it")
    return OrgState(
        label=session.label,
        org_id=session.org_id,
        connected_apps=tuple(sorted(apps, key=lambda source: source.app.fullName)),
        ecas=_group_ecas(components),
        fingerprint=fingerprint_files(files),
        files=MappingProxyType(dict(files)),
    )
