"""Immutable typed values for the connected app and the external client app (ECA) family.

Attribute names are the Metadata API field names, so a field reads the same in
a metadata file, a mapping file, a profile and the code.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from typing import Any

# Fields of a top-level component that are not child elements of its XML.
NON_XML_FIELDS = frozenset({"fullName", "unknown"})


@dataclass(frozen=True, slots=True)
class UnknownElement:
    """An element the model does not define, kept so it can be reported and written back."""

    path: str
    text: str | None
    line: int | None = None
    children: tuple[UnknownElement, ...] = ()


# --- ConnectedApp and its sub-types -------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectedAppAttribute:
    formula: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectedAppIpRange:
    description: str | None = None
    end: str | None = None
    start: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectedAppOauthAssetToken:
    assetAudiences: str | None = None
    assetIncludeAttributes: bool | None = None
    assetIncludeCustomPerms: bool | None = None
    assetSigningCertId: str | None = None
    assetValidityPeriod: int | None = None


@dataclass(frozen=True, slots=True)
class ConnectedAppOauthIdToken:
    idTokenAudience: str | None = None
    idTokenIncludeAttributes: bool | None = None
    idTokenIncludeCustomPerms: bool | None = None
    idTokenIncludeStandardClaims: bool | None = None
    idTokenValidity: int | None = None


@dataclass(frozen=True, slots=True)
class ConnectedAppOauthConfig:
    assetTokenConfig: ConnectedAppOauthAssetToken | None = None
    callbackUrl: str | None = None
    certificate: str | None = None
    consumerKey: str | None = None
    consumerSecret: str | None = None
    idTokenConfig: ConnectedAppOauthIdToken | None = None
    isAdminApproved: bool | None = None
    isClientCredentialEnabled: bool | None = None
    isCodeCredentialEnabled: bool | None = None
    isCodeCredentialPostOnly: bool | None = None
    isConsumerSecretOptional: bool | None = None
    isIntrospectAllTokens: bool | None = None
    isNamedUserJwtEnabled: bool | None = None
    isPkceRequired: bool | None = None
    isRefreshTokenRotationEnabled: bool | None = None
    isSecretRequiredForRefreshToken: bool | None = None
    isSecretRequiredForTokenExchange: bool | None = None
    isTokenExchangeEnabled: bool | None = None
    oauthClientCredentialUser: str | None = None
    scopes: tuple[str, ...] = ()
    singleLogoutUrl: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectedAppOauthPolicy:
    ipRelaxation: str | None = None
    # In the Metadata API WSDL (API 63) though the documentation table omits it.
    isTokenExchangeFlowEnabled: bool | None = None
    refreshTokenPolicy: str | None = None
    singleLogoutUrl: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectedAppSamlConfig:
    acsUrl: str | None = None
    certificate: str | None = None
    encryptionCertificate: str | None = None
    encryptionType: str | None = None
    entityUrl: str | None = None
    issuer: str | None = None
    samlIdpSLOBindingEnum: str | None = None
    samlNameIdFormat: str | None = None
    samlSigningAlgoType: str | None = None
    samlSloUrl: str | None = None
    samlSubjectCustomAttr: str | None = None
    samlSubjectType: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectedAppCanvasConfig:
    accessMethod: str | None = None
    canvasUrl: str | None = None
    lifecycleClass: str | None = None
    locations: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    samlInitiationMethod: str | None = None


@dataclass(frozen=True, slots=True)
class CanvasMetadata:
    """The WSDL's `canvas` element; its content is not documented, so it is kept as found."""

    elements: tuple[UnknownElement, ...] = ()


@dataclass(frozen=True, slots=True)
class ConnectedAppMobileDetailConfig:
    applicationBinaryFile: str | None = None
    applicationBinaryFileName: str | None = None
    applicationBundleIdentifier: str | None = None
    applicationFileLength: int | None = None
    applicationIconFile: str | None = None
    applicationIconFileName: str | None = None
    applicationInstallUrl: str | None = None
    devicePlatform: str | None = None
    deviceType: str | None = None
    minimumOsVersion: str | None = None
    privateApp: bool | None = None
    version: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectedAppSessionPolicy:
    policyAction: str | None = None
    sessionLevel: str | None = None
    sessionTimeout: int | None = None


