"""_enginframe: Java properties escaping, the installer's key check, masking, settings -> properties."""

from __future__ import annotations

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _enginframe as ef

SETTINGS = {
    "accept_eula": True,
    "top_dir": "/opt/nice",
    "java_home": "/usr/lib/jvm/java-17-openjdk-amd64",
    "spooler_dir": None,
    "product": "PRO",
    "admin_user": "efadmin",
    "tomcat_user": "efnobody",
    "root_context": "enginframe",
    "https_port": 8443,
    "shutdown_port": 8005,
    "hostname": None,
    "db_host": "db.example.internal",
    "db_port": 3306,
    "db_name": "enginframe",
    "db_user": "efdbadmin",
    "db_password_in_keystore": True,
    "pam_service": "common-auth",
    "slurm_binaries_path": "/opt/slurm/bin",
    "start_at_boot": True,
    "extra": {},
}
DB_PASSWORD = "db:pa=ss\\word#1!"
EFADMIN_PASSWORD = "test123456!"


def rendered(**changes):
    return ef.render(ef.build_pairs(dict(SETTINGS, **changes), DB_PASSWORD, EFADMIN_PASSWORD))


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("jdbc:mysql://h:3306/db", "jdbc\\:mysql\\://h\\:3306/db"),
        ("a=b", "a\\=b"),
        ("back\\slash", "back\\\\slash"),
        ("#!", "\\#\\!"),
        (" lead", "\\ lead"),
        ("tab\there", "tab\\there"),
        ("line\nbreak", "line\\nbreak"),
        ("caf\u00e9", "caf\\u00e9"),
        ("\U0001f600", "\\ud83d\\ude00"),
        ("plain value", "plain value"),
    ],
)
def test_escape_as_properties_store_writes(value, written):
    assert ef.escape_value(value) == written
    assert ef.unescape(written) == value


def test_parse_reads_continuations_separators_and_escapes():
    text = "# comment\n! also\n\nkey.one = a\\\n    b\nkey\\:two:c\\=d\n  key.three=\\u0041\n"
    entries, malformed = ef.parse(text)
    assert malformed == []
    assert entries == [(4, "key.one", "ab"), (6, "key:two", "c=d"), (7, "key.three", "A")]


def test_render_round_trips_every_value():
    entries, malformed = ef.parse(rendered())
    values = {key: value for _line, key, value in entries}
    assert malformed == []
    assert values["kernel.ef.db.admin.password"] == DB_PASSWORD
    assert values["pam.userpw"] == EFADMIN_PASSWORD
    assert values["kernel.ef.db.url"] == "jdbc:mysql://db.example.internal:3306/enginframe"
    assert values["ef.jobmanager"] == "slurm"
    assert values["kernel.tomcat.https.port"] == "8443"
    assert values["ef.spooler.dir"] == "/opt/nice/enginframe/spoolers"
    assert "kernel.ef.db.url = jdbc\\:mysql\\://db.example.internal\\:3306/enginframe\n" in rendered()


def test_rendered_file_passes_the_key_check():
    assert ef.check_keys(rendered()) == []


def test_ipv6_host_is_bracketed():
    assert ef.jdbc_url("fd00::5", 3306, "ef") == "jdbc:mysql://[fd00::5]:3306/ef"


def test_extra_replaces_in_place_and_appends_sorted():
    pairs = ef.build_pairs(dict(SETTINGS, extra={"demo.install": True, "kernel.agent.host": "h1"}), "x")
    keys = [key for key, _value in pairs]
    assert dict(pairs)["demo.install"] == "True"
    assert keys.index("demo.install") < keys.index("default.auth.mgr")
    assert keys[-3:] == ["kernel.agent.host", "intro-targets", "progress-targets"]


