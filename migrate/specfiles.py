"""Load and validate the TOML files in mappings/: the field mapping, scope table and profiles."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from migrate.errors import ConfigError
from migrate.model import ECA_TYPES_BY_NAME, ConnectedApp, leaf_paths, schema

Scalar = str | bool | int


def mappings_dir() -> Path:
    """Return the mappings folder: inside the installed package, or beside it in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "mappings", here.parent / "mappings"):
        if (candidate / "connected-app-to-eca.toml").is_file():
            return candidate
    raise ConfigError(f"mappings folder not found next to {here}; reinstall sfeca-migrate")


CONNECTED_APP_LEAVES = frozenset(leaf_paths(ConnectedApp))
# A rule may name a leaf or a whole nested block such as "samlConfig".
CONNECTED_APP_PATHS = CONNECTED_APP_LEAVES | {
    leaf.rsplit(".", depth)[0] for leaf in CONNECTED_APP_LEAVES for depth in (1, 2) if leaf.count(".") >= depth
}


def eca_field_kind(target: str) -> type | None:
    """Return the scalar type of an ECA target `Component.field[.sub]`, or None if it is not one."""
    component, _, field_path = target.partition(".")
    cls = ECA_TYPES_BY_NAME.get(component)
    if cls is None or not field_path:
        return None
    steps = field_path.split(".")
    for step in steps[:-1]:
        spec = schema(cls).get(step)
        if spec is None or spec.struct is None or spec.repeated:
            return None
        cls = spec.struct
    spec = schema(cls).get(steps[-1])
    if spec is None:
        return None
    return spec.struct if spec.struct is not None else spec.scalar


def _check_target(target: str) -> str:
    component = target.partition(".")[0]
    if component not in ECA_TYPES_BY_NAME:
        raise ValueError(f"unknown component {component!r}; expected one of {', '.join(ECA_TYPES_BY_NAME)}")
    if eca_field_kind(target) is None:
        raise ValueError(f"{component} has no field {target.partition('.')[2]!r}")
    return target


# Values Salesforce accepts for the ECA enum fields (Metadata API 67.0 documentation).
ECA_ENUMS: dict[str, frozenset[str]] = {
    "distributionState": frozenset({"Local", "Packaged"}),
    "ipRelaxationPolicyType": frozenset({"Enforce", "Bypass", "Bypass_2factor", "Enforce_RelaxRefresh"}),
    "permittedUsersPolicyType": frozenset({"AdminApprovedPreAuthorized", "AllSelfAuthorized"}),
    "refreshTokenPolicyType": frozenset({"Infinite", "SpecificInactivity", "SpecificLifetime", "Zero"}),
    "refreshTokenValidityUnit": frozenset({"Days", "Hours", "Months"}),
    "requiredSessionLevel": frozenset({"HIGH_ASSURANCE", "LOW", "STANDARD"}),
    "policyAction": frozenset({"Block", "RaiseSessionLevel"}),
    "startPage": frozenset({"Custom", "None", "OAuth"}),
}
# Fields Salesforce generates or ties to one org; a profile may not set them.
GENERATED_FIELDS = frozenset({"consumerKey", "consumerSecret", "oauthLink", "orgScopedExternalApp", "externalClientApplication", "label"})


def _check_value(target: str, value: Scalar) -> None:
    """Check a profile value against the ECA field's type and allowed values."""
    _check_target(target)
    kind = eca_field_kind(target)
    name = target.rsplit(".", 1)[-1]
    if name in GENERATED_FIELDS:
        raise ValueError(f"{target} is set by Salesforce or by the tool, not by a profile")
    if kind not in (str, bool, int):
        raise ValueError(f"{target} is a nested structure; name one of its fields, such as {target}.<field>")
    if kind is bool and not isinstance(value, bool):
        raise ValueError(f"{target} is true or false, not {value!r}")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{target} is a whole number, not {value!r}")
    if kind is str and not isinstance(value, str):
        raise ValueError(f"{target} is text, not {value!r}")
    allowed = ECA_ENUMS.get(name)
    if allowed is not None and value not in allowed:
        raise ValueError(f"{target} must be one of {', '.join(sorted(allowed))}, not {value!r}")


