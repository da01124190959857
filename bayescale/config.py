"""Process-wide JAX and PyTensor settings, made only when asked: :func:`configure`.

Importing bayescale, or fitting with it, changes no JAX, XLA or PyTensor setting of the process
it runs in: a library is a guest there. The ``bayescale`` command sets what it needs for itself
through :func:`configure` (one JAX CPU device per chain, the persistent compilation cache,
float32 on request); a Python program that wants the same calls it first thing. See
``docs/configure.md``.

Two of PyMC's and PyTensor's import-time changes are undone here: importing
``pymc.sampling.jax`` puts ``--xla_force_host_platform_device_count=100`` into ``XLA_FLAGS``,
and importing PyTensor's JAX backend switches JAX's 64-bit mode to PyTensor's float width.
:func:`jax_scope` imports them with both put back, and runs bayescale's own JAX work with
64-bit mode set for that thread and that block only.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from bayescale.errors import InputError

log = logging.getLogger(__name__)

#: Environment variable the ``bayescale`` command reads to run in float32 (``1``, ``true``).
FLOAT32_ENV = "BAYESCALE_FLOAT32"
#: Environment variable naming the persistent JAX compilation cache; ``off`` disables it.
CACHE_ENV = "BAYESCALE_JAX_CACHE"
#: Size cap of the cache (least recently used entries go first); a fit's programs take ~1 MB.
CACHE_MAX_BYTES = 512 * 2**20
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Configuration:
    """What :func:`configure` set.

    Attributes
    ----------
    devices
        JAX CPU devices asked for, or ``None`` when left to JAX.
    compilation_cache
        Folder of the persistent compilation cache, or ``None`` when not set here.
    float_width
        ``"float32"`` or ``"float64"``: the width PyMC models are built with.
    """

    devices: int | None
    compilation_cache: str | None
    float_width: str


def configure(
    *,
    devices: int | None = None,
    compilation_cache: bool | str | os.PathLike[str] | None = None,
    float32: bool = False,
) -> Configuration:
    """Set JAX and PyTensor up for bayescale's fits, for the whole process.

    Call it first thing, before any JAX computation or PyMC import: JAX fixes its device count
    when its backend starts and PyTensor its float width when it is imported. Settings for a
    JAX that is not imported yet go into JAX's own environment variables
    (``JAX_NUM_CPU_DEVICES``, ``JAX_COMPILATION_CACHE_DIR``, ...), which it reads on import, so
    configuring imports nothing.

    Parameters
    ----------
    devices
        JAX CPU devices to create. With at least as many devices as chains, chains run in
        parallel (one device each); with fewer they run vectorised on one. Ignored by GPU
        backends, whose devices are the GPUs.
    compilation_cache
        ``True``: JAX's persistent compilation cache in ``$BAYESCALE_JAX_CACHE`` or
        ``~/.cache/bayescale/jax`` (:func:`compilation_cache_dir`; a folder already set through
        JAX is kept); a path: that folder; ``False``: the persistent cache off. Every program is
        cached whatever its compile time, at most :data:`CACHE_MAX_BYTES` on disk.
    float32
        Build PyMC models, and run JAX, in float32 (:func:`use_float32`).

    Returns
    -------
    Configuration

    Raises
    ------
    InputError
        When ``devices`` is not a positive integer.
    RuntimeError
        When JAX already runs with another device count, or PyTensor is already imported in
        float64 and ``float32`` is asked for.
    """
    if devices is not None:
        if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
            raise InputError(f"configure: 'devices' must be a positive integer, got {devices!r}.")
        _set_devices(devices)
    folder = None
    if compilation_cache is False:
        _set_jax("jax_enable_compilation_cache", False)
    elif compilation_cache is not None:
        folder = _set_cache(None if compilation_cache is True else os.fspath(compilation_cache))
    if float32:
        use_float32()
    return Configuration(devices=devices, compilation_cache=folder, float_width=float_width())


def _jax_loaded() -> bool:
    """Whether JAX itself is imported (a lazy stub such as arviz_base's does not count)."""
    return "jax._src.config" in sys.modules


def _set_jax(name: str, value: object) -> None:
    """Set a JAX option now, or through its environment variable when JAX is not imported."""
    if _jax_loaded():
        import jax

        jax.config.update(name, value)
    else:
        os.environ[name.upper()] = str(value)


def _jax_value(name: str) -> object:
    """A JAX option's value, or its environment variable's when JAX is not imported."""
    if _jax_loaded():
        import jax

        return getattr(jax.config, name)
    return os.environ.get(name.upper())


def jax_started() -> bool:
    """Whether JAX's backend has started (its device count is then fixed)."""
    if not _jax_loaded():
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):  # private API moved: assume JAX has started
        return True


