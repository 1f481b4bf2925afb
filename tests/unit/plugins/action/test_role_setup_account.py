"""Who runs HPC Pack setup and the cluster configuration, and which HPC Pack version is installed.

The roles' become settings are rendered from their own files (role_render.py) and handed to the action plugins
the way the task executor does (Ansible's runas plugin on the connection); the scripted host runs each script as
the account those settings name (scripted_host.py says where each behaviour comes from).
"""

from __future__ import annotations

import pytest
from role_render import ROOT, RoleRenderer, module_of, role_tasks
from scripted_host import ClusterHost, ComputeNodeHost, HeadNodeHost, SqlServerHost, fixture, run_action, runas

from ansible_collections.hpcops.aws_hpc.plugins.action.win_hpc_cluster import ActionModule as ClusterAction
from ansible_collections.hpcops.aws_hpc.plugins.action.win_hpc_computenode import ActionModule as ComputeAction
from ansible_collections.hpcops.aws_hpc.plugins.action.win_hpc_headnode import ActionModule as HeadAction
from ansible_collections.hpcops.aws_hpc.plugins.action.win_hpc_sqlserver import ActionModule as SqlAction
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack import HPCPACK_VERSIONS, hpc_databases

SERVICE_PASSWORD = "Svc-Secret.3Jd8~zR"
SSM = {
    "/service-account/username": "hpcservice",
    "/service-account/password": SERVICE_PASSWORD,
    "/sql-server/service-account/username": "hpcsql",
    "/sql-server/service-account/password": "Sql-Secret.9f2Kq~Lx",
    "/certificate/hpc/password": "Cert-Secret.7Hs2~pQ",
}
DOMAIN = {"headnode_domain": "hpc.example.com", "computenode_domain": "hpc.example.com"}
HEAD_ARGS = {
    "certificate": {"password": "Cert-Secret.7Hs2~pQ"},
    "install": {
        "cluster_name": "headnode.hpc.internal",
        "sql_server": "mssql.hpc.internal",
        "sql_username": "hpcsql",
        "sql_password": "Sql-Secret.9f2Kq~Lx",
    },
}
CLUSTER_ARGS = {"job_credential": {"username": "HPC\\hpcservice", "password": SERVICE_PASSWORD}}
AS_SERVICE = runas("HPC\\hpcservice", SERVICE_PASSWORD)


def tasks_of(role, module):
    return [t for t in role_tasks(role) if module_of(t) == "hpcops.aws_hpc." + module]


# ------------------------------------------------------------------------------ what the roles pass


@pytest.mark.parametrize("module", ["win_hpc_headnode", "win_hpc_cluster"])
def test_headnode_setup_and_configuration_run_as_the_domain_service_account(module):
    renderer = RoleRenderer("headnode", DOMAIN, SSM)
    (task,) = tasks_of("headnode", module)
    become = renderer.become_of(task)
    assert become["become"] is True
    assert become["become_method"] == "ansible.builtin.runas"
    assert become["become_user"] == "HPC\\hpcservice"  # the SSM user name, qualified with the domain
    assert become["password"] == SERVICE_PASSWORD  # read from SSM at run time
    assert task["no_log"] is True


def test_the_job_credential_is_the_account_the_task_runs_as():
    renderer = RoleRenderer("headnode", DOMAIN, SSM)
    (task,) = tasks_of("headnode", "win_hpc_cluster")
    args = task["hpcops.aws_hpc.win_hpc_cluster"]
    assert renderer.render(args["job_credential"]["username"]) == renderer.become_of(task)["become_user"]


@pytest.mark.parametrize("module", ["win_hpc_computenode"])
def test_computenode_double_hop_runs_as_the_qualified_service_account(module):
    renderer = RoleRenderer("computenode", DOMAIN, SSM)
    for task in tasks_of("computenode", module):
        become = renderer.become_of(task)
        assert become["become_user"] == "HPC\\hpcservice"
        assert become["password"] == SERVICE_PASSWORD
        assert "logon_type=new_credentials" in become["become_flags"]
        assert task["no_log"] is True


@pytest.mark.parametrize("role", ["headnode", "computenode"])
def test_every_task_that_touches_a_secret_has_no_log(role):
    for task in role_tasks(role):
        text = repr(task)
        if "ssm_parameter" in text or "ansible_become_password" in text:
            assert task.get("no_log") is True, task["name"]


@pytest.mark.parametrize(
    ("role", "inventory", "ssm_user", "expected"),
    [
        ("headnode", {"headnode_domain": "hpc.example.com"}, "hpcservice", "HPC\\hpcservice"),
        ("headnode", {}, "CORP\\svc-hpc", "CORP\\svc-hpc"),
        ("headnode", {}, "svc-hpc@corp.example.com", "svc-hpc@corp.example.com"),
        ("headnode", {"headnode_service_account": "CORP\\other", "headnode_domain": "x.y"}, "svc", "CORP\\other"),
        ("computenode", {"computenode_domain": "hpc.example.com"}, "hpcservice", "HPC\\hpcservice"),
        ("computenode", {"computenode_service_account": "HPC\\cn"}, "hpcservice", "HPC\\cn"),
    ],
)
def test_the_service_account_defaults_to_the_ssm_user_name_with_its_domain(role, inventory, ssm_user, expected):
    renderer = RoleRenderer(role, inventory, dict(SSM, **{"/service-account/username": ssm_user}))
    assert renderer.render("{{ _%s_service_account }}" % role) == expected  # noqa: UP031 - Jinja braces
    (check,) = [t for t in role_tasks(role) if "_service_account" in repr(t.get("ansible.builtin.assert", {}))]
    assert renderer.assert_holds(check)[0] is True