def _check_source(source: str) -> str:
    if source not in CONNECTED_APP_PATHS:
        raise ValueError(f"ConnectedApp has no field {source!r}")
    return source


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MapRule(_Strict):
    source: str
    targets: tuple[str, ...] = Field(min_length=1)
    translate: Literal["copy", "enum", "scopes", "join", "refresh_token_policy", "items"] = "copy"
    values: dict[str, str] | None = None
    fields: dict[str, str] | None = None

    _source = field_validator("source")(_check_source)

    @field_validator("targets")
    @classmethod
    def _targets(cls, targets: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_target(target) for target in targets)

    @model_validator(mode="after")
    def _translation_arguments(self) -> MapRule:
        if self.translate == "enum" and not self.values:
            raise ValueError("translate = 'enum' needs a [map.values] table")
        if self.translate == "items" and not self.fields:
            raise ValueError("translate = 'items' needs a [map.fields] table")
        if self.translate == "refresh_token_policy" and len(self.targets) != 3:
            raise ValueError("translate = 'refresh_token_policy' needs three targets: type, period, unit")
        return self


class NotCarriedRule(_Strict):
    source: str
    reason: str = Field(min_length=1)

    _source = field_validator("source")(_check_source)


class ForeignRule(_Strict):
    source: str
    reason: str = Field(min_length=1)

    @field_validator("source")
    @classmethod
    def _outside_schema(cls, source: str) -> str:
        if source in CONNECTED_APP_PATHS:
            raise ValueError(f"{source!r} is a ConnectedApp field; list it under [[map]] or [[not_carried]]")
        return source


class MappingSpec(_Strict):
    version: Literal[1]
    map: tuple[MapRule, ...]
    not_carried: tuple[NotCarriedRule, ...] = ()
    foreign: tuple[ForeignRule, ...] = ()
    source_defaults: dict[str, Scalar] = {}
    target_defaults: dict[str, Scalar] = {}
    target_defaults_without_oauth: dict[str, Scalar] = {}

    @field_validator("source_defaults")
    @classmethod
    def _defaults_sources(cls, defaults: dict[str, Scalar]) -> dict[str, Scalar]:
        for source in defaults:
            _check_source(source)
        return defaults

    @field_validator("target_defaults", "target_defaults_without_oauth")
    @classmethod
    def _defaults_targets(cls, defaults: dict[str, Scalar]) -> dict[str, Scalar]:
        for target in defaults:
            _check_target(target)
        return defaults

    @model_validator(mode="after")
    def _each_source_once(self) -> MappingSpec:
        seen: set[str] = set()
        for rule in (*self.map, *self.not_carried):
            if rule.source in seen:
                raise ValueError(f"ConnectedApp field {rule.source!r} is listed more than once")
            seen.add(rule.source)
        return self

    @functools.cached_property
    def rules_by_source(self) -> dict[str, MapRule]:
        return {rule.source: rule for rule in self.map}

    @functools.cached_property
    def reasons_by_source(self) -> dict[str, str]:
        return {rule.source: rule.reason for rule in (*self.not_carried, *self.foreign)}


class ScopeSpec(_Strict):
    version: Literal[1]
    eca_tokens: frozenset[str]
    aliases: dict[str, str] = {}

    def canonical(self, token: str) -> str:
        return self.aliases.get(token, token)


class ManualStep(_Strict):
    text: str = Field(min_length=1)


