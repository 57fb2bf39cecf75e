"""Build a migration plan: the ECA family each connected app needs, and how it differs from now."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from migrate.diff import changed_fields
from migrate.mapping import MappedApp, NotCarried, Setting, map_connected_app
from migrate.model import ECA_TYPES, EcaBundle, EcaComponent, schema
from migrate.reader import SourceApp
from migrate.specfiles import ProfileSpec, load_api_versions, load_eca_defaults, load_scopes

# Salesforce API names: a letter, then letters, digits and underscores, not ending in one.
API_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?$")

ComponentAction = Literal["create", "update", "unchanged"]
FieldAction = Literal["add", "change", "remove", "keep"]

# Child component names Salesforce gives an ECA made in Setup. The OAuth policy name
# varies by how the app was made, so against an org it is discovered, never assumed.
CHILD_SUFFIXES = {
    "ExtlClntAppGlobalOauthSettings": "_glbloauth",
    "ExtlClntAppOauthSettings": "_oauth",
    "ExtlClntAppConfigurablePolicies": "_plcy",
    "ExtlClntAppOauthConfigurablePolicies": "_oauthPlcy",
}

# Fields Salesforce generates or ties to one org; plans neither set nor compare them.
SERVER_MANAGED_FIELDS = frozenset(
    {"consumerKey", "consumerSecret", "oauthLink", "orgScopedExternalApp", "managedType", "shouldRotateConsumerKey", "shouldRotateConsumerSecret"}
)
# Fields that tie a child component to its app; set from the component names.
# The header's label is the app's label and is compared like any other field.
STRUCTURAL_FIELDS = frozenset({"externalClientApplication", "label"})

REASONS = {
    "carried": "carried from the connected app",
    "default": "default made explicit",
}


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    action: FieldAction
    current: Any
    new: Any
    reason: str
    # Whether the requirement profile demands this value (or this removal).
    required: bool = False


@dataclass(frozen=True, slots=True)
class ComponentPlan:
    type_name: str
    # Empty for an OAuth policy that Salesforce will create and name.
    full_name: str
    action: ComponentAction
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True, slots=True)
class Conflict:
    """A requirement the tool cannot meet by writing metadata, with its effect."""

    component: str
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class AppPlan:
    app: str
    label: str
    source: str
    source_sha256: str
    components: tuple[ComponentPlan, ...]
    desired: EcaBundle
    not_carried: tuple[NotCarried, ...]
    conflicts: tuple[Conflict, ...]
    manual_steps: tuple[str, ...]

    @property
    def has_changes(self) -> bool:
        return any(component.action != "unchanged" for component in self.components)


@dataclass(frozen=True, slots=True)
class Plan:
    profile: str | None
    profile_title: str | None
    api_version: str
    target: str
    apps: tuple[AppPlan, ...]
    # Digest of the org state the plan was made against; empty for a plan made from files.
    state_fingerprint: str = ""
    org_id: str | None = None

    @property
    def has_changes(self) -> bool:
        return any(app.has_changes for app in self.apps)

    @property
    def conflict_names(self) -> list[str]:
        """Return each conflict as "app: Component.field", for refusing to apply the plan."""
        return [f"{app.app}: {item.component}.{item.field}" for app in self.apps for item in app.conflicts]


# --- Proposal: mapping plus profile ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Proposal:
    settings: Mapping[tuple[str, str], Setting]
    removed: frozenset[tuple[str, str]]
    not_carried: tuple[NotCarried, ...]
    conflicts: tuple[Conflict, ...]


def apply_profile(mapped: MappedApp, profile: ProfileSpec | None, api_version: float) -> Proposal:
    """Layer a requirement profile over mapped settings and drop fields the API version lacks."""
    settings = dict(mapped.settings)
    removed: set[tuple[str, str]] = set()
    reason = f"required by {profile.title}" if profile else ""
    if profile is not None:
        for component, fields in profile.require.items():
            for name, value in fields.items():
                key = (component, name)
                previous = settings.get(key)
                if previous is not None and _same(name, previous.value, value):
                    settings[key] = Setting(previous.value, previous.origin, previous.source, required=True)
                else:
                    settings[key] = Setting(value, "profile", reason, required=True)
        for component, names in profile.absent.items():
            for name in names:
                if settings.pop((component, name), None) is not None:
                    removed.add((component, name))

    dropped: list[NotCarried] = []
    conflicts: list[Conflict] = []
    versions = load_api_versions()
    for (component, name), setting in sorted(settings.items()):
        allowed = versions.range_for(component, name)
        if allowed is None or allowed.admits(api_version):
            continue
        del settings[(component, name)]
        where = f"{component}.{name}"
        if setting.required:
            conflicts.append(
                Conflict(
                    component,
                    name,
                    f"{profile.title} requires {where} = {_show(setting.value)}, but the field exists only at "
                    f"{allowed.describe()} and the target is API {api_version:.1f}; run with --api-version "
                    f"{allowed.since:.1f} or later",
                )
            )
        elif setting.source is not None:
            dropped.append(
                NotCarried(setting.source, setting.value, f"{where} exists only at {allowed.describe()}; the target is API {api_version:.1f}")
            )
    return Proposal(settings, frozenset(removed), (*mapped.not_carried, *dropped), tuple(conflicts))


def _same(name: str, left: Any, right: Any) -> bool:
    from migrate.diff import comparable

    scopes = load_scopes()
    return comparable(name, left, scopes) == comparable(name, right, scopes)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- Building components ------------------------------------------------------------------


def component_names(app_name: str, existing: EcaBundle | None) -> dict[str, str]:
    """Return the fullName of each ECA component, keeping the names an existing ECA uses."""
    names = {"ExternalClientApplication": app_name}
    names.update({type_name: f"{app_name}{suffix}" for type_name, suffix in CHILD_SUFFIXES.items()})
    if existing is not None:
        for component in existing.components:
            names[type(component).__name__] = component.fullName
    return names


def flatten(component: EcaComponent | None) -> dict[str, Any]:
    """Return a component's set fields as {field path: value}, nested structs with dots."""
    if component is None:
        return {}
    flat: dict[str, Any] = {}
    for name, spec in schema(type(component)).items():
        value = getattr(component, name)
        if value is None or value == ():
            continue
        if spec.struct is not None and not spec.repeated:
            for sub_name in schema(spec.struct):
                sub_value = getattr(value, sub_name)
                if sub_value is not None:
                    flat[f"{name}.{sub_name}"] = sub_value
        else:
            flat[name] = value
    return flat


