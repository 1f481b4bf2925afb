"""lab/portallab.py: the pure parts of the lab's portal host (names, address, sshd, MariaDB argv, inventory)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import portallab  # lab/ is on sys.path (tests/conftest.py)
import pytest
import slurmlab
import yaml

SUBNET = ipaddress.ip_network("10.213.77.0/24")
SLURM_STATE = {
    "plan": {
        "bridge_addr": "10.213.77.1/24",
        "hosts": [
            {"name": "lab-head", "addr": "10.213.77.10", "role": "head"},
            {"name": "compute-dy-c5large-1", "addr": "10.213.77.11", "role": "compute"},
        ],
    }
}


def plan(**extra):
    return {
        "netns": "hpcportal-portal",
        "inventory_host": "lab-portal",
        "veth": "hsvportal",
        "peer": "hspportal",
        "bridge": "hpcslurm0",
        "address": "10.213.77.254",
        "prefix": 24,
        "key": "/lab/.lab/slurm/ssh/id_ed25519",
        "socket": "/run/hpcops-lab-0123456789ab/portal/mysqld.sock",
        "lab_root": "/lab/.lab/portal/root",
        "datadir": "/lab/.lab/portal/mysql",
        **extra,
    }


def test_names_default_and_second_lab():
    assert portallab.names({}) == {"netns": "hpcportal-portal", "veth": "hsvportal", "peer": "hspportal"}
    assert portallab.names({"LAB_SLURM_NS_PREFIX": "hpcslurm-"})["netns"] == "hpcportal-portal"
    second = portallab.names({"LAB_SLURM_NS_PREFIX": "hpcanyf-", "LAB_SLURM_VETH_PREFIX": "ha"})
    assert second == {"netns": "hpcanyfportal-portal", "veth": "havportal", "peer": "happortal"}
    # slurmlab takes every namespace with its prefix for its own: the portal's must not have it
    assert not second["netns"].startswith("hpcanyf-")
    assert portallab.names({"LAB_PORTAL_NS": "mine-", "LAB_SLURM_NS_PREFIX": "x-"})["netns"] == "mine-portal"


def test_names_refuse_a_veth_name_linux_cannot_hold():
    with pytest.raises(ValueError, match="too long"):
        portallab.names({"LAB_SLURM_VETH_PREFIX": "averylongpfx"})


def test_used_addresses_reads_the_slurm_lab():
    used = portallab.used_addresses(SLURM_STATE, ["10.213.77.1/24", "10.213.77.5/24"])
    assert used == {"10.213.77.1", "10.213.77.5", "10.213.77.10", "10.213.77.11"}
    assert portallab.used_addresses(None) == set()


def test_choose_address_takes_the_top_of_the_subnet():
    assert portallab.choose_address(SUBNET, portallab.used_addresses(SLURM_STATE)) == "10.213.77.254"
    assert portallab.choose_address(SUBNET, {"10.213.77.254"}) == "10.213.77.253"
    assert portallab.choose_address(ipaddress.ip_network("10.213.99.0/28"), set()) == "10.213.99.14"


def test_choose_address_never_collides_with_slurmlab_numbering():
    # slurmlab: bridge = first usable address, head = 10th, computes after it
    slurm_plan = slurmlab.layout({}, 2)
    state = {"plan": slurm_plan}
    address = portallab.choose_address(slurmlab.SUBNET, portallab.used_addresses(state))
    assert address not in {h["addr"] for h in slurm_plan["hosts"]}
    assert address != slurm_plan["bridge_addr"].split("/")[0]
    assert ipaddress.ip_address(address) in slurmlab.SUBNET


def test_choose_address_fails_when_the_subnet_is_full():
    small = ipaddress.ip_network("10.213.99.0/30")  # two usable: the bridge's and one more
    with pytest.raises(ValueError, match="no free address"):
        portallab.choose_address(small, {"10.213.99.2"})


def test_sshd_config_is_key_only_root_on_its_address():
    text = portallab.render_sshd_config(portallab.SSHD_TEMPLATE.read_text(), "10.213.77.254", Path("/lab/.lab/portal"))
    lines = set(text.splitlines())
    assert "ListenAddress 10.213.77.254" in lines
    assert "PermitRootLogin prohibit-password" in lines
    assert "PasswordAuthentication no" in lines
    assert "KbdInteractiveAuthentication no" in lines
    assert "AuthorizedKeysFile /lab/.lab/portal/ssh/authorized_keys" in lines
    assert "HostKey /lab/.lab/portal/ssh/host_ed25519" in lines
    assert "{" not in text


def test_mariadb_argv():
    install = portallab.install_db_argv(Path("/lab/.lab/portal/mysql"))
    assert install[:2] == ["mariadb-install-db", "--no-defaults"]
    assert "--user=root" in install and "--auth-root-authentication-method=socket" in install
    assert "--datadir=/lab/.lab/portal/mysql" in install
    argv = portallab.mariadbd_argv(
        "10.213.77.254",
        Path("/d"),
        Path("/run/x/portal/mysqld.sock"),
        Path("/s/run/mariadbd.pid"),
        Path("/s/log/mariadbd.err"),
    )
    assert argv[:2] == ["mariadbd", "--no-defaults"]  # --no-defaults must come first
    for option in (
        "--user=root",
        "--datadir=/d",
        "--socket=/run/x/portal/mysqld.sock",
        "--pid-file=/s/run/mariadbd.pid",
        "--bind-address=10.213.77.254",
        "--port=3306",
        "--skip-name-resolve",
    ):
        assert option in argv


def test_inventory_matches_the_slurm_labs_connection_settings():
    data = yaml.safe_load(portallab.render_inventory(plan()))
    assert list(data["all"]["children"]) == ["portal"]
    assert list(data["all"]["children"]["portal"]["hosts"]) == ["lab-portal"]
    host = data["all"]["children"]["portal"]["hosts"]["lab-portal"]
    assert host == {
        "ansible_host": "10.213.77.254",
        "ansible_user": "root",
        "ansible_ssh_private_key_file": "/lab/.lab/slurm/ssh/id_ed25519",
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes",
        "ansible_python_interpreter": "/usr/bin/python3",
        "portal_db_local_socket": "/run/hpcops-lab-0123456789ab/portal/mysqld.sock",
        "portal_lab_root": "/lab/.lab/portal/root",
        "portal_lab_address": "10.213.77.254",
    }


def test_inventory_uses_the_same_settings_as_slurmlab(tmp_path, monkeypatch):
    monkeypatch.setattr(slurmlab, "INVENTORY", tmp_path / "slurm.yml")
    slurmlab.write_inventory(slurmlab.layout({}, 1))
    slurm_vars = yaml.safe_load((tmp_path / "slurm.yml").read_text())["all"]["children"]["pcluster"]["vars"]
    host = portallab.inventory(plan())["all"]["children"]["portal"]["hosts"]["lab-portal"]
    for key in ("ansible_user", "ansible_ssh_common_args", "ansible_python_interpreter"):
        assert host[key] == slurm_vars[key]
    assert host["ansible_ssh_private_key_file"] == plan()["key"]


def test_inventory_host_is_the_portal_name_of_the_slurm_labs_cluster():
    # the portal role's portal_name (<cluster>-portal), the hpc_ec2 name of the portal's EC2 instance;
    # never `portal`, the group's own name
    assert portallab.inventory_host(None) == "lab-portal"
    assert portallab.inventory_host({"plan": {"cluster": "demo"}}) == "demo-portal"
    assert portallab.inventory_host(SLURM_STATE) == "lab-portal"


def test_client_key_is_the_slurm_labs_when_it_exists(tmp_path, monkeypatch):
    monkeypatch.setattr(slurmlab, "STATE", tmp_path / "slurm")
    monkeypatch.setattr(portallab, "STATE", tmp_path / "portal")
    assert portallab.client_key() == tmp_path / "portal" / "ssh" / "id_ed25519"
    (tmp_path / "slurm" / "ssh").mkdir(parents=True)
    (tmp_path / "slurm" / "ssh" / "id_ed25519").write_text("key")
    assert portallab.client_key() == tmp_path / "slurm" / "ssh" / "id_ed25519"


def test_socket_lives_in_the_per_checkout_runtime_folder():
    assert portallab.SOCKET_DIR.parent == slurmlab.RUNTIME
    # a unix socket path holds at most 107 bytes
    assert len(str(portallab.SOCKET_DIR / "mysqld.sock")) < 108


def test_write_if_changed(tmp_path):
    path = tmp_path / "f"
    assert portallab.write_if_changed(path, "a", 0o600)
    assert not portallab.write_if_changed(path, "a", 0o600)
    assert portallab.write_if_changed(path, "b")
    assert path.read_text() == "b"
