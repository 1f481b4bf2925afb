"""Run locks as SSM parameters (plugins/module_utils/_lock.py), against moto in-process.

One holder at a time (Overwrite=False), a held lock fails naming its holder (after waiting), a stale one (lease
ended, or its process on this host gone) is taken over with a warning, the owner renews and releases, another owner's
lock is never released, and check mode writes nothing. The autogrow step (``_fleet.step``) serializes on its lock.
"""

from __future__ import annotations

import json
import os
import threading

import boto3
import pytest
from moto import mock_aws

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _autogrow, _fleet, _lock, _tags

REGION = "us-east-1"
NAME = "/hpc/unit/locks/site"


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def ssm(moto_credentials):
    with mock_aws():
        yield boto3.client("ssm", region_name=REGION)


def lock(ssm, owner, clock, **kwargs):
    kwargs.setdefault("host", "ctl-1")
    kwargs.setdefault("pid", 100)
    kwargs.setdefault("pid_start", 5)
    return _lock.Lock(ssm, NAME, owner, 600, clock=clock, sleep=clock.sleep, **kwargs)


def stored(ssm):
    return json.loads(ssm.get_parameter(Name=NAME)["Parameter"]["Value"])


def test_the_first_run_takes_the_lock_and_a_second_fails_naming_the_holder(ssm):
    clock = Clock()
    first = lock(ssm, "run-a", clock, alive=lambda pid, started: True)
    assert first.acquire()["action"] == "acquired"
    assert stored(ssm) == {"owner": "run-a", "host": "ctl-1", "pid": 100, "pid_start": 5,
                           "where": _lock.machine_identity(), "started": 1_000_000, "expires": 1_000_600}
    second = lock(ssm, "run-b", clock, pid=200, alive=lambda pid, started: True)
    with pytest.raises(_lock.LockBusy) as busy:
        second.acquire()
    message = busy.value.msg
    assert message.startswith(f"Lock {NAME} is held by run run-a on host ctl-1 (pid 100), started "
                              "1970-01-12T13:46:40Z, lease ends 1970-01-12T13:56:40Z")
    assert "hpc_lock_break=true" in message
    assert busy.value.extra["holder"]["owner"] == "run-a"
    assert stored(ssm)["owner"] == "run-a"


def test_a_waiting_run_gets_the_lock_once_it_is_released_or_fails_after_its_wait(ssm):
    clock = Clock()
    lock(ssm, "run-a", clock, alive=lambda pid, started: True).acquire()
    waiting = lock(ssm, "run-b", clock, pid=200, alive=lambda pid, started: True)
    with pytest.raises(_lock.LockBusy) as busy:
        waiting.acquire(wait_timeout=7)
    assert "after waiting 7 s" in busy.value.msg
    assert sum(clock.slept) == pytest.approx(7)

    releaser = lock(ssm, "run-a", clock)
    original_sleep = clock.sleep

    def release_then_sleep(seconds):  # the holder ends while the other waits
        releaser.release()
        original_sleep(seconds)

    waiting.sleep = release_then_sleep
    assert waiting.acquire(wait_timeout=60)["action"] == "acquired"
    assert stored(ssm)["owner"] == "run-b"


def test_an_expired_lease_or_a_dead_process_on_this_host_is_taken_over_with_a_warning(ssm):
    clock = Clock()
    lock(ssm, "run-a", clock, alive=lambda pid, started: True).acquire()
    clock.now += 601  # the lease has ended
    other_host = lock(ssm, "run-b", clock, host="ctl-2", alive=lambda pid, started: True)
    done = other_host.acquire()
    assert done["action"] == "taken_over"
    assert done["previous"]["owner"] == "run-a"
    assert other_host.warnings == [f"Lock {NAME}: took over from run run-a on host ctl-1 (pid 100), started "
                                   "1970-01-12T13:46:40Z, lease ends 1970-01-12T13:56:40Z, because its lease ended "
                                   "at 1970-01-12T13:56:40Z."]
    # same host as the holder, whose process is gone: taken over at once, lease or not
    same_host = lock(ssm, "run-c", clock, host="ctl-2", pid=300, alive=lambda pid, started: pid != 100)
    assert same_host.acquire()["action"] == "taken_over"
    assert "its process 100 on this host (ctl-2) is gone" in same_host.warnings[0]
    # another host's holder whose lease runs is live, whatever its pid
    elsewhere = lock(ssm, "run-d", clock, host="ctl-3", alive=lambda pid, started: False)
    with pytest.raises(_lock.LockBusy):
        elsewhere.acquire()


