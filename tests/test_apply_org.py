"""`apply` against the fake org: confirm, back up, two-phase deploy, read back, audit, faults."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import CONNECTED_APPS, EXAMPLE, requires_corpus, run_cli
from migrate.document import plan_hash

pytestmark = requires_corpus

CORPUS_APP = CONNECTED_APPS / "037-hamilton-workato-integrations.connectedApp-meta.xml"
APP = "Hamilton_Workato_Integrations"
ECA_TYPES = (
    "ExternalClientApplication",
    "ExtlClntAppGlobalOauthSettings",
    "ExtlClntAppOauthSettings",
    "ExtlClntAppConfigurablePolicies",
    "ExtlClntAppOauthConfigurablePolicies",
)


def seed_apps(fake_org, folder: Path, names: dict[str, Path]) -> None:
    (folder / "connectedApps").mkdir(parents=True, exist_ok=True)
    for name, source in names.items():
        shutil.copy(source, folder / "connectedApps" / f"{name}.connectedApp")
    fake_org.seed(folder)


@pytest.fixture
def org(fake_org, tmp_path, monkeypatch):
    """The fake org seeded with one real corpus connected app, and CLI arguments that reach it."""
    monkeypatch.setenv("SF_ACCESS_TOKEN", fake_org.access_token)
    monkeypatch.chdir(tmp_path)
    seed_apps(fake_org, tmp_path / "seed", {APP: CORPUS_APP})
    return fake_org


def org_args(fake_org) -> list[str]:
    return ["--instance-url", fake_org.instance_url, "--poll-interval", "0"]


def apply(fake_org, *args: str):
    return run_cli("apply", *org_args(fake_org), *args)


def assert_one_error_line(stderr: str) -> None:
    """Progress lines may come first; the error is the last line, and the only one."""
    lines = stderr.splitlines()
    assert lines[-1].startswith("error: ")
    assert sum(line.startswith("error: ") for line in lines) == 1


def eca_names(fake_org) -> list[tuple[str, str]]:
    return sorted(key for key in fake_org.components if key[0] in ECA_TYPES)


def deploys(fake_org) -> list:
    return [call for call in fake_org.calls if call.name == "deploy"]


def test_apply_then_no_changes(org):
    result = apply(org, "--app", APP, "--auto-approve", "--no-color")
    assert result.exit_code == 0, result.stderr
    assert "DIFFERS" not in result.stdout
    assert "Still to do by hand" in result.stdout
    again = run_cli("plan", *org_args(org)[:2], "--app", APP, "--detailed-exitcode", "--no-color")
    assert again.exit_code == 0
    assert "No changes" in again.stdout


def test_apply_creates_five_components(org):
    apply(org, "--app", APP, "--auto-approve")
    types = sorted({type_name for type_name, _ in eca_names(org)})
    assert types == sorted(ECA_TYPES)


def test_apply_sets_policy_on_platform_record(org):
    apply(org, "--app", APP, "--auto-approve")
    policies = [name for type_name, name in eca_names(org) if type_name == "ExtlClntAppOauthConfigurablePolicies"]
    assert policies == [f"{APP}_oauth_defaultPolicy"]
    xml = org.component_xml("ExtlClntAppOauthConfigurablePolicies", policies[0]).decode()
    assert "<ipRelaxationPolicyType>Bypass</ipRelaxationPolicyType>" in xml
    assert "<permittedUsersPolicyType>AllSelfAuthorized</permittedUsersPolicyType>" in xml


def test_second_apply_deploys_nothing(org):
    apply(org, "--app", APP, "--auto-approve")
    before = len(deploys(org))
    result = apply(org, "--app", APP, "--auto-approve", "--no-color")
    assert result.exit_code == 0
    assert "Nothing to deploy" in result.stdout
    assert len(deploys(org)) == before


def test_apply_makes_three_deploys(org):
    apply(org, "--app", APP, "--auto-approve")
    operations = [call.operation for call in deploys(org)]
    assert len(operations) == 3


def test_no_terminal_no_flag_refuses(org):
    result = apply(org, "--app", APP)
    assert result.exit_code == 1
    assert "--auto-approve" in result.stderr
    assert deploys(org) == []


def test_terminal_yes_applies(org, monkeypatch):
    import migrate.apply_cli as apply_cli

    monkeypatch.setattr(apply_cli, "stdin_is_terminal", lambda: True)
    from click.testing import CliRunner

    from migrate.cli import cli

    result = CliRunner().invoke(cli, ["apply", *org_args(org), "--app", APP], input="yes\n")
    assert result.exit_code == 0, result.stderr
    assert len(deploys(org)) == 3


def test_terminal_no_cancels(org, monkeypatch):
    import migrate.apply_cli as apply_cli

    monkeypatch.setattr(apply_cli, "stdin_is_terminal", lambda: True)
    from click.testing import CliRunner

    from migrate.cli import cli

    result = CliRunner().invoke(cli, ["apply", *org_args(org), "--app", APP], input="y\n")
    assert result.exit_code == 1
    assert "apply cancelled" in result.stderr
    assert deploys(org) == []


def test_forced_pkce_fails_read_back(org):
    org.force_field("ExtlClntAppGlobalOauthSettings", "isPkceRequired", "true")
    result = apply(org, "--app", APP, "--auto-approve", "--no-color")
    assert result.exit_code == 1
    assert "ExtlClntAppGlobalOauthSettings.isPkceRequired is true, expected false" in result.stderr
    assert "missing required code challenge" in result.stderr
    assert "DIFFERS" in result.stdout


def test_backup_written_without_secret(org, tmp_path):
    org.expose_consumer_secret = True
    apply(org, "--app", APP, "--auto-approve")
    # Someone narrows the scopes in Setup; the next apply backs up the existing ECA first.
    name = f"{APP}_oauth"
    xml = org.component_xml("ExtlClntAppOauthSettings", name)
    org.put_component("ExtlClntAppOauthSettings", name, xml.replace(b"Api,Full,RefreshToken", b"Api"))
    result = apply(org, "--app", APP, "--auto-approve")
    assert result.exit_code == 0, result.stderr
    backups = sorted((tmp_path / "sfeca-backups").iterdir())
    assert len(backups) == 2
    latest = backups[-1]
    assert (latest / "package.xml").is_file()
    assert (latest / "extlClntAppGlobalOauthSets").is_dir()
    for path in latest.rglob("*"):
        if path.is_file():
            assert b"<consumerSecret>" not in path.read_bytes()


def test_backup_holds_connected_app(org, tmp_path):
    apply(org, "--app", APP, "--auto-approve")
    (backup,) = (tmp_path / "sfeca-backups").iterdir()
    assert (backup / "connectedApps" / f"{APP}.connectedApp").is_file()


def test_audit_record_appended(org, tmp_path):
    apply(org, "--app", APP, "--auto-approve")
    apply(org, "--app", APP, "--auto-approve")
    lines = (tmp_path / "sfeca-migrate-audit.jsonl").read_text().splitlines()
    started, first, second = (json.loads(line) for line in lines)
    assert started["outcome"] == "started"
    assert first["outcome"] == "applied"
    assert first["orgId"] == org.org_id
    assert sorted(first["deployIds"]) == ["phase 1 deploy", "phase 1 validation", "phase 2 deploy"]
    assert len(first["planHash"]) == 64
    assert second["outcome"] == "no changes"
    assert org.access_token not in "\n".join(lines)


def test_saved_plan_applies(org, tmp_path):
    plan_file = tmp_path / "plan.json"
    run_cli("plan", *org_args(org)[:2], "--app", APP, "--out", plan_file)
    result = apply(org, "--plan", str(plan_file), "--auto-approve")
    assert result.exit_code == 0, result.stderr
    assert len(deploys(org)) == 3


def test_saved_plan_refused_after_org_change(org, tmp_path):
    plan_file = tmp_path / "plan.json"
    run_cli("plan", *org_args(org)[:2], "--app", APP, "--out", plan_file)
    seed_apps(org, tmp_path / "other", {APP: CONNECTED_APPS / "026-integration.connectedApp-meta.xml"})
    result = apply(org, "--plan", str(plan_file), "--auto-approve")
    assert result.exit_code == 1
    assert "the org changed since the plan was made" in result.stderr
    assert deploys(org) == []


def test_saved_plan_refused_for_other_org(org, tmp_path):
    plan_file = tmp_path / "plan.json"
    run_cli("plan", *org_args(org)[:2], "--app", APP, "--out", plan_file)
    document = json.loads(plan_file.read_text())
    document["orgId"] = "00D000000000001AAA"
    document["planHash"] = plan_hash(document)
    plan_file.write_text(json.dumps(document))
    result = apply(org, "--plan", str(plan_file), "--auto-approve")
    assert result.exit_code == 1
    assert "the plan was made for org 00D000000000001AAA" in result.stderr


def test_saved_plan_refused_for_other_profile(org, tmp_path):
    plan_file = tmp_path / "plan.json"
    run_cli("plan", *org_args(org)[:2], "--app", APP, "--out", plan_file, "--profile", "none")
    document = json.loads(plan_file.read_text())
    document["profile"] = {"name": "vonage-ai-studio", "title": "Vonage AI Studio", "file": None, "sha256": "0" * 64}
    document["planHash"] = plan_hash(document)
    plan_file.write_text(json.dumps(document))
    result = apply(org, "--plan", str(plan_file), "--auto-approve")
    assert result.exit_code == 1
    assert "changed since the plan was made" in result.stderr


def test_file_plan_refused_for_org(org, tmp_path):
    plan_file = tmp_path / "plan.json"
    run_cli("plan", EXAMPLE, "--out", plan_file)
    result = apply(org, "--plan", str(plan_file), "--auto-approve")
    assert result.exit_code == 1
    assert "not against an org" in result.stderr


def test_local_file_applied_to_org(org):
    result = apply(org, str(EXAMPLE), "--auto-approve")
    assert result.exit_code == 0, result.stderr
    assert ("ExternalClientApplication", "Vonage_AI_Studio") in eca_names(org)


# --- Faults: nothing half-applied, and a re-run completes -----------------------------------

PHASE_ONE_FAULTS = [
    pytest.param("deploy", "server_error", {}, id="validate-http-500"),
    pytest.param("deploy", "component_error", {}, id="validate-component-error"),
    pytest.param("deploy", "component_error", {"after": 1}, id="deploy-component-error"),
    pytest.param("deploy", "request_limit", {"after": 1}, id="deploy-request-limit"),
    pytest.param("deploy", "expired_session", {"after": 1}, id="deploy-expired-session"),
    pytest.param("deploy", "dropped_connection", {}, id="validate-dropped-connection"),
]


@pytest.mark.parametrize(("call", "kind", "options"), PHASE_ONE_FAULTS)
def test_phase_one_fault_leaves_org_unchanged(org, call, kind, options):
    org.inject_fault(call, kind, **options)
    result = apply(org, "--app", APP, "--auto-approve")
    assert result.exit_code == 1
    assert_one_error_line(result.stderr)
    assert org.access_token not in result.stderr
    assert eca_names(org) == []
    rerun = apply(org, "--app", APP, "--auto-approve")
    assert rerun.exit_code == 0, rerun.stderr
    assert len(eca_names(org)) == 5


def test_poll_fault_names_deploy_and_rerun_completes(org):
    # Three hits: the first status check and both of the client's retries.
    org.inject_fault("checkDeployStatus", "dropped_connection", times=3, after=1)
    result = apply(org, "--app", APP, "--auto-approve")
    assert result.exit_code == 1
    assert "sf project deploy report --job-id" in result.stderr
    assert "run apply again" in result.stderr
    rerun = apply(org, "--app", APP, "--auto-approve")
    assert rerun.exit_code == 0, rerun.stderr


def test_phase_two_fault_says_what_is_left(org):
    org.inject_fault("deploy", "component_error", after=2)
    result = apply(org, "--app", APP, "--auto-approve")
    assert result.exit_code == 1
    assert "phase 1 is deployed" in result.stderr
    assert "Run the same apply again to finish" in result.stderr
    rerun = apply(org, "--app", APP, "--auto-approve", "--no-color")
    assert rerun.exit_code == 0, rerun.stderr
    # The first run: validation, phase 1, failed phase 2. The re-run: phase 2 only.
    assert len(deploys(org)) == 4


def test_read_back_fault_says_verify(org):
    # Retrieves: plan, after phase 1, after phase 2. Fail the third.
    org.inject_fault("retrieve", "request_limit", times=10, after=2)
    result = apply(org, "--app", APP, "--auto-approve")
    assert result.exit_code == 1
    assert "both phases are deployed" in result.stderr


def test_slow_polling_still_completes(org):
    org.inject_fault("checkDeployStatus", "slow", times=3)
    result = apply(org, "--app", APP, "--auto-approve")
    assert result.exit_code == 0, result.stderr
    assert "InProgress" in result.stderr or "Pending" in result.stderr or "Queued" in result.stderr


def test_ctrl_c_while_polling_prints_deploy_id(org, monkeypatch):
    import migrate.org.session as session_module

    real_sleep = session_module.time.sleep
    calls = {"count": 0}

    def interrupting_sleep(seconds):
        calls["count"] += 1
        if calls["count"] == 3:
            raise KeyboardInterrupt
        real_sleep(0)

    monkeypatch.setattr(session_module.time, "sleep", interrupting_sleep)
    result = apply(org, "--app", APP, "--auto-approve")
    assert result.exit_code == 130
    assert "sf project deploy report --job-id" in result.stderr


# --- Batch: one deploy per phase, whatever the number of apps --------------------------------


def non_poll_calls(fake_org) -> list[str]:
    return [call.name for call in fake_org.calls if call.name not in ("checkDeployStatus", "checkRetrieveStatus")]


@pytest.mark.parametrize("count", [1, 50])
def test_call_count_independent_of_apps(fake_org, tmp_path, monkeypatch, count):
    monkeypatch.setenv("SF_ACCESS_TOKEN", fake_org.access_token)
    monkeypatch.chdir(tmp_path)
    seed_apps(fake_org, tmp_path / "seed", {f"Batch_App_{index:02d}": EXAMPLE for index in range(count)})
    result = apply(fake_org, "--all", "--auto-approve", "--profile", "vonage-ai-studio")
    assert result.exit_code == 0, result.stderr
    assert len([key for key in fake_org.components if key[0] == "ExternalClientApplication"]) == count
    assert non_poll_calls(fake_org) == [
        "rest",
        "listMetadata",
        "listMetadata",
        "retrieve",
        "deploy",
        "deploy",
        "listMetadata",
        "listMetadata",
        "retrieve",
        "deploy",
        "listMetadata",
        "listMetadata",
        "retrieve",
    ]


def test_saved_plan_survives_other_app_change(org, tmp_path):
    plan_file = tmp_path / "plan.json"
    run_cli("plan", *org_args(org)[:2], "--app", APP, "--out", plan_file)
    seed_apps(org, tmp_path / "other", {"Unrelated_App": EXAMPLE})
    result = apply(org, "--plan", str(plan_file), "--auto-approve")
    assert result.exit_code == 0, result.stderr


def test_read_back_checks_removed_fields(org):
    org.force_field("ExtlClntAppOauthConfigurablePolicies", "commaSeparatedProfile", "System Administrator")
    result = apply(org, "--app", APP, "--auto-approve", "--no-color")
    assert result.exit_code == 1
    assert "commaSeparatedProfile is \"System Administrator\", expected (none)" in result.stderr


def test_unwritable_audit_log_stops_before_deploy(org, tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    result = apply(org, "--app", APP, "--auto-approve", "--audit-log", str(tmp_path / "not-a-folder" / "audit.jsonl"))
    assert result.exit_code == 1
    assert "cannot append to the audit log, so nothing was deployed" in result.stderr
    assert deploys(org) == []


def test_audit_failure_keeps_real_outcome(org, tmp_path, monkeypatch):
    import migrate.apply_org as apply_org

    real_open = Path.open
    calls = {"count": 0}

    def failing_open(self, *args, **kwargs):
        if self.name == "sfeca-migrate-audit.jsonl":
            calls["count"] += 1
            if calls["count"] > 1:
                raise OSError(28, "No space left on device")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(apply_org.Path, "open", failing_open)
    result = apply(org, "--app", APP, "--auto-approve", "--no-color")
    assert result.exit_code == 0, result.stderr
    assert "Still to do by hand" in result.stdout
    assert "the audit record was not written" in result.stderr


def test_dropped_deploy_request_says_check_status(org):
    org.inject_fault("deploy", "dropped_connection", after=1)
    result = apply(org, "--app", APP, "--auto-approve")
    assert result.exit_code == 1
    assert "Deployment Status" in result.stderr


def test_interrupt_after_phase_one_names_it(org, monkeypatch):
    import migrate.apply_org as apply_org

    real_read = apply_org.read_org_state

    def interrupted_read(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(apply_org, "read_org_state", interrupted_read)
    result = apply(org, "--app", APP, "--auto-approve")
    monkeypatch.setattr(apply_org, "read_org_state", real_read)
    assert result.exit_code == 130
    assert "Interrupted after phase 1 deploy finished" in result.stderr
    rerun = apply(org, "--app", APP, "--auto-approve")
    assert rerun.exit_code == 0, rerun.stderr


def test_locked_pkce_explained_in_next_plan(org):
    org.force_field("ExtlClntAppGlobalOauthSettings", "isPkceRequired", "true")
    apply(org, "--app", APP, "--auto-approve")
    result = run_cli("plan", *org_args(org)[:2], "--app", APP, "--no-color")
    assert "the org locks PKCE for ECAs" in result.stdout
