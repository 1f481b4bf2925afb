"""Bring up, tear down and describe the lab's portal host.

The portal role configures an EC2 instance that runs EnginFrame against Aurora MySQL; the lab has
neither, so it stands a host in for the instance: a network namespace with host name `portal` on the
Slurm lab's bridge (lab/slurmlab.py, which must be up first), with its own address in the Slurm lab's
subnet (the top of it: slurmlab numbers its hosts from the bottom), its own sshd (key-only root login
with the Slurm lab's key, so one key reaches every lab host) and a real MariaDB from Debian in place of
Aurora (the role's portal_db_local: true).

    portallab.py up        create (idempotent: a second `up` changes nothing)
    portallab.py down      stop what `up` started (by pid) and remove it all
    portallab.py status    say what is running (exit 3 when stopped)

Needs root, Debian's mariadb-server and openssh-server (lab/debian-deps.sh) and the Slurm lab's bridge.
Traffic stays on that bridge and loopback. Everything it writes is under .lab/portal/ (MariaDB's data
folder, logs, keys, state.json and the Ansible inventory .lab/portal/inventory.yml: group `portal`, host
`<cluster>-portal`, the name the hpc_ec2 inventory gives the portal's EC2 instance, which it stands in for),
except MariaDB's socket: a unix socket path is limited to 108 bytes, so it lives in the per-checkout
folder under /run that slurmlab keeps munged's files in (/run/hpcops-lab-<hash>/portal, mode 0700
root). mariadbd runs as root (root may enter a checkout in a folder only root may enter); root reaches
it through that socket with unix_socket authentication, and no account may log in over TCP.

Names follow the Slurm lab's: a second lab on the same machine (LAB_SLURM_BRIDGE, LAB_SLURM_SUBNET,
LAB_SLURM_NS_PREFIX, LAB_SLURM_VETH_PREFIX) gets its own namespace and veth names without more
settings; LAB_PORTAL_NS sets the namespace name prefix outright.
This is lab tooling; nothing under plugins/ or roles/ imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import slurmlab  # lab/ is the script's folder, first on sys.path
from _proc import alive

ROOT = slurmlab.ROOT
STATE = ROOT / ".lab" / "portal"
STATE_FILE = STATE / "state.json"
INVENTORY = STATE / "inventory.yml"
LAB_ROOT = STATE / "root"  # the role makes its "mount" folders (EFS, FSx) here: portal_lab_root
DATADIR = STATE / "mysql"
SSHD_TEMPLATE = ROOT / "lab" / "portal" / "sshd_config.tmpl"
SOCKET_DIR = slurmlab.RUNTIME / "portal"
HOST_NAME = "portal"
DB_PORT = 3306
DEFAULT_NS_PREFIX = "hpcportal-"
# The same connection settings as the Slurm lab's inventory (lab/slurmlab.py, write_inventory).
SSH_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes"
PYTHON = "/usr/bin/python3"
MAX_IFNAME = 15  # Linux interface names: IFNAMSIZ - 1


def run(*argv: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        detail = result.stderr.strip() or result.stdout.strip()
        sys.exit(f"portallab: {' '.join(argv)} failed ({result.returncode}): {detail}")
    if not quiet and result.returncode != 0:
        print(f"portallab: note: {' '.join(argv)}: {result.stderr.strip()}")
    return result


# ---------------------------------------------------------------- pure parts (tests/unit/test_lab_portal.py)
def names(env: Mapping[str, str]) -> dict:
    """The namespace and veth names of the portal host, derived like the Slurm lab's from the environment.

    LAB_PORTAL_NS sets the namespace prefix; otherwise a second Slurm lab (LAB_SLURM_NS_PREFIX) gets
    `<its prefix without the dash>portal-`, which does not start with the Slurm prefix (slurmlab treats
    namespaces with its prefix as its own). The veth names start with the Slurm lab's veth prefix.
    """
    slurm_prefix = env.get("LAB_SLURM_NS_PREFIX", "")
    if env.get("LAB_PORTAL_NS"):
        prefix = env["LAB_PORTAL_NS"]
    elif slurm_prefix and slurm_prefix != "hpcslurm-":
        prefix = slurm_prefix.rstrip("-") + "portal-"
    else:
        prefix = DEFAULT_NS_PREFIX
    veth_prefix = env.get("LAB_SLURM_VETH_PREFIX", "hs")
    veth, peer = f"{veth_prefix}vportal", f"{veth_prefix}pportal"
    if len(veth) > MAX_IFNAME:
        raise ValueError(f"LAB_SLURM_VETH_PREFIX {veth_prefix!r} is too long for the veth name {veth!r}")
    return {"netns": prefix + HOST_NAME, "veth": veth, "peer": peer}


def used_addresses(slurm_state: dict | None, bridge_addrs: Iterable[str] = ()) -> set[str]:
    """Addresses the Slurm lab holds: its bridge's, its hosts' (from its state.json) and the bridge's own."""
    used = {str(ipaddress.ip_interface(a).ip) for a in bridge_addrs}
    plan = (slurm_state or {}).get("plan", {})
    if plan.get("bridge_addr"):
        used.add(str(ipaddress.ip_interface(plan["bridge_addr"]).ip))
    used.update(h["addr"] for h in plan.get("hosts", []))
    return used


