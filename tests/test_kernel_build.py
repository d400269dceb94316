"""Building the fused kernel: no lock outlives its owner, no wait is unbounded, no build tool but the compiler."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evoprune.backends import fused
from evoprune.backends.build import STALE_SECONDS, Outcome, kernel_dir, load_or_build

FAKE_CXX = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "fake c++ 1.0"; exit 0; fi
sleep 60
"""

BUILD = """
import json, sys
from pathlib import Path
from evoprune.backends.build import load_or_build
o = load_or_build("demo", "// source", [], wait=float(sys.argv[2]), directory=Path(sys.argv[1]))
print(json.dumps([o.how, o.detail, o.seconds]))
"""


@pytest.fixture
def fake_cxx(tmp_path, monkeypatch):
    cxx = tmp_path / "fake-cxx"
    cxx.write_text(FAKE_CXX)
    cxx.chmod(0o755)
    monkeypatch.setenv("CXX", str(cxx))
    return cxx


def _start_builder(folder: Path) -> subprocess.Popen:
    """A process that starts a (fake, minute-long) build in ``folder``; returns once it holds the lock."""
    proc = subprocess.Popen([sys.executable, "-c", BUILD, str(folder), "60"], start_new_session=True,
                            stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while not list(folder.glob("*.lock")):
        assert proc.poll() is None and time.monotonic() < deadline, "the builder never took the lock"
        time.sleep(0.05)
    return proc


def test_a_live_build_is_waited_for_a_bounded_time(tmp_path, fake_cxx):
    proc = _start_builder(tmp_path)
    try:
        t0 = time.monotonic()
        out = load_or_build("demo", "// source", [], wait=1.0, directory=tmp_path)
        assert out.how == "busy" and out.module is None
        assert f"process {proc.pid}" in out.detail and "after 1 s" in out.detail
        assert 1.0 <= time.monotonic() - t0 < 1.0 + STALE_SECONDS / 2
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_killed_builders_lock_is_taken_over_at_once(tmp_path, fake_cxx):
    proc = _start_builder(tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)  # as an out-of-memory kill or a node failure would
    proc.wait()
    (lock,) = tmp_path.glob("*.lock")
    assert json.loads(lock.read_text())["pid"] == proc.pid  # the dead owner's lock is still there
    fake_cxx.write_text(FAKE_CXX.replace("sleep 60", "echo 'error: fake compiler says no' >&2; exit 1"))
    t0 = time.monotonic()
    out = load_or_build("demo", "// source", [], wait=0.0, directory=tmp_path)  # no wait allowed at all
    assert out.how == "failed" and "fake compiler says no" in out.detail  # it compiled, so it took the lock
    assert time.monotonic() - t0 < 10
    assert not list(tmp_path.glob("*.lock")) and not list(tmp_path.glob(".*"))  # no lock, no temp files left
    again = load_or_build("demo", "// source", [], wait=0.0, directory=tmp_path)
    assert again.how == "failed" and "recorded in" in again.detail  # the failure is not compiled again


def test_no_compiler_falls_back_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    out = load_or_build("demo", "// source", [], directory=tmp_path)
    assert out.how == "failed" and "'no-such-compiler-here' is not on PATH" in out.detail
    monkeypatch.setenv("EVOPRUNE_FUSED", "1")
    monkeypatch.setenv("EVOPRUNE_KERNEL_DIR", str(tmp_path))
    monkeypatch.setattr(fused, "_STATE", {})
    with pytest.warns(RuntimeWarning, match="no-such-compiler-here"):
        assert fused.extension() is None
    assert fused.backend() == ("torch", "fused kernel failed: no C++ compiler ('no-such-compiler-here' is not on "
                                        "PATH)")


def test_the_key_covers_the_source_and_the_flags(tmp_path, fake_cxx):
    fake_cxx.write_text(FAKE_CXX.replace("sleep 60", "exit 1"))
    for src, flags in [("a", []), ("b", []), ("a", ["-O2"]), ("a", [])]:
        assert load_or_build("demo", src, flags, directory=tmp_path).how == "failed"
    assert len(list(tmp_path.glob("*.failed"))) == 3  # one binary name per (source, flags)


def _toolchain_only(tmp_path: Path) -> str:
    """A PATH holding only the compiler (the driver, the assembler and the linker): no ninja, no make."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("c++", "as", "ld"):
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"no {tool} on this machine")
        (bin_dir / tool).symlink_to(os.path.realpath(found))
    return str(bin_dir)


@pytest.mark.slow
def test_real_build_killed_midway_then_built_by_the_next_process_with_only_the_compiler(tmp_path):
    env = {**os.environ, "PATH": _toolchain_only(tmp_path), "EVOPRUNE_KERNEL_DIR": str(tmp_path / "k"),
           "EVOPRUNE_FUSED": "1", "EVOPRUNE_KERNEL_WAIT": "0"}
    first = subprocess.Popen([sys.executable, "-c", "from evoprune.backends import fused; fused.build()"], env=env,
                             start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "k").glob("*.lock")):
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(3)  # well inside the compile
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert list((tmp_path / "k").glob("*.lock"))
    t0 = time.monotonic()
    probe = ("import json; from evoprune.backends import fused; from evoprune.cli import main; "
             "print(json.dumps(fused.backend())); main(['info'])")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    backend, why = json.loads(out.stdout.splitlines()[0])
    assert (backend, why.split()[0]) == ("fused", "built"), why  # no wait allowed: it took the dead lock over
    assert "kernel backend (dense networks on the CPU): fused" in out.stdout
    assert time.monotonic() - t0 < 900
    assert not list((tmp_path / "k").glob("*.lock"))


def test_binaries_live_in_the_environment_unless_told_otherwise(tmp_path, monkeypatch, fake_cxx):
    monkeypatch.delenv("EVOPRUNE_KERNEL_DIR", raising=False)
    assert kernel_dir() == Path(sys.prefix) / "share" / "evoprune"  # this environment's own folder
    monkeypatch.setenv("EVOPRUNE_KERNEL_DIR", str(tmp_path / "k"))
    assert kernel_dir() == tmp_path / "k"
    out = load_or_build("demo", "// source", [], build=False)
    assert isinstance(out, Outcome) and out.how == "missing" and str(tmp_path / "k") in out.detail
    assert not (tmp_path / "k").exists()  # not allowed to build: nothing written