@dataclass(frozen=True, slots=True)
class ConnectedApp:
    fullName: str
    attributes: tuple[ConnectedAppAttribute, ...] = ()
    canvas: CanvasMetadata | None = None
    canvasConfig: ConnectedAppCanvasConfig | None = None
    contactEmail: str | None = None
    contactPhone: str | None = None
    description: str | None = None
    iconUrl: str | None = None
    infoUrl: str | None = None
    ipRanges: tuple[ConnectedAppIpRange, ...] = ()
    label: str | None = None
    logoUrl: str | None = None
    mobileAppConfig: ConnectedAppMobileDetailConfig | None = None
    mobileStartUrl: str | None = None
    oauthConfig: ConnectedAppOauthConfig | None = None
    oauthPolicy: ConnectedAppOauthPolicy | None = None
    permissionSetName: tuple[str, ...] = ()
    plugin: str | None = None
    pluginExecutionUser: str | None = None
    profileName: tuple[str, ...] = ()
    samlConfig: ConnectedAppSamlConfig | None = None
    sessionPolicy: ConnectedAppSessionPolicy | None = None
    startUrl: str | None = None
    unknown: tuple[UnknownElement, ...] = field(default=(), compare=False)


# --- The ECA family --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExternalAppIdTokenConfig:
    idTokenAudience: str | None = None
    idTokenIncludeAttributes: bool | None = None
    idTokenIncludeStandardClaims: bool | None = None
    idTokenValidityInMinutes: int | None = None


@dataclass(frozen=True, slots=True)
class ExtlClntAppOauthIpRange:
    description: str | None = None
    endIpAddress: str | None = None
    startIpAddress: str | None = None


