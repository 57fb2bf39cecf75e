"""`apply` against an org: the console side of migrate.apply_org (prompts, progress, tables)."""

from __future__ import annotations

import dataclasses
import datetime
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from migrate.apply_org import (
    ApplyFailed,
    ApplyRecord,
    Deployer,
    after_apply_steps,
    append_audit,
    audit_entry,
    effect_of,
    read_back,
    run_phases,
    write_backup,
)
from migrate.errors import OutputError, PlanError
from migrate.render import print_plan, show_value


class ApplyInterrupted(KeyboardInterrupt):
    """Ctrl-C during apply, with the state the org is left in and the next step."""

    def __init__(self, interrupt: KeyboardInterrupt, record: ApplyRecord) -> None:
        self.deploy_id = getattr(interrupt, "deploy_id", None)
        detail = str(interrupt)
        done = [step for step in record.deploy_ids if step.endswith("deploy")]
        if detail:
            message = detail
        elif done:
            message = f"Interrupted after {', '.join(done)} finished; the org has those changes."
        else:
            message = "Interrupted before any deploy finished; nothing that was sent has completed as far as apply knows."
        super().__init__(f"{message} Run `sfeca-migrate plan` against the org to see what is left, then apply again.")


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _confirm(target: str, auto_approve: bool) -> None:
    if auto_approve:
        return
    if not stdin_is_terminal():
        raise PlanError("no terminal to confirm on: review the plan and pass --auto-approve to deploy without a prompt")
    try:
        # On stderr, so the prompt shows when stdout goes to a file.
        answer = click.prompt(
            f"\nDeploy these changes to {target}? Only 'yes' is accepted", default="", show_default=False, err=True
        )
    except click.exceptions.Abort:
        answer = ""
    if answer.strip() != "yes":
        raise PlanError("apply cancelled; nothing was deployed")


def _progress_printer(console: Any) -> Callable[[str, Any, float], None]:
    last: dict[str, tuple[str, int]] = {}

    def show(step: str, status: Any, elapsed: float) -> None:
        key = (status.status, status.number_components_deployed)
        if last.get(step) == key:
            return
        last[step] = key
        console.print(
            f"  {step}: {status.status}, {status.number_components_deployed}/{status.number_components_total} "
            f"components, {elapsed:.0f} s",
            highlight=False,
        )

    return show


def _print_read_back(rows: list[Any], console: Any) -> None:
    """Print the read-back comparison: a table on a colour terminal, one line per field otherwise."""
    many = len({row.app for row in rows}) > 1
    if console.is_terminal and not console.no_color:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        table = Table(title="Read back", box=box.SIMPLE)
        for column in (*(["App"] if many else []), "Component", "Field", "Desired", "Actual", "OK"):
            table.add_column(column, overflow="fold")
        for row in rows:
            cells = [row.component, row.field, show_value(row.field, row.desired), show_value(row.field, row.actual)]
            verdict = Text("ok") if row.ok else Text("DIFFERS", style="bold red")
            table.add_row(*([row.app] if many else []), *cells, verdict)
        console.print(table)
        return
    lines = ["", "Read back (desired -> actual):"]
    for row in rows:
        prefix = f"[{row.app}] " if many else ""
        verdict = "ok     " if row.ok else "DIFFERS"
        lines.append(
            f"  {verdict} {prefix}{row.component}.{row.field}: "
            f"{show_value(row.field, row.desired)} -> {show_value(row.field, row.actual)}"
        )
    console.file.write("\n".join(lines) + "\n")


