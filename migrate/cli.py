"""The sfeca-migrate command line: parse options, call the core, render, map errors to exit codes.

Exit status: 0 success; 1 error (including usage errors); 2 changes present, only
with --detailed-exitcode; 3 unexpected internal error; 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from migrate import __version__

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class MigrateGroup(click.Group):
    """A click group that maps every outcome onto the documented exit statuses."""

    def main(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.exceptions.Abort as abort:
            # click turns Ctrl-C into Abort. For a deploy interrupted while polling, the
            # message names the deploy that keeps running in the org and how to check it.
            cause = abort.__cause__
            message = str(cause) if isinstance(cause, KeyboardInterrupt) and str(cause) else "Interrupted."
            click.echo(message, err=True)
            sys.exit(EXIT_INTERRUPTED)
        except click.ClickException as exc:
            # Usage errors exit 1, never click's default 2, which means "changes present".
            exc.show()
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt as interrupt:
            # For a deploy interrupted while polling, the message names the deploy and how to check it.
            click.echo(str(interrupt) or "Interrupted.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            from migrate.errors import SfecaError

            if isinstance(exc, SfecaError):
                click.echo(f"error: {exc}", err=True)
                sys.exit(EXIT_ERROR)
            if os.environ.get("SFECA_DEBUG"):
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug in sfeca-migrate; run again with SFECA_DEBUG=1 for a traceback and report it.",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)
        sys.exit(result if isinstance(result, int) else EXIT_OK)


def _console(no_color: bool) -> Any:
    from rich.console import Console

    # markup=False: paths and names printed by the tool may contain [brackets].
    return Console(no_color=no_color or bool(os.environ.get("NO_COLOR")), highlight=False, soft_wrap=True, markup=False)


profile_option = click.option(
    "--profile",
    default="vonage-ai-studio",
    show_default=True,
    metavar="NAME|FILE|none",
    help="Requirement profile the ECA must meet: a built-in name, a profile file, or none for a plain migration.",
)
api_version_option = click.option(
    "--api-version",
    default="64.0",
    show_default=True,
    help="Metadata API version to plan and deploy at (59.0 or later).",
)


def org_options(command: Any) -> Any:
    """Add the options that name an org and how to log in to it."""
    options = [
        click.option("--target-org", metavar="ALIAS", help="Org to use, by Salesforce CLI alias or username (reuses `sf` login)."),
        click.option("--instance-url", metavar="URL", help="Org URL, such as https://mycompany.my.salesforce.com; the access token comes from SF_ACCESS_TOKEN."),
        click.option("--client-id", help="Consumer key for JWT bearer or client credentials login (secret from SF_CLIENT_SECRET)."),
        click.option("--username", help="User to log in as with JWT bearer (or, as a last resort, with SF_PASSWORD)."),
        click.option("--jwt-key-file", type=click.Path(exists=True, dir_okay=False), help="Private key file for JWT bearer login."),
        click.option("--login-url", default="https://login.salesforce.com", show_default=True, help="Login server for JWT bearer login (https://test.salesforce.com for sandboxes)."),
        click.option("--app", "apps", multiple=True, metavar="NAME", help="Connected app in the org to plan, by API name; repeat for several."),
        click.option("--all", "all_apps", is_flag=True, help="Plan every connected app in the org."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _finite(value: float) -> float:
    # FloatRange lets NaN through, because every comparison with NaN is false.
    if value != value:
        raise click.BadParameter("must be a number of seconds from 0 to 600")
    return value


def check_org_targets(source: str | None, apps: Any, all_apps: bool) -> None:
    """Require exactly one of SOURCE, --app NAME... and --all when working against an org."""
    if source is not None and (apps or all_apps):
        raise click.UsageError("give either SOURCE or --app/--all, not both")
    if apps and all_apps:
        raise click.UsageError("give either --app NAME or --all, not both")
    if source is None and not apps and not all_apps:
        raise click.UsageError("name the connected apps with SOURCE, --app NAME (repeatable) or --all")


def _explicit(name: str) -> bool:
    """Return whether the user gave option `name` on the command line (not its default)."""
    from click.core import ParameterSource

    source = click.get_current_context().get_parameter_source(name)
    return source not in (None, ParameterSource.DEFAULT)


def _reject_explicit(why: str, *names: str) -> None:
    given = [f"--{name.replace('_', '-')}" for name in names if _explicit(name)]
    if given:
        raise click.UsageError(f"{why}; drop {' and '.join(given)}")


def check_profile_choice(app_count: int, profile: str) -> None:
    """Refuse to apply the default profile to several apps unless the user named it."""
    if app_count > 1 and not _explicit("profile"):
        from migrate.errors import ConfigError

        raise ConfigError(
            f"found {app_count} connected apps; the default profile {profile} would give every one of them "
            f"its settings. Pass --profile {profile} to confirm, or --profile none for a plain migration"
        )


def _org_requested(params: dict[str, Any]) -> bool:
    return any(params.get(name) for name in ("target_org", "instance_url", "client_id", "username", "jwt_key_file"))


def _connect_options(params: dict[str, Any], api_version: str) -> Any:
    from pathlib import Path

    from migrate.org import ConnectOptions

    key_file = params.get("jwt_key_file")
    return ConnectOptions(
        target_org=params.get("target_org"),
        instance_url=params.get("instance_url"),
        login_url=params.get("login_url") or "https://login.salesforce.com",
        username=params.get("username"),
        client_id=params.get("client_id"),
        private_key_file=Path(key_file) if key_file else None,
        api_version=api_version,
    )


@click.group(cls=MigrateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sfeca-migrate")
def cli() -> None:
    """Move a Salesforce connected app onto an external client app (ECA) and check it
    against a partner's requirements (Vonage AI Studio built in)."""


