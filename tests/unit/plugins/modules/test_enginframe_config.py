"""The enginframe_config module with arguments injected as Ansible does, on a temporary folder.

A first run writes the file (mode 0600), a second reports no change, check mode writes nothing, diff mode masks the
passwords before and after, the results never hold a password, bad settings and a bad extra key fail naming them.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hpcops.aws_hpc.plugins.modules import enginframe_config

DB_PASSWORD = "Db:pass=word!42"
EFADMIN_PASSWORD = "test123456!"
SETTINGS = {
    "accept_eula": True,
    "java_home": "/usr/lib/jvm/java-17-openjdk-amd64",
    "db_host": "10.0.0.5",
    "db_name": "enginframe",
    "db_user": "efdbadmin",
    "pam_service": "common-auth",
}


def run(capsys, dest, **args):
    params = dict(dest=str(dest), settings=SETTINGS, db_password=DB_PASSWORD, efadmin_password=EFADMIN_PASSWORD)
    params.update(args)
    with patch_module_args(params), pytest.raises(SystemExit):
        enginframe_config.main()
    out = capsys.readouterr().out
    for secret in (DB_PASSWORD, EFADMIN_PASSWORD, "Db\\:pass\\=word\\!42", "test123456\\!"):
        assert secret not in out
    return json.loads(out)


def test_write_then_no_change(tmp_path, capsys):
    dest = tmp_path / "efinstall.config"
    first = run(capsys, dest)
    assert first["changed"] is True
    assert first["checked"] is True
    assert first["dest"] == str(dest)
    assert "kernel.ef.db.url" in first["keys"]
    assert first["keys"] == sorted(first["keys"])
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    text = dest.read_text()
    assert "kernel.ef.db.url = jdbc\\:mysql\\://10.0.0.5\\:3306/enginframe\n" in text
    assert "kernel.ef.db.admin.password = Db\\:pass\\=word\\!42\n" in text
    assert "pam.service = common-auth\n" in text

    second = run(capsys, dest)
    assert second["changed"] is False
    assert list(tmp_path.iterdir()) == [dest]  # no temporary file left


def test_mode_is_restored_and_reported(tmp_path, capsys):
    dest = tmp_path / "efinstall.config"
    run(capsys, dest)
    os.chmod(dest, 0o644)
    assert run(capsys, dest)["changed"] is True
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    assert run(capsys, dest, mode="0640")["changed"] is True
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o640


def test_check_mode_writes_nothing(tmp_path, capsys):
    dest = tmp_path / "efinstall.config"
    result = run(capsys, dest, _ansible_check_mode=True)
    assert result["changed"] is True
    assert not dest.exists()
    run(capsys, dest)
    before = dest.read_text()
    changed = run(capsys, dest, db_password="other-password-9", _ansible_check_mode=True)
    assert changed["changed"] is True
    assert dest.read_text() == before


def test_diff_masks_passwords_before_and_after(tmp_path, capsys):
    dest = tmp_path / "efinstall.config"
    run(capsys, dest)
    result = run(capsys, dest, db_password="A-new:secret=1", _ansible_diff=True)
    assert result["changed"] is True
    diff = result["diff"]
    for side in ("before", "after"):
        assert "kernel.ef.db.admin.password = ********\n" in diff[side]
        assert "pam.userpw = ********\n" in diff[side]
        assert "secret" not in diff[side]
        assert "Db\\:pass" not in diff[side]
    assert "kernel.ef.db.admin.name = efdbadmin\n" in diff["after"]


def test_new_file_diff_has_empty_before(tmp_path, capsys):
    result = run(capsys, tmp_path / "efinstall.config", _ansible_diff=True, _ansible_check_mode=True)
    assert result["diff"]["before"] == ""
    assert "pam.userpw = ********" in result["diff"]["after"]


def test_without_efadmin_password(tmp_path, capsys):
    dest = tmp_path / "efinstall.config"
    result = run(capsys, dest, efadmin_password=None)
    assert "pam.userpw" not in result["keys"]


def test_bad_settings_fail_naming_them(tmp_path, capsys):
    dest = tmp_path / "efinstall.config"
    result = run(capsys, dest, settings=dict(SETTINGS, accept_eula=False, db_name="bad-name"))
    assert result["failed"] is True
    assert "settings.accept_eula must be true" in result["msg"]
    assert "settings.db_name must be" in result["msg"]
    assert not dest.exists()


def test_undocumented_extra_key_fails_the_key_check(tmp_path, capsys):
    dest = tmp_path / "efinstall.config"
    result = run(capsys, dest, settings=dict(SETTINGS, extra={"kernel.ef.admin.passwd": "x"}))
    assert result["failed"] is True
    assert result["problems"] == ["settings.extra.kernel.ef.admin.passwd is not a documented efinstall.config key"]
    assert not dest.exists()


def test_a_problem_of_the_rendered_file_fails_before_writing(tmp_path, capsys, monkeypatch):
    dest = tmp_path / "efinstall.config"
    monkeypatch.setattr(enginframe_config._enginframe, "REQUIRED_KEYS", ("kernel.agent.host",))
    result = run(capsys, dest)
    assert result["failed"] is True
    assert result["problems"] == ["required key 'kernel.agent.host' is missing"]
    assert "fails the installer's key check" in result["msg"]
    assert not dest.exists()


def test_missing_folder_fails(tmp_path, capsys):
    result = run(capsys, tmp_path / "no" / "efinstall.config")
    assert result["failed"] is True
    assert "does not exist" in result["msg"]


def test_passwords_are_no_log_options():
    spec = enginframe_config.ARGUMENT_SPEC
    assert spec["db_password"]["no_log"] is True
    assert spec["efadmin_password"]["no_log"] is True