def devices_set() -> bool:
    """Whether a JAX CPU device count was already asked for (by ``configure`` or the user)."""
    value = _jax_value("jax_num_cpu_devices")
    return value not in (None, -1, "-1", "")


def _set_devices(devices: int) -> None:
    if jax_started():
        import jax

        have = len(jax.devices("cpu"))
        if have != devices:
            raise RuntimeError(
                f"configure(devices={devices}): JAX already runs with {have} CPU devices. "
                "Call bayescale.configure() before any JAX computation, first thing in the "
                "program."
            )
        return
    _set_jax("jax_num_cpu_devices", devices)


def usable_cores() -> int:
    """CPU cores this process may run on: how every part of bayescale counts cores.

    ``os.cpu_count()`` counts the machine's cores, more than a process pinned by ``taskset``,
    given a cgroup cpuset, or held to a container's CPU quota (``docker run --cpus``) may use;
    chains and suite workers spread over that many would oversubscribe the cores they have.
    This is ``os.process_cpu_count()`` (Python 3.13: the CPU affinity, and
    ``PYTHON_CPU_COUNT``), else the affinity (``os.sched_getaffinity``), else
    ``os.cpu_count()``, capped by the cgroup's CPU quota rounded up (:func:`cgroup_cpu_quota`).
    """
    process_cpu_count = getattr(os, "process_cpu_count", None)
    if process_cpu_count is not None:
        count = process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:  # not on Linux
        count = os.cpu_count()
    quota = cgroup_cpu_quota()
    count = count or 1
    return max(1, count if quota is None else min(count, quota))


def cgroup_cpu_quota(
    proc_cgroup: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup"
) -> int | None:
    """The CPU quota of this process's cgroups in whole cores (rounded up), or ``None``.

    The smallest quota of :func:`_cgroup_folders`: cgroup v2 ``cpu.max`` (``QUOTA PERIOD``,
    or ``max``); v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1: none). What does not
    read counts as no quota.
    """
    import math

    quotas = [
        _quota(f / "cpu.max") if v2 else _quota(f / "cpu.cfs_quota_us", f / "cpu.cfs_period_us")
        for f, v2 in _cgroup_folders("cpu", proc_cgroup, root)
    ]
    cores = [math.ceil(quota) for quota in quotas if quota is not None]
    return min(cores) if cores else None


def cgroup_memory_free(
    proc_cgroup: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup"
) -> int | None:
    """Bytes this process's cgroups still allow (limit less usage, the smallest), or ``None``.

    Over :func:`_cgroup_folders`: cgroup v2 ``memory.max`` (or ``max``) and
    ``memory.current``; v1 ``memory.limit_in_bytes`` and ``memory.usage_in_bytes`` (a limit
    of 2^60 or more is none).
    """
    free = []
    for f, v2 in _cgroup_folders("memory", proc_cgroup, root):
        names = (
            ("memory.max", "memory.current")
            if v2
            else ("memory.limit_in_bytes", "memory.usage_in_bytes")
        )
        limit, usage = (_read_int(f / name) for name in names)
        if limit is not None and limit < 2**60:
            free.append(max(0, limit - (usage or 0)))
    return min(free) if free else None