@cli.command()
@click.argument("source", required=False)
@profile_option
@api_version_option
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True, help="How to print the plan.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Also save the plan as JSON to this file, for `apply --plan`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when the plan has changes, 0 when it has none.")
@click.option("--no-color", is_flag=True, help="Print without colour.")
@org_options
def plan(
    source: str | None,
    profile: str,
    api_version: str,
    output_format: str,
    out_file: str | None,
    detailed_exitcode: bool,
    no_color: bool,
    **org: Any,
) -> int:
    """Show what migrating SOURCE would create or change.

    SOURCE is a connected-app file (.connectedApp-meta.xml or .connectedApp), a
    folder (an SFDX project or a retrieved mdapi folder) or a .zip of either. With an
    org (--target-org or --instance-url), the org's current ECAs are the "before"
    side, and without SOURCE the connected apps are read from the org (--app or --all).
    """
    from migrate import document as doc
    from migrate import workflow

    resolved = workflow.resolve_profile(profile)
    version = workflow.check_api_version(api_version)
    if out_file and source and Path(out_file).resolve() == Path(source).resolve():
        raise click.UsageError("--out would overwrite SOURCE; name another file for the plan")
    result, inputs = _plan(source, resolved, version, org)
    check_profile_choice(len(result.apps), profile)
    document = None
    if output_format == "json" or out_file:
        document = doc.plan_document(result, inputs=inputs, profile_ref=resolved.reference)
    _emit_plan(result, document, output_format, no_color)
    if out_file:
        workflow.write_text_atomically(out_file, doc.dumps(document))
        click.echo(f"Plan saved to {out_file}", err=True)
    if detailed_exitcode and result.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def _plan(source: str | None, resolved: Any, version: str, org: dict[str, Any]) -> tuple[Any, list[str]]:
    """Plan from files, from an org, or from files against an org; return the plan and its inputs."""
    from migrate import workflow

    apps, all_apps = org.get("apps") or (), org.get("all_apps", False)
    if not _org_requested(org):
        if apps or all_apps:
            raise click.UsageError("--app and --all read connected apps from an org; add --target-org or --instance-url")
        if source is None:
            raise click.UsageError("give a connected-app SOURCE (a file, a folder or a .zip), or an org with --app or --all")
        return workflow.plan_files(source, resolved, version), workflow.input_paths([source])
    check_org_targets(source, apps, all_apps)
    from migrate.org import connect

    with connect(_connect_options(org, version)) as session:
        if source is not None:
            return workflow.plan_files_against_org(source, session, resolved, version)[0], workflow.input_paths([source])
        names = None if all_apps else list(apps)
        return workflow.plan_org(session, names, resolved, version)[0], []


