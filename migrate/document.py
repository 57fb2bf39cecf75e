"""The plan as a versioned JSON document: what `--format json` prints and `--out` saves."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from migrate import __version__
from migrate.plan import AppPlan, ComponentPlan, Plan
from migrate.secrets import HiddenValue, masked

FORMAT_NAME = "sfeca-migrate/plan"
FORMAT_VERSION = 1


def _value(field_path: str, value: Any) -> Any:
    """Return a JSON value for a field, with credentials masked and structs as objects."""
    value = masked(field_path, value)
    if isinstance(value, HiddenValue):
        return str(value)
    if isinstance(value, tuple):
        return [_value(field_path, item) for item in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: getattr(value, name) for name in value.__dataclass_fields__ if getattr(value, name) is not None}
    return value


def tally(plan: Plan) -> dict[str, int]:
    """Count components by action and field changes by kind, across every app."""
    counts = {"create": 0, "update": 0, "unchanged": 0}
    fields = {"add": 0, "change": 0, "remove": 0}
    for app in plan.apps:
        for component in app.components:
            counts[component.action] += 1
            for change in component.changes:
                if change.action in fields:
                    fields[change.action] += 1
    return {
        "apps": len(plan.apps),
        **counts,
        "fieldsAdded": fields["add"],
        "fieldsChanged": fields["change"],
        "fieldsRemoved": fields["remove"],
        "notCarried": sum(len(app.not_carried) for app in plan.apps),
        "conflicts": sum(len(app.conflicts) for app in plan.apps),
    }


def _component(component: ComponentPlan) -> dict[str, Any]:
    return {
        "type": component.type_name,
        "fullName": component.full_name or None,
        "action": component.action,
        "changes": [
            {
                "field": change.field,
                "action": change.action,
                "current": _value(change.field, change.current),
                "new": _value(change.field, change.new),
                "reason": change.reason,
                "required": change.required,
            }
            for change in component.changes
        ],
    }


def _app(app: AppPlan) -> dict[str, Any]:
    return {
        "name": app.app,
        "label": app.label,
        "source": app.source,
        "sourceSha256": app.source_sha256,
        "components": [_component(component) for component in app.components],
        "notCarried": [
            {"field": item.field, "value": _value(item.field, item.value), "reason": item.reason} for item in app.not_carried
        ],
        "conflicts": [
            {"component": item.component, "field": item.field, "message": item.message} for item in app.conflicts
        ],
        "manualSteps": list(app.manual_steps),
    }


def plan_document(plan: Plan, *, inputs: list[str], profile_ref: dict[str, Any] | None) -> dict[str, Any]:
    """Return the plan as a JSON-ready dict whose `planHash` covers every other key."""
    body: dict[str, Any] = {
        "format": FORMAT_NAME,
        "formatVersion": FORMAT_VERSION,
        "toolVersion": __version__,
        "inputs": inputs,
        "target": plan.target,
        "orgId": plan.org_id,
        "apiVersion": plan.api_version,
        "profile": profile_ref,
        "stateFingerprint": plan.state_fingerprint,
        "hasChanges": plan.has_changes,
        "summary": tally(plan),
        "apps": [_app(app) for app in plan.apps],
    }
    body["planHash"] = plan_hash(body)
    return body


def plan_hash(document: dict[str, Any]) -> str:
    body = {key: value for key, value in document.items() if key not in ("planHash", "toolVersion")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def dumps(document: dict[str, Any]) -> str:
    """Return the document as JSON: top-level keys one per line, each app on one line.

    Python's fast C encoder runs only without indentation, so apps are written compact.
    That keeps a 1,000-app plan well under a second to encode, and diffs read app by app.
    """
    lines = ["{"]
    keys = list(document)
    for index, key in enumerate(keys):
        comma = "," if index < len(keys) - 1 else ""
        if key == "apps" and document[key]:
            lines.append('  "apps": [')
            apps = document[key]
            for position, app in enumerate(apps):
                separator = "," if position < len(apps) - 1 else ""
                lines.append("    " + json.dumps(app, ensure_ascii=False) + separator)
            lines.append("  ]" + comma)
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(document[key], ensure_ascii=False)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"
