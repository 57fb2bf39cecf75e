"""Render a plan for people: rich text on a terminal, or Markdown for a change ticket."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from migrate.document import tally
from migrate.plan import AppPlan, ComponentPlan, FieldChange, Plan
from migrate.errors import printable
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
    text = printable(str(value).replace("\r\n", "\n").replace("\r", "\n").replace("\n", "⏎"))
    return f'"{text}"'


def _show_struct(item: Any) -> str:
    if hasattr(item, "__dataclass_fields__"):
        parts = [f"{name}={getattr(item, name)}" for name in item.__dataclass_fields__ if getattr(item, name) is not None]
        return "{" + ", ".join(parts) + "}"
    return str(item)


def _one_line(text: str) -> str:
    """Return text from an input file with line breaks and control characters escaped."""
    return printable(text)


def _headline(plan: Plan) -> str:
    profile = plan.profile_title or "none (plain migration)"
    count = len(plan.apps)
    return f"sfeca-migrate plan: {count} app{'s' if count != 1 else ''}, profile {profile}, API {plan.api_version}, target {plan.target}"


def _summary_line(plan: Plan) -> str:
    counts = tally(plan)
    return (
        f"Plan: {counts['create']} to create, {counts['update']} to update, {counts['unchanged']} unchanged; "
        f"fields: {counts['fieldsAdded']} to set, {counts['fieldsChanged']} to change, {counts['fieldsRemoved']} to remove; "
        f"{counts['notCarried']} not carried, {counts['conflicts']} conflicts."
    )


# --- Terminal ------------------------------------------------------------------------------

# A line of output: its pieces, each (text, rich style or "").
Line = list[tuple[str, str]]


def _change_line(change: FieldChange) -> Line:
    style = STYLES[change.action]
    line: Line = [(f"      {MARKERS[change.action]} ", style), (change.field, "bold" if change.action != "keep" else "")]
    if change.action == "change":
        line.append((f": {show_value(change.field, change.current)} → {show_value(change.field, change.new)}", ""))
    elif change.action == "remove":
        line.append((f" = {show_value(change.field, change.current)}", ""))
    else:
        line.append((f" = {show_value(change.field, change.new)}", ""))
    line.append((f"    # {change.reason}", "dim"))
    return line


UNNAMED_POLICY = "(named by Salesforce when it creates the ECA; apply sets these fields on it)"


def _component_lines(component: ComponentPlan) -> list[Line]:
    style = STYLES[component.action]
    marker = COMPONENT_MARKERS[component.action]
    header: Line = [
        (f"  {marker} {component.type_name} ", style),
        (component.full_name or UNNAMED_POLICY, "bold"),
        (f" ({component.action})", style),
    ]
    if component.action == "unchanged":
        return [[(f"  = {component.type_name} {component.full_name} (unchanged)", "dim")]]
    return [header, *(_change_line(change) for change in component.changes)]


def _app_lines(app: AppPlan) -> list[Line]:
    heading = f"{_one_line(app.label)} "
    lines: list[Line] = [[], [(heading, "bold underline"), (f"[{_one_line(app.app)}] from {_one_line(app.source)}", "dim")]]
    if not app.has_changes:
        lines.append([("  No changes.", "green")])
    for component in app.components:
        lines.extend(_component_lines(component))
    return lines


def _section_lines(plan: Plan) -> list[Line]:
    lines: list[Line] = []
    many = len(plan.apps) > 1
    sections = (
        ("Not carried", lambda app: [f"{item.field} = {show_value(item.field, item.value)}: {item.reason}" for item in app.not_carried]),
        ("Conflicts the tool cannot fix", lambda app: [f"{item.component}.{item.field}: {item.message}" for item in app.conflicts]),
        ("Manual steps", lambda app: list(app.manual_steps)),
    )
    for title, getter in sections:
        rows = [(app, text) for app in plan.apps for text in getter(app)]
        style = "bold red" if title.startswith("Conflicts") and rows else "bold"
        lines.append([])
        lines.append([(title, style), (f" ({len(rows)})" if rows else ": none", "")])
        for index, (app, text) in enumerate(rows, start=1):
            prefix = f"[{app.app}] " if many else ""
            bullet = f"{index}." if title == "Manual steps" else "-"
            lines.append([(f"  {bullet} {prefix}{text}", "")])
    return lines


def plan_lines(plan: Plan) -> list[Line]:
    """Return the plan as styled lines: one block per app, the closing tally, then the review sections."""
    lines: list[Line] = [[(_headline(plan), "bold")]]
    for app in plan.apps:
        lines.extend(_app_lines(app))
    lines.append([])
    if plan.has_changes:
        lines.append([(_summary_line(plan), "bold")])
    else:
        lines.append([("No changes. The external client apps match the proposal.", "bold green")])
    lines.extend(_section_lines(plan))
    return lines


def print_plan(plan: Plan, console: Console) -> None:
    """Print a plan with colour on a terminal, or as plain text when piped or with colour off."""
    lines = plan_lines(plan)
    if console.is_terminal and not console.no_color:
        for line in lines:
            console.print(Text.assemble(*line), highlight=False, soft_wrap=True)
        return
    # Plain text: no styling to apply, so skip rich's rendering, which dominates large plans.
    console.file.write("".join("".join(piece for piece, _ in line) + "\n" for line in lines))
    console.file.flush()


# --- Markdown ------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan) -> str:
    """Return the plan as Markdown: a table per component, then the review sections."""
    lines = [f"# {_headline(plan)}", ""]
    lines += [f"**{_summary_line(plan) if plan.has_changes else 'No changes.'}**", ""]
    for app in plan.apps:
        lines += [f"## {_cell(_one_line(app.label))} (`{_one_line(app.app)}`)", "", f"Source: `{_one_line(app.source)}`", ""]
        for component in app.components:
            name = f"`{component.full_name}`" if component.full_name else UNNAMED_POLICY
            lines.append(f"### {COMPONENT_MARKERS[component.action]} {component.type_name} {name} ({component.action})")
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