def _emit_plan(result: Any, document: dict[str, Any] | None, output_format: str, no_color: bool) -> None:
    from migrate import document as doc

    if output_format == "json":
        click.echo(doc.dumps(document), nl=False)
    elif output_format == "markdown":
        from migrate.render import render_markdown

        click.echo(render_markdown(result), nl=False)
    else:
        from migrate.render import print_plan

        print_plan(result, _console(no_color))


@cli.command()
@click.argument("source", required=False)
@click.option("--output-dir", type=click.Path(file_okay=False), help="Write deployable ECA files into this folder instead of deploying.")
@click.option("--layout", type=click.Choice(["source", "mdapi"]), default="source", show_default=True, help="File layout for --output-dir: SFDX source format or metadata API format.")
@click.option("--force", is_flag=True, help="Replace a non-empty --output-dir.")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False), help="Apply a plan saved with `plan --out` instead of planning again from scratch.")
@profile_option
@api_version_option
@click.option("--auto-approve", is_flag=True, help="Deploy without asking for confirmation (for CI).")
@click.option("--test-level", type=click.Choice(["NoTestRun", "RunSpecifiedTests", "RunLocalTests", "RunAllTestsInOrg"]), help="Apex tests to run with the deploy; production orgs may require RunLocalTests.")
@click.option("--tests", "test_names", multiple=True, metavar="CLASS", help="Apex test class for --test-level RunSpecifiedTests; repeat for several.")
@click.option("--backup-dir", default="sfeca-backups", show_default=True, type=click.Path(file_okay=False), help="Folder for the backup taken before deploying.")
@click.option("--audit-log", default="sfeca-migrate-audit.jsonl", show_default=True, type=click.Path(dir_okay=False), help="JSON-lines file that gets one record per apply to an org.")
@click.option("--poll-interval", default=2.0, show_default=True, type=click.FloatRange(min=0.0, max=600.0), callback=lambda ctx, param, value: _finite(value), help="Seconds before the first deploy status check (0 to 600); later checks back off.")
@click.option("--no-color", is_flag=True, help="Print without colour.")
@org_options
def apply(
    source: str | None,
    output_dir: str | None,
    layout: str,
    force: bool,
    plan_file: str | None,
    profile: str,
    api_version: str,
    auto_approve: bool,
    test_level: str | None,
    test_names: tuple[str, ...],
    backup_dir: str,
    audit_log: str,
    poll_interval: float,
    no_color: bool,
    **org: Any,
) -> int:
    """Write the ECA that SOURCE needs as files (--output-dir), or deploy it to an org.

    With an org, apply plans again against the org's current state and prints the plan.
    After confirmation it backs up, deploys in two phases and reads everything back.
    """
    if _org_requested(org):
        if output_dir is not None:
            raise click.UsageError("give either --output-dir (write files) or an org (deploy), not both")
        from migrate.apply_cli import apply_to_org

        return apply_to_org(
            source=source,
            plan_file=plan_file,
            profile=profile,
            api_version=api_version,
            auto_approve=auto_approve,
            test_level=test_level,
            test_names=test_names,
            backup_dir=backup_dir,
            audit_log=audit_log,
            poll_interval=poll_interval,
            console=_console(no_color),
            org=org,
            connect_options=lambda version: _connect_options(org, version),
        )
    return _apply_to_folder(source, output_dir, layout, force, plan_file, profile, api_version, no_color)


