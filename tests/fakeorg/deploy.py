"""Deploy and retrieve jobs: zip handling, the org's deploy rules and the retrieve zip."""

from __future__ import annotations

import base64
import binascii
import io
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lxml import etree

from . import components, registry
from .components import ComponentError, md
from .org import now_iso
from .registry import MD_NS, MetadataType

if TYPE_CHECKING:
    from .org import FakeOrg

# Order in which a deploy commits types, so headers exist before their children
# and OAuth settings exist before the OAuth policy that belongs to them.
COMMIT_ORDER = [
    registry.CONNECTED_APP,
    registry.ECA,
    registry.GLOBAL_OAUTH,
    registry.OAUTH_SETTINGS,
    registry.OAUTH_POLICY,
    registry.PLUGIN_POLICY,
    registry.SAML_POLICY,
]


@dataclass
class DeployMessage:
    """One row of DeployResult.details: a componentSuccess or a componentFailure."""

    component_type: str
    file_name: str
    full_name: str
    success: bool
    problem: str | None = None
    line: int | None = None
    created: bool = False
    changed: bool = False


@dataclass
class DeployJob:
    id: str
    check_only: bool
    rollback_on_error: bool
    ignore_warnings: bool
    created_date: str
    status: str = "Succeeded"
    successes: list[DeployMessage] = field(default_factory=list)
    failures: list[DeployMessage] = field(default_factory=list)
    components_total: int = 0
    types: tuple[str, ...] = ()


@dataclass
class RetrieveJob:
    id: str
    zip_bytes: bytes
    file_properties: list[dict[str, str]]
    messages: list[tuple[str, str]]
    types: tuple[str, ...] = ()


@dataclass
class _Incoming:
    metadata_type: MetadataType
    full_name: str
    file_name: str
    element: etree._Element | None = None
    failure: DeployMessage | None = None

    def fail(self, problem: str, line: int | None = None) -> None:
        if self.failure is None:
            self.failure = DeployMessage(self.metadata_type.name, self.file_name, self.full_name, False, problem, line)


class _ManifestError(Exception):
    """A problem with the zip or package.xml that fails the whole deploy."""

    def __init__(self, problem: str, file_name: str = "package.xml"):
        super().__init__(problem)
        self.problem = problem
        self.file_name = file_name


def parse_bool(text: str | None) -> bool:
    """Parse a SOAP boolean, including the capitalised True/False simple-salesforce sends."""
    return (text or "").strip().lower() in ("true", "1")


def run_deploy(org: "FakeOrg", zip_base64: str, options: dict[str, str], endpoint_version: float) -> DeployJob:
    """Run a deploy to completion and store its result.

    The job runs synchronously: changes are committed (or not) before the
    deploy call returns, and checkDeployStatus only reports the outcome.
    """
    job = DeployJob(
        id=org.new_job_id("0Af"),
        check_only=parse_bool(options.get("checkOnly")),
        rollback_on_error=parse_bool(options.get("rollbackOnError")),
        ignore_warnings=parse_bool(options.get("ignoreWarnings")),
        created_date=now_iso(),
    )
    try:
        prefix, version, incoming = _read_zip(zip_base64, endpoint_version)
    except _ManifestError as exc:
        job.status = "Failed"
        job.failures.append(DeployMessage("", exc.file_name, exc.file_name, False, exc.problem))
        org.add_job(job.id, job)
        return job

    job.types = tuple(sorted({item.metadata_type.name for item in incoming}))
    for item in incoming:
        if item.failure is None:
            _validate_file(item, version)
    _check_references(org, incoming)
    _apply_component_error_fault(org, incoming)

    job.components_total = len(incoming)
    good = [item for item in incoming if item.failure is None]
    job.failures = [item.failure for item in incoming if item.failure is not None]
    commit = bool(good) and not job.check_only and not (job.failures and job.rollback_on_error)
    with org._lock:
        for item in sorted(good, key=lambda i: COMMIT_ORDER.index(i.metadata_type.name)):
            created, changed = _commit(org, item, version, dry_run=not commit)
            job.successes.append(
                DeployMessage(item.metadata_type.name, item.file_name, item.full_name, True, created=created, changed=changed)
            )
    job.successes.append(DeployMessage("", prefix + "package.xml", "package.xml", True, changed=True))
    if job.failures:
        job.status = "SucceededPartial" if commit else "Failed"
    org.add_job(job.id, job)
    return job