def test_no_efadmin_password_leaves_pam_userpw_out():
    pairs = dict(ef.build_pairs(SETTINGS, "x", None))
    assert "pam.userpw" not in pairs
    assert pairs["pam.user"] == "efadmin"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kernel.ef.dbb = x\n", "line 1: 'kernel.ef.dbb' is not a documented efinstall.config key"),
        ("ef.accept.eula true\n", "line 1: malformed, no '=' between the key and the value (expected 'key = value')"),
        ("= value\n", "line 1: malformed, no key before the separator"),
        ("pam.user = \\u00zz\n", "line 1: malformed, malformed \\uXXXX escape"),
        ("demo.install = true\ndemo.install = false\n", "line 2: 'demo.install' repeats line 1"),
        ("demo.install = true\n", "required key 'kernel.ef.db' is missing"),
        ("ef.accept.eula = false\n", "'ef.accept.eula' is not 'true'"),
        ("kernel.ef.db = other-db\n", "required key 'kernel.ef.db.url' is missing"),
        ("kernel.ef.db = derby\n", "required key 'kernel.ef.derby.db.port' is missing"),
        ("kernel.server.tomcat.https = false\n", "required key 'kernel.tomcat.port' is missing"),
        ("ef.jobmanager = pbs,slurm\n", "required key 'slurm.binaries.path' is missing"),
        ("kernel.ef.db = other-db\nkernel.ef.db.url = mysql\\://h/x\n", "'kernel.ef.db.url' is not a JDBC URL"),
    ],
)
def test_check_keys_names_each_problem(text, expected):
    problems = ef.check_keys(text)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_check_keys_of_a_good_file_with_one_bad_key_reports_only_it():
    text = rendered() + "kernel.ef.admin.password = secret-value\n"
    problems = ef.check_keys(text)
    assert len(problems) == 1
    assert "'kernel.ef.admin.password' is not a documented" in problems[0]
    assert "secret-value" not in problems[0]


def test_every_required_and_conditional_key_is_documented():
    needed = set(ef.REQUIRED_KEYS) | {key for _k, _t, keys in ef.CONDITIONAL_KEYS for key in keys}
    assert needed <= ef.DOCUMENTED_KEYS
    assert ef.SECRET_KEYS <= ef.DOCUMENTED_KEYS


def test_mask_hides_every_password_even_escaped_and_continued():
    text = rendered() + "ldap.userpw = first\\\n   second\n"
    masked = ef.mask(text)
    assert "kernel.ef.db.admin.password = ********\n" in masked
    assert "pam.userpw = ********\n" in masked
    assert "ldap.userpw = ********\n" in masked
    for secret in (ef.escape_value(DB_PASSWORD), ef.escape_value(EFADMIN_PASSWORD), "first", "second"):
        assert secret not in masked
    assert "kernel.ef.db.admin.name = efdbadmin\n" in masked


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"accept_eula": False}, "settings.accept_eula must be true"),
        ({"java_home": "jvm"}, "settings.java_home must be an absolute path"),
        ({"root_context": "a/b"}, "settings.root_context must be"),
        ({"https_port": 0}, "settings.https_port must be a TCP port"),
        ({"db_host": "h/x"}, "settings.db_host must be a host name"),
        ({"db_name": "ef-db"}, "settings.db_name must be"),
        ({"db_user": ""}, "settings.db_user must not be empty"),
        ({"extra": {"no.such.key": "1"}}, "settings.extra.no.such.key is not a documented"),
        ({"extra": {"pam.userpw": "1"}}, "settings.extra.pam.userpw cannot be set"),
    ],
)
def test_check_settings_names_the_setting(changes, expected):
    problems = ef.check_settings(dict(SETTINGS, **changes))
    assert any(problem.startswith(expected) for problem in problems), problems


def test_good_settings_have_no_problem():
    assert ef.check_settings(SETTINGS) == []


def test_render_refuses_a_key_that_is_not_a_property_key():
    with pytest.raises(ValueError, match="is not a property key"):
        ef.render([("bad key", "v")])
