"""Start, stop and describe the embedded lab.

The lab is what `make lab` and `make test` run against when there is no AWS account: moto's
server on 127.0.0.1 standing in for the AWS APIs. This script is lab tooling only; nothing under
plugins/ or roles/ imports it or knows about it.

    labctl.py up        start the embedded AWS endpoint (if not already running) and write .lab/env
    labctl.py down      stop what `up` started, by pid, and remove its state
    labctl.py status    say what is running
    labctl.py env       print the environment lines of .lab/env

Everything it writes is under .lab/ in the checkout.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from _proc import alive  # lab/ is the script's folder, first on sys.path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".lab"
PID_FILE = STATE / "moto.pid"
PORT_FILE = STATE / "moto.port"
LOG_FILE = STATE / "moto.log"
ENV_FILE = STATE / "env"
HOST = "127.0.0.1"
DEFAULT_PORT = 4566
REGION = "us-east-1"
# The embedded endpoint accepts any credentials; these are moto's documented test values.
LAB_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _port() -> int:
    value = os.environ.get("LAB_PORT") or (PORT_FILE.read_text().strip() if PORT_FILE.exists() else "")
    try:
        port = int(value) if value else DEFAULT_PORT
    except ValueError:
        sys.exit(f"labctl: LAB_PORT must be a port number, got {value!r}")
    if not 1024 <= port <= 65535:
        sys.exit(f"labctl: LAB_PORT must be between 1024 and 65535, got {port}")
    return port


def endpoint_url(port: int) -> str:
    return f"http://{HOST}:{port}"


def lab_environment(port: int) -> dict[str, str]:
    env = {
        "AWS_ENDPOINT_URL": endpoint_url(port),
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        # Never let a lab run pick up a real profile or the instance metadata service.
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PROFILE": "",
    }
    env.update(LAB_CREDENTIALS)
    return env


def _our_pid() -> int | None:
    if not PID_FILE.exists():
        return None
    try:
        pid = int(PID_FILE.read_text().strip())
    except ValueError:
        return None
    return pid if alive(pid) else None


def _responds(port: int) -> bool:
    """True when an HTTP server answers on the port (any status: moto's state dump can fail)."""
    url = f"{endpoint_url(port)}/moto-api/"  # always http on loopback
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - fixed http scheme
            return resp.status > 0
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _moto_server() -> str:
    candidate = Path(sys.executable).parent / "moto_server"
    if candidate.exists():
        return str(candidate)
    sys.exit("labctl: moto_server not found next to this Python; run `make setup` first")


def write_env(port: int) -> None:
    STATE.mkdir(exist_ok=True)
    lines = ["# Written by lab/labctl.py: `source .lab/env` to use the AWS CLI or boto3 against the lab."]
    lines += [f"export {key}={value}" for key, value in lab_environment(port).items() if value]
    lines.append("unset AWS_PROFILE")
    ENV_FILE.write_text("\n".join(lines) + "\n")


def read_env() -> dict[str, str]:
    """The variables ``write_env`` exported into .lab/env (empty when the lab is down)."""
    found = {}
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            if line.startswith("export "):
                key, _sep, value = line[len("export "):].partition("=")
                found[key] = value
    return found


def up(_args: argparse.Namespace) -> int:
    STATE.mkdir(exist_ok=True)
    port = _port()
    pid = _our_pid()
    if pid and _responds(port):
        print(f"lab: embedded AWS endpoint already running at {endpoint_url(port)} (pid {pid})")
        write_env(port)
        return 0
    if pid is None and _responds(port):
        sys.exit(
            f"labctl: something that is not ours already answers on {endpoint_url(port)}; "
            "stop it or set LAB_PORT to a free port"
        )
    # AWS-managed IAM policies (AmazonSSMManagedInstanceCore, ...) exist in every real account;
    # moto loads them only when asked.
    server_env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true")
    with LOG_FILE.open("ab") as log:
        proc = subprocess.Popen(
            [_moto_server(), "-H", HOST, "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=STATE,
            env=server_env,
        )
    PID_FILE.write_text(f"{proc.pid}\n")
    PORT_FILE.write_text(f"{port}\n")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            PID_FILE.unlink(missing_ok=True)
            sys.exit(f"labctl: moto_server exited with code {proc.returncode}; see {LOG_FILE}")
        if _responds(port):
            write_env(port)
            print(f"lab: embedded AWS endpoint started at {endpoint_url(port)} (pid {proc.pid})")
            return 0
        time.sleep(0.2)
    proc.terminate()
    PID_FILE.unlink(missing_ok=True)
    sys.exit(f"labctl: moto_server did not answer on {endpoint_url(port)} within 60 s; see {LOG_FILE}")


def down(_args: argparse.Namespace) -> int:
    pid = _our_pid()
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _attempt in range(50):
            if not alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        print(f"lab: stopped the embedded AWS endpoint (pid {pid})")
    else:
        print("lab: the embedded AWS endpoint was not running")
    for path in (PID_FILE, PORT_FILE, ENV_FILE):
        path.unlink(missing_ok=True)
    return 0


def status(_args: argparse.Namespace) -> int:
    port = _port()
    pid = _our_pid()
    if pid and _responds(port):
        print(f"running: embedded AWS endpoint {endpoint_url(port)} (pid {pid})")
        return 0
    print("stopped")
    return 3


def env(_args: argparse.Namespace) -> int:
    for key, value in lab_environment(_port()).items():
        print(f"{key}={value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("up", up), ("down", down), ("status", status), ("env", env)):
        sub.add_parser(name).set_defaults(func=func)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