def build_component(type_name: str, full_name: str, values: Mapping[str, Any]) -> EcaComponent:
    """Construct a component from {field path: value}, nested paths into their structs."""
    cls = next(cls for cls in ECA_TYPES if cls.__name__ == type_name)
    kwargs: dict[str, Any] = {"fullName": full_name}
    nested: dict[str, dict[str, Any]] = {}
    for path, value in values.items():
        head, _, tail = path.partition(".")
        if tail:
            nested.setdefault(head, {})[tail] = value
        else:
            kwargs[head] = value
    specs = schema(cls)
    for head, sub_values in nested.items():
        kwargs[head] = specs[head].struct(**sub_values)
    return cls(**kwargs)


def relevant_fields(type_name: str, flat: Mapping[str, Any]) -> dict[str, Any]:
    """Return the fields a plan compares: not server-managed, and for children not structural."""
    skipped = SERVER_MANAGED_FIELDS if type_name == "ExternalClientApplication" else SERVER_MANAGED_FIELDS | STRUCTURAL_FIELDS
    return {key: value for key, value in flat.items() if key.partition(".")[0] not in skipped}


def plan_app(
    source: SourceApp,
    profile: ProfileSpec | None,
    api_version: str,
    existing: EcaBundle | None = None,
    *,
    against_org: bool = False,
) -> AppPlan:
    """Plan one connected app: map it, apply the profile, and diff against the current state.

    `against_org` marks a plan whose deploy goes through apply's two phases, where a
    new OAuth policy is the record Salesforce creates, so its name is not yet known.

    With no `existing` ECA the "current" side is the connected app itself, so every
    component is created and each field shows what the connected app had.
    """
    app = source.app
    mapped = map_connected_app(app)
    proposal = apply_profile(mapped, profile, float(api_version))
    scopes = load_scopes()
    names = component_names(app.fullName, existing)

    desired_by_type: dict[str, dict[str, Any]] = {}
    for (component, field_path), setting in proposal.settings.items():
        desired_by_type.setdefault(component, {})[field_path] = setting.value

    built: list[EcaComponent] = []
    states: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for cls in ECA_TYPES:
        type_name = cls.__name__
        desired = desired_by_type.get(type_name)
        current_component = existing.get(type_name) if existing is not None else None
        if desired is None and current_component is None:
            continue
        desired = desired or {}
        full_name = names[type_name]
        values = dict(desired)
        if type_name != "ExternalClientApplication":
            values["externalClientApplication"] = app.fullName
            values["label"] = current_component.label if current_component and current_component.label else full_name
        built.append(build_component(type_name, full_name, values))
        if existing is None:
            before = {path: setting.value for (component, path), setting in mapped.settings.items() if component == type_name}
        else:
            before = relevant_fields(type_name, flatten(current_component))
        states[type_name] = (before, relevant_fields(type_name, desired))

    kinds = changed_fields(states, scopes)
    components: list[ComponentPlan] = []
    for component in built:
        type_name = type(component).__name__
        before, after = states[type_name]
        created = existing is None or existing.get(type_name) is None
        removed_by_profile = {path for (name, path) in proposal.removed if name == type_name}
        changes = _field_changes(
            type_name, before, after, kinds, proposal.settings, removed_by_profile, profile, created=created
        )
        if created:
            action: ComponentAction = "create"
        else:
            changes = [change for change in changes if change.action != "keep"]
            action = "update" if changes else "unchanged"
        shown_name = component.fullName
        if against_org and created and type_name == "ExtlClntAppOauthConfigurablePolicies":
            # Salesforce names the record when it creates the ECA; apply finds it then.
            shown_name = ""
        components.append(ComponentPlan(type_name, shown_name, action, tuple(changes)))

    conflicts = list(proposal.conflicts)
    if not API_NAME.match(app.fullName) or "__" in app.fullName:
        conflicts.append(
            Conflict(
                "ExternalClientApplication",
                "fullName",
                f"{app.fullName!r} is not a valid API name (a letter first, then letters, digits and single "
                "underscores, not ending in an underscore); Salesforce rejects the deploy. Rename the file to "
                "the app's API name.",
            )
        )
    desired_bundle = EcaBundle(app.fullName, tuple(built))
    return AppPlan(
        app=app.fullName,
        label=app.label or app.fullName,
        source=source.path,
        source_sha256=source.sha256,
        components=tuple(components),
        desired=desired_bundle,
        not_carried=proposal.not_carried,
        conflicts=tuple(conflicts),
        manual_steps=manual_steps(source, proposal, profile, existing=existing),
    )