@dataclass(frozen=True, slots=True)
class ExtlClntAppAttribute:
    formula: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class ExternalClientApplication:
    fullName: str
    contactEmail: str | None = None
    contactPhone: str | None = None
    description: str | None = None
    distributionState: str | None = None
    iconUrl: str | None = None
    infoUrl: str | None = None
    isProtected: bool | None = None
    label: str | None = None
    logoUrl: str | None = None
    managedType: str | None = None
    orgScopedExternalApp: str | None = None
    unknown: tuple[UnknownElement, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class ExtlClntAppGlobalOauthSettings:
    fullName: str
    callbackUrl: str | None = None
    certificate: str | None = None
    consumerKey: str | None = None
    consumerSecret: str | None = None
    externalClientApplication: str | None = None
    idTokenConfig: ExternalAppIdTokenConfig | None = None
    isClientCredentialsFlowEnabled: bool | None = None
    isCodeCredFlowEnabled: bool | None = None
    isCodeCredPostOnly: bool | None = None
    isConsumerSecretOptional: bool | None = None
    isDeviceFlowEnabled: bool | None = None
    isIntrospectAllTokens: bool | None = None
    isNamedUserJwtEnabled: bool | None = None
    isPkceRequired: bool | None = None
    isRefreshTokenRotationEnabled: bool | None = None
    isSecretRequiredForRefreshToken: bool | None = None
    isSecretRequiredForTokenExchange: bool | None = None
    isTokenExchangeEnabled: bool | None = None
    label: str | None = None
    shouldRotateConsumerKey: bool | None = None
    shouldRotateConsumerSecret: bool | None = None
    unknown: tuple[UnknownElement, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class ExtlClntAppOauthSettings:
    fullName: str
    areAttributesIncludedInAssetToken: bool | None = None
    areCustomPermsIncludedInAssetToken: bool | None = None
    assetTokenAudiences: str | None = None
    assetTokenSigningCertificate: str | None = None
    assetTokenValidity: int | None = None
    clientAssertionCertificate: str | None = None
    commaSeparatedOauthScopes: str | None = None
    customAttributes: tuple[ExtlClntAppAttribute, ...] = ()
    externalClientApplication: str | None = None
    isFirstPartyAppEnabled: bool | None = None
    label: str | None = None
    oauthLink: str | None = None
    singleLogoutUrl: str | None = None
    trustedIpRanges: tuple[ExtlClntAppOauthIpRange, ...] = ()
    unknown: tuple[UnknownElement, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class ExtlClntAppConfigurablePolicies:
    fullName: str
    externalClientApplication: str | None = None
    isCanvasPluginEnabled: bool | None = None
    isEnabled: bool | None = None
    isMobilePluginEnabled: bool | None = None
    isNotificationPluginEnabled: bool | None = None
    isOauthPluginEnabled: bool | None = None
    isPushPluginEnabled: bool | None = None
    isSamlPluginEnabled: bool | None = None
    label: str | None = None
    startPage: str | None = None
    startUrl: str | None = None
    unknown: tuple[UnknownElement, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class ExtlClntAppOauthConfigurablePolicies:
    fullName: str
    apexHandler: str | None = None
    clientCredentialsFlowUser: str | None = None
    commaSeparatedCustomScopes: str | None = None
    commaSeparatedPermissionSet: str | None = None
    commaSeparatedProfile: str | None = None
    customAttributes: tuple[ExtlClntAppAttribute, ...] = ()
    executeHandlerAs: str | None = None
    externalClientApplication: str | None = None
    guestJwtSessionTimeoutType: str | None = None
    guestJwtTimeout: int | None = None
    ipRelaxationPolicyType: str | None = None
    isClientCredentialsFlowEnabled: bool | None = None
    isGuestCodeCredFlowEnabled: bool | None = None
    isNamedUserJwtEnabled: bool | None = None
    isTokenExchangeFlowEnabled: bool | None = None
    label: str | None = None
    namedUserJwtSessionTimeoutType: str | None = None
    namedUserJwtTimeout: int | None = None
    permittedUsersPolicyType: str | None = None
    policyAction: str | None = None
    refreshTokenPolicyType: str | None = None
    refreshTokenValidityPeriod: int | None = None
    refreshTokenValidityUnit: str | None = None
    requiredSessionLevel: str | None = None
    sessionTimeoutInMinutes: int | None = None
    singleLogoutUrl: str | None = None
    startUrl: str | None = None
    unknown: tuple[UnknownElement, ...] = field(default=(), compare=False)


EcaComponent = (
    ExternalClientApplication
    | ExtlClntAppGlobalOauthSettings
    | ExtlClntAppOauthSettings
    | ExtlClntAppConfigurablePolicies
    | ExtlClntAppOauthConfigurablePolicies
)

# The five ECA types, in the order a plan and a package.xml list them.
ECA_TYPES: tuple[type, ...] = (
    ExternalClientApplication,
    ExtlClntAppGlobalOauthSettings,
    ExtlClntAppOauthSettings,
    ExtlClntAppConfigurablePolicies,
    ExtlClntAppOauthConfigurablePolicies,
)
ECA_TYPES_BY_NAME: dict[str, type] = {cls.__name__: cls for cls in ECA_TYPES}


@dataclass(frozen=True, slots=True)
class EcaBundle:
    """One external client app: its header and whichever child components it has."""

    app: str
    components: tuple[EcaComponent, ...]

    def get(self, type_name: str) -> EcaComponent | None:
        for component in self.components:
            if type(component).__name__ == type_name:
                return component
        return None


# --- Field schema derived from the dataclasses ----------------------------------------


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """The storage of one field: a scalar of `scalar` type, a nested struct, or a list of either."""

    name: str
    scalar: type | None
    struct: type | None
    repeated: bool


def _unwrap_optional(hint: Any) -> Any:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


@functools.cache
def schema(cls: type) -> dict[str, FieldSpec]:
    """Return the XML fields of a model class, keyed by element name, in schema order."""
    hints = typing.get_type_hints(cls)
    specs: dict[str, FieldSpec] = {}
    for item in dataclasses.fields(cls):
        if item.name in NON_XML_FIELDS:
            continue
        hint = _unwrap_optional(hints[item.name])
        repeated = typing.get_origin(hint) is tuple
        if repeated:
            hint = typing.get_args(hint)[0]
        if dataclasses.is_dataclass(hint):
            specs[item.name] = FieldSpec(item.name, None, hint, repeated)
        else:
            specs[item.name] = FieldSpec(item.name, hint, None, repeated)
    return dict(sorted(specs.items()))


def leaf_paths(cls: type, prefix: str = "") -> list[str]:
    """Return the path of every leaf field: scalars, lists, and single nested structs expanded with dots."""
    paths: list[str] = []
    for name, spec in schema(cls).items():
        path = f"{prefix}{name}"
        if spec.struct is not None and not spec.repeated and spec.struct is not CanvasMetadata:
            paths.extend(leaf_paths(spec.struct, f"{path}."))
        else:
            paths.append(path)
    return paths


def get_path(value: Any, path: str) -> Any:
    """Return the value at a dotted field path, or None where any step is absent."""
    for step in path.split("."):
        if value is None:
            return None
        value = getattr(value, step)
    return value
