"""Map a connected app onto the ECA family, driven by the mapping file in mappings/."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from migrate.model import ConnectedApp, UnknownElement, get_path, schema
from migrate.secrets import HiddenValue, masked
from migrate.specfiles import MapRule, MappingSpec, ScopeSpec, eca_field_kind, load_mapping, load_scopes

Origin = Literal["carried", "default", "profile"]

# ECA components that exist only for an app with OAuth.
OAUTH_COMPONENTS = frozenset(
    {"ExtlClntAppGlobalOauthSettings", "ExtlClntAppOauthSettings", "ExtlClntAppOauthConfigurablePolicies"}
)
NO_OAUTH_REASON = (
    "the connected app has no OAuth configuration, so the ECA gets no OAuth components to hold this; "
    "for a SAML app, configure it with the ECA's SAML settings by hand"
)
# Names of elements outside the schema whose values are likely credentials, and never shown.
CREDENTIAL_NAME = re.compile(r"secret|password|passwd|token|private|credential|apikey|certificate", re.IGNORECASE)

REFRESH_TOKEN_POLICY = re.compile(r"^(specific_lifetime|specific_inactivity):(\d+):(HOURS|DAYS|MONTHS)$")
REFRESH_TOKEN_TYPES = {"infinite": "Infinite", "zero": "Zero"}
REFRESH_TOKEN_SPECIFIC = {"specific_lifetime": "SpecificLifetime", "specific_inactivity": "SpecificInactivity"}
REFRESH_TOKEN_UNITS = {"HOURS": "Hours", "DAYS": "Days", "MONTHS": "Months"}


@dataclass(frozen=True, slots=True)
class Setting:
    """One ECA field value in a proposal, with where it came from."""

    value: Any
    origin: Origin
    # The ConnectedApp field it came from, or for a profile value the reason text.
    source: str | None = None
    # Whether the requirement profile demands this value, whatever its origin.
    required: bool = False


@dataclass(frozen=True, slots=True)
class NotCarried:
    """A connected-app field (or one value of it) that the ECA will not have."""

    field: str
    value: Any
    reason: str


@dataclass(frozen=True, slots=True)
class MappedApp:
    """The ECA settings proposed for one connected app, keyed by (component, field path)."""

    app: ConnectedApp
    settings: Mapping[tuple[str, str], Setting]
    not_carried: tuple[NotCarried, ...]


def _split_target(target: str) -> tuple[str, str]:
    component, _, field_path = target.partition(".")
    return component, field_path


def _is_empty(value: Any) -> bool:
    return value is None or value == ()


def _translate(
    rule: MapRule,
    value: Any,
    scopes: ScopeSpec,
    dropped: list[NotCarried],
) -> list[tuple[str, Any]]:
    """Return (target, value) pairs for one source value, recording values it cannot carry."""
    kind = rule.translate
    if kind == "copy":
        return [(target, value) for target in rule.targets]

    if kind == "enum":
        # Salesforce writes these enums in one case; a hand-edited file may not.
        values = {key.lower(): translated for key, translated in rule.values.items()}
        key = str(value).strip().lower()
        if key not in values:
            dropped.append(NotCarried(rule.source, value, f"{value!r} is not a known value of {rule.source}"))
            return []
        return [(target, values[key]) for target in rule.targets]

    if kind == "join":
        names = [item.strip() for item in value if item and item.strip()]
        return [(target, ",".join(names)) for target in rule.targets] if names else []

    if kind == "scopes":
        tokens: list[str] = []
        for token in value:
            token = token.strip()
            if token not in scopes.eca_tokens:
                dropped.append(NotCarried(rule.source, token, "not an OAuth scope token that an ECA accepts"))
            elif token not in tokens:
                tokens.append(token)
        return [(target, ",".join(tokens)) for target in rule.targets] if tokens else []

    if kind == "refresh_token_policy":
        return _translate_refresh_token_policy(rule, value, dropped)

    # kind == "items": rename the sub-fields of each list item into the ECA struct.
    target = rule.targets[0]
    struct = eca_field_kind(target)
    items = tuple(struct(**{rule.fields[name]: getattr(item, name) for name in rule.fields}) for item in value)
    return [(target, items)]


def _translate_refresh_token_policy(rule: MapRule, value: str, dropped: list[NotCarried]) -> list[tuple[str, Any]]:
    type_target, period_target, unit_target = rule.targets
    plain = REFRESH_TOKEN_TYPES.get(value.strip().lower())
    if plain is not None:
        return [(type_target, plain)]
    match = REFRESH_TOKEN_POLICY.match(value.strip())
    if match is None:
        dropped.append(
            NotCarried(
                rule.source,
                value,
                "not a refresh token policy Salesforce accepts (infinite, zero, "
                "specific_lifetime:N:UNIT or specific_inactivity:N:UNIT)",
            )
        )
        return []
    policy, period, unit = match.groups()
    return [
        (type_target, REFRESH_TOKEN_SPECIFIC[policy]),
        (period_target, int(period)),
        (unit_target, REFRESH_TOKEN_UNITS[unit]),
    ]


def _flatten_unknown(element: UnknownElement) -> list[UnknownElement]:
    if not element.children:
        return [element]
    found: list[UnknownElement] = []
    for child in element.children:
        found.extend(_flatten_unknown(child))
    return found


def map_connected_app(
    app: ConnectedApp,
    spec: MappingSpec | None = None,
    scopes: ScopeSpec | None = None,
) -> MappedApp:
    """Translate every field of a connected app into ECA settings and not-carried records."""
    spec = spec or load_mapping()
    scopes = scopes or load_scopes()
    settings: dict[tuple[str, str], Setting] = {}
    dropped: list[NotCarried] = []
    has_oauth = app.oauthConfig is not None

    for rule in spec.map:
        value = get_path(app, rule.source)
        origin: Origin = "carried"
        if _is_empty(value):
            default = spec.source_defaults.get(rule.source)
            block = rule.source.partition(".")[0]
            if default is None or getattr(app, block) is None and not has_oauth:
                continue
            value, origin = default, "default"
        for target, translated in _translate(rule, value, scopes, dropped):
            component, field_path = _split_target(target)
            if not has_oauth and component in OAUTH_COMPONENTS:
                if origin == "carried":
                    dropped.append(NotCarried(rule.source, _describe(rule.source, value), NO_OAUTH_REASON))
                continue
            settings[(component, field_path)] = Setting(translated, origin, rule.source)

    defaults = spec.target_defaults if has_oauth else spec.target_defaults_without_oauth
    for target, value in defaults.items():
        settings.setdefault(_split_target(target), Setting(value, "default"))

    for rule in spec.not_carried:
        value = get_path(app, rule.source)
        if not _is_empty(value):
            dropped.append(NotCarried(rule.source, _describe(rule.source, value), rule.reason))

    for element in app.unknown:
        for leaf in _flatten_unknown(element):
            reason = spec.reasons_by_source.get(leaf.path, "not a ConnectedApp field in the Metadata API schema")
            text = leaf.text
            if text and CREDENTIAL_NAME.search(leaf.path.rsplit(".", 1)[-1]):
                text = HiddenValue(f"(hidden, {len(text)} characters)")
            dropped.append(NotCarried(leaf.path, text, reason))

    return MappedApp(app=app, settings=MappingProxyType(settings), not_carried=tuple(dropped))


def _describe(field_path: str, value: Any) -> Any:
    """Return a short description of a not-carried value; credentials stay hidden."""
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value)
    if hasattr(value, "__dataclass_fields__"):
        present = [name for name in schema(type(value)) if not _is_empty(getattr(value, name, None))]
        return f"<{', '.join(present)}>" if present else "<empty>"
    return masked(field_path, value)
