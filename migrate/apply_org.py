"""Apply a plan to an org: back up, deploy in two phases, read back and verify.

Phase 1 deploys the header, global OAuth settings, OAuth settings and plugin
policies (validated first with checkOnly, then deployed with rollbackOnError).
Salesforce creates the OAuth policy record itself when the ECA is created, so
phase 2 finds that record by its externalClientApplication and deploys the
policy settings to it. Every step reads or writes all apps at once, so the
number of requests does not grow with the number of apps, only with polling.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from migrate.diff import comparable
from migrate.errors import OutputError, SfecaError
from migrate.layout import classify
from migrate.model import EcaComponent
from migrate.orgstate import OrgState, files_of_apps, read_org_state
from migrate.plan import Plan, flatten, relevant_fields
from migrate.specfiles import ProfileSpec, load_eca_defaults, load_scopes
from migrate.writer import layout_files, render_package_xml

POLICY_TYPE = "ExtlClntAppOauthConfigurablePolicies"
CONSUMER_SECRET = re.compile(rb"[ \t]*<consumerSecret>.*?</consumerSecret>\r?\n?", re.S)


class ApplyFailed(SfecaError):
    """A failed apply step. The message names the state the org is left in and the next step."""


@dataclass(frozen=True, slots=True)
class ReadBackRow:
    app: str
    component: str
    field: str
    desired: Any
    actual: Any
    # For a field the plan removes: the value Salesforce gives it when left out, if any.
    default: Any = None

    @property
    def ok(self) -> bool:
        scopes = load_scopes()
        actual = comparable(self.field, self.actual, scopes)
        if self.desired is None and self.default is not None:
            return actual is None or actual == comparable(self.field, self.default, scopes)
        return comparable(self.field, self.desired, scopes) == actual


@dataclass
class ApplyRecord:
    """The record of one apply, for the audit log and the final report. It contains no secret."""

    deploy_ids: dict[str, str] = field(default_factory=dict)
    backup: str | None = None
    outcome: str = "started"


Progress = Callable[[str, Any, float], None]


def write_backup(state: OrgState, apps: list[str], root: Path, api_version: str, now: datetime.datetime) -> Path | None:
    """Write the org's current connected apps and ECA families for `apps` as a deployable folder.

    Consumer secrets are removed from every file. Returns None when there is nothing to back up.
    """
    files: dict[str, bytes] = {}
    members: dict[str, list[str]] = {}
    for path, data in sorted(files_of_apps(state, apps).items()):
        layout, full_name = classify(path)
        files[path] = CONSUMER_SECRET.sub(b"", data)
        members.setdefault(layout.type_name, []).append(full_name)
    if not files:
        return None
    files["package.xml"] = render_package_xml(members, api_version)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    target = root / f"{state.org_id or 'org'}-{stamp}"
    attempt = 1
    while target.exists():
        # Two applies in the same second must not share (and overwrite) a backup.
        attempt += 1
        target = root / f"{state.org_id or 'org'}-{stamp}-{attempt}"
    try:
        # Private: the backup contains the org's consumer keys and configuration.
        target.mkdir(parents=True, mode=0o700)
        for path, data in files.items():
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            (target / path).write_bytes(data)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write the backup, so nothing was deployed: {exc.strerror or exc}") from None
    return target


def phase_one_components(plan: Plan) -> list[EcaComponent]:
    """Return the created or changed components deployed before the OAuth policy."""
    chosen: list[EcaComponent] = []
    for app in plan.apps:
        actions = {component.type_name: component.action for component in app.components}
        for component in app.desired.components:
            type_name = type(component).__name__
            if type_name != POLICY_TYPE and actions.get(type_name) in ("create", "update"):
                chosen.append(component)
    return chosen


def phase_two_components(plan: Plan, state: OrgState) -> tuple[list[EcaComponent], list[str]]:
    """Return each app's desired OAuth policy, renamed to the record the org holds, and the apps with none."""
    chosen: list[EcaComponent] = []
    missing: list[str] = []
    for app in plan.apps:
        desired = app.desired.get(POLICY_TYPE)
        action = next((c.action for c in app.components if c.type_name == POLICY_TYPE), None)
        if desired is None or action not in ("create", "update"):
            continue
        bundle = state.ecas.get(app.app)
        existing = bundle.get(POLICY_TYPE) if bundle else None
        if existing is None:
            missing.append(app.app)
            continue
        chosen.append(dataclasses.replace(desired, fullName=existing.fullName, label=existing.label or existing.fullName))
    return chosen, missing


def read_back(plan: Plan, state: OrgState) -> list[ReadBackRow]:
    """Compare every planned field with what the org now holds."""
    rows: list[ReadBackRow] = []
    for app in plan.apps:
        bundle = state.ecas.get(app.app)
        for component in app.desired.components:
            type_name = type(component).__name__
            actual_component = bundle.get(type_name) if bundle else None
            desired = relevant_fields(type_name, flatten(component))
            actual = relevant_fields(type_name, flatten(actual_component)) if actual_component else {}
            for field_path in sorted(desired):
                rows.append(ReadBackRow(app.app, type_name, field_path, desired[field_path], actual.get(field_path)))
            # Fields the plan removes (profile `absent`, or reset by the deploy) must be gone too.
            planned = next((c for c in app.components if c.type_name == type_name), None)
            removed = sorted({change.field for change in planned.changes if change.action == "remove"}) if planned else []
            defaults = load_eca_defaults()
            for field_path in removed:
                default = defaults.default_of(type_name, field_path)
                rows.append(ReadBackRow(app.app, type_name, field_path, None, actual.get(field_path), default))
    return rows


