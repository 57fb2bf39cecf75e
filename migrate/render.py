"""Render a plan for people: rich text on a terminal, or Markdown for a change ticket."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from migrate.document import tally
from migrate.plan import AppPlan, ComponentPlan, FieldChange, Plan
from migrate.secrets import HiddenValue, masked

MARKERS = {"add": "+", "change": "~", "remove": "-", "keep": " "}
COMPONENT_MARKERS = {"create": "+", "update": "~", "unchanged": "="}
STYLES = {"add": "green", "change": "yellow", "remove": "red", "keep": "dim", "create": "green", "update": "yellow", "unchanged": "dim"}


def show_value(field_path: str, value: Any) -> str:
    """Return a value as a reviewer reads it: credentials hidden, text quoted, structs listed."""
    value = masked(field_path, value)
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_show_struct(item) for item in value) + "]"
    if isinstance(value, HiddenValue):
        return str(value)
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").replace("\n", "⏎")
    return f'"{text}"'


def _show_struct(item: Any) -> str:
    if hasattr(item, "__dataclass_fields__"):
        parts = [f"{name}={getattr(item, name)}" for name in item.__dataclass_fields__ if getattr(item, name) is not None]
        return "{" + ", ".join(parts) + "}"
    return str(item)


def _headline(plan: Plan) -> str:
    profile = plan.profile_title or "none (plain migration)"
    count = len(plan.apps)
    return f"sfeca-migrate plan: {count} app{'s' if count != 1 else ''}, profile {profile}, API {plan.api_version}, target {plan.target}"


def _summary_line(plan: Plan) -> str:
    counts = tally(plan)
    return (
        f"Plan: {counts['create']} to create, {counts['update']} to update, {counts['unchanged']} unchanged; "
        f"{counts['fieldChanges']} field changes, {counts['notCarried']} not carried, {counts['conflicts']} conflicts."
    )


# --- Terminal ------------------------------------------------------------------------------


def _change_text(change: FieldChange) -> Text:
    marker = MARKERS[change.action]
    line = Text(f"      {marker} ", style=STYLES[change.action])
    line.append(change.field, style="bold" if change.action != "keep" else "")
    if change.action == "change":
        line.append(f": {show_value(change.field, change.current)} → {show_value(change.field, change.new)}")
    elif change.action == "remove":
        line.append(f" = {show_value(change.field, change.current)}")
    else:
        line.append(f" = {show_value(change.field, change.new)}")
    line.append(f"    # {change.reason}", style="dim")
    return line


def _component_text(component: ComponentPlan) -> Text:
    text = Text()
    marker = COMPONENT_MARKERS[component.action]
    text.append(f"  {marker} {component.type_name} ", style=STYLES[component.action])
    text.append(component.full_name, style="bold")
    text.append(f" ({component.action})\n", style=STYLES[component.action])
    for change in component.changes:
        text.append_text(_change_text(change))
        text.append("\n")
    return text


def _app_text(app: AppPlan) -> Text:
    text = Text()
    text.append(f"\n{app.label} ", style="bold underline")
    text.append(f"[{app.app}] from {app.source}\n", style="dim")
    if not app.has_changes:
        text.append("  No changes.\n", style="green")
    for component in app.components:
        if component.action == "unchanged":
            text.append(f"  = {component.type_name} {component.full_name} (unchanged)\n", style="dim")
        else:
            text.append_text(_component_text(component))
    return text


def _sections_text(plan: Plan) -> Text:
    text = Text()
    many = len(plan.apps) > 1
    for title, getter in (
        ("Not carried", lambda app: [f"{item.field} = {show_value(item.field, item.value)}: {item.reason}" for item in app.not_carried]),
        ("Conflicts the tool cannot fix", lambda app: [f"{item.component}.{item.field}: {item.message}" for item in app.conflicts]),
        ("Manual steps", lambda app: list(app.manual_steps)),
    ):
        rows = [(app, line) for app in plan.apps for line in getter(app)]
        style = "bold red" if title.startswith("Conflicts") and rows else "bold"
        text.append(f"\n{title}", style=style)
        text.append(f" ({len(rows)})\n" if rows else ": none\n")
        for index, (app, line) in enumerate(rows, start=1):
            prefix = f"[{app.app}] " if many else ""
            bullet = f"{index}." if title == "Manual steps" else "-"
            text.append(f"  {bullet} {prefix}{line}\n")
    return text


def print_plan(plan: Plan, console: Console) -> None:
    """Print a plan: one block per app, the closing tally, then the review sections."""
    console.print(Text(_headline(plan), style="bold"), highlight=False)
    for warning in plan.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"), highlight=False)
    for app in plan.apps:
        console.print(_app_text(app), end="", highlight=False, soft_wrap=True)
    console.print()
    if plan.has_changes:
        console.print(Text(_summary_line(plan), style="bold"), highlight=False)
    else:
        console.print(Text("No changes. The external client apps match the proposal.", style="bold green"), highlight=False)
    console.print(_sections_text(plan), end="", highlight=False, soft_wrap=True)


# --- Markdown ------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan) -> str:
    """Return the plan as Markdown: a table per component, then the review sections."""
    lines = [f"# {_headline(plan)}", ""]
    for warning in plan.warnings:
        lines += [f"> warning: {warning}", ""]
    lines += [f"**{_summary_line(plan) if plan.has_changes else 'No changes.'}**", ""]
    for app in plan.apps:
        lines += [f"## {app.label} (`{app.app}`)", "", f"Source: `{app.source}`", ""]
        for component in app.components:
            lines.append(f"### {COMPONENT_MARKERS[component.action]} {component.type_name} `{component.full_name}` ({component.action})")
            lines.append("")
            if component.changes:
                lines += ["| | Field | Current | New | Why |", "|---|---|---|---|---|"]
                for change in component.changes:
                    current = show_value(change.field, change.current) if change.action != "add" or change.current is not None else ""
                    new = show_value(change.field, change.new) if change.action != "remove" else "(removed)"
                    lines.append(
                        f"| {MARKERS[change.action]} | `{change.field}` | {_cell(current)} | {_cell(new)} | {_cell(change.reason)} |"
                    )
                lines.append("")
        lines += ["#### Not carried", ""]
        lines += [f"- `{item.field}` = {_cell(show_value(item.field, item.value))}: {item.reason}" for item in app.not_carried] or ["- none"]
        lines += ["", "#### Conflicts the tool cannot fix", ""]
        lines += [f"- `{item.component}.{item.field}`: {item.message}" for item in app.conflicts] or ["- none"]
        lines += ["", "#### Manual steps", ""]
        lines += [f"{index}. {step}" for index, step in enumerate(app.manual_steps, start=1)] or ["- none"]
        lines.append("")
    return "\n".join(lines)
