"""Sampler programs kept on disk with ``jax.export``, so that a new process skips tracing them.

JAX's persistent compilation cache keeps only XLA's part of a compilation: a new process
still traces the NUTS program (numpyro's tree building under ``vmap`` and ``pmap``) and
lowers it, which took 3 of the 9 seconds of a ``bayescale loss`` run on a table whose shape
class was already compiled. Here a program is exported once (its StableHLO, with the
shapes of its arguments) and written beside the compilation cache; a later process that
needs the same program for the same template, settings, argument shapes and devices reads it
back, and the compilation cache then serves XLA's part.

A program is identified by a fingerprint of the template's log density (its jaxpr and
constants, :func:`jaxpr_fingerprint`), what the caller names (the sampler program's source
and settings), the arguments' shapes and dtypes, the device count and platform, and the
versions of JAX, numpyro and bayescale. Files
live in ``<compilation cache>/bayescale-programs`` only while JAX's compilation cache is
on (the ``bayescale`` command turns it on; a library user who turns it on gets this too);
without it the programs are exported and used in memory alone. A file that does not read
back (truncated, corrupt, from another version) is exported and written again; the least
recently used beyond :data:`PROGRAMS_KEPT` are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from bayescale.outputs import write_bytes
from bayescale.version import __version__

log = logging.getLogger(__name__)

#: Folder of the exported programs, inside JAX's compilation cache folder.
PROGRAMS_FOLDER = "bayescale-programs"
#: Stored programs kept (about 100 KB each); the least recently used go first.
PROGRAMS_KEPT = 1000
#: The first bytes of a stored program: the format, then the payload's SHA-256.
MAGIC = b"bayescale-exported-1\n"


def programs_dir() -> Path | None:
    """Where exported programs are kept: beside JAX's compilation cache, when it is on."""
    import jax

    folder = jax.config.jax_compilation_cache_dir
    if not folder or not jax.config.jax_enable_compilation_cache:
        return None
    return Path(folder) / PROGRAMS_FOLDER


def jaxpr_fingerprint(function: Callable[..., Any], *arguments: Any) -> str:
    """SHA-256 of ``function``'s jaxpr at ``arguments`` and of the constants it closes over."""
    import jax

    closed = jax.make_jaxpr(function)(*arguments)
    digest = hashlib.sha256(str(closed.jaxpr).encode())
    for constant in closed.consts:
        array = np.asarray(constant)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def argument_shapes(arguments: Any) -> list[tuple[tuple[int, ...], str]]:
    """Shape and dtype of every array of ``arguments`` (a pytree)."""
    import jax

    shapes = []
    for leaf in jax.tree.leaves(arguments):
        array = leaf if hasattr(leaf, "dtype") else np.asarray(leaf)
        shapes.append((tuple(array.shape), str(array.dtype)))
    return shapes


def program_key(name: str, identity: Sequence[Any], arguments: Any, devices: int) -> str:
    """The file name's hash: the program, its arguments' shapes, devices, platform, versions."""
    import jax

    parts = (
        name,
        tuple(identity),
        argument_shapes(arguments),
        devices,
        jax.default_backend(),  # a CPU program is not a GPU one
        jax.__version__,
        version("jaxlib"),
        version("numpyro"),
        __version__,
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:40]


def _read(path: Path) -> Any | None:
    """The exported program stored at ``path``, or ``None`` when there is none to trust."""
    from jax import export

    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        log.info("stored program %s not read (%s)", path, error)
        return None
    head, digest, payload = (
        blob[: len(MAGIC)],
        blob[len(MAGIC) : len(MAGIC) + 64],
        blob[len(MAGIC) + 64 :],
    )
    if head != MAGIC or digest != hashlib.sha256(payload).hexdigest().encode():
        log.info("stored program %s is damaged; exporting it again", path)
        return None
    try:
        exported = export.deserialize(bytearray(payload))
    except Exception as error:  # another JAX's format: export again
        log.info("stored program %s not loaded (%s); exporting it again", path, error)
        return None
    with contextlib.suppress(OSError):  # a read-only cache
        os.utime(path)  # used: the last to be evicted
    return exported


def _write(path: Path, exported: Any) -> None:
    payload = bytes(exported.serialize())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, MAGIC + hashlib.sha256(payload).hexdigest().encode() + payload)
        _evict(path.parent)
    except OSError as error:  # a read-only cache: the program still runs
        log.info("stored program %s not written (%s)", path, error)


def _evict(folder: Path, keep: int | None = None) -> None:
    """Remove the least recently used programs beyond ``keep`` (:data:`PROGRAMS_KEPT`)."""
    keep = PROGRAMS_KEPT if keep is None else keep
    files = []
    for path in folder.glob("*.jaxexport"):
        try:
            files.append((path.stat().st_mtime, path))
        except FileNotFoundError:  # evicted by another process meanwhile
            continue
    for _, path in sorted(files)[: max(0, len(files) - keep)]:
        path.unlink(missing_ok=True)


def exported_program(
    name: str,
    identity: Sequence[Any],
    trace: Callable[[], Any],
    arguments: Any,
    devices: int,
) -> Callable[..., Any]:
    """The program ``trace()`` makes, as a jitted call of its export for ``arguments``' shapes.

    ``trace`` returns the jitted (or ``jit``-of-``pmap``-ed) function; it is called only when
    no stored export of the same ``name``, ``identity`` (what else decides the program: the
    template's fingerprint, the sampler settings), argument shapes and ``devices`` is found.
    The returned function takes arguments laid out for ``devices`` (:func:`on_devices`).
    """
    import jax
    from jax import export

    folder = programs_dir()
    path = (
        None
        if folder is None
        else folder / f"{name}-{program_key(name, identity, arguments, devices)}.jaxexport"
    )
    exported = None if path is None else _read(path)
    if exported is None:
        exported = export.export(trace())(*on_devices(arguments, devices))
        if path is not None:
            _write(path, exported)
    else:
        log.debug("stored program %s read", path)
    return jax.jit(exported.call)


def on_devices(arguments: Any, devices: int) -> Any:
    """``arguments`` (leading axis: devices) placed one slice per device, as ``pmap`` would."""
    import jax

    if devices == 1:
        return arguments
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(jax.local_devices()[:devices]), ("devices",))
    return jax.device_put(arguments, NamedSharding(mesh, PartitionSpec("devices")))
