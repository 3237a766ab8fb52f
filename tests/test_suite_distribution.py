"""The suite's own xdist settings keep a test module on one worker: tests/topology's module
shares one production topology (a module-scoped fixture) and its tests build on each other's
nights. Run as a process with pyproject's addopts, on a sample of two modules and two workers.

(pytest-xdist 3.8's ``--dist loadgroup`` rewrites ``item._nodeid``, which pytest 9 ignores:
the groups were dropped and the topology module was split over both workers.)
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SAMPLE = '''
import os
from pathlib import Path

def _note(name):
    Path(os.environ["SAMPLE_OUT"], name).write_text(os.environ.get("PYTEST_XDIST_WORKER", "none"))

def test_one(): _note("{module}-1")
def test_two(): _note("{module}-2")
def test_three(): _note("{module}-3")
'''


def test_a_module_runs_on_one_worker_with_the_suites_addopts(tmp_path: Path) -> None:
    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    out = tmp_path / "out"
    out.mkdir()
    for module in ("alpha", "beta"):
        (tmp_path / f"test_{module}.py").write_text(SAMPLE.format(module=module))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *shlex.split(addopts),
         "-n", "2", "--rootdir", str(tmp_path), "-c", "/dev/null", str(tmp_path)],
        cwd=tmp_path, env={"SAMPLE_OUT": str(out), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    workers = {p.name: p.read_text() for p in out.iterdir()}
    assert len(workers) == 6 and set(workers.values()) <= {"gw0", "gw1"}, workers
    for module in ("alpha", "beta"):
        assert len({workers[f"{module}-{i}"] for i in (1, 2, 3)}) == 1, workers
