"""The module-side progress writer (plugins/module_utils/_progress.py)."""

from __future__ import annotations

import threading

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._progress import MASK, ProgressWriter


def lines(path):
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("path", [None, ""])
def test_without_a_path_nothing_is_written(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    writer = ProgressWriter(path)
    writer.write("packer[x] step")
    assert not writer.enabled
    assert writer.lines == 0
    assert list(tmp_path.iterdir()) == []


def test_each_line_is_on_disk_as_soon_as_write_returns(tmp_path):
    path = tmp_path / "progress.log"
    path.touch()
    writer = ProgressWriter(str(path))
    writer.write("packer[sqlserver] ==> amazon-ebs.windows: Creating temporary keypair...")
    assert lines(path) == ["packer[sqlserver] ==> amazon-ebs.windows: Creating temporary keypair..."]
    writer.write("pcluster[demo] 240 s: CREATE_IN_PROGRESS")
    assert lines(path)[-1] == "pcluster[demo] 240 s: CREATE_IN_PROGRESS"
    assert writer.lines == 2


def test_appends_to_what_is_there(tmp_path):
    path = tmp_path / "progress.log"
    path.write_text("earlier\n", encoding="utf-8")
    ProgressWriter(str(path)).write("later")
    assert lines(path) == ["earlier", "later"]


def test_text_with_newlines_becomes_several_lines(tmp_path):
    path = tmp_path / "progress.log"
    writer = ProgressWriter(str(path))
    writer.write("first\r\nsecond\n")
    assert lines(path) == ["first", "second"]
    assert writer.lines == 2


def test_secrets_are_masked_including_ones_added_later(tmp_path):
    path = tmp_path / "progress.log"
    secrets = {"hunter2"}
    writer = ProgressWriter(str(path), secrets=secrets)
    writer.write("password hunter2 in the output")
    secrets.add("later-token")
    writer.write("token later-token and hunter2")
    assert lines(path) == [f"password {MASK} in the output", f"token {MASK} and {MASK}"]


def test_a_longer_secret_containing_a_shorter_one_is_masked_whole(tmp_path):
    path = tmp_path / "progress.log"
    ProgressWriter(str(path), secrets=["abc", "abcdef"]).write("key=abcdef")
    assert lines(path) == [f"key={MASK}"]


def test_an_unwritable_file_stops_the_lines_not_the_caller(tmp_path):
    path = tmp_path / "missing-dir" / "progress.log"
    writer = ProgressWriter(str(path))
    writer.write("one")
    writer.write("two")
    assert not writer.enabled
    assert "cannot write the progress file" in writer.error and str(path) in writer.error
    assert writer.lines == 0


def test_lines_from_parallel_builds_stay_whole(tmp_path):
    path = tmp_path / "progress.log"
    writer = ProgressWriter(str(path))

    def build(name):
        for index in range(200):
            writer.write(f"packer[{name}] step {index} " + "x" * 200)

    threads = [threading.Thread(target=build, args=(f"b{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = lines(path)
    assert len(written) == 800
    for name in ("b0", "b1", "b2", "b3"):
        mine = [line for line in written if line.startswith(f"packer[{name}] ")]
        assert [line.split()[2] for line in mine] == [str(i) for i in range(200)]
        assert all(line.endswith("x" * 200) for line in mine)
