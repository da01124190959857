"""Outputs a user can trust: atomic files, whole-folder results, one writer at a time.

- :func:`atomic_file` / :func:`write_text` write a file through a temporary name in the same
  folder, ``fsync`` it, and ``os.replace`` it onto the destination: a reader sees the old file
  or the new one, never half of one.
- :func:`result_folder` writes an ``--out`` folder as a whole. The run's files go into a
  hidden staging folder beside it (``.NAME.new-XXXX``); when all are written the staging
  folder takes the place of ``NAME``. On Linux the two folders are exchanged in one atomic
  ``renameat2(RENAME_EXCHANGE)``; elsewhere (or where the file system refuses it) the old
  folder is renamed to ``.NAME.old``, the new one renamed in, and the old one removed. A crash
  between those two renames leaves ``NAME`` absent and the complete old result in
  ``.NAME.old``: :func:`recover_folder` (called by every later write, and named in the error
  of a read that finds ``NAME`` missing) puts it back. Files of an earlier run that this run
  does not write do not survive the swap.
- :func:`folder_lock` takes an exclusive ``flock`` on ``.NAME.lock`` beside the folder, so a
  second writer is refused with a clear message instead of mixing its files in.
- :func:`check_output_folder` and :func:`check_output_file` refuse an unusable destination
  before any expensive work: a file where a folder is expected, a folder where a file is, a
  read-only or missing parent, a device.

Every ``OSError`` while writing becomes an :class:`~bayescale.errors.InputError` (exit 2) that
names the path. Nothing here imports PyMC or JAX.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bayescale.errors import InputError

try:  # POSIX only; elsewhere the lock is skipped
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Locks this process holds, by resolved folder path, with their open lock file and depth.
_HELD: dict[str, tuple[int, int]] = {}

#: ``renameat2`` flag: exchange the two paths atomically (Linux >= 3.15).
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _cannot_write(path: Path, exc: OSError) -> InputError:
    reason = exc.strerror or type(exc).__name__
    return InputError(
        f"{path}: cannot write ({reason}). Check that the folder exists, is writable and has "
        "free space, or choose another path."
    )


def _fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    The caller writes the whole file to the yielded path (by any library); on leaving the
    block it is ``fsync``-ed and ``os.replace``-d onto ``path``. If the block raises, the
    temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide results from other users
        os.replace(tmp, path)
        _fsync_dir(folder)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _cannot_write(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_file`)."""
    return write_bytes(path, text.encode("utf-8"))


# --------------------------------------------------------------------------- path checks