def test_break_lock_takes_a_live_lock_and_renewal_is_no_acquisition(ssm):
    clock = Clock()
    lock(ssm, "run-a", clock, alive=lambda pid, started: True).acquire()
    breaker = lock(ssm, "run-b", clock, host="ctl-2", alive=lambda pid, started: True)
    assert breaker.acquire(break_lock=True)["action"] == "taken_over"
    assert "hpc_lock_break" in breaker.warnings[0]
    clock.now += 100
    renewed = breaker.acquire()
    assert renewed["action"] == "renewed"
    assert stored(ssm)["started"] == 1_000_000
    assert stored(ssm)["expires"] == 1_000_700


def test_release_deletes_only_the_owners_lock(ssm):
    clock = Clock()
    holder = lock(ssm, "run-a", clock)
    holder.acquire()
    other = lock(ssm, "run-b", clock)
    assert other.release() == (False, stored(ssm))
    assert "not by run-b: left as it is" in other.warnings[0]
    released, info = holder.release()
    assert released is True and info["owner"] == "run-a"
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=NAME)
    assert holder.release() == (False, None)


def test_check_mode_writes_nothing(ssm):
    clock = Clock()
    assert lock(ssm, "run-a", clock).acquire(check_mode=True)["action"] == "acquired"
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=NAME)
    lock(ssm, "run-a", clock).acquire()
    clock.now += 601
    assert lock(ssm, "run-b", clock, host="x").acquire(check_mode=True)["action"] == "taken_over"
    assert lock(ssm, "run-a", clock).release(check_mode=True)[0] is True
    assert stored(ssm)["owner"] == "run-a"


def test_an_unreadable_value_is_a_held_lock_that_only_break_lock_frees(ssm):
    ssm.put_parameter(Name=NAME, Value="not json", Type="String")
    clock = Clock()
    with pytest.raises(_lock.LockBusy) as busy:
        lock(ssm, "run-a", clock).acquire()
    assert "a holder this collection cannot read" in busy.value.msg
    assert lock(ssm, "run-a", clock).acquire(break_lock=True)["action"] == "taken_over"


def test_controller_pid_walks_to_the_outermost_ansible_playbook(tmp_path):
    def proc(pid, ppid, argv):
        folder = tmp_path / str(pid)
        folder.mkdir()
        (folder / "stat").write_text(f"{pid} (x y) S {ppid} " + " ".join(["0"] * 17) + f" {pid * 10} 0\n")
        (folder / "cmdline").write_bytes(b"\0".join(arg.encode() for arg in argv) + b"\0")

    proc(10, 1, ["/usr/bin/python3", "/venv/bin/ansible-runner", "run"])
    proc(20, 10, ["/usr/bin/python3", "/venv/bin/ansible-playbook", "site.yml"])
    proc(30, 20, ["/usr/bin/python3", "/venv/bin/ansible-playbook", "site.yml"])  # the worker fork
    proc(40, 30, ["/bin/sh", "-c", "python3 module.py"])
    proc(50, 40, ["/usr/bin/python3", "module.py"])
    assert _lock.controller_pid(50, proc=str(tmp_path)) == 10
    assert _lock.controller_pid(40, proc=str(tmp_path)) == 10
    assert _lock.process_start(20, proc=str(tmp_path)) == 200
    assert _lock.process_alive(20, 200, proc=str(tmp_path)) is True
    assert _lock.process_alive(20, 199, proc=str(tmp_path)) is False  # the pid was reused
    assert _lock.process_alive(99, None, proc=str(tmp_path)) is False
    proc(60, 1, ["/usr/bin/python3", "service.py"])
    assert _lock.controller_pid(60, proc=str(tmp_path)) is None
    assert _lock.process_alive(os.getpid(), _lock.process_start(os.getpid())) is True