def _field_changes(
    type_name: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    kinds: Mapping[tuple[str, str], str],
    settings: Mapping[tuple[str, str], Setting],
    removed_by_profile: set[str],
    profile: ProfileSpec | None,
    *,
    created: bool,
) -> list[FieldChange]:
    changes: list[FieldChange] = []
    for path in sorted(set(before) | set(after)):
        kind = kinds.get((type_name, path), "keep")
        setting = settings.get((type_name, path))
        if kind == "remove" or setting is None:
            if path in removed_by_profile and profile is not None:
                reason = f"removed: required by {profile.title}"
            elif created:
                continue
            elif before.get(path) == load_eca_defaults().default_of(type_name, path):
                # The deploy resets it to the default the org already holds.
                continue
            else:
                reason = "not in the proposal; a deploy resets it to its default"
            changes.append(FieldChange(path, "remove", before.get(path), None, reason, required=path in removed_by_profile))
            continue
        if setting.origin == "profile":
            reason = setting.source or ""
        elif setting.required and profile is not None:
            if setting.origin == "carried":
                already = "the connected app already has it"
            elif setting.source is not None:
                already = "also the connected-app default"
            else:
                already = "also the value written for every migrated app"
            reason = f"required by {profile.title}; {already}"
        else:
            reason = REASONS[setting.origin]
        if created and kind == "add":
            action: FieldAction = "add"
        elif created and kind == "keep":
            action = "add"
        else:
            action = kind
        changes.append(FieldChange(path, action, before.get(path), after.get(path), reason, required=setting.required))
    return changes


def manual_steps(
    source: SourceApp, proposal: Proposal, profile: ProfileSpec | None, *, existing: EcaBundle | None
) -> tuple[str, ...]:
    """Return what a person must do that metadata cannot, for one app."""
    app = source.app
    settings = proposal.settings
    current_global = existing.get("ExtlClntAppGlobalOauthSettings") if existing is not None else None
    creating = current_global is None
    steps: list[str] = []

    if creating and app.oauthConfig is not None:
        partner = profile.partner if profile and profile.partner else "every client of this app"
        steps.append(
            "The new ECA gets a new consumer key and consumer secret; the connected app's cannot be carried over. "
            f"Give both to {partner} after deploying."
        )
    if profile is not None:
        steps.extend(step.text for step in profile.manual_steps)

    if app.oauthConfig is not None:
        steps.append(
            "ECAs do not support the OAuth username-password flow: any integration that signs in to this connected "
            "app with a username and password stops working after the move and must switch to another flow."
        )

    policy = settings.get(("ExtlClntAppOauthConfigurablePolicies", "refreshTokenPolicyType"))
    if policy is not None and policy.value == "Infinite":
        steps.append(
            "\"Refresh token is valid until revoked\" is overridden by an org-wide idle refresh-token limit or forced "
            "refresh-token rotation; the metadata still says Infinite. Check Setup > OAuth and OpenID Connect Settings."
        )

    pkce = settings.get(("ExtlClntAppGlobalOauthSettings", "isPkceRequired"))
    if pkce is not None and pkce.value is False and current_global is not None and current_global.isPkceRequired:
        steps.append(
            "The org's ECA has PKCE on. If an earlier apply's read-back reported that it stayed on, the org locks "
            "PKCE for ECAs and no deploy can turn it off: ask Salesforce support, because new authorizations "
            "without a code challenge fail."
        )
    elif pkce is not None and pkce.value is False:
        steps.append(
            "Some orgs lock \"Require Proof Key for Code Exchange (PKCE)\" on for ECAs; after deploying, check that it "
            "is unticked, or new authorizations fail with a missing code challenge."
        )

    if app.oauthConfig is not None:
        steps.append("If the org uses API Access Control, allowlist the new ECA, or its sessions fail with INVALID_SESSION_ID.")

    if app.fullName.upper().startswith("DEVHUB_"):
        steps.append("Keep this connected app: a Dev Hub still needs it to create scratch orgs.")
    return tuple(steps)