def _read_zip(zip_base64: str, endpoint_version: float) -> tuple[str, float, list[_Incoming]]:
    try:
        raw = base64.b64decode(zip_base64, validate=False)
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (binascii.Error, zipfile.BadZipFile) as exc:
        raise _ManifestError(f"The deploy file is not a valid zip archive: {exc}") from exc
    names = [n for n in archive.namelist() if not n.endswith("/")]
    prefix = _find_prefix(names)
    manifest = components.parse(archive.read(prefix + "package.xml")) if prefix is not None else None
    if manifest is None:
        raise _ManifestError("No package.xml found")
    if etree.QName(manifest).localname != "Package" or etree.QName(manifest).namespace != MD_NS:
        raise _ManifestError(f"package.xml: the root element must be Package in namespace {MD_NS}")
    version = _manifest_version(manifest, endpoint_version)
    requested = _manifest_members(manifest, version)

    incoming: list[_Incoming] = []
    seen: set[tuple[str, str]] = set()
    for name in names:
        if not name.startswith(prefix):
            raise _ManifestError(f"{name}: every file must be under the folder of package.xml ({prefix or 'the zip root'})", name)
        relative = name[len(prefix) :]
        if relative == "package.xml":
            continue
        if relative.startswith("destructiveChanges"):
            raise _ManifestError(f"{relative}: the fake org does not support destructive changes", name)
        metadata_type, full_name = _type_for_zip_path(relative, name)
        item = _Incoming(metadata_type, full_name, name)
        members = requested.get(metadata_type.name)
        if members is None or not ("*" in members or full_name in members):
            item.fail(f"An object '{full_name}' of type {metadata_type.name} was found in the zip but is not listed in package.xml")
        else:
            item.element = _parse_member(item, archive.read(name))
        seen.add((metadata_type.name, full_name))
        incoming.append(item)

    missing = [
        (type_name, member)
        for type_name, members in requested.items()
        for member in members
        if member != "*" and (type_name, member) not in seen
    ]
    for type_name, member in missing:
        item = _Incoming(registry.TYPES[type_name], member, prefix + "package.xml")
        item.fail(f"An object '{member}' of type {type_name} was named in package.xml, but was not found in zipped directory")
        incoming.append(item)
    return prefix, version, incoming


def _find_prefix(names: list[str]) -> str | None:
    """Return "" when package.xml is at the zip root, "top/" when it is in one top folder."""
    if "package.xml" in names:
        return ""
    candidates = [n for n in names if n.count("/") == 1 and n.endswith("/package.xml")]
    if len(candidates) == 1:
        return candidates[0][: -len("package.xml")]
    return None


def _manifest_version(manifest: etree._Element, endpoint_version: float) -> float:
    text = components.get_field(manifest, "version")
    if not text:
        return endpoint_version
    try:
        version = float(text)
    except ValueError:
        raise _ManifestError(f"Invalid API version '{text}' in package.xml") from None
    if not registry.MIN_API_VERSION <= version <= registry.MAX_API_VERSION:
        raise _ManifestError(
            f"Invalid API version '{text}' in package.xml; the fake org supports "
            f"{registry.MIN_API_VERSION}-{registry.MAX_API_VERSION}"
        )
    return version