class ProfileSpec(_Strict):
    version: Literal[1]
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    partner: str | None = None
    require: dict[str, dict[str, Scalar]] = {}
    absent: dict[str, tuple[str, ...]] = {}
    manual_steps: tuple[ManualStep, ...] = ()
    # What breaks for the partner when a field ends up different, keyed "Component.field".
    effects: dict[str, str] = {}

    @field_validator("require")
    @classmethod
    def _require_fields(cls, require: dict[str, dict[str, Scalar]]) -> dict[str, dict[str, Scalar]]:
        for component, fields in require.items():
            for name, value in fields.items():
                _check_value(f"{component}.{name}", value)
        return require

    @field_validator("effects")
    @classmethod
    def _effect_fields(cls, effects: dict[str, str]) -> dict[str, str]:
        for target in effects:
            _check_target(target)
        return effects

    @model_validator(mode="after")
    def _required_or_absent(self) -> ProfileSpec:
        for component, names in self.absent.items():
            both = sorted(set(names) & set(self.require.get(component, {})))
            if both:
                raise ValueError(f"{component}.{both[0]} is both required and listed as absent")
        return self

    @field_validator("absent")
    @classmethod
    def _absent_fields(cls, absent: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for component, names in absent.items():
            for name in names:
                _check_target(f"{component}.{name}")
        return absent


def _format_error(path: Path, error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    more = len(error.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{path}: {location}: {message}{suffix}"


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read file: {exc.strerror or exc}") from None


def _validate(model: type[BaseModel], path: Path) -> Any:
    data = load_toml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc)) from None


@functools.cache
def load_mapping(path: Path | None = None) -> MappingSpec:
    """Load and validate the ConnectedApp to ECA mapping file."""
    return _validate(MappingSpec, path or mappings_dir() / "connected-app-to-eca.toml")


@functools.cache
def load_scopes(path: Path | None = None) -> ScopeSpec:
    """Load and validate the scope token table."""
    return _validate(ScopeSpec, path or mappings_dir() / "scopes.toml")


def builtin_profiles() -> dict[str, Path]:
    return {path.stem: path for path in sorted((mappings_dir() / "profiles").glob("*.toml"))}


@functools.cache
def load_profile(path: Path) -> ProfileSpec:
    """Load and validate a requirement profile, rejecting scope tokens the ECA does not accept."""
    profile: ProfileSpec = _validate(ProfileSpec, path)
    scopes = load_scopes()
    for component, fields in profile.require.items():
        value = fields.get("commaSeparatedOauthScopes")
        if isinstance(value, str):
            unknown = sorted(token for token in split_scopes(value) if token not in scopes.eca_tokens)
            if unknown:
                raise ConfigError(
                    f"{path}: require.{component}.commaSeparatedOauthScopes: "
                    f"unknown scope token(s) {', '.join(unknown)}"
                )
    return profile


def split_scopes(value: str) -> list[str]:
    return [token.strip() for token in value.split(",") if token.strip()]


class _PerComponentFile(_Strict):
    """A file of one table per ECA component, beside its `version`; the tables land under TABLES_KEY."""

    TABLES_KEY: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _collect(cls, data: dict[str, Any]) -> dict[str, Any]:
        tables = dict(data)
        return {"version": tables.pop("version", None), cls.TABLES_KEY: tables}


class VersionRange(_Strict):
    since: float
    until: float | None = None

    def admits(self, api_version: float) -> bool:
        return api_version >= self.since and (self.until is None or api_version <= self.until)

    def describe(self) -> str:
        if self.until is None:
            return f"API {self.since:.1f} and later"
        return f"API {self.since:.1f} to {self.until:.1f}"


class ApiVersionSpec(_PerComponentFile):
    TABLES_KEY = "ranges"
    version: Literal[1]
    ranges: dict[str, dict[str, VersionRange]]

    @field_validator("ranges")
    @classmethod
    def _known_fields(cls, ranges: dict[str, dict[str, VersionRange]]) -> dict[str, dict[str, VersionRange]]:
        for component, fields in ranges.items():
            for name in fields:
                if name != "*":
                    _check_target(f"{component}.{name}")
                elif component not in ECA_TYPES_BY_NAME:
                    _check_target(component)
        return ranges

    def range_for(self, component: str, field_path: str) -> VersionRange | None:
        fields = self.ranges.get(component, {})
        return fields.get(field_path.partition(".")[0]) or fields.get("*")


@functools.cache
def load_api_versions(path: Path | None = None) -> ApiVersionSpec:
    """Load and validate the table of API versions at which ECA fields exist."""
    return _validate(ApiVersionSpec, path or mappings_dir() / "api-versions.toml")


class EcaDefaultsSpec(_PerComponentFile):
    TABLES_KEY = "defaults"
    version: Literal[1]
    defaults: dict[str, dict[str, Scalar]]

    @field_validator("defaults")
    @classmethod
    def _typed_fields(cls, defaults: dict[str, dict[str, Scalar]]) -> dict[str, dict[str, Scalar]]:
        ProfileSpec._require_fields(defaults)
        return defaults

    def default_of(self, component: str, field_path: str) -> Scalar | None:
        return self.defaults.get(component, {}).get(field_path)


@functools.cache
def load_eca_defaults(path: Path | None = None) -> EcaDefaultsSpec:
    """Load and validate the table of values Salesforce gives omitted ECA fields."""
    return _validate(EcaDefaultsSpec, path or mappings_dir() / "eca-defaults.toml")