def _apply_to_folder(
    source: str | None,
    output_dir: str | None,
    layout: str,
    force: bool,
    plan_file: str | None,
    profile: str,
    api_version: str,
    no_color: bool,
) -> int:
    from migrate import document as doc
    from migrate import workflow
    from migrate.errors import PlanError
    from migrate.render import print_plan
    from migrate.writer import check_output_dir, layout_files, write_tree_atomically

    if output_dir is None:
        raise click.UsageError("give --output-dir DIR to write the ECA files, or an org (--target-org) to deploy")
    if plan_file is not None:
        if source is not None:
            raise click.UsageError("give either SOURCE or --plan FILE, not both")
        _reject_explicit("--plan FILE fixes the profile and API version", "profile", "api_version")
        saved = workflow.load_saved_plan(plan_file)
        inputs = [str(path) for path in saved.get("inputs") or [] if isinstance(path, str)]
        check_output_dir(output_dir, force=force, protected=[plan_file, *inputs])
        result, document = _replan_saved(saved, plan_file)
    else:
        if source is None:
            raise click.UsageError("give a connected-app SOURCE or --plan FILE")
        inputs = [source]
        check_output_dir(output_dir, force=force, protected=inputs)
        resolved = workflow.resolve_profile(profile)
        version = workflow.check_api_version(api_version)
        result = workflow.plan_files(source, resolved, version)
        check_profile_choice(len(result.apps), profile)
        document = doc.plan_document(result, inputs=workflow.input_paths([source]), profile_ref=resolved.reference)

    console = _console(no_color)
    print_plan(result, console)
    conflicts = result.conflict_names
    if conflicts:
        raise PlanError(
            f"not writing files: the plan has {len(conflicts)} conflict(s) the tool cannot fix ({'; '.join(conflicts)}); "
            "resolve them and plan again"
        )
    components = [component for app in result.apps for component in app.desired.components]
    files = layout_files(components, layout, result.api_version)
    written = write_tree_atomically(files, output_dir, force=force, protected=inputs)
    console.print(f"\nWrote {len(files)} files to {written} ({layout} layout); plan hash {document['planHash'][:12]}.")
    return EXIT_OK


def _replan_saved(saved: dict[str, Any], plan_file: str) -> tuple[Any, dict[str, Any]]:
    """Plan again from a saved plan's inputs and refuse it when anything has changed since."""
    from migrate import document as doc
    from migrate import workflow
    from migrate.errors import PlanError

    if saved.get("target") != "files":
        raise PlanError(
            f"{plan_file}: the plan was made against {saved.get('target')}; apply it to that org "
            "with the same --target-org or --instance-url instead of --output-dir"
        )
    resolved = workflow.resolve_saved_profile(saved, plan_file)
    inputs = saved.get("inputs") or []
    if len(inputs) != 1:
        raise PlanError(f"{plan_file}: the plan names {len(inputs)} inputs; expected one")
    result = workflow.plan_files(inputs[0], resolved, saved.get("apiVersion", ""))
    document = doc.plan_document(result, inputs=inputs, profile_ref=resolved.reference)
    if document["planHash"] != saved["planHash"]:
        raise PlanError(
            f"{plan_file}: the inputs changed since the plan was made (plan hash {saved['planHash'][:12]}, "
            f"now {document['planHash'][:12]}); review a new plan"
        )
    return result, document


@cli.command()
def profiles() -> int:
    """List the built-in requirement profiles."""
    from migrate.specfiles import builtin_profiles, load_profile

    for name, path in builtin_profiles().items():
        click.echo(f"{name}\t{load_profile(path).title}")
    return EXIT_OK


def main() -> None:
    cli.main(prog_name="sfeca-migrate")