def _manifest_members(manifest: etree._Element, version: float) -> dict[str, set[str]]:
    requested: dict[str, set[str]] = {}
    for types_node in manifest.findall(md("types")):
        type_name = components.get_field(types_node, "name") or ""
        metadata_type = registry.TYPES.get(type_name)
        if metadata_type is None or metadata_type.since > version:
            raise _ManifestError(f"Unknown type name '{type_name}' specified in package.xml (API version {version})")
        members = {(m.text or "").strip() for m in types_node.findall(md("members"))}
        requested.setdefault(type_name, set()).update(members)
    return requested


def _type_for_zip_path(relative: str, name: str) -> tuple[MetadataType, str]:
    folder, _, file_name = relative.partition("/")
    metadata_type = registry.TYPES_BY_FOLDER.get(folder)
    if metadata_type is None or not file_name or "/" in file_name:
        raise _ManifestError(
            f"{name}: no metadata type uses folder '{folder}'; expected one of {', '.join(sorted(registry.TYPES_BY_FOLDER))}",
            name,
        )
    suffix = "." + metadata_type.suffix
    if not file_name.endswith(suffix) or file_name == suffix:
        raise _ManifestError(f"{name}: files in {folder}/ must be named <fullName>{suffix}", name)
    return metadata_type, file_name[: -len(suffix)]


def _parse_member(item: _Incoming, data: bytes) -> etree._Element | None:
    try:
        return components.parse(data)
    except ComponentError as exc:
        item.fail(exc.problem, exc.line)
        return None


def _validate_file(item: _Incoming, version: float) -> None:
    try:
        components.validate(item.metadata_type, item.element, version)
    except ComponentError as exc:
        item.fail(exc.problem, exc.line)


def _check_references(org: "FakeOrg", incoming: list[_Incoming]) -> None:
    """Apply the cross-component rules: parent header, oauthLink, one OAuth policy per app."""
    valid = [i for i in incoming if i.failure is None]
    headers = {i.full_name for i in valid if i.metadata_type.name == registry.ECA}
    for item in valid:
        if not item.metadata_type.child_of_eca:
            continue
        app = components.get_field(item.element, "externalClientApplication") or ""
        if app not in headers and org.stored(registry.ECA, app) is None:
            item.fail(f"In field: externalClientApplication - no ExternalClientApplication named {app} found")

    for item in valid:
        if item.failure is None and item.metadata_type.name == registry.OAUTH_SETTINGS:
            link = components.get_field(item.element, "oauthLink")
            if link and link.split(":", 1)[0] not in (org.org_id_15, org.org_id):
                item.fail(f"The oauthLink value {link} refers to another org; remove oauthLink to deploy to this org")

    _check_policy_uniqueness(org, [i for i in valid if i.failure is None])


def _check_policy_uniqueness(org: "FakeOrg", valid: list[_Incoming]) -> None:
    """Reject a second OAuth policy record for one app, as the org does (DUPLICATE_VALUE)."""
    new_settings: dict[str, str] = {}
    for item in valid:
        if item.metadata_type.name == registry.OAUTH_SETTINGS and org.stored(registry.OAUTH_SETTINGS, item.full_name) is None:
            app = components.get_field(item.element, "externalClientApplication")
            new_settings.setdefault(app, item.full_name)
    settings_apps = {components.get_field(i.element, "externalClientApplication") for i in valid if i.metadata_type.name == registry.OAUTH_SETTINGS}
    taken = _existing_policy_names(org)
    for app, settings_name in new_settings.items():
        taken.setdefault(app, default_policy_name(settings_name))
    for item in valid:
        if item.metadata_type.name != registry.OAUTH_POLICY:
            continue
        app = components.get_field(item.element, "externalClientApplication")
        if app not in settings_apps and not _app_has_oauth_settings(org, app):
            item.fail(f"In field: externalClientApplication - the ExternalClientApplication {app} has no ExtlClntAppOauthSettings")
            continue
        holder = taken.setdefault(app, item.full_name)
        if holder != item.full_name:
            item.fail(f"DUPLICATE_VALUE: ExtlClntAppOauthSettingsId duplicates value on {holder}")