def effect_of(row: ReadBackRow, profile: ProfileSpec | None) -> str:
    key = f"{row.component}.{row.field}"
    if profile is not None and key in profile.effects:
        return profile.effects[key]
    if profile is not None:
        return f"the ECA does not meet {profile.title} for this field"
    return "the ECA does not match the reviewed plan"


def after_apply_steps(plan: Plan, instance_url: str, profile: ProfileSpec | None) -> list[str]:
    """Return the steps left to a person after a successful apply."""
    host = urlsplit(instance_url).hostname or instance_url
    partner = profile.partner if profile and profile.partner else "the partner"
    created = [
        app.app
        for app in plan.apps
        for component in app.components
        if component.type_name == "ExtlClntAppGlobalOauthSettings" and component.action == "create"
    ]
    steps = []
    if created:
        steps += [
            f"View the new consumer key and secret of {', '.join(created)} in Setup > External Client App Manager > "
            "(app) > Settings > OAuth Settings > Consumer Key and Secret; Salesforce emails a verification code first.",
            f"Give {partner} the consumer key, the consumer secret and the My Domain host {host} (no https://), "
            "where the plan's manual steps say.",
        ]
    steps += [
        "A new or changed app can take several minutes (reports say up to 30) to start working: errors such as "
        "invalid_client_id right after the deploy mean it is still propagating, not that it failed.",
        "If the org uses API Access Control, allowlist the ECA, or its sessions fail with INVALID_SESSION_ID.",
    ]
    return steps


def append_audit(path: Path, record: Mapping[str, Any]) -> str | None:
    """Append one JSON line to the audit log; return a warning instead of raising when that fails.

    A failed audit write must not hide what apply did, so the caller reports it beside
    the real outcome.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(record, sort_keys=True) + "\n")
    except OSError as exc:
        return f"warning: {path}: the audit record was not written: {exc.strerror or exc}"
    return None


def audit_entry(plan: Plan, plan_hash: str, session: Any, record: ApplyRecord, now: datetime.datetime) -> dict[str, Any]:
    return {
        "time": now.isoformat(timespec="seconds"),
        "orgId": session.org_id,
        "org": session.label,
        "user": session.username,
        "planHash": plan_hash,
        "profile": plan.profile,
        "apps": [app.app for app in plan.apps],
        "deployIds": record.deploy_ids,
        "backup": record.backup,
        "outcome": record.outcome,
    }


@dataclass
class Deployer:
    """Runs the deploys of one apply and keeps the record of what happened."""

    session: Any
    api_version: str
    test_level: str | None
    tests: tuple[str, ...]
    progress: Progress
    record: ApplyRecord

    def deploy(self, phase: str, components: list[EcaComponent], *, check_only: bool) -> None:
        from migrate.org import OrgError

        files = layout_files(components, "mdapi", self.api_version)
        step = f"{phase} {'validation' if check_only else 'deploy'}"
        started = time.monotonic()
        try:
            result = self.session.deploy(
                files,
                check_only=check_only,
                test_level=self.test_level,
                tests=self.tests or None,
                on_progress=lambda status: self.progress(step, status, time.monotonic() - started),
            )
        except OrgError as error:
            if not error.job_id and not check_only:
                raise ApplyFailed(
                    f"{step}: {error} The org may have started the deploy before the connection broke: check "
                    "Setup > Deployment Status, and run apply again only after that deploy has finished."
                ) from None
            if not error.job_id:
                raise
            self.record.deploy_ids[step] = error.job_id
            target = getattr(self.session, "target_org", None) or "ALIAS"
            raise ApplyFailed(
                f"{step} {error.job_id}: {error} The deploy may still finish in the org: check it with "
                f"`sf project deploy report --job-id {error.job_id} --target-org {target}`, then run apply "
                "again, which plans only what is left."
            ) from None
        self.record.deploy_ids[step] = result.id
        if not result.success:
            summary = result.failure_summary().replace("\n", "; ")
            raise ApplyFailed(f"{step} {result.id} failed: {summary}")


def run_phases(plan: Plan, deployer: Deployer, session: Any) -> OrgState:
    """Deploy phase 1 (validated first) and phase 2, and return the org state read back afterwards.

    A failure after phase 1 is reported with what is left, because re-running apply
    plans only what is left and finishes the job.
    """
    from migrate.org import OrgError

    first = phase_one_components(plan)
    if first:
        deployer.deploy("phase 1", first, check_only=True)
        deployer.deploy("phase 1", first, check_only=False)
    second_done = False
    try:
        state = read_org_state(session, [])
        second, missing = phase_two_components(plan, state)
        if second:
            deployer.deploy("phase 2", second, check_only=False)
            second_done = True
            state = read_org_state(session, [])
        if missing:
            raise ApplyFailed(
                f"Salesforce has no OAuth policy record yet for {', '.join(missing)}, so its OAuth policies "
                "are not set; wait a minute and run apply again to set them."
            )
    except (OrgError, ApplyFailed) as error:
        if second_done and not isinstance(error, ApplyFailed):
            raise ApplyFailed(
                f"both phases are deployed, but reading the result back failed: {error} "
                "Run `sfeca-migrate plan` against the org to verify the ECA."
            ) from None
        if not first or second_done:
            raise
        advice = "" if "apply again" in str(error) else " Run the same apply again to finish; it plans only what is left."
        raise ApplyFailed(f"phase 1 is deployed (the ECA exists) but its OAuth policies were not set: {error}{advice}") from None
    return state