def choose_address(subnet: ipaddress.IPv4Network, used: Iterable[str]) -> str:
    """The portal host's address: the last usable address of the subnet that is not in use.

    slurmlab numbers its hosts from the bottom (the bridge is the first usable address, the head the
    tenth, compute hosts the ones after), so the top of the subnet stays free.
    """
    taken = set(used)
    hosts = list(subnet.hosts())
    for addr in reversed(hosts[1:]):  # never the first: slurmlab's bridge address
        if str(addr) not in taken:
            return str(addr)
    raise ValueError(f"no free address left in {subnet}")


def render_sshd_config(template: str, addr: str, state: Path, name: str = HOST_NAME) -> str:
    return template.format(addr=addr, state=state, name=name)


def install_db_argv(datadir: Path) -> list[str]:
    """mariadb-install-db, once: system tables with root@localhost authenticated by unix_socket only."""
    return [
        "mariadb-install-db",
        "--no-defaults",  # Debian's /etc/mysql files name /run/mysqld and /var/lib/mysql
        "--user=root",
        f"--datadir={datadir}",
        "--auth-root-authentication-method=socket",
        "--skip-test-db",
        "--skip-name-resolve",
    ]


def mariadbd_argv(addr: str, datadir: Path, sock: Path, pid_file: Path, error_log: Path) -> list[str]:
    return [
        "mariadbd",
        "--no-defaults",
        "--user=root",
        f"--datadir={datadir}",
        f"--socket={sock}",
        f"--pid-file={pid_file}",
        f"--log-error={error_log}",
        f"--bind-address={addr}",
        f"--port={DB_PORT}",
        "--skip-name-resolve",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_general_ci",
    ]


def inventory_host(slurm_state: dict | None) -> str:
    """The portal host's inventory name: `<cluster>-portal`, the portal role's portal_name for the Slurm lab's cluster.

    That is the name the hpc_ec2 inventory gives the portal's EC2 instance (its Name tag), so with
    .lab/portal/inventory.yml after the lab's inventory on the command line the two are one host, reached
    here (a later inventory source sets ansible_host last). Not `portal`: that is the group's name, and a
    host named like a group draws Ansible's warning and cannot be picked out with --limit.
    """
    cluster = (slurm_state or {}).get("plan", {}).get("cluster") or slurmlab.DEFAULT_CLUSTER
    return f"{cluster}-portal"


def inventory(plan: dict) -> dict:
    """The Ansible inventory of the portal host (group `portal`, one host: ``plan["inventory_host"]``)."""
    host = {
        "ansible_host": plan["address"],
        "ansible_user": "root",
        "ansible_ssh_private_key_file": plan["key"],
        "ansible_ssh_common_args": SSH_ARGS,
        "ansible_python_interpreter": PYTHON,
        "portal_db_local_socket": plan["socket"],
        "portal_lab_root": plan["lab_root"],
        "portal_lab_address": plan["address"],
    }
    return {"all": {"children": {"portal": {"hosts": {plan["inventory_host"]: host}}}}}


def render_inventory(plan: dict) -> str:
    import yaml  # noqa: PLC0415 - only `up` needs PyYAML (the lab venv has it)

    return (
        "---\n# Written by lab/portallab.py: the lab's portal host (a network namespace, reached over SSH).\n"
        + yaml.safe_dump(inventory(plan), sort_keys=False)
    )


# ---------------------------------------------------------------- state and processes
def load_state() -> dict | None:
    if STATE_FILE.exists():
        return json.loads(STATE_FILE.read_text())
    return None


