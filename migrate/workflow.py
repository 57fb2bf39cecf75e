"""The steps behind each command, between the CLI's options and the pure core."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrate.errors import ConfigError, OutputError, PlanError
from migrate.model import EcaBundle
from migrate.plan import AppPlan, Plan, plan_app
from migrate.reader import SourceApp, read_connected_apps
from migrate.specfiles import ProfileSpec, builtin_profiles, load_profile


@dataclass(frozen=True, slots=True)
class ResolvedProfile:
    spec: ProfileSpec | None
    reference: dict[str, Any] | None


def resolve_profile(choice: str) -> ResolvedProfile:
    """Return the profile a `--profile NAME|FILE|none` value names."""
    if choice == "none":
        return ResolvedProfile(None, None)
    builtins = builtin_profiles()
    if choice in builtins:
        path = builtins[choice]
        builtin = True
    else:
        path = Path(choice)
        builtin = False
        if not path.is_file():
            known = ", ".join(sorted(builtins))
            raise ConfigError(f"profile {choice!r} not found: give a built-in name ({known}), a profile file, or none")
    spec = load_profile(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    reference = {"name": spec.name, "title": spec.title, "file": None if builtin else str(path), "sha256": digest}
    return ResolvedProfile(spec, reference)


def resolve_saved_profile(saved: dict[str, Any], plan_file: str) -> ResolvedProfile:
    """Resolve the profile a saved plan names, and raise PlanError if it changed since the plan was made."""
    reference = saved.get("profile")
    choice = "none" if reference is None else reference.get("file") or reference["name"]
    resolved = resolve_profile(choice)
    if resolved.reference != reference:
        raise PlanError(f"{plan_file}: profile {choice!r} changed since the plan was made; make the plan again")
    return resolved


def check_api_version(value: str) -> str:
    """Return an API version such as "64.0", or raise ConfigError for anything else."""
    match = re.fullmatch(r"(\d{2,3})(?:\.0)?", value.strip())
    if match is None:
        raise ConfigError(f"API version {value!r} is not a version such as 64.0")
    number = int(match.group(1))
    if number < 59:
        raise ConfigError(f"API version {value} is too low: external client apps need API 59.0 or later")
    return f"{number}.0"


def plan_sources(
    sources: tuple[SourceApp, ...],
    profile: ResolvedProfile,
    api_version: str,
    *,
    target: str = "files",
    existing: dict[str, EcaBundle | None] | None = None,
    state_fingerprint: str = "",
    org_id: str | None = None,
) -> Plan:
    """Plan every connected app against its existing ECA (or none)."""
    existing = existing or {}
    apps = tuple(
        plan_app(source, profile.spec, api_version, existing.get(source.app.fullName), against_org=target != "files")
        for source in sources
    )
    return Plan(
        profile=profile.spec.name if profile.spec else None,
        profile_title=profile.spec.title if profile.spec else None,
        api_version=api_version,
        target=target,
        apps=apps,
        state_fingerprint=state_fingerprint,
        org_id=org_id,
    )


def plan_files(source: str, profile: ResolvedProfile, api_version: str) -> Plan:
    """Plan connected-app files on their own, for files to deploy by other means."""
    plan = plan_sources(read_connected_apps(source), profile, api_version)
    apps = tuple(_with_policy_step(app) for app in plan.apps)
    return dataclasses.replace(plan, apps=apps)


def _with_policy_step(app: AppPlan) -> AppPlan:
    policy = app.desired.get("ExtlClntAppOauthConfigurablePolicies")
    if policy is None:
        return app
    step = (
        f"Deploy the OAuth policy file {policy.fullName} in a second deploy. Salesforce creates the app's OAuth "
        "policy record itself when the ECA is first deployed, under a name it chooses, and a second record fails "
        "with DUPLICATE_VALUE: deploy the other files first, rename the policy file and its label to the record "
        "Salesforce created (Setup or listMetadata shows it), then deploy it. `sfeca-migrate apply --target-org` "
        "does both phases for you."
    )
    return dataclasses.replace(app, manual_steps=(*app.manual_steps, step))


def org_target(session: Any) -> str:
    return f"org {session.label} ({session.org_id})" if session.org_id else f"org {session.label}"


def plan_org(session: Any, app_names: list[str] | None, profile: ResolvedProfile, api_version: str) -> tuple[Plan, Any]:
    """Plan connected apps read from an org against the ECAs the org already has; return the plan and org state."""
    from migrate.orgstate import read_org_state

    state = read_org_state(session, app_names)
    if not state.connected_apps:
        raise ConfigError(f"org {session.label} has no connected apps to plan")
    return _plan_against_state(state.connected_apps, session, state, profile, api_version), state


def plan_files_against_org(source: str, session: Any, profile: ResolvedProfile, api_version: str) -> tuple[Plan, Any]:
    """Plan local connected-app files against the ECAs the org already has; return the plan and org state."""
    from migrate.orgstate import read_org_state

    sources = read_connected_apps(source)
    state = read_org_state(session, [])
    return _plan_against_state(sources, session, state, profile, api_version), state


def _plan_against_state(
    sources: tuple[SourceApp, ...], session: Any, state: Any, profile: ResolvedProfile, api_version: str
) -> Plan:
    from migrate.orgstate import files_of_apps, fingerprint_files

    names = [item.app.fullName for item in sources]
    existing = {name: state.ecas.get(name) for name in names}
    # Only these apps' files count: a change to another app must not make a saved plan stale.
    fingerprint = fingerprint_files(files_of_apps(state, names))
    return plan_sources(
        sources,
        profile,
        api_version,
        target=org_target(session),
        existing=existing,
        state_fingerprint=fingerprint,
        org_id=session.org_id,
    )


def input_paths(sources: list[str]) -> list[str]:
    """Return input paths made absolute, so a saved plan can be applied from any folder."""
    return [str(Path(source).resolve()) for source in sources]


def write_text_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write a file through a temporary file renamed into place, so a failure leaves no half file."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, target)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write: {exc.strerror or exc}") from None


def load_saved_plan(path: str) -> dict[str, Any]:
    """Read a plan saved with `plan --out`, checking its format and hash."""
    from migrate.document import FORMAT_NAME, FORMAT_VERSION, plan_hash

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(f"{path}: plan file not found") from None
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path}: not a readable plan file: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise PlanError(f"{path}: not an sfeca-migrate plan (no \"format\": \"{FORMAT_NAME}\")")
    if document.get("formatVersion") != FORMAT_VERSION:
        raise PlanError(f"{path}: plan format version {document.get('formatVersion')} is not supported; make the plan again")
    if document.get("planHash") != plan_hash(document):
        raise PlanError(f"{path}: the plan was edited after it was saved (its hash does not match); make the plan again")
    _check_saved_fields(document, path)
    return document


def _check_saved_fields(document: dict[str, Any], path: str) -> None:
    """Check the types of the keys `apply --plan` reads, so an edited plan fails cleanly."""
    from pydantic import BaseModel, ConfigDict, ValidationError

    class ProfileReference(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str
        title: str
        file: str | None
        sha256: str

    class SavedApp(BaseModel):
        name: str

    class SavedPlan(BaseModel):
        inputs: list[str]
        target: str
        orgId: str | None
        apiVersion: str
        profile: ProfileReference | None
        stateFingerprint: str
        apps: list[SavedApp]
        planHash: str

    try:
        SavedPlan.model_validate(document)
        check_api_version(document["apiVersion"])
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise PlanError(f"{path}: {location}: {first['msg']}; make the plan again") from None
    except ConfigError as exc:
        raise PlanError(f"{path}: apiVersion: {exc}; make the plan again") from None