def _existing_policy_names(org: "FakeOrg") -> dict[str, str]:
    names: dict[str, str] = {}
    for stored in org.stored_of_type(registry.OAUTH_POLICY):
        app = components.get_field(components.parse(stored.xml), "externalClientApplication")
        names.setdefault(app, stored.full_name)
    return names


def _app_has_oauth_settings(org: "FakeOrg", app: str) -> bool:
    return any(
        components.get_field(components.parse(s.xml), "externalClientApplication") == app
        for s in org.stored_of_type(registry.OAUTH_SETTINGS)
    )


def default_policy_name(oauth_settings_name: str) -> str:
    """Name of the OAuth policy record a deploy creates for new OAuth settings."""
    return f"{oauth_settings_name}_defaultPolicy"


def _apply_component_error_fault(org: "FakeOrg", incoming: list[_Incoming]) -> None:
    fault = org.take_fault("deploy", ("component_error",))
    if fault is None or not incoming:
        return
    target = incoming[0]
    named = fault.options.get("component")
    if named:
        type_name, _, full_name = str(named).partition(":")
        matches = [i for i in incoming if i.metadata_type.name == type_name and i.full_name == full_name]
        if not matches:
            raise ValueError(f"component_error fault names {named!r}, which is not in the deploy")
        target = matches[0]
    target.failure = None
    target.fail(fault.options.get("problem", "UNKNOWN_EXCEPTION: An unexpected error occurred (injected by the fake org)"))


def _commit(org: "FakeOrg", item: _Incoming, version: float, dry_run: bool) -> tuple[bool, bool]:
    """Store one component with server-generated values and return (created, changed)."""
    metadata_type = item.metadata_type
    existing = org.stored(metadata_type.name, item.full_name)
    element = etree.fromstring(etree.tostring(item.element))
    components.apply_defaults(metadata_type, element, version)
    _generate_values(org, metadata_type, item.full_name, element, existing)
    for field_name, value in org.forced_fields(metadata_type.name).items():
        components.set_field(element, metadata_type.root_element, field_name, value)
    xml = components.canonical_bytes(element)
    created = existing is None
    changed = created or existing.xml != xml
    if dry_run:
        return created, changed
    org.put_component(metadata_type.name, item.full_name, xml)
    if created and metadata_type.name == registry.OAUTH_SETTINGS:
        _create_default_policy(org, item.full_name, components.get_field(element, "externalClientApplication"), version)
    return created, changed


def _generate_values(org: "FakeOrg", metadata_type: MetadataType, full_name: str, element, existing) -> None:
    name = metadata_type.name
    previous = components.parse(existing.xml) if existing else None
    if name == registry.ECA and not components.get_field(element, "orgScopedExternalApp"):
        components.set_field(element, name, "orgScopedExternalApp", f"{org.org_id_15}:{full_name}")
    if name == registry.GLOBAL_OAUTH:
        # The org keeps the consumer key and secret across updates. A deploy
        # changes them only when it requests rotation.
        for field_name, rotate_flag, make in (
            ("consumerKey", "shouldRotateConsumerKey", org.new_consumer_key),
            ("consumerSecret", "shouldRotateConsumerSecret", org.new_consumer_secret),
        ):
            kept = components.get_field(previous, field_name) if previous is not None else None
            sent = components.get_field(element, field_name)
            if parse_bool(components.get_field(element, rotate_flag)) or not (kept or sent):
                value = make()
            else:
                value = kept or sent
            components.set_field(element, name, field_name, value)
    if name == registry.OAUTH_SETTINGS:
        kept_link = components.get_field(previous, "oauthLink") if previous is not None else None
        link = kept_link or components.get_field(element, "oauthLink") or f"{org.org_id_15}:{org.new_id('888')[:15]}"
        components.set_field(element, name, "oauthLink", link)
    if name == registry.CONNECTED_APP and previous is not None:
        # Reads never return a connected app's secret, so a redeploy of a
        # retrieved file must not erase the stored one.
        kept = previous.find(f"{md('oauthConfig')}/{md('consumerSecret')}")
        config = element.find(md("oauthConfig"))
        if kept is not None and config is not None and config.find(md("consumerSecret")) is None:
            components.set_field(config, "ConnectedAppOauthConfig", "consumerSecret", kept.text or "")


