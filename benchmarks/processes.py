"""A ``bayescale`` command timed in a new process: what the new-table benchmarks share."""

from __future__ import annotations

import compileall
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def timed_command(args: tuple[str, ...], root: Path, env: dict[str, str] | None = None) -> dict:
    """Run ``bayescale ARGS`` from checkout ``root`` in a new process (exit 0 or 3 expected).

    Returns its wall and CPU seconds (the child's user + system time) and its exit code.
    ``env`` adds to this process's environment; ``PYTHONPATH`` is ``root``.
    """
    # as installed (a wheel has .pyc files), not compiled from source in every child, which
    # PYTHONDONTWRITEBYTECODE=1 would make it (about 0.08 s a process)
    compileall.compile_dir(root / "bayescale", quiet=1)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bayescale.cli", *args],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), **(env or {})},
        timeout=1800,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 3):
        raise RuntimeError(f"bayescale {' '.join(args)} failed: {done.stderr[-2000:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "exit_code": done.returncode}