def save_state(state: dict) -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps(state, indent=2) + "\n")


def write_if_changed(path: Path, text: str, mode: int | None = None) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    if mode is not None:
        os.chmod(path, mode)
    return True


def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (field 22 of /proc/<pid>/stat): a pid reused later differs."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def ours(state: dict, name: str) -> bool:
    """Whether the process `up` recorded as ``name`` still runs (the same process, not a reused pid)."""
    pid = state.get("pids", {}).get(name)
    return bool(pid) and alive(pid) and start_time(pid) == state.get("starts", {}).get(name)


def start(argv: list[str], log_name: str) -> int:
    logs = STATE / "log"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / log_name).open("ab") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=STATE
        )
    return proc.pid


def record(state: dict, name: str, pid: int) -> None:
    state.setdefault("pids", {})[name] = pid
    state.setdefault("starts", {})[name] = start_time(pid)
    save_state(state)


def wait_for(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    sys.exit(f"portallab: {what} did not happen within {timeout:.0f} s; logs in {STATE / 'log'}")


def in_host(netns: str, command: str) -> list[str]:
    """argv running ``command`` as the portal host: its network namespace and host name (as slurmlab does)."""
    return [
        "nsenter",
        f"--net={slurmlab.NETNS_DIR / netns}",
        "unshare",
        "--uts",
        "sh",
        "-c",
        f"hostname {HOST_NAME} && exec {command}",
    ]


def port_open(addr: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((addr, port), timeout=1):
        return True
    return False


def db_answers(sock: str) -> bool:
    result = subprocess.run(
        ["mariadb-admin", "--no-defaults", f"--socket={sock}", "ping"], capture_output=True, text=True, check=False
    )
    return result.returncode == 0 and "alive" in result.stdout


def link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True, check=False).returncode == 0


def link_master(name: str) -> str | None:
    out = run("ip", "-o", "link", "show", name, check=False, quiet=True).stdout.split()
    return out[out.index("master") + 1] if "master" in out else None


# ---------------------------------------------------------------- plan and pieces
def bridge_addresses(bridge: str) -> list[str]:
    out = run("ip", "-o", "-4", "addr", "show", "dev", bridge, check=False, quiet=True).stdout
    return [line.split()[3] for line in out.splitlines() if len(line.split()) > 3]


def client_key() -> Path:
    """The Slurm lab's key when it made one (one key for every lab host), else one of our own."""
    lab_key = slurmlab.STATE / "ssh" / "id_ed25519"
    return lab_key if lab_key.exists() else STATE / "ssh" / "id_ed25519"


def make_plan() -> dict:
    bridge = slurmlab.BRIDGE
    if not link_exists(bridge):
        sys.exit(
            f"portallab: the Slurm lab's bridge {bridge} does not exist: bring the Slurm lab up first "
            "(`python3 lab/slurmlab.py up`, which `make lab` runs)"
        )
    subnet = slurmlab.SUBNET
    on_bridge = bridge_addresses(bridge)
    if not any(ipaddress.ip_interface(a).ip in subnet for a in on_bridge):
        sys.exit(f"portallab: the bridge {bridge} has no address in {subnet} (LAB_SLURM_SUBNET)")
    slurm_state = slurmlab.load_state()
    try:
        found = names(os.environ)
        address = choose_address(subnet, used_addresses(slurm_state, on_bridge))
    except ValueError as err:
        sys.exit(f"portallab: {err}")
    return {
        **found,
        "inventory_host": inventory_host(slurm_state),
        "bridge": bridge,
        "address": address,
        "prefix": subnet.prefixlen,
        "key": str(client_key()),
        "socket": str(SOCKET_DIR / "mysqld.sock"),
        "lab_root": str(LAB_ROOT),
        "datadir": str(DATADIR),
    }


def ensure_keys(plan: dict) -> None:
    ssh = STATE / "ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    os.chmod(ssh, 0o700)
    key = Path(plan["key"])
    wanted = [("host_ed25519", "host")] + ([] if key.exists() else [("id_ed25519", "client")])
    for name, kind in wanted:
        if not (ssh / name).exists():
            run(
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"hpcops lab portal {kind} key",
                "-f",
                str(ssh / name),
            )
    write_if_changed(ssh / "authorized_keys", Path(f"{key}.pub").read_text(), 0o600)


def ensure_runtime(state: dict) -> None:
    """Our folder in the per-checkout runtime folder under /run (slurmlab's, or made here when it is absent)."""
    if not slurmlab.RUNTIME.exists():
        slurmlab.RUNTIME.mkdir(mode=0o755, parents=True)
        state["created_runtime"] = True
        save_state(state)
    SOCKET_DIR.mkdir(mode=0o700, exist_ok=True)
    os.chown(SOCKET_DIR, 0, 0)
    os.chmod(SOCKET_DIR, 0o700)


def network_up(plan: dict) -> None:
    name, veth, peer = plan["netns"], plan["veth"], plan["peer"]
    run("ip", "netns", "add", name)
    run("ip", "link", "del", veth, check=False, quiet=True)
    run("ip", "link", "add", veth, "type", "veth", "peer", "name", peer)
    run("ip", "link", "set", veth, "master", plan["bridge"], "up")
    run("ip", "link", "set", peer, "netns", name)
    run("ip", "-n", name, "link", "set", peer, "name", "eth0")
    run("ip", "-n", name, "addr", "add", f"{plan['address']}/{plan['prefix']}", "dev", "eth0")
    run("ip", "-n", name, "link", "set", "eth0", "up")
    run("ip", "-n", name, "link", "set", "lo", "up")


def database_up(plan: dict, state: dict) -> None:
    datadir = Path(plan["datadir"])
    if not (datadir / "mysql").is_dir():
        datadir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(install_db_argv(datadir), capture_output=True, text=True, check=False)
        (STATE / "log" / "mariadb-install-db.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            shutil.rmtree(datadir, ignore_errors=True)
            sys.exit(f"portallab: mariadb-install-db failed; log in {STATE / 'log' / 'mariadb-install-db.log'}")
    argv = mariadbd_argv(
        plan["address"], datadir, Path(plan["socket"]), STATE / "run" / "mariadbd.pid", STATE / "log" / "mariadbd.err"
    )
    record(state, "mariadbd", start(in_host(plan["netns"], shlex.join(argv)), "mariadbd.out"))
    wait_for(lambda: db_answers(plan["socket"]) or not ours(state, "mariadbd"), "MariaDB answering", timeout=60)
    if not ours(state, "mariadbd"):
        sys.exit(f"portallab: mariadbd exited; logs in {STATE / 'log'}")
    who = subprocess.run(
        ["mariadb", "--no-defaults", f"--socket={plan['socket']}", "-u", "root", "-N", "-e", "SELECT CURRENT_USER()"],
        capture_output=True,
        text=True,
        check=False,
    )
    if who.stdout.strip() != "root@localhost":
        sys.exit(f"portallab: root cannot log in to MariaDB through its socket: {who.stderr.strip()}")


def is_up(state: dict | None, plan: dict) -> bool:
    return bool(
        state
        and state.get("plan") == plan
        and all(ours(state, name) for name in ("sshd", "mariadbd"))
        and plan["netns"] in slurmlab.existing_netns()
        and db_answers(plan["socket"])
    )


# ---------------------------------------------------------------- commands
def up(_args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        sys.exit("portallab: needs root (network namespaces, daemons)")
    for tool in ("mariadbd", "mariadb-install-db", "mariadb-admin", "mariadb", "nsenter", "unshare", "ssh-keygen"):
        if not shutil.which(tool) and not Path("/usr/sbin", tool).exists():
            sys.exit(f"portallab: {tool} is missing: run `bash lab/debian-deps.sh mariadb-server openssh-server`")
    plan = make_plan()
    state = load_state()
    if is_up(state, plan):
        changed = []
        if link_master(plan["veth"]) != plan["bridge"]:  # the Slurm lab's bridge was made anew
            run("ip", "link", "set", plan["veth"], "master", plan["bridge"], "up")
            changed.append(f"reattached {plan['veth']} to {plan['bridge']}")
        ensure_keys(plan)  # the Slurm lab's key may be new
        if write_if_changed(INVENTORY, render_inventory(plan)):
            changed.append("rewrote the inventory")
        print(
            f"portallab: already up ({plan['address']}){': ' + ', '.join(changed) if changed else ''}; "
            f"inventory {INVENTORY}"
        )
        return 0
    if state:
        print("portallab: the running portal host differs from the wanted one (or is incomplete): recreating it")
        down(_args)
    elif plan["netns"] in slurmlab.existing_netns() or link_exists(plan["veth"]):
        sys.exit(
            f"portallab: a portal host is already up on this machine (namespace {plan['netns']}) but {STATE_FILE} "
            "does not record it: run `make lab-down` in the checkout that started it"
        )
    for sub in ("run", "log", "ssh"):
        (STATE / sub).mkdir(parents=True, exist_ok=True)
    LAB_ROOT.mkdir(parents=True, exist_ok=True)
    state = {"plan": plan, "pids": {}, "starts": {}, "created_run_sshd": False, "socket_dir": str(SOCKET_DIR)}
    save_state(state)  # from here on `down` can clean up whatever exists
    ensure_keys(plan)
    ensure_runtime(state)
    network_up(plan)

    if not Path("/run/sshd").exists():  # sshd's privilege separation folder
        Path("/run/sshd").mkdir(mode=0o755)
        state["created_run_sshd"] = True
    cfg = STATE / "run" / "sshd_config"
    cfg.write_text(render_sshd_config(SSHD_TEMPLATE.read_text(), plan["address"], STATE))
    record(state, "sshd", start(in_host(plan["netns"], f"/usr/sbin/sshd -D -e -f {shlex.quote(str(cfg))}"), "sshd.log"))
    wait_for(lambda: port_open(plan["address"], 22), f"sshd answering on {plan['address']}:22")

    database_up(plan, state)
    write_if_changed(INVENTORY, render_inventory(plan))
    print(
        f"portallab: up - {plan['inventory_host']} (host name {HOST_NAME}, {plan['address']}, namespace "
        f"{plan['netns']}), sshd and MariaDB "
        f"(socket {plan['socket']}); inventory {INVENTORY}"
    )
    return 0


def our_pids(state: dict) -> dict[str, int]:
    """The processes `up` started and still run, with everything they forked (sshd sessions, ...)."""
    pids = {name: pid for name, pid in state.get("pids", {}).items() if ours(state, name)}
    for name, pid in list(pids.items()):
        for child in slurmlab.descendants(pid):
            pids[f"{name} child {child}"] = child
    return pids


def down(_args: argparse.Namespace) -> int:
    state = load_state()
    if state is None and not STATE.exists():
        print("portallab: nothing to remove")
        return 0
    state = state or {}
    pids = our_pids(state)
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30  # mariadbd flushes its tables on SIGTERM
    while time.monotonic() < deadline and any(alive(p) for p in pids.values()):
        time.sleep(0.1)
    for name, pid in pids.items():
        if alive(pid):
            print(f"portallab: {name} (pid {pid}) ignored SIGTERM; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for pid in pids.values():
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    plan = state.get("plan", {})
    if plan.get("netns") in slurmlab.existing_netns():
        run("ip", "netns", "del", plan["netns"], check=False)  # takes the veth pair with it
    if plan.get("veth") and link_exists(plan["veth"]):
        run("ip", "link", "del", plan["veth"], check=False)
    if state.get("socket_dir"):
        shutil.rmtree(state["socket_dir"], ignore_errors=True)
    if state.get("created_runtime"):
        with contextlib.suppress(OSError):
            slurmlab.RUNTIME.rmdir()  # only when empty: the Slurm lab may have come to use it
    if state.get("created_run_sshd") and slurmlab.load_state() is None:
        shutil.rmtree("/run/sshd", ignore_errors=True)
    shutil.rmtree(STATE, ignore_errors=True)
    print(f"portallab: stopped {len(pids)} processes, removed the namespace {plan.get('netns', '(none)')} and {STATE}")
    return 0


def status(_args: argparse.Namespace) -> int:
    state = load_state()
    if state is None:
        print("stopped")
        return 3
    plan = state.get("plan", {})
    for name, pid in state.get("pids", {}).items():
        print(f"{name}: pid {pid} {'running' if ours(state, name) else 'DEAD'}")
    answers = bool(plan.get("socket")) and db_answers(plan["socket"])
    print(
        f"{plan.get('inventory_host', HOST_NAME)}: {plan.get('address', '?')} (namespace {plan.get('netns', '?')}), "
        f"MariaDB {'answers' if answers else 'does NOT answer'} on {plan.get('socket', '?')}"
    )
    return 0 if answers and all(ours(state, name) for name in ("sshd", "mariadbd")) else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("up", up), ("down", down), ("status", status)):
        sub.add_parser(name).set_defaults(func=func)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