def _existing_ancestor(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if parent.exists():
            return parent
    return Path.cwd()  # pragma: no cover - a relative path whose every part is missing


def _probe_writable(folder: Path, path: Path, option: str) -> None:
    """Create and remove a file in ``folder``: the only check that also holds for root."""
    if not folder.is_dir():
        raise InputError(f"{option} {path}: {folder} is not a folder.")
    try:
        fd, name = tempfile.mkstemp(prefix=".bayescale-probe-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise InputError(
            f"{option} {path}: cannot write in {folder} ({exc.strerror or exc}). Choose a "
            "writable location."
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):  # pragma: no cover - root passes os.access
        raise InputError(f"{option} {path}: {folder} is not writable. Choose another location.")


#: Files that mark a folder as an earlier bayescale result, which a run may replace whole.
RESULT_FILES = frozenset(
    {"forecast.json", "fit.nc", "report.md", "backtest.json", "backtest.md", "summary.json"}
)
#: Other names a result folder holds: its plots, a suite's ``runs/`` and ``.running/``, a suite
#: run's files. A folder with any other name, or with none of :data:`_OWN_NAMES`, is replaced
#: only when a marker file is bayescale's by its content (:func:`_bayescale_wrote`).
_RESULT_NAMES = RESULT_FILES | {
    "summary.md",
    "runs",
    ".running",
    "log.txt",
    "job.json",
    "result.json",
    *(
        f"{plot}.png"
        for plot in (
            "loss_forecast",
            "ppc",
            "decision",
            "pass_buckets",
            "pass_rate",
            "nd_contours",
            "nd_path",
            "accuracy",
            "calibration",
        )
    ),
}
#: Result names no other tool is known to write: a folder of result names with one of them is
#: an earlier result without reading it.
_OWN_NAMES = frozenset({"forecast.json", "backtest.json", "backtest.md"})
#: Largest JSON marker read to see whether bayescale wrote it (a result document is far smaller).
_MARKER_BYTES = 64 * 2**20


def _bayescale_wrote(path: Path) -> bool:
    """True when ``path``, one of :data:`RESULT_FILES`, is a file bayescale wrote, by content.

    A JSON document with ``bayescale_version`` (a suite's summary: a ``runs`` list), a
    report ending in bayescale's version line, a backtest report's title, an HDF5 ``fit.nc``.
    """
    try:
        if not path.is_file():
            return False
        with path.open("rb") as handle:
            if path.name == "fit.nc":  # any HDF5 file (ArviZ's to_netcdf) is not enough
                return handle.read(8) == b"\x89HDF\r\n\x1a\n" and _saved_fit(path)
            if path.name == "backtest.md":
                return handle.read(64).startswith(b"# Backtest (")
            if path.name == "report.md":
                handle.seek(max(0, path.stat().st_size - 256))
                last = handle.read().decode("utf-8", "replace").strip().splitlines()[-1:]
                return bool(last) and last[0].startswith("_bayescale ") and last[0].endswith("_")
            if path.stat().st_size > _MARKER_BYTES:
                return False
            doc = json.loads(handle.read())
    except (OSError, ValueError):
        return False
    if not isinstance(doc, dict):
        return False
    return "bayescale_version" in doc or (
        path.name == "summary.json" and isinstance(doc.get("runs"), list)
    )


def _saved_fit(path: Path) -> bool:
    """True when the HDF5 file ``path`` carries a bayescale saved fit's format tag."""
    import h5py  # type: ignore[import-untyped]

    try:
        with h5py.File(path, "r") as opened:
            return "bayescale_format" in opened.attrs
    except Exception:  # h5py raises many types for a damaged file
        return False


def _check_replaceable(path: Path, option: str) -> None:
    """Refuse to replace a folder that is not an earlier result (a project, the cwd, home)."""
    real = _real(path)
    if Path.cwd().resolve().is_relative_to(real) or Path.home().resolve() == real:
        raise InputError(
            f"{option} {path}: is the current folder, one of its parents or the home folder; "
            f"{option} is replaced as a whole by the run's files. Name a folder of its own, "
            "e.g. out/."
        )
    try:
        entries = sorted(p.name for p in real.iterdir())
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot be listed ({exc.strerror or exc}).") from None
    foreign = [e for e in entries if e not in _RESULT_NAMES]
    markers = sorted(RESULT_FILES.intersection(entries))
    # an earlier result: a marker file whose content shows bayescale wrote it, or result names
    # only with one that is bayescale's own (generic ones alone, a project's report.md and
    # TensorBoard's runs/, are not enough)
    named = not foreign and bool(_OWN_NAMES.intersection(entries))
    if entries and not named and not any(_bayescale_wrote(real / m) for m in markers):
        example = (foreign or entries)[0]
        raise InputError(
            f"{option} {path}: the folder holds files that are not a bayescale result (e.g. "
            f"'{example}'), and {option} is replaced as a whole by the run's files. Name a "
            "new or empty folder, or one written by an earlier --out."
        )


def check_output_folder(path: str | Path, option: str = "--out", *, owned: bool = False) -> Path:
    """Refuse an ``--out`` destination that cannot take a result folder, before any work.

    The folder may be absent (it is created), empty, or an earlier result (one of its
    :data:`RESULT_FILES` is a file bayescale wrote, by its content, or it holds result names
    only, one of them bayescale's own), which is replaced as a whole; its parent must be
    writable. ``owned``: see :func:`result_folder`.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(
            f"{option} {path}: is a file, not a folder. {option} names a folder for the "
            "report, plots and fit.nc; choose a folder path."
        )
    if path.is_dir() and not owned:
        _check_replaceable(path, option)
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise InputError(
            f"{option} {path}: the folder is read-only. Make it writable or choose another."
        )
    if path.is_dir():
        _probe_writable(path, path, option)
    parent = path.absolute().parent
    _probe_writable(_existing_ancestor(parent), path, option)
    return path


def check_output_file(path: str | Path, option: str = "--json") -> Path:
    """Refuse a file destination that cannot be written, before any work.

    A folder, a device or FIFO (``/dev/full``, ``/dev/null``), or an unwritable parent is
    refused; an existing regular file is replaced atomically.
    """
    path = Path(path)
    if path.is_dir():
        example = "out.json" if option == "--json" else "out.csv"
        raise InputError(f"{option} {path}: is a folder. {option} names a file, e.g. {example}.")
    if path.exists() and not stat.S_ISREG(path.stat().st_mode):
        raise InputError(
            f"{option} {path}: is not a regular file (a device, FIFO or socket). {option} "
            "writes a regular file; choose a file path."
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{option} {path}: the file is read-only.")
    _probe_writable(_existing_ancestor(path.absolute().parent), path, option)
    return path


# ------------------------------------------------------------------------- whole folders


def _real(path: str | Path) -> Path:
    """The folder's real location: a symbolic link is followed, so the link stays a link."""
    return Path(path).resolve()


def _aside(path: Path, what: str) -> Path:
    return path.parent / f".{path.name}.{what}"


def lock_path(path: str | Path) -> Path:
    """The lock file of an output folder: ``.NAME.lock`` beside it."""
    return _aside(_real(path), "lock")


@contextlib.contextmanager
def folder_lock(path: str | Path, option: str = "--out") -> Iterator[None]:
    """Hold the exclusive writer lock of an output folder (re-entrant within a process).

    The lock is an ``flock`` on ``.NAME.lock`` beside the folder. The file is removed when the
    holder leaves (at the end, on an error or Ctrl-C); one left by a killed process holds no
    lock, and the next run on the folder takes it and removes it in turn.

    Raises
    ------
    InputError
        When another process holds it: another bayescale run is writing that folder.
    """
    folder = _real(path)
    key = str(folder)
    if key in _HELD:
        fd, depth = _HELD[key]
        _HELD[key] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _HELD[key]
            _HELD[key] = (fd, depth - 1)
        return
    lock = lock_path(folder)
    fd = _locked(lock, f"{option} {path}", option)
    try:
        _HELD[key] = (fd, 1)
        try:
            yield
        finally:
            del _HELD[key]
            with contextlib.suppress(OSError):  # still locked: no writer can be using it
                os.unlink(lock)
    finally:
        os.close(fd)  # closing releases the flock


def _locked(lock: Path, what: str, option: str) -> int:
    """Open ``lock`` (creating it) and take its exclusive ``flock``; the open descriptor.

    A holder removes the file before it releases the lock (:func:`folder_lock`), so a file
    locked after its holder left may no longer be the one at ``lock``: then it is opened again.
    """
    while True:
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise _cannot_write(lock, exc) from None
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise _cannot_write(lock, exc) from None
            raise InputError(
                f"{what}: another bayescale run is writing this folder (it holds the lock "
                f"{lock}). Wait for it to finish or choose another {option}."
            ) from None
        try:
            on_disk = os.stat(lock)
        except OSError:
            on_disk = None
        held = os.fstat(fd)
        if on_disk is not None and (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino):
            return fd
        os.close(fd)  # removed (or replaced) by the holder that just left


def recover_folder(path: str | Path) -> str | None:
    """Repair what an interrupted swap left beside ``path``; say what was done.

    - ``NAME`` absent and ``.NAME.old`` present: a crash between the two renames of the
      fallback swap. ``.NAME.old`` is the complete previous result; it is renamed back.
    - ``NAME`` present and ``.NAME.old`` present: a crash while removing the old result;
      ``.NAME.old`` is removed.
    - ``.NAME.new-*`` staging folders: a run that died before its swap; they are removed.

    Call it while holding :func:`folder_lock`.
    """
    folder = _real(path)
    old = _aside(folder, "old")
    done = None
    if old.exists() and not folder.exists():
        os.rename(old, folder)
        _fsync_dir(folder.parent)
        done = f"restored the previous result of {path} from {old} (an interrupted write)"
    elif old.exists():
        shutil.rmtree(old, ignore_errors=True)
    for staging in folder.parent.glob(f".{folder.name}.new-*"):
        shutil.rmtree(staging, ignore_errors=True)
    return done


def interrupted_hint(path: str | Path) -> str:
    """A sentence for a read that finds ``path`` missing after an interrupted folder swap."""
    path = Path(path)
    for folder in [path, *path.parents[:1]]:
        old = _aside(folder.absolute(), "old")
        if old.exists() and not folder.exists():
            return (
                f" An interrupted write left the previous result in {old}: the next run with "
                f"--out {folder} restores it, or rename it back to {folder.name}."
            )
    return ""


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux ``renameat2``; False where unsupported."""
    name = ctypes.util.find_library("c")
    if name is None:  # pragma: no cover - no C library to ask
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # pragma: no cover - old glibc, musl, macOS
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.restype = ctypes.c_int
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        return False  # the file system or kernel cannot exchange: fall back
    raise OSError(err, os.strerror(err), str(b))  # pragma: no cover


def _swap_in(staging: Path, folder: Path) -> None:
    """Put the complete ``staging`` folder in the place of ``folder`` (see module docstring)."""
    parent = folder.parent
    os.chmod(staging, stat.S_IMODE(folder.stat().st_mode) if folder.exists() else 0o755)
    _fsync_dir(staging)
    if not folder.exists():
        os.rename(staging, folder)
        _fsync_dir(parent)
        return
    if _exchange(staging, folder):
        _fsync_dir(parent)
        shutil.rmtree(staging, ignore_errors=True)  # the old result; else the next write
        return
    old = _aside(folder, "old")
    os.rename(folder, old)
    _fsync_dir(parent)
    os.rename(staging, folder)  # a crash before this line: recover_folder restores `old`
    _fsync_dir(parent)
    shutil.rmtree(old, ignore_errors=True)  # what is left, the next write removes


@contextlib.contextmanager
def result_folder(
    path: str | Path, option: str = "--out", *, owned: bool = False
) -> Iterator[Path]:
    """Write a result folder as a whole: yield a staging folder, then swap it in.

    ``owned``: ``path`` lies in a folder of bayescale's own that was checked already (a
    suite's ``runs/NAME`` inside its ``--out``), so its contents are not checked again.

    Inside the block, write every file of the run into the yielded folder. When the block
    ends normally the staging folder replaces ``path`` (files of an earlier run that this run
    does not write are gone); when it raises (or the process dies), ``path`` keeps the earlier
    result untouched and the staging folder is removed (now, or by the next write).

    Raises
    ------
    InputError
        When ``path`` is a file, the location is not writable, or another run holds the lock.
    """
    folder = _real(path)
    check_output_folder(path, option, owned=owned)
    with folder_lock(path, option):
        try:
            recover_folder(folder)
            staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))
        except OSError as exc:
            raise _cannot_write(folder, exc) from None
        try:
            yield staging
            _swap_in(staging, folder)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise _cannot_write(folder, exc) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def json_text(document: dict[str, object]) -> str:
    """A result document as the text every JSON output holds: indented, no NaN, a last newline."""
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def write_json(document: dict[str, object], path: str | Path) -> Path:
    """Write a result document as JSON (no NaN), atomically: temporary file, then rename."""
    return write_text(Path(path), json_text(document))
