"""Bring up, tear down and describe the lab's real Slurm cluster.

ParallelCluster cannot build a cluster against the embedded AWS endpoint (moto answers the dry run,
not the stack), so the lab stands a real Slurm cluster in for the one it would build: a head host
running slurmctld and N compute hosts running slurmd, each in its own network namespace with its
own address on a private bridge and its own sshd, sharing one munged. Partitions and nodes come
from the ParallelCluster configuration the parallelcluster role rendered (same role variables):
node names follow ParallelCluster's <queue>-<st|dy>-<resource>-<n> scheme.

    slurmlab.py up [--config FILE] [--computes N]   create (idempotent)
    slurmlab.py down                                stop what `up` started (by pid) and remove it all
    slurmlab.py status                              say what is running (exit 3 when stopped)

Needs root, Debian's slurm-wlm, munge and openssh-server (lab/debian-deps.sh). Traffic stays on
the lab's own bridge (LAB_SLURM_SUBNET, default 10.213.77.0/24) and loopback. Everything it writes
is under .lab/slurm/, except munged's files, which live in /run/hpcops-lab-<hash of the checkout
path>/munge so that user munge reaches them from a checkout in a folder only root may enter. It
writes an Ansible inventory there (.lab/slurm/inventory.yml: groups pcluster_head and
pcluster_compute, reached over SSH as root with a key made for the lab).
This is lab tooling; nothing under plugins/ or roles/ imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import ipaddress
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from _proc import alive  # lab/ is the script's folder, first on sys.path
from slurm_layout import slurm_layout  # lab/slurm_layout.py, next to this file

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".lab" / "slurm"
STATE_FILE = STATE / "state.json"
INVENTORY = STATE / "inventory.yml"
SLURM_CONF = STATE / "etc" / "slurm.conf"
TEMPLATE = ROOT / "lab" / "slurm" / "slurm.conf.tmpl"
SSHD_TEMPLATE = ROOT / "lab" / "slurm" / "sshd_config.tmpl"
BRIDGE = os.environ.get("LAB_SLURM_BRIDGE", "hpcslurm0")
SUBNET = ipaddress.ip_network(os.environ.get("LAB_SLURM_SUBNET", "10.213.77.0/24"))
# Names of the namespaces and veth pairs; a second lab on the same machine (the any-folder test) sets
# its own so it never touches the first.
NS_PREFIX = os.environ.get("LAB_SLURM_NS_PREFIX", "hpcslurm-")
VETH_PREFIX = os.environ.get("LAB_SLURM_VETH_PREFIX", "hs")
NETNS_DIR = Path("/var/run/netns")
DEFAULT_CLUSTER = "lab"
# munged runs as user munge, which cannot enter a checkout under a folder only root may enter (a clone
# under /root or `mktemp -d`, mode 0700). Its key, socket, pid, seed and log live in a root-owned folder
# under /run instead, one per checkout (named by a hash of the checkout's path); `down` removes it.
RUNTIME = Path(os.environ.get("LAB_RUNTIME_DIR", "/run")) / (
    "hpcops-lab-" + hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
)
MUNGE_DIR = RUNTIME / "munge"


def run(*argv: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        sys.exit(
            f"slurmlab: {' '.join(argv)} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
        )
    if not quiet and result.returncode != 0:
        print(f"slurmlab: note: {' '.join(argv)}: {result.stderr.strip()}")
    return result


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if alive(child):
                found.append(child)
                todo.append(child)
    return found


def load_state() -> dict | None:
    if STATE_FILE.exists():
        return json.loads(STATE_FILE.read_text())
    return None


def save_state(state: dict) -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps(state, indent=2) + "\n")


# ---------------------------------------------------------------- layout
def read_config(path: Path | None) -> dict:
    if path is None:
        return {}
    import yaml  # noqa: PLC0415 - only `up` needs PyYAML (the lab venv has it)

    return yaml.safe_load(path.read_text()) or {}


def layout(config: dict, computes: int) -> dict:
    """Host names and addresses for the head and N compute hosts, from the rendered configuration."""
    cluster = next((t["Value"] for t in config.get("Tags", []) if t.get("Key") == "hpc:cluster"), DEFAULT_CLUSTER)
    queues = config.get("Scheduling", {}).get("SlurmQueues") or [
        {"Name": "compute", "ComputeResources": [{"Name": "c5large", "MinCount": 0, "MaxCount": computes}]}
    ]
    first = queues[0]
    resource = first["ComputeResources"][0]
    most = max(int(resource.get("MaxCount", computes)), 1)
    if computes > most:
        sys.exit(f"slurmlab: --computes {computes} is more than MaxCount {most} of {first['Name']}/{resource['Name']}")
    static = int(resource.get("MinCount", 0))
    names = [
        f"{first['Name']}-{'st' if n <= static else 'dy'}-{resource['Name'].lower()}-{n}"
        for n in range(1, computes + 1)
    ]
    slurm = slurm_layout({"Scheduling": {"SlurmQueues": queues}}, node_names=names)
    hosts = list(SUBNET.hosts())
    bridge_addr = hosts[0]
    head = {"name": f"{cluster}-head", "addr": str(hosts[9]), "role": "head"}
    nodes = [{"name": name, "addr": str(hosts[10 + i]), "role": "compute"} for i, name in enumerate(names)]
    return {
        "cluster": cluster,
        "bridge": BRIDGE,
        "bridge_addr": f"{bridge_addr}/{SUBNET.prefixlen}",
        "prefix": SUBNET.prefixlen,
        "hosts": [head, *nodes],
        "partitions": slurm["partitions"],
    }


def render_slurm_conf(plan: dict) -> str:
    head = plan["hosts"][0]
    nodes = "\n".join(f"NodeName={h['name']} NodeAddr={h['addr']} CPUs=1 State=UNKNOWN" for h in plan["hosts"][1:])
    partitions = "\n".join(
        f"PartitionName={p['name']} Nodes={','.join(p['nodes'])} Default={'YES' if p['default'] else 'NO'} "
        "MaxTime=INFINITE State=UP"
        for p in plan["partitions"]
    )
    return TEMPLATE.read_text().format(
        cluster=plan["cluster"],
        head=head["name"],
        head_addr=head["addr"],
        state=STATE,
        munge=MUNGE_DIR,
        nodes=nodes,
        partitions=partitions,
    )


# ---------------------------------------------------------------- pieces
def ensure_keys() -> None:
    ssh = STATE / "ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    os.chmod(ssh, 0o700)
    for key, kind in (("id_ed25519", "client"), ("host_ed25519", "host")):
        if not (ssh / key).exists():
            run(
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"hpcops lab slurm {kind} key",
                "-f",
                str(ssh / key),
            )
    (ssh / "authorized_keys").write_text((ssh / "id_ed25519.pub").read_text())
    os.chmod(ssh / "authorized_keys", 0o600)


def ensure_munge_key() -> Path:
    """munged's folder (key, socket, pid, seed, log) where user munge can reach it, whatever the checkout's mode."""
    RUNTIME.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chown(RUNTIME, 0, 0)
    os.chmod(RUNTIME, 0o755)  # noqa: S103 - munge must traverse it to reach its own folder
    munge = MUNGE_DIR
    munge.mkdir(parents=True, exist_ok=True)
    key = munge / "munge.key"
    user = pwd.getpwnam("munge")
    if not key.exists():
        key.write_bytes(os.urandom(1024))
    os.chown(munge, user.pw_uid, user.pw_gid)
    os.chmod(munge, 0o755)  # noqa: S103 - clients of every user reach munged's socket in it
    os.chown(key, user.pw_uid, user.pw_gid)
    os.chmod(key, 0o600)
    return munge


def netns(host: dict) -> str:
    return NS_PREFIX + host["name"]


def existing_netns() -> set[str]:
    out = run("ip", "netns", "list", check=False, quiet=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def network_up(plan: dict) -> None:
    links = run("ip", "-o", "link", "show", check=False, quiet=True).stdout
    if f": {plan['bridge']}:" not in links and f": {plan['bridge']}@" not in links:
        run("ip", "link", "add", plan["bridge"], "type", "bridge")
        run("ip", "addr", "add", plan["bridge_addr"], "dev", plan["bridge"])
    run("ip", "link", "set", plan["bridge"], "up")
    present = existing_netns()
    for index, host in enumerate(plan["hosts"]):
        name = netns(host)
        if name in present:
            continue
        veth, peer = f"{VETH_PREFIX}v{index}", f"{VETH_PREFIX}p{index}"
        run("ip", "netns", "add", name)
        run("ip", "link", "del", veth, check=False, quiet=True)
        run("ip", "link", "add", veth, "type", "veth", "peer", "name", peer)
        run("ip", "link", "set", veth, "master", plan["bridge"], "up")
        run("ip", "link", "set", peer, "netns", name)
        run("ip", "-n", name, "link", "set", peer, "name", "eth0")
        run("ip", "-n", name, "addr", "add", f"{host['addr']}/{plan['prefix']}", "dev", "eth0")
        run("ip", "-n", name, "link", "set", "eth0", "up")
        run("ip", "-n", name, "link", "set", "lo", "up")


def in_host(host: dict, command: str) -> list[str]:
    """argv running ``command`` as host ``host``: its network namespace, its own host name.

    nsenter + unshare rather than `ip netns exec`, which remounts /sys (slurmd then finds no cgroup fs).
    """
    return [
        "nsenter",
        f"--net={NETNS_DIR / netns(host)}",
        "unshare",
        "--uts",
        "sh",
        "-c",
        f"hostname {host['name']} && exec {command}",
    ]


def start(argv: list[str], log_name: str, env: dict | None = None) -> int:
    logs = STATE / "log"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / log_name).open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=dict(os.environ, **(env or {})),
            cwd=STATE,
        )
    return proc.pid


def wait_for(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    sys.exit(f"slurmlab: {what} did not happen within {timeout:.0f} s; logs in {STATE / 'log'}")


def slurm_env() -> dict:
    return {"SLURM_CONF": str(SLURM_CONF)}


def sinfo_states() -> dict[str, str]:
    result = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%N %t"],
        capture_output=True,
        text=True,
        env=dict(os.environ, **slurm_env()),
        check=False,
    )
    states = {}
    for line in result.stdout.splitlines():
        node, _sep, state = line.partition(" ")
        states[node] = state.strip()
    return states


def write_inventory(plan: dict) -> None:
    import yaml  # noqa: PLC0415 - only `up` needs PyYAML

    def hosts(role):
        return {h["name"]: {"ansible_host": h["addr"]} for h in plan["hosts"] if h["role"] == role}

    inventory = {
        "all": {
            "children": {
                "pcluster": {
                    "vars": {
                        "ansible_user": "root",
                        "ansible_ssh_private_key_file": str(STATE / "ssh" / "id_ed25519"),
                        "ansible_ssh_common_args": (
                            "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes"
                        ),
                        "ansible_python_interpreter": "/usr/bin/python3",
                        # keep what the workload writes on these hosts under .lab/slurm (make lab-down removes it)
                        "workload_remote_dir": str(STATE / "jobs"),
                        "workload_node_state_dir": str(STATE / "nodes"),
                    },
                    "children": {
                        "pcluster_head": {"hosts": hosts("head")},
                        "pcluster_compute": {"hosts": hosts("compute")},
                    },
                }
            }
        }
    }
    INVENTORY.write_text(
        "---\n# Written by lab/slurmlab.py: the lab's Slurm stand-in hosts (network namespaces, reached over SSH).\n"
        + yaml.safe_dump(inventory, sort_keys=False)
    )


def all_alive(state: dict) -> bool:
    return all(alive(pid) for pid in state.get("pids", {}).values())


# ---------------------------------------------------------------- commands
def up(args: argparse.Namespace) -> int:  # noqa: PLR0912, PLR0915 - the bring-up steps, in order
    if os.geteuid() != 0:
        sys.exit("slurmlab: needs root (network namespaces, daemons)")
    for tool in ("slurmctld", "slurmd", "munged", "nsenter", "unshare", "ssh-keygen"):
        if not shutil.which(tool) and not Path("/usr/sbin", tool).exists():
            sys.exit(f"slurmlab: {tool} is missing: run `bash lab/debian-deps.sh slurm-wlm munge openssh-server`")
    config_path = Path(args.config) if args.config else None
    if args.inventory:
        config_path = STATE.parent / "slurm-cluster-config.yaml"
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                str(ROOT / "lab" / "slurm" / "render.yml"),
                "-i",
                args.inventory,
                "-e",
                f"slurmlab_config_file={config_path}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            sys.exit(
                f"slurmlab: rendering the cluster variables failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
            )
    if config_path and not config_path.exists():
        sys.exit(
            f"slurmlab: {config_path} does not exist (the parallelcluster role writes it: parallelcluster_config_file)"
        )
    plan = layout(read_config(config_path), args.computes)
    conf = render_slurm_conf(plan)

    state = load_state()
    if (
        state
        and state.get("slurm_conf") == conf
        and all_alive(state)
        and existing_netns() >= {netns(h) for h in plan["hosts"]}
    ):
        write_inventory(plan)
        print(f"slurmlab: already up ({len(plan['hosts']) - 1} compute hosts); inventory {INVENTORY}")
        return 0
    if state:
        print("slurmlab: the running cluster differs from the wanted one (or is incomplete): recreating it")
        down(args)
    else:
        foreign = sorted(name for name in existing_netns() if name.startswith(NS_PREFIX))
        if foreign or subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True, check=False).returncode == 0:
            # Not ours (no state here): another checkout's lab, or one whose state was lost. Never
            # tear down what this checkout did not make.
            sys.exit(
                f"slurmlab: a Slurm lab is already up on this machine (bridge {BRIDGE}, namespaces "
                f"{', '.join(foreign) or 'none'}) but {STATE_FILE} does not record it: run `make lab-down` "
                "in the checkout that started it"
            )

    STATE.mkdir(parents=True, exist_ok=True)
    for sub in ("etc", "run", "log", "ctld", "spool", "jobs"):
        (STATE / sub).mkdir(parents=True, exist_ok=True)
    state = {
        "plan": plan,
        "pids": {},
        "slurm_conf": conf,
        "created_run_sshd": False,
        "runtime_dir": str(RUNTIME),
        "munge_dir": str(MUNGE_DIR),
    }
    save_state(state)  # from here on `down` can clean up whatever exists
    SLURM_CONF.write_text(conf)
    ensure_keys()
    munge_dir = ensure_munge_key()
    network_up(plan)

    # munged: one for every namespace (its socket is a file)
    socket = munge_dir / "munge.socket"
    state["pids"]["munged"] = start(
        [
            "runuser",
            "-u",
            "munge",
            "--",
            "munged",
            "--foreground",
            "--force",
            f"--socket={socket}",
            f"--key-file={munge_dir / 'munge.key'}",
            f"--pid-file={munge_dir / 'munged.pid'}",
            f"--log-file={munge_dir / 'munged.log'}",
            f"--seed-file={munge_dir / 'munged.seed'}",
        ],
        "munged.out",
    )
    save_state(state)
    wait_for(socket.exists, "munged's socket")

    # sshd in every namespace, key-only root login on the namespace address
    if not Path("/run/sshd").exists():
        Path("/run/sshd").mkdir(mode=0o755)
        state["created_run_sshd"] = True
    env_line = f"SetEnv SLURM_CONF={SLURM_CONF}"
    for host in plan["hosts"]:
        cfg = STATE / "etc" / f"sshd_config.{host['name']}"
        cfg.write_text(
            SSHD_TEMPLATE.read_text().format(addr=host["addr"], state=STATE, name=host["name"], setenv=env_line)
        )
        state["pids"][f"sshd:{host['name']}"] = start(
            in_host(host, f"/usr/sbin/sshd -D -e -f {cfg}"), f"sshd-{host['name']}.log"
        )
        save_state(state)

    head = plan["hosts"][0]
    state["pids"]["slurmctld"] = start(in_host(head, "/usr/sbin/slurmctld -D -i"), "slurmctld.out", slurm_env())
    save_state(state)
    for host in plan["hosts"][1:]:
        (STATE / "spool" / host["name"]).mkdir(parents=True, exist_ok=True)
        state["pids"][f"slurmd:{host['name']}"] = start(
            in_host(host, f"/usr/sbin/slurmd -D -N {host['name']}"), f"slurmd-{host['name']}.out", slurm_env()
        )
        save_state(state)

    names = [h["name"] for h in plan["hosts"][1:]]

    def ready():
        states = sinfo_states()
        return all(states.get(n, "").rstrip("*") in ("idle", "mix", "alloc") for n in names)

    wait_for(ready, "every compute host registering with slurmctld as idle", timeout=60)
    dead = [name for name, pid in state["pids"].items() if not alive(pid)]
    if dead:
        sys.exit(f"slurmlab: {', '.join(dead)} exited; logs in {STATE / 'log'}")
    write_inventory(plan)
    print(
        f"slurmlab: up - head {head['name']} ({head['addr']}), compute "
        + ", ".join(f"{h['name']} ({h['addr']})" for h in plan["hosts"][1:])
    )
    print(f"slurmlab: partitions {', '.join(p['name'] for p in plan['partitions'])}; inventory {INVENTORY}")
    return 0


def down(_args: argparse.Namespace) -> int:  # noqa: PLR0912 - every kind of leftover, in order
    state = load_state()
    if state is None and not STATE.exists() and not RUNTIME.exists():
        print("slurmlab: nothing to remove")
        return 0
    state = state or {"pids": {}, "plan": {"hosts": [], "bridge": BRIDGE}}
    pids = {name: pid for name, pid in state.get("pids", {}).items() if alive(pid)}
    # munged also writes its own pid file (runuser may sit in between)
    munge_pid = Path(state.get("munge_dir", MUNGE_DIR)) / "munged.pid"
    if munge_pid.exists():
        try:
            pid = int(munge_pid.read_text().strip())
            if alive(pid):
                pids["munged (pid file)"] = pid
        except ValueError:
            pass
    # what the daemons forked (sshd sessions of Ansible's ControlPersist connections, slurmstepd...) goes too:
    # once the namespace is gone their peers can never close them
    for name, pid in list(pids.items()):
        for child in descendants(pid):
            pids[f"{name} child {child}"] = child
    # daemons first, munged last
    for _name, pid in sorted(pids.items(), key=lambda item: item[0].startswith("munged")):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in pids.values()):
        time.sleep(0.1)
    for name, pid in pids.items():
        if alive(pid):
            print(f"slurmlab: {name} (pid {pid}) ignored SIGTERM; killing it")
            os.kill(pid, signal.SIGKILL)
    # reap children of this process, if any
    for pid in pids.values():
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    present = existing_netns()
    for host in state.get("plan", {}).get("hosts", []):
        if netns(host) in present:
            run("ip", "netns", "del", netns(host), check=False)  # takes the veth pair with it
    bridge = state.get("plan", {}).get("bridge", BRIDGE)
    if f": {bridge}:" in run("ip", "-o", "link", "show", check=False, quiet=True).stdout:
        run("ip", "link", "del", bridge, check=False)
    if state.get("created_run_sshd"):
        shutil.rmtree("/run/sshd", ignore_errors=True)
    shutil.rmtree(STATE, ignore_errors=True)
    shutil.rmtree(state.get("runtime_dir", RUNTIME), ignore_errors=True)
    (STATE.parent / "slurm-cluster-config.yaml").unlink(missing_ok=True)
    print(
        f"slurmlab: stopped {len(pids)} processes, removed {len(state.get('plan', {}).get('hosts', []))} "
        f"namespaces, the bridge {bridge} and {STATE}"
    )
    return 0


def status(_args: argparse.Namespace) -> int:
    state = load_state()
    if state is None:
        print("stopped")
        return 3
    for name, pid in state.get("pids", {}).items():
        print(f"{name}: pid {pid} {'running' if alive(pid) else 'DEAD'}")
    for node, node_state in sinfo_states().items():
        print(f"node {node}: {node_state}")
    return 0 if all_alive(state) else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up")
    p_up.add_argument("--config", help="the ParallelCluster configuration the role rendered (YAML)")
    p_up.add_argument("--inventory", help="render the parallelcluster role's variables of this inventory (no AWS call)")
    p_up.add_argument("--computes", type=int, default=int(os.environ.get("LAB_SLURM_COMPUTES", "2")))
    p_up.set_defaults(func=up)
    sub.add_parser("down").set_defaults(func=down)
    sub.add_parser("status").set_defaults(func=status)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
