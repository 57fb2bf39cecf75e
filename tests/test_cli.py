"""The command line: output formats, saved plans, apply to a folder, and every exit status."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from helpers import requires_corpus, BROKEN, CONNECTED_APPS, EXAMPLE, assert_no_secret, corpus_connected_apps, run_cli

PLAN_KEYS = [
    "format",
    "formatVersion",
    "toolVersion",
    "inputs",
    "target",
    "orgId",
    "apiVersion",
    "profile",
    "stateFingerprint",
    "hasChanges",
    "summary",
    "apps",
    "planHash",
]
APP_KEYS = ["name", "label", "source", "sourceSha256", "components", "notCarried", "conflicts", "manualSteps"]
COMPONENT_KEYS = ["type", "fullName", "action", "changes"]
CHANGE_KEYS = ["field", "action", "current", "new", "reason", "required"]
SUMMARY_KEYS = [
    "apps",
    "create",
    "update",
    "unchanged",
    "fieldsAdded",
    "fieldsChanged",
    "fieldsRemoved",
    "notCarried",
    "conflicts",
]


def test_plan_text_exit_zero():
    result = run_cli("plan", EXAMPLE, "--no-color")
    assert result.exit_code == 0
    assert "~ callbackUrl" in result.stdout
    assert "Plan: 5 to create, 0 to update, 0 unchanged" in result.stdout


def test_plan_text_sections_after_tally():
    stdout = run_cli("plan", EXAMPLE, "--no-color").stdout
    assert stdout.index("Plan: 5 to create") < stdout.index("Not carried") < stdout.index("Conflicts") < stdout.index("Manual steps")


def test_plan_masks_secret_and_key():
    stdout = run_cli("plan", EXAMPLE, "--no-color").stdout
    assert "oauthConfig.consumerSecret = (hidden, 65 characters)" in stdout
    assert "EXAMPLESECRET" not in stdout
    assert "3MVG9EXAMPLEKEY" not in stdout


def test_plan_detailed_exitcode_changes():
    assert run_cli("plan", EXAMPLE, "--detailed-exitcode").exit_code == 2


def test_plan_json_keys_pinned():
    document = json.loads(run_cli("plan", EXAMPLE, "--format", "json").stdout)
    assert list(document) == PLAN_KEYS
    assert list(document["summary"]) == SUMMARY_KEYS
    app = document["apps"][0]
    assert list(app) == APP_KEYS
    assert list(app["components"][0]) == COMPONENT_KEYS
    assert list(app["components"][0]["changes"][0]) == CHANGE_KEYS
    assert document["format"] == "sfeca-migrate/plan"
    assert document["formatVersion"] == 1


def test_plan_json_deterministic():
    first = run_cli("plan", EXAMPLE, "--format", "json").stdout
    second = run_cli("plan", EXAMPLE, "--format", "json").stdout
    assert first == second


def test_plan_markdown_tables():
    stdout = run_cli("plan", EXAMPLE, "--format", "markdown").stdout
    assert stdout.startswith("# sfeca-migrate plan")
    assert "| ~ | `ipRelaxationPolicyType` | \"Enforce\" | \"Bypass\" | required by Vonage AI Studio |" in stdout
    assert "#### Manual steps" in stdout


def test_plan_profile_none():
    document = json.loads(run_cli("plan", EXAMPLE, "--format", "json", "--profile", "none").stdout)
    assert document["profile"] is None
    reasons = {change["reason"] for component in document["apps"][0]["components"] for change in component["changes"]}
    assert reasons <= {"carried from the connected app", "default made explicit"}


def test_plan_out_saves_json(tmp_path):
    out = tmp_path / "plan.json"
    result = run_cli("plan", EXAMPLE, "--out", out)
    assert result.exit_code == 0
    assert json.loads(out.read_text())["format"] == "sfeca-migrate/plan"
    assert "Plan saved to" in result.stderr


def test_plan_missing_path_exit_one():
    result = run_cli("plan", "/no/such/file.connectedApp")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: /no/such/file.connectedApp: path does not exist")


@requires_corpus
def test_plan_broken_file_one_line():
    result = run_cli("plan", BROKEN)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert ":29: not well-formed XML" in result.stderr


def test_plan_unknown_profile_exit_one():
    result = run_cli("plan", EXAMPLE, "--profile", "acme")
    assert result.exit_code == 1
    assert "profile 'acme' not found" in result.stderr


def test_usage_error_exit_one():
    result = run_cli("plan", "--bogus")
    assert result.exit_code == 1
    assert "No such option" in result.stderr


def test_missing_source_exit_one():
    assert run_cli("plan").exit_code == 1


def test_internal_error_exit_three(monkeypatch):
    import migrate.workflow as workflow

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(workflow, "plan_files", explode)
    result = run_cli("plan", EXAMPLE)
    assert result.exit_code == 3
    assert "internal error: RuntimeError: boom" in result.stderr


def test_apply_writes_source_layout(tmp_path):
    out = tmp_path / "out"
    result = run_cli("apply", EXAMPLE, "--output-dir", out, "--no-color")
    assert result.exit_code == 0
    assert (out / "force-app/main/default/externalClientApps/Vonage_AI_Studio.eca-meta.xml").is_file()
    assert (out / "manifest/package.xml").is_file()


def test_apply_writes_mdapi_layout(tmp_path):
    out = tmp_path / "out"
    assert run_cli("apply", EXAMPLE, "--output-dir", out, "--layout", "mdapi").exit_code == 0
    assert (out / "package.xml").is_file()
    assert (out / "extlClntAppGlobalOauthSets/Vonage_AI_Studio_glbloauth.ecaGlblOauth").is_file()


def test_apply_output_has_no_credentials(tmp_path):
    out = tmp_path / "out"
    run_cli("apply", EXAMPLE, "--output-dir", out)
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "EXAMPLESECRET" not in text
            assert "3MVG9EXAMPLEKEY" not in text
            assert "consumerKey" not in text


def test_apply_refuses_non_empty(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    result = run_cli("apply", EXAMPLE, "--output-dir", out)
    assert result.exit_code == 1
    assert "folder is not empty" in result.stderr
    assert (out / "mine.txt").read_text() == "keep"


def test_apply_force_replaces(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("old")
    assert run_cli("apply", EXAMPLE, "--output-dir", out, "--force").exit_code == 0
    assert not (out / "mine.txt").exists()


@requires_corpus
def test_apply_refuses_conflicts(tmp_path):
    out = tmp_path / "out"
    result = run_cli("apply", CONNECTED_APPS / "040-postman-hamilton.connectedApp-meta.xml", "--output-dir", out)
    assert result.exit_code == 1
    assert "conflict" in result.stderr
    assert not out.exists()


def test_apply_saved_plan(tmp_path):
    plan_file = tmp_path / "plan.json"
    run_cli("plan", EXAMPLE, "--out", plan_file)
    out = tmp_path / "out"
    result = run_cli("apply", "--plan", plan_file, "--output-dir", out)
    assert result.exit_code == 0
    assert (out / "manifest/package.xml").is_file()


def test_apply_stale_plan_refused(tmp_path):
    source = tmp_path / EXAMPLE.name
    shutil.copy(EXAMPLE, source)
    plan_file = tmp_path / "plan.json"
    run_cli("plan", source, "--out", plan_file)
    source.write_bytes(source.read_bytes().replace(b"<label>Vonage AI Studio</label>", b"<label>Vonage</label>"))
    result = run_cli("apply", "--plan", plan_file, "--output-dir", tmp_path / "out")
    assert result.exit_code == 1
    assert "the inputs changed since the plan was made" in result.stderr
    assert not (tmp_path / "out").exists()


def test_apply_edited_plan_refused(tmp_path):
    plan_file = tmp_path / "plan.json"
    run_cli("plan", EXAMPLE, "--out", plan_file)
    document = json.loads(plan_file.read_text())
    document["apiVersion"] = "66.0"
    plan_file.write_text(json.dumps(document))
    result = run_cli("apply", "--plan", plan_file, "--output-dir", tmp_path / "out")
    assert result.exit_code == 1
    assert "edited after it was saved" in result.stderr


def test_apply_plan_not_json(tmp_path):
    plan_file = tmp_path / "plan.json"
    plan_file.write_text("{not json")
    result = run_cli("apply", "--plan", plan_file, "--output-dir", tmp_path / "out")
    assert result.exit_code == 1
    assert "not a readable plan file" in result.stderr


def test_apply_needs_output_dir():
    result = run_cli("apply", EXAMPLE)
    assert result.exit_code == 1
    assert "--output-dir" in result.stderr


def test_profiles_lists_vonage():
    assert "vonage-ai-studio\tVonage AI Studio" in run_cli("profiles").stdout


@requires_corpus
@pytest.mark.parametrize("output_format", ["text", "json", "markdown"])
def test_corpus_outputs_hide_secrets(output_format):
    """Every corpus app, in every format: run_cli fails on any secret or certificate body."""
    for path in corpus_connected_apps():
        result = run_cli("plan", path, "--format", output_format, "--no-color")
        assert result.exit_code == 0, f"{path.name}: {result.stderr}"


def test_console_script_help_runs():
    completed = subprocess.run([sys.executable, "-m", "migrate", "--help"], capture_output=True, text=True, check=False)
    assert completed.returncode == 0
    assert "plan" in completed.stdout
    assert_no_secret(completed.stdout)


def test_help_imports_no_heavy_modules():
    code = "import sys, migrate.cli; print(sorted(m for m in ('simple_salesforce', 'zeep', 'deepdiff', 'rich', 'pydantic', 'requests') if m in sys.modules))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_folder_of_apps_needs_named_profile(tmp_path):
    for name in ("One", "Two"):
        shutil.copy(EXAMPLE, tmp_path / f"{name}.connectedApp-meta.xml")
    result = run_cli("plan", tmp_path)
    assert result.exit_code == 1
    assert "found 2 connected apps" in result.stderr


def test_folder_of_apps_with_profile(tmp_path):
    for name in ("One", "Two"):
        shutil.copy(EXAMPLE, tmp_path / f"{name}.connectedApp-meta.xml")
    assert run_cli("plan", tmp_path, "--profile", "vonage-ai-studio").exit_code == 0


def test_force_never_replaces_source(tmp_path):
    project = tmp_path / "project"
    (project / "connectedApps").mkdir(parents=True)
    shutil.copy(EXAMPLE, project / "connectedApps" / EXAMPLE.name)
    result = run_cli("apply", project, "--output-dir", project, "--force")
    assert result.exit_code == 1
    assert "would be replaced" in result.stderr
    assert (project / "connectedApps" / EXAMPLE.name).is_file()


def test_force_never_replaces_git_tree(tmp_path):
    out = tmp_path / "repo"
    (out / ".git").mkdir(parents=True)
    result = run_cli("apply", EXAMPLE, "--output-dir", out, "--force")
    assert result.exit_code == 1
    assert "git work tree" in result.stderr
    assert (out / ".git").is_dir()


def test_output_dir_current_folder_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("apply", EXAMPLE, "--output-dir", ".", "--force")
    assert result.exit_code == 1
    assert "would be replaced" in result.stderr


def test_out_over_source_refused(tmp_path):
    source = tmp_path / EXAMPLE.name
    shutil.copy(EXAMPLE, source)
    result = run_cli("plan", source, "--out", source)
    assert result.exit_code == 1
    assert source.read_bytes() == EXAMPLE.read_bytes()


def test_output_dir_with_brackets(tmp_path):
    out = tmp_path / "eca-[prod]"
    result = run_cli("apply", EXAMPLE, "--output-dir", out, "--no-color")
    assert result.exit_code == 0, result.stderr
    assert "eca-[prod]" in result.stdout


def test_output_dir_mode_not_private(tmp_path):
    out = tmp_path / "out"
    run_cli("apply", EXAMPLE, "--output-dir", out)
    assert out.stat().st_mode & 0o055


def test_saved_plan_from_other_folder(tmp_path, monkeypatch):
    plan_file = tmp_path / "plan.json"
    run_cli("plan", EXAMPLE, "--out", plan_file)
    monkeypatch.chdir(tmp_path)
    assert run_cli("apply", "--plan", plan_file, "--output-dir", tmp_path / "out").exit_code == 0


def test_saved_plan_rejects_profile_option(tmp_path):
    plan_file = tmp_path / "plan.json"
    run_cli("plan", EXAMPLE, "--out", plan_file)
    result = run_cli("apply", "--plan", plan_file, "--output-dir", tmp_path / "out", "--profile", "none")
    assert result.exit_code == 1
    assert "drop --profile" in result.stderr


@pytest.mark.parametrize(
    ("key", "value"),
    [("profile", "x"), ("apiVersion", "abc"), ("apiVersion", None), ("inputs", [123])],
)
def test_rehashed_bad_plan_clean_error(tmp_path, key, value):
    from migrate.document import plan_hash

    plan_file = tmp_path / "plan.json"
    run_cli("plan", EXAMPLE, "--out", plan_file)
    document = json.loads(plan_file.read_text())
    document[key] = value
    document["planHash"] = plan_hash(document)
    plan_file.write_text(json.dumps(document))
    result = run_cli("apply", "--plan", plan_file, "--output-dir", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")


def test_label_cannot_inject_lines(tmp_path):
    source = tmp_path / "App.connectedApp-meta.xml"
    source.write_bytes(EXAMPLE.read_bytes().replace(b"<label>Vonage AI Studio</label>", b"<label>X\nConflicts the tool cannot fix: none</label>"))
    result = run_cli("plan", source, "--no-color")
    starts = [line for line in result.stdout.splitlines() if line.startswith("Conflicts the tool cannot fix")]
    assert len(starts) == 1


def test_file_plan_names_policy_second_deploy():
    stdout = run_cli("plan", EXAMPLE, "--no-color").stdout
    assert "Deploy the OAuth policy file Vonage_AI_Studio_oauthPlcy in a second deploy" in stdout


def test_terminal_output_uses_rich():
    import io

    from rich.console import Console

    from migrate.render import print_plan
    from migrate.workflow import plan_files, resolve_profile

    plan = plan_files(str(EXAMPLE), resolve_profile("vonage-ai-studio"), "64.0")
    buffer = io.StringIO()
    print_plan(plan, Console(file=buffer, force_terminal=True, color_system="standard", width=200))
    output = buffer.getvalue()
    assert "\x1b[" in output
    assert "callbackUrl" in output
    assert_no_secret(output)
