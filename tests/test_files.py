"""Atomic writes (skpoison._files)."""

import errno
import os
import stat

import pytest

from skpoison._files import atomic_file, remove_stale_temporaries


def test_a_failed_write_leaves_the_old_file_and_names_the_path(tmp_path):
    # (a full disk said only "[Errno 28] No space left on device": which file?)
    path = tmp_path / "table.csv"
    path.write_text("old")
    with pytest.raises(OSError, match=r"No space left on device: '.*table\.csv'") as caught:
        with atomic_file(path, "w") as handle:
            handle.write("new")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert caught.value.errno == errno.ENOSPC
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["table.csv"]


def test_an_interrupt_leaves_the_old_file(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(path, "w") as handle:
            handle.write("new")
            raise KeyboardInterrupt
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["table.csv"]


@pytest.mark.skipif(os.name != "posix", reason="a folder's sync is POSIX's (Windows opens "
                    "no folder)")
def test_the_rename_is_synced_in_its_folder(tmp_path, monkeypatch):
    # (the file was synced, but not the folder's entry that the rename changed: after a
    # power cut a finished cell's file could be gone, or still the old content)
    synced = []
    fsync = os.fsync

    def recording_fsync(descriptor):
        synced.append(stat.S_ISDIR(os.fstat(descriptor).st_mode))
        fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    with atomic_file(tmp_path / "cell.json", "w") as handle:
        handle.write("{}")
        assert synced == []
    assert synced == [False, True]     # the file, then its folder once renamed


@pytest.mark.parametrize("stem", ["L" * 240, "é" * 120])    # (240 bytes either way)
def test_a_long_name_is_written_and_a_killed_writers_temporary_removed(tmp_path, stem):
    # (a data file of a long name makes a long output stem: its CSV's name fit, but
    # not its temporary's, ".<name>.<host>.<pid>.<random>.tmp": ENAMETOOLONG at the end)
    path = tmp_path / f"{stem}.csv"
    with atomic_file(path, "w") as handle:
        handle.write("whole")
        (temporary,) = (name for name in os.listdir(tmp_path) if name.endswith(".tmp"))
    assert path.read_text() == "whole" and os.listdir(tmp_path) == [path.name]
    host_pid_random = temporary.rsplit(".", 4)
    killed = ".".join([host_pid_random[0], host_pid_random[1], str(2 ** 22 + 1),
                       *host_pid_random[3:]])     # (above Linux's largest pid)
    (tmp_path / killed).write_text("half")
    remove_stale_temporaries(path)
    assert os.listdir(tmp_path) == [path.name]


@pytest.mark.parametrize("clean", ["remove_stale_temporaries", "remove_dead_parts"])
def test_no_process_is_signalled_where_signal_0_is_no_probe(tmp_path, monkeypatch, clean):
    # On Windows os.kill(pid, 0) sends CTRL_C_EVENT to the process group pid (or raises
    # OSError): a dead writer's temporary is then left for its age to judge. Both
    # cleaners (atomic writes', downloads') ask one helper (_CAN_PROBE: not POSIX).
    from skpoison import _files
    from skpoison.datasets import _home
    sent = []
    monkeypatch.setattr(_files, "_CAN_PROBE", False, raising=False)
    monkeypatch.setattr(os, "kill", lambda *args: sent.append(args))
    path = tmp_path / "table.csv"
    dead = 2 ** 22 + 1    # (above Linux's largest pid)
    if clean == "remove_stale_temporaries":
        left = tmp_path / f".table.csv.{_files._HOST}.{dead}.00000000.tmp"
    else:
        left = tmp_path / f".table.csv.{_home._writer().rsplit('-', 1)[0]}-{dead}.abc_12.part.csv"
    left.write_text("half")
    getattr(_files if clean == "remove_stale_temporaries" else _home, clean)(path)
    assert sent == [] and left.exists()



def _leave_old_and_recent(path, old, recent):
    """Leave two temporaries, ``old`` past the age limit, then clean ``path``'s."""
    from skpoison import _files
    for left in (old, recent):
        left.write_text("half")
    past = os.stat(old).st_mtime - _files.STALE_SECONDS - 1
    os.utime(old, (past, past))
    remove_stale_temporaries(path)

def test_without_a_probe_a_dead_writers_temporary_goes_by_its_age(tmp_path, monkeypatch):
    # (where no process can be probed (Windows), this host's temporaries were kept
    # whatever their age: a killed writer's stayed for good)
    from skpoison import _files
    monkeypatch.setattr(_files, "_CAN_PROBE", False)
    path = tmp_path / "table.csv"
    old, recent = (tmp_path / f".table.csv.{_files._HOST}.{pid}.00000000.tmp"
                   for pid in (2 ** 22 + 1, 2 ** 22 + 2))
    _leave_old_and_recent(path, old, recent)
    assert not old.exists() and recent.exists()


def test_an_old_temporary_goes_though_its_process_number_runs_again(tmp_path):
    # (a killed writer's number taken since by a live process kept its temporary for good
    # on this host; the downloads' cleaner removed such a file by its age already)
    from skpoison import _files
    path = tmp_path / "table.csv"
    old, recent = (tmp_path / f".table.csv.{_files._HOST}.{os.getpid()}.{i:08}.tmp"
                   for i in (0, 1))
    _leave_old_and_recent(path, old, recent)
    assert not old.exists() and recent.exists()


def test_a_temporary_that_cannot_be_removed_is_left(tmp_path, monkeypatch):
    # (another user's, in a shared folder: the PermissionError stopped the write of the
    # table it came before; the downloads' cleaner left such a file)
    from skpoison import _files
    path = tmp_path / "table.csv"
    left = tmp_path / f".table.csv.{_files._HOST}.{2 ** 22 + 1}.00000000.tmp"
    left.write_text("half")

    def refused(name, *args, **kwargs):
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), name)

    monkeypatch.setattr(os, "unlink", refused)
    remove_stale_temporaries(path)
    assert left.exists()