def _create_default_policy(org: "FakeOrg", settings_name: str, app: str, version: float) -> None:
    """Create the OAuth policy record the org adds when an app's OAuth settings are first deployed."""
    if any(
        components.get_field(components.parse(s.xml), "externalClientApplication") == app
        for s in org.stored_of_type(registry.OAUTH_POLICY)
    ):
        return
    policy_type = registry.TYPES[registry.OAUTH_POLICY]
    name = default_policy_name(settings_name)
    element = components.new_component(policy_type)
    components.set_field(element, policy_type.name, "externalClientApplication", app)
    components.set_field(element, policy_type.name, "label", name)
    components.apply_defaults(policy_type, element, version)
    for field_name, value in org.forced_fields(policy_type.name).items():
        components.set_field(element, policy_type.name, field_name, value)
    org.put_component(policy_type.name, name, components.canonical_bytes(element))


# ----- retrieve ------------------------------------------------------------------


def run_retrieve(org: "FakeOrg", requested: list[tuple[str, list[str]]], version: float, single_package: bool) -> RetrieveJob:
    """Build the retrieve zip (metadata API layout) from the current org state."""
    prefix = "" if single_package else "unpackaged/"
    files: dict[str, bytes] = {}
    properties: list[dict[str, str]] = []
    messages: list[tuple[str, str]] = []
    manifest_members: dict[str, list[str]] = {}
    for type_name, members in requested:
        metadata_type = registry.TYPES.get(type_name)
        stored_all = org.stored_of_type(type_name) if metadata_type else []
        if "*" in members:
            selected = stored_all
        else:
            by_name = {s.full_name: s for s in stored_all}
            selected = []
            for member in members:
                if member in by_name:
                    selected.append(by_name[member])
                else:
                    messages.append((prefix + "package.xml", f"Entity of type '{type_name}' named '{member}' cannot be found"))
        for stored in selected:
            file_name = f"{metadata_type.folder}/{stored.full_name}.{metadata_type.suffix}"
            view = components.read_view(metadata_type, stored.xml, version, org.expose_consumer_secret)
            files[prefix + file_name] = components.canonical_bytes(view)
            manifest_members.setdefault(type_name, []).append(stored.full_name)
            properties.append(file_properties(org, stored, file_name))

    manifest = etree.Element(md("Package"), nsmap={None: MD_NS})
    for type_name in sorted(manifest_members):
        types_node = etree.SubElement(manifest, md("types"))
        for member in sorted(manifest_members[type_name]):
            etree.SubElement(types_node, md("members")).text = member
        etree.SubElement(types_node, md("name")).text = type_name
    etree.SubElement(manifest, md("version")).text = f"{version:.1f}"
    files[prefix + "package.xml"] = components.canonical_bytes(manifest)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(name, files[name])
    job = RetrieveJob(org.new_job_id("09S"), buffer.getvalue(), properties, messages, tuple(t for t, _ in requested))
    org.add_job(job.id, job)
    return job


def file_properties(org: "FakeOrg", stored, file_name: str) -> dict[str, str]:
    """FileProperties of one stored component, as listMetadata and retrieve return them."""
    user = org.users()[0]
    return {
        "createdById": user.id,
        "createdByName": user.name,
        "createdDate": stored.created_date,
        "fileName": file_name,
        "fullName": stored.full_name,
        "id": stored.id,
        "lastModifiedById": user.id,
        "lastModifiedByName": user.name,
        "lastModifiedDate": stored.modified_date,
        "manageableState": "unmanaged",
        "type": stored.type,
    }