@pytest.mark.parametrize("role", ["headnode", "computenode"])
def test_a_bare_user_name_without_a_domain_stops_validation_naming_the_variable(role):
    renderer = RoleRenderer(role, {}, SSM)  # "hpcservice" and no domain: runas would look it up locally
    (check,) = [t for t in role_tasks(role) if "_service_account" in repr(t.get("ansible.builtin.assert", {}))]
    held, message = renderer.assert_holds(check)
    assert held is False
    assert f"{role}_service_account must name the domain account" in message
    assert "/service-account/username" in message


@pytest.mark.parametrize("role", ["headnode", "computenode", "sqlserver"])
def test_no_backslash_escape_in_the_roles_templates(role):
    """Ansible keeps a backslash escape inside a Jinja string literal as written ('\\\\' is two characters there,
    one for plain Jinja and this file's renderer): the roles build a backslash with format(92) instead."""
    for path in sorted((ROOT / "roles" / role).rglob("*.yml")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            assert "'\\\\" not in line and '"\\\\' not in line, f"{path.relative_to(ROOT)}:{number}: {line}"


def test_the_service_account_variables_are_documented_with_their_default():
    import yaml

    for role in ("headnode", "computenode"):
        spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
        option = spec["argument_specs"]["main"]["options"][f"{role}_service_account"]
        assert option["type"] == "str" and option["default"] == ""
    head = yaml.safe_load((ROOT / "roles" / "headnode" / "meta" / "argument_specs.yml").read_text())
    sql = yaml.safe_load((ROOT / "roles" / "sqlserver" / "meta" / "argument_specs.yml").read_text())
    for spec, name in ((head, "headnode_hpcpack_version"), (sql, "sqlserver_hpcpack_version")):
        assert spec["argument_specs"]["main"]["options"][name]["choices"] == list(HPCPACK_VERSIONS)


# ------------------------------------------------------------------ the account, on the scripted host


def test_setup_as_the_connection_user_is_refused_before_any_change():
    host = HeadNodeHost(fixture("headnode_fresh"))
    result = run_action(HeadAction, HEAD_ARGS, host)
    assert result["failed"] is True
    assert "EC2AMAZ-HN01\\Administrator" in result["msg"] and "a local account" in result["msg"]
    assert "headnode_service_account" in result["msg"]
    assert host.mutating_calls() == [] and host.round_trips == 1


def test_setup_runs_as_the_service_account_the_role_names():
    renderer = RoleRenderer("headnode", DOMAIN, SSM)
    (task,) = tasks_of("headnode", "win_hpc_headnode")
    host = HeadNodeHost(fixture("headnode_fresh"))
    result = run_action(HeadAction, HEAD_ARGS, host, become=renderer.become_plugin(task))
    assert result.get("failed") is not True, result
    assert host.setup_run_as == "HPC\\hpcservice"
    assert all(c["run_as"] == "HPC\\hpcservice" and c["become_password_given"] for c in host.calls)


def test_a_domain_user_without_local_admin_rights_is_refused():
    host = HeadNodeHost(fixture("headnode_fresh"))
    result = run_action(HeadAction, HEAD_ARGS, host, become=runas("HPC\\hpcuser", "x"))
    assert result["failed"] is True and "without local administrator rights" in result["msg"]
    assert host.mutating_calls() == []


def test_a_bare_become_user_is_looked_up_locally_and_fails_to_log_on():
    host = HeadNodeHost(fixture("headnode_fresh"))
    result = run_action(HeadAction, HEAD_ARGS, host, become=runas("hpcservice", SERVICE_PASSWORD))
    assert result["failed"] is True and "Failed to become user hpcservice" in result["msg"]
    assert SERVICE_PASSWORD not in str(result)


def test_job_credential_goes_to_the_service_accounts_cache_and_is_not_set_again():
    host = ClusterHost(fixture("cluster_installed"))
    first = run_action(ClusterAction, CLUSTER_ARGS, host, become=AS_SERVICE)
    assert first.get("failed") is not True, first
    assert host.credential_cache == {"HPC\\hpcservice": "HPC\\hpcservice"}
    again = run_action(ClusterAction, CLUSTER_ARGS, host, become=AS_SERVICE)
    assert again["changed"] is False, again["changes"]
    # A no-op run as another account changes nothing and needs nothing from it.
    other = run_action(ClusterAction, CLUSTER_ARGS, host)
    assert other.get("failed") is not True and other["changed"] is False


def test_job_credential_set_earlier_as_the_connection_user_is_set_again_as_the_service_account():
    state = fixture("cluster_installed")
    state["job_credential"] = {"UserName": "HPC\\hpcservice", "CachedBy": "EC2AMAZ-HN01\\Administrator"}
    host = ClusterHost(state)
    refused = run_action(ClusterAction, CLUSTER_ARGS, host)
    assert refused["failed"] is True and "headnode_service_account" in refused["msg"]
    assert host.mutating_calls() == []
    result = run_action(ClusterAction, CLUSTER_ARGS, host, become=AS_SERVICE, diff=True)
    assert [c["step"] for c in result["changes"]] == ["job_credential"]
    assert result["diff"]["before"]["job_credential_cached_by"] == "EC2AMAZ-HN01\\Administrator"
    assert host.credential_cache == {"HPC\\hpcservice": "HPC\\hpcservice"}


def test_computenode_bare_runas_user_cannot_reach_the_share():
    args = {"headnode": "headnode.hpc.internal", "pfx_password": "Cert-Secret.7Hs2~pQ"}
    flags = "logon_type=new_credentials logon_flags=netcredentials_only"
    host = ComputeNodeHost(fixture("computenode_fresh"))
    result = run_action(ComputeAction, args, host, become=runas("hpcservice", SERVICE_PASSWORD, flags))
    assert result["failed"] is True and "Access is denied" in result["msg"] and "double hop" in result["msg"]
    host = ComputeNodeHost(fixture("computenode_fresh"))
    renderer = RoleRenderer("computenode", DOMAIN, SSM)
    task = tasks_of("computenode", "win_hpc_computenode")[0]
    result = run_action(ComputeAction, args, host, become=renderer.become_plugin(task))
    assert result.get("failed") is not True, result
    assert host.network_account == "HPC\\hpcservice"


# -------------------------------------------------------------------------------- HPC Pack 2019


def test_hpc_pack_2019_head_node_gets_the_ha_connection_strings_and_its_install_share():
    host = HeadNodeHost(fixture("headnode_fresh"), setup_major=6)
    result = run_action(HeadAction, dict(HEAD_ARGS, hpcpack_version="2019"), host, become=AS_SERVICE)
    assert result.get("failed") is not True, result
    assert result["hpcpack_version"] == "2019"
    assert [s.upper() for s in host.setup_switches][-2:] == ["HASTORAGEDBCONSTR", "HAWITNESSDBCONSTR"]
    publish = next(c for c in result["changes"] if c["step"] == "publish")
    assert publish["object"].startswith("C:\\Program Files\\Microsoft HPC Pack 2019\\Data\\InstallShare\\")
    install = host.calls[-1]["params"]["install"]
    assert [s["catalog"] for s in install["switches"]][-2:] == ["HPCHAStorage", "HPCHAWitness"]


def test_hpc_pack_2016_head_node_keeps_the_five_and_the_2016_share():
    host = HeadNodeHost(fixture("headnode_fresh"), setup_major=5)
    result = run_action(HeadAction, HEAD_ARGS, host, become=AS_SERVICE)
    assert result.get("failed") is not True, result
    assert len(host.setup_switches) == 5
    publish = next(c for c in result["changes"] if c["step"] == "publish")
    assert "Microsoft HPC Pack 2016" in publish["object"]


@pytest.mark.parametrize(("version", "major", "found"), [("2016", 6, "2019"), ("2019", 5, "2016")])
def test_a_setup_of_the_other_version_is_refused_before_any_change(version, major, found):
    host = HeadNodeHost(fixture("headnode_fresh"), setup_major=major)
    result = run_action(HeadAction, dict(HEAD_ARGS, hpcpack_version=version), host, become=AS_SERVICE)
    assert result["failed"] is True
    assert f"is HPC Pack {found}" in result["msg"] and "headnode_hpcpack_version" in result["msg"]
    assert host.mutating_calls() == []


def test_an_empty_publish_folder_still_skips_publishing():
    host = HeadNodeHost(fixture("headnode_fresh"))
    result = run_action(HeadAction, dict(HEAD_ARGS, publish_certificate=""), host, become=AS_SERVICE)
    assert "publish" not in [c["step"] for c in result["changes"]]


@pytest.mark.parametrize("version", HPCPACK_VERSIONS)
def test_the_sqlserver_role_creates_the_databases_the_head_node_connects_to(version):
    """One hpc_pack_version for the inventory: the SQL Server role's list is the planner's, database by database."""
    renderer = RoleRenderer("sqlserver", {"hpc_pack_version": version}, SSM)
    (task,) = tasks_of("sqlserver", "win_hpc_sqlserver")
    databases = renderer.render(task["hpcops.aws_hpc.win_hpc_sqlserver"]["databases"])
    assert [d["name"] for d in databases] == list(hpc_databases(version))
    head = RoleRenderer("headnode", {"hpc_pack_version": version}, SSM)
    assert head.render("{{ headnode_hpcpack_version }}") == version
    host = SqlServerHost(fixture("sqlserver_fresh"))
    args = {"volume": {"drive_letter": "D"}, "databases": databases}
    result = run_action(SqlAction, args, host)
    assert result.get("failed") is not True, result
    assert sorted(result["databases"]) == sorted(hpc_databases(version))