def apply_to_org(
    *,
    source: str | None,
    plan_file: str | None,
    profile: str,
    api_version: str,
    auto_approve: bool,
    test_level: str | None,
    test_names: tuple[str, ...],
    backup_dir: str,
    audit_log: str,
    poll_interval: float,
    console: Any,
    org: dict[str, Any],
    connect_options: Callable[[str], Any],
) -> int:
    """Re-plan against the org, confirm, back up, deploy in two phases, read back, record."""
    from rich.console import Console

    from migrate import document as doc
    from migrate import workflow
    from migrate.org import connect

    apps, all_apps = list(org.get("apps") or ()), bool(org.get("all_apps"))
    saved = workflow.load_saved_plan(plan_file) if plan_file else None
    if saved is not None:
        if source is not None or apps or all_apps:
            raise click.UsageError("--plan FILE already names what to apply; drop SOURCE, --app and --all")
        from migrate.cli import _reject_explicit

        _reject_explicit("--plan FILE fixes the profile and API version", "profile", "api_version")
        if not saved.get("orgId"):
            raise PlanError(f"{plan_file}: the plan was made from files, not against an org; make it again with --target-org")
        resolved = workflow.resolve_saved_profile(saved, plan_file)
        api_version = saved["apiVersion"]
        inputs = saved.get("inputs") or []
        source = inputs[0] if inputs else None
        apps = [app["name"] for app in saved["apps"]] if source is None else []
    else:
        from migrate.cli import check_org_targets

        check_org_targets(source, apps, all_apps)
        resolved = workflow.resolve_profile(profile)

    version = workflow.check_api_version(api_version)
    options = dataclasses.replace(connect_options(version), poll_interval=poll_interval, max_poll_interval=max(poll_interval, 30.0))
    progress_console = Console(stderr=True, highlight=False, no_color=console.no_color, markup=False)

    with connect(options) as session:
        if saved is not None and saved["orgId"] != session.org_id:
            raise PlanError(f"{plan_file}: the plan was made for org {saved['orgId']}, not {session.org_id}; make a plan for this org")
        if source is not None:
            plan, state = workflow.plan_files_against_org(source, session, resolved, version)
            inputs = workflow.input_paths([source])
        else:
            plan, state = workflow.plan_org(session, None if all_apps else apps, resolved, version)
            inputs = []
        if saved is None:
            from migrate.cli import check_profile_choice

            check_profile_choice(len(plan.apps), profile)
        document = doc.plan_document(plan, inputs=inputs, profile_ref=resolved.reference)
        if saved is not None:
            if document["stateFingerprint"] != saved.get("stateFingerprint"):
                raise PlanError(
                    f"{plan_file}: the org changed since the plan was made (its connected apps or ECAs differ, "
                    "or this plan was already applied); review a new plan"
                )
            if document["planHash"] != saved["planHash"]:
                raise PlanError(f"{plan_file}: the plan no longer matches its inputs; review a new plan")

        print_plan(plan, console)
        now = datetime.datetime.now(datetime.timezone.utc)
        record = ApplyRecord()
        audit_path = Path(audit_log)

        def audit(outcome: str) -> None:
            record.outcome = outcome
            warning = append_audit(audit_path, audit_entry(plan, document["planHash"], session, record, now))
            if warning:
                progress_console.print(warning)

        def audit_start() -> None:
            # Written before deploying, so a run killed mid-deploy still leaves a trace; a log
            # that cannot be written stops the run while nothing has changed.
            record.outcome = "started"
            if append_audit(audit_path, audit_entry(plan, document["planHash"], session, record, now)):
                raise OutputError(f"{audit_path}: cannot append to the audit log, so nothing was deployed; fix it or pass --audit-log")

        conflicts = plan.conflict_names
        if conflicts:
            audit("refused: conflicts")
            raise PlanError(f"not deploying: the plan has conflicts the tool cannot fix ({'; '.join(conflicts)})")
        if not plan.has_changes:
            audit("no changes")
            console.print("\nNothing to deploy.")
            return 0

        _confirm(plan.target, auto_approve)
        audit_start()
        backup = write_backup(state, [app.app for app in plan.apps], Path(backup_dir), version, now)
        if backup is not None:
            record.backup = str(backup)
            console.print(
                f"\nBackup of the current metadata (no consumer secrets): {backup}\n"
                f"  Restore with: sf project deploy start --metadata-dir {backup} --target-org {session.target_org or 'ALIAS'}\n"
                "  An ECA that did not exist before is removed in Setup > External Client App Manager.",
                highlight=False,
            )
        deployer = Deployer(session, version, test_level, test_names, _progress_printer(progress_console), record)
        try:
            after = run_phases(plan, deployer, session)
        except KeyboardInterrupt as interrupt:
            deploy_id = getattr(interrupt, "deploy_id", None)
            if deploy_id:
                record.deploy_ids["interrupted"] = deploy_id
            audit("interrupted")
            raise ApplyInterrupted(interrupt, record) from interrupt
        except Exception as error:
            audit(f"failed: {error}")
            raise

        rows = read_back(plan, after)
        _print_read_back(rows, console)
        differing = [row for row in rows if not row.ok]
        if differing:
            audit("read-back differs")
            details = "; ".join(
                f"{row.app} {row.component}.{row.field} is {show_value(row.field, row.actual)}, "
                f"expected {show_value(row.field, row.desired)}: {effect_of(row, resolved.spec)}"
                for row in differing
            )
            raise ApplyFailed(
                f"the org does not hold what was deployed: {details}. Fix it in Setup, or ask Salesforce "
                "support if the org forces the value."
            )

        audit("applied")
        console.print(f"\nApplied to {plan.target}; deploys {', '.join(record.deploy_ids.values())}.")
        console.print("\nStill to do by hand:", style="bold")
        for index, step in enumerate(after_apply_steps(plan, session.instance_url, resolved.spec), start=1):
            console.print(f"  {index}. {step}", highlight=False)
        return 0