def _read_int(path: Path) -> int | None:
    """The integer in ``path``; ``None`` when it does not read or says ``max``."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cgroup_folders(controller: str, proc_cgroup: str, root: str) -> list[tuple[Path, bool]]:
    """The process's cgroup folders of ``controller``, each with whether it is cgroup v2.

    The cgroup and each parent up to the controller's mount: inside a container the mount is
    often the container's own cgroup, while the path the process reads names it from
    outside. Empty when ``proc_cgroup`` does not read.
    """
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        return []
    top = Path(root)
    folders = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: one hierarchy for every controller
            folders += [(f, True) for f in _up_to(top, path)]
        elif controller in controllers.split(","):  # v1: a hierarchy per controller
            folders += [(f, False) for f in _up_to(top / controller, path)]
    return folders


def _up_to(mount: Path, path: str) -> list[Path]:
    """``mount / path`` and each of its parents up to ``mount``, the mount included."""
    folder, folders = mount / path.lstrip("/"), []
    while folder == mount or mount in folder.parents:
        folders.append(folder)
        folder = folder.parent
    return folders


def _quota(*paths: Path) -> float | None:
    """Quota over period from one file (``cpu.max``) or two (v1); ``None``: no quota."""
    fields = []
    for path in paths:
        try:
            fields += path.read_text().split()
        except OSError:
            return None
    try:
        quota, period = (float(f) for f in fields)
    except ValueError:  # "max", or not two numbers
        return None
    return quota / period if quota > 0 and period > 0 else None


def compilation_cache_dir() -> str | None:
    """The folder of the persistent JAX compilation cache, or ``None`` when it is off.

    ``$BAYESCALE_JAX_CACHE`` when set (``off``, ``0`` or empty disables the cache), else
    ``$XDG_CACHE_HOME/bayescale/jax`` (``~/.cache/bayescale/jax``).
    """
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "0", "off", "false", "no") else value
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bayescale", "jax")


def _set_cache(folder: str | None) -> str | None:
    """Turn the persistent compilation cache on in ``folder`` (default: the usual one)."""
    if folder is None:
        current = _jax_value("jax_compilation_cache_dir")
        if current:
            return str(current)  # set through JAX by the user: keep it
        folder = compilation_cache_dir()
        if folder is None:
            return None
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:  # read-only home: run without the cache
        log.info("JAX compilation cache disabled: cannot create %s (%s)", folder, error)
        return None
    _set_jax("jax_compilation_cache_dir", folder)
    _set_jax("jax_persistent_cache_min_compile_time_secs", 0.0)
    _set_jax("jax_persistent_cache_min_entry_size_bytes", 0)
    if _jax_value("jax_compilation_cache_max_size") in (None, -1):  # unbounded: cap it
        _set_jax("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    return folder


def float32_requested() -> bool:
    """Whether ``$BAYESCALE_FLOAT32`` asks for float32 (read by the ``bayescale`` command)."""
    return os.environ.get(FLOAT32_ENV, "").strip().lower() in _TRUE


def use_float32() -> None:
    """Make PyTensor build, and JAX run, every model of this process in float32.

    PyTensor fixes its float width (``floatX``) when it is first imported, so this has to run
    before PyMC or PyTensor are imported (``PYTENSOR_FLAGS=floatX=float32`` does the same). On
    a CPU float32 saves little; on a GPU it is several times faster. Check a float32 fit
    against float64 once per kind of data (``benchmarks/bench_fit.py --float32-check``): the
    pass model's log density is beyond float32's resolution (``docs/performance.md``).

    Raises
    ------
    RuntimeError
        When PyTensor is already imported with ``floatX=float64``.
    """
    if "pytensor" in sys.modules:
        import pytensor

        if pytensor.config.floatX != "float32":
            raise RuntimeError(
                "float32 must be chosen before PyMC/PyTensor are imported: call "
                "bayescale.configure(float32=True) first thing, or set "
                "PYTENSOR_FLAGS=floatX=float32 (or, for the bayescale command, "
                f"{FLOAT32_ENV}=1) in the environment."
            )
        return
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "floatX" not in flags:
        os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, "floatX=float32") if f)


def float_width() -> str:
    """``"float32"`` or ``"float64"``: the float width PyMC models are built with here."""
    if "pytensor" in sys.modules:
        import pytensor

        return str(pytensor.config.floatX)
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    return "float32" if "floatX=float32" in flags.replace(" ", "") else "float64"


def import_pymc_jax() -> ModuleType:
    """``pymc.sampling.jax``, imported without its changes to the process.

    On its first import it rewrites ``XLA_FLAGS`` (100 host CPU devices, which a JAX backend
    started afterwards would create) and PyTensor's JAX backend sets ``jax_enable_x64``
    globally; both are put back as they were. Where the user imported it first, nothing is
    touched: those changes are theirs.
    """
    if "pymc.sampling.jax" in sys.modules:
        return sys.modules["pymc.sampling.jax"]
    import jax

    flags = os.environ.get("XLA_FLAGS")
    x64 = jax.config.jax_enable_x64
    try:
        import pymc.sampling.jax as pymc_jax
    finally:
        if flags is None:
            os.environ.pop("XLA_FLAGS", None)
        else:
            os.environ["XLA_FLAGS"] = flags
        if jax.config.jax_enable_x64 != x64:
            jax.config.update("jax_enable_x64", x64)
    return pymc_jax


@contextmanager
def jax_scope() -> Iterator[None]:
    """Run bayescale's JAX work: PyMC's JAX module imported cleanly, 64-bit mode for this block.

    PyTensor's JAX backend expects JAX's 64-bit mode to match its float width; it is set
    thread-locally here (``jax.enable_x64``), so the user's global setting is untouched.
    """
    import jax

    import_pymc_jax()
    with jax.enable_x64(float_width() == "float64"):
        yield