def test_client_like_keeps_a_lab_endpoint_and_drops_aws_own(moto_credentials):
    lab = boto3.client("ec2", region_name=REGION, endpoint_url="http://127.0.0.1:4566")
    assert _lock.client_like(lab, "ssm").meta.endpoint_url == "http://127.0.0.1:4566"
    own = boto3.client("ec2", region_name="eu-west-1")
    made = _lock.client_like(own, "ssm")
    assert made.meta.endpoint_url == "https://ssm.eu-west-1.amazonaws.com"
    assert made.meta.region_name == "eu-west-1"


def stopped_compute_nodes(ec2, count):
    """``count`` stopped compute instances of cluster ``unit`` (moto in-process); their ids."""
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = [{"Key": _tags.CLUSTER_TAG, "Value": "unit"}, {"Key": _tags.ROLE_TAG, "Value": _tags.COMPUTE_ROLE}]
    ids = [item["InstanceId"] for item in ec2.run_instances(
        ImageId=image, MinCount=count, MaxCount=count, InstanceType="c5.large",
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"]]
    ec2.stop_instances(InstanceIds=ids)
    return ids


def test_two_autogrow_steps_at_once_never_start_more_than_max_nodes_nor_stop_a_node_twice(moto_credentials):
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        ssm = boto3.client("ssm", region_name=REGION)
        ids = stopped_compute_nodes(ec2, 3)
        config = _autogrow.Config(max_nodes=2, forecast=False)
        results = []
        barrier = threading.Barrier(2)

        def one_step():
            barrier.wait()
            results.append(_fleet.step(ec2, None, "unit", config, jobs=[{"nodes": 1}] * 5, ssm=ssm, lock_wait=20))

        threads = [threading.Thread(target=one_step) for index in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        started = [key for done in results for key in done.decision.start]
        assert len(started) == len(set(started)) == 2
        assert sum(done.decision.launch for done in results) == 0
        running = [item for reservation in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                   for item in reservation["Instances"] if item["State"]["Name"] in ("pending", "running")]
        assert len(running) == 2
        with pytest.raises(ssm.exceptions.ParameterNotFound):
            ssm.get_parameter(Name=_fleet.step_lock_name("unit"))


def test_a_step_that_cannot_take_the_lock_acts_on_nothing_and_says_why(moto_credentials):
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        ssm = boto3.client("ssm", region_name=REGION)
        ids = stopped_compute_nodes(ec2, 1)
        other = _lock.Lock(ssm, _fleet.step_lock_name("unit"), "other-step", 300, host="elsewhere", pid=1)
        other.acquire()
        done = _fleet.step(ec2, None, "unit", _autogrow.Config(max_nodes=2, forecast=False), jobs=[{"nodes": 1}],
                           ssm=ssm, lock_wait=0)
        assert done.skipped.startswith("another autogrow step holds the lock /hpc/unit/locks/autogrow, run "
                                       "other-step on host elsewhere")
        assert done.changed is False
        assert done.result()["decision"]["reasons"] == [f"not acted: {done.skipped}"]
        state = ec2.describe_instances(InstanceIds=ids)["Reservations"][0]["Instances"][0]["State"]["Name"]
        assert state == "stopped"


def test_a_pid_counts_only_in_the_same_boot_and_pid_namespace():
    """Two controllers with one host name (containers on the host network, ansible-runner's isolation): the
    other's pid is not looked up here, only its lease counts; where /proc cannot tell, a holder is alive."""
    info = {"owner": "run-a", "host": "ctl-1", "pid": 100, "pid_start": 5, "where": "boot-1 pid:[1]",
            "expires": 2_000_000}

    def dead(pid, started):  # the holder's pid is not running here
        return False

    assert _lock.stale_reason(info, 1_000_000, "ctl-1", dead, "boot-1 pid:[1]") == \
        "its process 100 on this host (ctl-1) is gone"
    assert _lock.stale_reason(info, 1_000_000, "ctl-1", dead, "boot-1 pid:[2]") is None  # another pid namespace
    assert _lock.stale_reason(info, 1_000_000, "ctl-1", dead, "boot-2 pid:[1]") is None  # rebooted since: lease
    assert _lock.stale_reason(info, 2_000_000, "ctl-1", dead, "boot-2 pid:[1]").startswith("its lease ended")
    assert _lock.process_alive(100, 5, proc="/no/such/proc") is True
    identity = _lock.machine_identity()
    assert identity is None or len(identity.split()) == 2
