"""Output folders (train output, generated projects): nothing half-written, nothing lost.

``tinyslm train`` (model + manifest) and ``tinyslm generate`` (a project) both
write through here.

- A new (or empty) target: files go into a temporary folder next to it, which is
  renamed into place at the end, so a failed command leaves nothing behind.
- An existing target (only with ``force``): it is updated in place. Only files
  tinyslm wrote there are replaced; the folder must be recognisably tinyslm's
  (its ``Ownership.marker`` file), and a file tinyslm wrote that was edited
  since is refused rather than overwritten. Other files (a user's sources,
  PlatformIO's ``.pio/``) are kept where the ownership allows them and refused
  where it does not (a model folder). Generated files that are no longer
  generated are removed only with ``prune``. New files are staged inside the
  target first and swapped in one by one with the old ones kept aside, so any
  error puts every file back as it was.

Some folders are refused whatever the flags: one that holds the input data or
the model being used (``protect``) or lies inside such a folder, and, with
``force``, the current directory or a parent of it. Writability is probed up
front so that a long run does not end with an unwritable target. One run at a time
writes a folder: the checks and the write hold its lock (``flock`` on a file in the
cache), and a second run into the same folder waits for it (up to ``LOCK_WAIT_S``; a
``train``'s write after its training, as long as the other run holds it).

Single output files (``--json PATH``, ``report -o FILE``) are written whole (a
temporary file renamed), and an existing file is replaced only when the caller's
recogniser says tinyslm wrote it (a ``--json`` document, a report page): a user's
file named by mistake is refused, never overwritten.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tinyslm.errors import OutputError, OutputExistsError, shell_word, tell

STAGE_PREFIX = ".tinyslm-tmp-"

# A check of one file's content: ``None`` where tinyslm wrote it, else why not (a few words).
FileCheck = Callable[[Path], "str | None"]


class InterruptedAfterUpdate(KeyboardInterrupt):
    """An interrupt that came once the output was complete, while its leftovers (the
    replaced files, the staging folder) were being removed: the folder holds the new
    files, all of them, and nothing is put back.

    The choice: the command still stops (Ctrl-C or SIGTERM means stop: no summary that
    reads as success, no ``--json`` written after it, the interrupt's exit code), but its
    one line says what the folder holds, where a plain "interrupted" promises that the
    old files were put back. A KeyboardInterrupt all the same, so that every caller's
    cleanup and the CLI's exit code treat it as one; the CLI prints its message.
    """

    def __init__(self, target: Path, done: str = "updated") -> None:
        super().__init__(f"interrupted after {target} was {done}; it holds the new files")


@dataclass(frozen=True)
class Ownership:
    """How tinyslm recognises, and what it may replace in, one kind of output folder.

    Attributes:
        kind: what the folder is, for messages (``model folder``, ``project``).
        marker: a file every such folder holds (``manifest.json``, ``tinyslm.json``);
            ``None``: any folder whose files are all at the paths written.
        record: a file listing what tinyslm wrote there with its sha256, so that
            an edited generated file is noticed; ``None`` where the file names
            are fixed and the marker says enough.
        keep_foreign: keep files tinyslm did not write (a project's user sources
            and ``.pio/``); otherwise such files make ``force`` refuse the folder.
        trees: folders copied in as a whole (``lib/tflm``): replaced as a whole
            when a new copy is written, kept otherwise. The record lists every file
            of a tree with its sha256 too, so a file the user added to the tree or
            edited there (a patched kernel) makes ``force`` refuse instead of
            deleting it.
        names: every name such a folder holds, where fixed (a model folder), so
            that a folder with anything else is refused up front, before any work.
        command: the command whose ``--force`` rewrites such a folder (the record says it).
        checks: ``(name, check)``: what the file ``name`` must hold to be tinyslm's, where
            there is no record (a model folder): a file of the right name alone proves
            nothing (a web app's ``manifest.json``), so ``force`` refuses a folder where one
            of them fails, and never replaces or removes such a file.
    """

    kind: str
    marker: str | None = None
    record: str | None = None
    keep_foreign: bool = False
    trees: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    command: str = "generate"
    checks: tuple[tuple[str, FileCheck], ...] = ()


@dataclass(frozen=True)
class WriteReport:
    """What :func:`write_tree` did (project-relative POSIX paths).

    Attributes:
        target: the folder, absolute.
        created: the folder did not exist or was empty.
        added, changed, unchanged: files written new, replaced, left as they were.
        removed: generated files no longer generated, removed (``prune``).
        stale: generated files no longer generated, kept (no ``prune``, or edited).
        stale_edited: those of ``stale`` edited since tinyslm wrote them, which ``prune``
            keeps too (so a note must not suggest it); ``stale_unlisted`` among them.
        stale_unlisted: those of ``stale_edited`` that are trees whose record (from before
            round 32) lists no files: kept because they may hold the user's, not edited.
        kept: what tinyslm did not write, kept (folders end with ``/``).
        started: starters written because nothing was at their path (the user's now).
    """

    target: Path
    created: bool
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()
    stale_edited: tuple[str, ...] = ()
    stale_unlisted: tuple[str, ...] = ()
    kept: tuple[str, ...] = field(default=())
    started: tuple[str, ...] = ()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def _holds(path: Path, data: bytes) -> bool:
    """Whether the file ``path`` holds exactly ``data`` (its size is looked at first)."""
    return path.stat().st_size == len(data) and path.read_bytes() == data


def real_path(path: Path | str) -> Path:
    """``path`` with every symbolic link followed, absolute. ``os.path.realpath``, not
    ``Path.resolve``: on a symlink loop Python 3.11's ``resolve`` raises RuntimeError, and
    the loop is then reported by whatever opens the path, in one line."""
    return Path(os.path.realpath(path))


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _nearest_existing(path: Path) -> Path:
    # lexists: a dangling link or a symlink loop on the way is where the output
    # cannot go (not a folder), found now rather than after the work.
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor)


def _new_path(parent: Path, prefix: str, made: list[Path], create: Callable[[Path], None]) -> Path:
    """Create (``create``, failing with FileExistsError on a taken name) a new random name
    in ``parent``.

    Its path is appended to ``made`` *before* it is created, so that the caller's cleanup
    (which removes what ``made`` names, where it exists) covers an interrupt at any point,
    also one between the creation and the return (``tempfile.mkdtemp`` leaves that gap).
    """
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(6)}"
        made.append(path)
        try:
            create(path)
        except FileExistsError:
            made.pop()
            continue
        return path
    raise FileExistsError(f"no unused temporary name in {parent}")


def _new_folder(parent: Path, prefix: str, made: list[Path]) -> Path:
    """A new folder (mode as a plain mkdir gives it); see :func:`_new_path`."""
    return _new_path(parent, prefix, made, os.mkdir)


def _new_file(parent: Path, prefix: str, made: list[Path]) -> Path:
    """A new empty file (mode as ``open`` gives it); see :func:`_new_path`."""

    def create(path: Path) -> None:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))

    return _new_path(parent, prefix, made, create)


def _to_the_end(cleanup: Callable[[], None]) -> bool:
    """Run ``cleanup`` to its end even if interrupted (Ctrl-C again): it starts again, so
    it must be one that can be repeated. Returns whether it was interrupted, for the
    caller to raise once everything is clean."""
    interrupted = False
    while True:
        try:
            cleanup()
            return interrupted
        except KeyboardInterrupt:
            interrupted = True


def own_tree(path: Path, *, files: bool = True) -> None:
    """Give the owner rwx on the folder ``path`` and every real folder in it, and (with
    ``files``) rw on its files, top down, links not followed; other bits (exec among
    them) are kept, and a ``path`` gone or not a folder is left alone.

    copytree keeps a source's modes, and a shared SDK's TFLM tree is read-only
    (dr-xr-xr-x): its copy's owner (unless root) could neither write its library.json
    nor remove it (a file in a read-only folder cannot be deleted).
    """
    try:
        top = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(top):
        return

    def own(where: str, mode: int) -> None:
        want = stat.S_IRWXU if stat.S_ISDIR(mode) else stat.S_IRUSR | stat.S_IWUSR
        if mode & want != want:
            os.chmod(where, stat.S_IMODE(mode) | want)

    own(str(path), top)
    # Top down: each folder is made readable and writable before os.walk lists it.
    for root, dirnames, filenames in os.walk(path):
        for name in [*dirnames, *(filenames if files else ())]:
            where = os.path.join(root, name)
            mode = os.lstat(where).st_mode
            if not stat.S_ISLNK(mode):
                own(where, mode)


def _remove_tree(path: Path) -> None:
    """Remove the folder ``path`` (tinyslm's own: a staging folder) and all it holds, also
    where a folder in it is read-only; already gone is fine.

    Raises:
        OSError: something in it cannot be removed (never ignored: a staging folder left
            behind makes the next run refuse, naming it as a stopped run's).
    """
    with contextlib.suppress(OSError):
        shutil.rmtree(path)
    if not os.path.lexists(path):
        return
    own_tree(path, files=False)
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


def _movable(path: Path) -> None:
    """Give the folder ``path`` (a copied tree) its owner's write permission: a folder moves
    to another folder only where it can be written (its ``..`` changes), and a copy of a
    read-only TFLM tree (by a tinyslm before round 41, or by an ``extra``) was not."""
    if path.is_symlink() or not path.is_dir():
        return
    mode = path.stat().st_mode
    if not mode & stat.S_IWUSR:
        os.chmod(path, stat.S_IMODE(mode) | stat.S_IWUSR)


def _remove_made(made: Sequence[Path]) -> None:
    """Undo :func:`_new_folder` and :func:`_new_file`: remove what they made, and what was
    staged in it (already gone is fine).

    Raises:
        OSError: one of them cannot be removed.
    """
    for path in reversed(made):
        if path.is_dir() and not path.is_symlink():
            _remove_tree(path)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _try_remove_made(made: Sequence[Path], what: str) -> None:
    """:func:`_remove_made` where an error is already on its way (or the output is
    complete): a failure is a warning naming the leftover, not a new error in its place."""
    try:
        _remove_made(made)
    except OSError as exc:
        left = ", ".join(str(p) for p in made if os.path.lexists(p))
        tell(f"cannot remove {what} {left} ({exc.strerror or exc}); delete it yourself")


def _name_leftovers(target: Path, shown: Path, what: str) -> None:
    """Warn, in one line, of what a run into ``target`` that was killed (SIGKILL, a power
    cut) left next to it: its temporary ``.NAME.tmp-<12 hex>`` (:func:`_write_new`,
    :func:`write_file`), which would otherwise stay unseen, and large, for good.

    The choice: named, never removed. The name alone does not prove it tinyslm's, it may
    belong to a run still going, and it may hold the only copy of a long run's output.
    """
    prefix = f".{target.name}.tmp-"
    try:
        names = sorted(n for n in os.listdir(target.parent) if n.startswith(prefix))
    except OSError:
        return  # the write itself reports a parent it cannot read
    hexdigits = set("0123456789abcdef")
    left = [n for n in names if len(n) == len(prefix) + 12 and set(n[len(prefix) :]) <= hexdigits]
    if left:
        listed = ", ".join(str(shown.parent / n) for n in left)
        tell(
            f"{listed}: the unfinished {what} of an earlier tinyslm run into {shown} that was "
            "stopped (or is still running); tinyslm never removes it: delete it"
        )


# The output folders this process holds the write lock of (real path -> lock file, its
# depth of nesting): check_target takes it inside write_tree's, and a second flock on a
# new descriptor of the same file would refuse this very process.
_HELD: dict[Path, tuple[int, int]] = {}


def _lock_file(real: Path) -> int | None:
    """Open (creating it) the lock file of the output folder ``real``; ``None`` where no
    folder for it can be made.

    The choice: in the cache (``locks/<sha256 of the real path>``), not next to the
    output. There it is never a file in the user's folders (a killed run leaves nothing
    to see, nothing counts it among the user's files), needs no write access to the
    output's parent (``--force`` into a folder under a read-only one works, as before)
    nor that parent to exist yet, and is never removed: removing a lock file lets a third
    run lock a new file while a second still holds the old one. The cache's private
    fallback stands in for a cache that cannot be written; where neither can, the write
    goes on without the lock, as before it existed, rather than failing over a guard.
    """
    from tinyslm.cache import writable_cache_dir
    from tinyslm.errors import ToolchainError

    name = hashlib.sha256(os.fsencode(real)).hexdigest()[:32] + ".lock"
    try:
        folder = writable_cache_dir("locks")
        return os.open(folder / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except (OSError, ToolchainError):
        return None


# How long a run waits for another one writing the same folder (a write takes seconds;
# a training before it is not under the lock) before it refuses.
LOCK_WAIT_S = 300.0


def _lock_or_wait(fd: int, shown: Path, until_free: bool = False) -> None:
    """Take the exclusive ``flock`` on ``fd``, waiting up to :data:`LOCK_WAIT_S` (with one
    note) while another run holds it: refusing at once lost the training of a ``train``
    whose write came while another run's was going on; after the wait, this run's checks
    see the other's finished output (refused without ``--force``, replaced with it).

    ``until_free``: wait as long as the other run holds it, for a caller whose work a
    refusal would throw away (``train``'s write, after up to minutes of training). No
    limit is needed there: an ``flock`` dies with its process, so it is never stale,
    and the note says that Ctrl-C stops the run.

    Raises:
        OutputExistsError: still held after the wait (``fd`` is closed).
        OutputError: the lock cannot be taken for another reason.
    """
    import time

    deadline = time.monotonic() + LOCK_WAIT_S
    noted = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise OutputError(f"cannot lock {shown}: {exc.strerror or exc}") from None
        if not until_free and time.monotonic() >= deadline:
            os.close(fd)
            raise OutputExistsError(
                f"another tinyslm run is writing {shown}; wait for it to finish"
            )
        if not noted:
            limit = ", with no time limit (Ctrl-C stops this run)" if until_free else ""
            tell(f"another tinyslm run is writing {shown}; waiting for it to finish{limit}", "note")
            noted = True
        time.sleep(0.1)


@contextlib.contextmanager
def _writing(real: Path, shown: Path, until_free: bool = False) -> Iterator[None]:
    """Hold the exclusive lock of the output folder ``real`` (``flock``) while it is
    checked and written.

    Two runs into one folder at once (two ``generate -o SAME --force``) each took the
    other's staging folder for a stopped run's ("delete it"), or moved files the other
    was moving; now the second waits for the first (:func:`_lock_or_wait`). Held, a
    staging folder or a ``.NAME.tmp-`` found there cannot be a live run's, only a stopped
    one's. An ``flock`` dies with its process, so a killed run leaves no stale lock.
    Runs exclude each other only where they share a cache (the lock file's folder);
    threads of one process do not (``_HELD`` is per process, for check_target's nesting
    in write_tree). ``until_free``: see :func:`_lock_or_wait`.

    Raises:
        OutputExistsError: another process still holds it after the wait.
    """
    held = _HELD.get(real)
    if held is not None:
        _HELD[real] = (held[0], held[1] + 1)
    else:
        fd = _lock_file(real)
        if fd is None:
            yield
            return
        try:
            _lock_or_wait(fd, shown, until_free)
            _HELD[real] = (fd, 1)
        except KeyboardInterrupt:
            # Ctrl-C while waiting: a descriptor left open would hold the lock for the
            # rest of a long-lived process (a library user's), which would then wait on
            # itself. (_lock_or_wait closes it on its own refusals.)
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
    try:
        yield
    finally:
        fd, depth = _HELD[real]
        if depth > 1:
            _HELD[real] = (fd, depth - 1)
        else:
            del _HELD[real]
            os.close(fd)  # releases the flock


def _probe(where: Path) -> None:
    """Create and remove a folder in ``where`` (os.access lies for root).

    Raises:
        OSError: ``where`` cannot be written.
    """
    made: list[Path] = []

    def remove() -> None:
        for path in made:
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(path)

    try:
        _new_folder(where, STAGE_PREFIX, made)
    finally:
        # To the end, also when interrupted just before the rmdir: the probe was left
        # behind in the output's parent (the user's folder).
        if _to_the_end(remove):
            raise KeyboardInterrupt


def _probe_writable(target: Path) -> None:
    """Probe the folder where the output will be staged."""
    where = _nearest_existing(target)
    if not where.is_dir():
        raise OutputError(f"cannot write {target}: {where} is not a folder")
    try:
        _probe(where)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc} ({where})") from None


def _only_folders(path: Path) -> bool:
    """Whether ``path`` is a real folder holding nothing but (real) folders, to any depth."""
    if path.is_symlink() or not path.is_dir():
        return False
    return all(_only_folders(child) for child in path.iterdir())


def _remove_folders(path: Path) -> None:
    """Remove a tree of empty folders with rmdir only: a file that appears meanwhile (a
    run still going) makes it stop, so nothing with content can be lost."""
    for child in path.iterdir():
        _remove_folders(child)
    os.rmdir(path)


def _clear_leftovers(shown: Path, real: Path) -> None:
    """Deal with what an earlier run that could not clean up (killed with SIGKILL, a power
    cut) left in the folder: its staging folder (:data:`STAGE_PREFIX`), ``new/`` with the
    output being written and ``old/`` with the files being replaced.

    The choice: an empty one (nothing but empty folders) held nothing and goes. One with
    files is refused, never removed and never restored automatically: ``old/`` may hold the
    only copy of the previous model (the run was swapping files one by one, so the folder
    may be half old, half new, and which half the user wants is theirs to say), and ``new/``
    may belong to a run still going. The message names the leftover, what it holds and
    how to recover. Removal is by rmdir only, so a run still using an empty one loses
    nothing either (it fails, with everything of it put back).

    Raises:
        OutputExistsError: a leftover holds files, or is not a plain folder.
    """
    for path in sorted(real.iterdir()):
        if not path.name.startswith(STAGE_PREFIX):
            continue
        rel = f"{path.name}/"
        if _only_folders(path):
            try:
                _remove_folders(path)
            except OSError as exc:
                raise OutputExistsError(
                    f"{shown}: cannot remove the empty temporary folder {rel} that a stopped "
                    f"tinyslm run left ({exc.strerror or exc}); remove it yourself"
                ) from None
            continue
        if path.is_symlink() or not path.is_dir():
            raise _in_the_way(shown, [f"{path.name} (not a plain folder)"])
        old = sorted(
            p.relative_to(path / "old").as_posix()
            for p in (path / "old").rglob("*")
            if not p.is_dir() or p.is_symlink()
        )
        if old and not (path / "old").is_symlink():
            listed = ", ".join(old[:5]) + (f" and {len(old) - 5} more" if len(old) > 5 else "")
            raise OutputExistsError(
                f"{shown}: {rel}old/ holds files from before a tinyslm run that was stopped "
                f"while replacing them (or is still running): {listed}; move back into "
                f"{shown} those you want to keep, delete {rel}, then run again"
            )
        raise OutputExistsError(
            f"{shown}: {rel} holds the unfinished output of a tinyslm run that was stopped "
            f"(or is still running), nothing of the files it replaced; delete it, then run again"
        )


def check_target(
    target: Path,
    force: bool,
    *,
    protect: Mapping[str, Path] | None = None,
    ownership: Ownership | None = None,
) -> None:
    """Refuse a target tinyslm must not write, before any slow work.

    Args:
        target: the output folder.
        force: the user allows replacing tinyslm's files in an existing folder.
        protect: ``description -> path`` the target must not hold (input data,
            the model being used), nor lie inside where the path is a folder.
        ownership: the folder kind; with ``force``, an existing non-empty target
            must hold its marker.

    Raises:
        OutputExistsError: a file, a non-empty folder without ``force``, a folder
            holding a protected path, the current directory or a parent of it,
            a folder tinyslm did not write, or one another tinyslm run is writing.
        OutputError: the target cannot be written.
    """
    absolute = Path(os.path.abspath(target))
    if absolute.is_symlink() and not absolute.exists():
        raise OutputExistsError(f"{target} is a broken symbolic link")
    if absolute.exists() and not absolute.is_dir():
        raise OutputExistsError(f"{target} exists and is not a folder")
    real = real_path(absolute)
    # Under the write lock (held on from write_tree's): a staging folder found in the
    # target is then a stopped run's, never that of a run still writing.
    with _writing(real, target):
        _check_target(target, absolute, real, force, protect, ownership)


def _check_target(
    target: Path,
    absolute: Path,
    real: Path,
    force: bool,
    protect: Mapping[str, Path] | None,
    ownership: Ownership | None,
) -> None:
    """:func:`check_target`'s checks, the write lock held."""
    for what, path in (protect or {}).items():
        guarded = real_path(path)
        if _is_within(guarded, real):
            raise OutputExistsError(f"{target} holds {what} ({path}); choose another output folder")
        # Nor inside a protected folder: a model folder written into a keyword dataset
        # becomes a label folder without clips (the next train refuses the dataset), and
        # a project inside the TFLM tree it copies would copy itself.
        if guarded.is_dir() and _is_within(real, guarded):
            raise OutputExistsError(
                f"{target} is inside {what} ({path}); choose an output folder outside it"
            )
    if absolute.is_dir() and any(absolute.iterdir()):
        if not force:
            raise OutputExistsError(_not_empty(target, real, ownership))
        if _is_within(real_path(Path.cwd()), real):
            raise OutputExistsError(
                f"{target} is the current folder or a parent of it; not replacing it"
            )
        # Before anything else: tinyslm wrote these, and an empty one is removed here.
        _clear_leftovers(target, real)
    if ownership is not None and absolute.is_dir() and any(real.iterdir()):
        missing = _marker_missing(real, ownership)
        if missing is not None:
            raise OutputExistsError(
                f"{target} is not a tinyslm {ownership.kind} ({missing}); not replacing it"
            )
        conflicts: list[str] = []
        if ownership.names and not ownership.keep_foreign:
            others = sorted(p.name for p in real.iterdir() if p.name not in ownership.names)
            # Only a plain file at one of its names is tinyslm's: the write refused a link
            # or a folder there too, but after the whole training.
            odd = sorted(
                n
                for n in ownership.names
                if (real / n).is_symlink() or ((real / n).exists() and not (real / n).is_file())
            )
            conflicts += [f"{name} ({_not_ours(ownership)})" for name in others]
            conflicts += [f"{name} (not a plain file)" for name in odd]
        conflicts += _failed_checks(real, ownership, [name for name, _ in ownership.checks])
        if conflicts:
            raise _in_the_way(target, conflicts)
        # Read now as the write will read it: an unreadable record was refused only after
        # the slow work ('generate --force' without --model trained the demo first).
        _read_record(real, ownership)
    _probe_writable(absolute)


def _not_empty(target: Path, real: Path, ownership: Ownership | None) -> str:
    """Why a non-empty ``target`` is refused without ``--force``; ``--force`` is suggested
    only where it would be accepted, not for a folder it then refuses as not tinyslm's."""
    if _is_within(real_path(Path.cwd()), real):
        why = "is the current folder or a parent of it"
    elif ownership is not None and (missing := _marker_missing(real, ownership, quiet=True)):
        why = f"is not a tinyslm {ownership.kind} ({missing}) that --force could replace"
    else:
        return f"{target} exists and is not empty (use --force to replace it)"
    return f"{target} exists and is not empty, and {why}; choose a new or empty folder"


def _marker_missing(real: Path, ownership: Ownership, *, quiet: bool = False) -> str | None:
    """Why the non-empty folder ``real`` is not one of ``ownership``'s (``no tinyslm.json``),
    or ``None``: it holds the marker, or lost it while its record, which names it, is there
    (the record's hashes still guard every other file, and the write restores the marker;
    the README says regenerating restores a missing file).

    Raises:
        OutputExistsError: the record is unreadable (unless ``quiet``: then a reason).
    """
    marker = ownership.marker
    if marker is None or (real / marker).is_file():
        return None
    if os.path.lexists(real / marker):
        return f"its {marker} is not a plain file"
    if ownership.record is None or not (real / ownership.record).is_file():
        return f"no {marker}"
    try:
        found = _read_record(real, ownership)
    except OutputExistsError:
        if not quiet:
            raise
        return f"no {marker}, and {ownership.record} is unreadable"
    if found is not None and marker in found.files:
        return None
    return f"no {marker}, and {ownership.record} does not list it"


def _failed_checks(real: Path, ownership: Ownership, names: Iterable[str]) -> list[str]:
    """``name (why)`` for each of ``names`` that is a plain file in ``real`` and fails its
    content check (:attr:`Ownership.checks`); a name without a check passes."""
    checks = dict(ownership.checks)
    failed = []
    for name in names:
        path = real / name
        check = checks.get(name)
        if check is None or path.is_symlink() or not path.is_file():
            continue
        try:
            why = check(path)
        except OSError as exc:
            why = f"unreadable: {exc.strerror or exc}"
        if why is not None:
            failed.append(f"{name} ({why})")
    return failed


def _not_ours(ownership: Ownership) -> str:
    """Why a file of a folder ``force`` refuses is not tinyslm's to replace. A folder of
    fixed names (a model folder) cannot tell who wrote another file: ``eval --json
    model/eval.json`` is tinyslm's own, yet not one of the model's files."""
    if ownership.names:
        return f"not one of the {ownership.kind}'s files"
    return "not written by tinyslm"


def _in_the_way(target: Path, conflicts: list[str]) -> OutputExistsError:
    shown = ", ".join(conflicts[:5]) + (
        f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
    )
    return OutputExistsError(
        f"{target}: not replacing files that are not tinyslm's to replace or that were "
        f"edited: {shown}; move them away first"
    )


def _check_rel(rel: str) -> tuple[str, ...]:
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or ".." in parts:
        raise ValueError(f"generated path {rel!r} escapes the project folder")
    return parts


@dataclass(frozen=True)
class _Record:
    """What the record says tinyslm wrote: ``files`` and every file of the copied
    ``trees`` (``tree_files``, empty in a record from before round 32), ``path -> sha256``."""

    files: dict[str, str]
    trees: frozenset[str]
    tree_files: dict[str, str]


def _read_record(real: Path, ownership: Ownership) -> _Record | None:
    """The record, read and checked once; ``None`` without a record (older output)."""
    if ownership.record is None:
        return None
    path = real / ownership.record
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        files, tree_files = doc["files"], doc.get("tree_files", {})
        if not isinstance(files, dict) or not isinstance(tree_files, dict):
            raise TypeError("files or tree_files is not an object")
        for key in [*files, *tree_files]:
            _check_rel(str(key))
        return _Record(
            {str(k): str(v) for k, v in files.items()},
            frozenset(str(t) for t in doc.get("trees", [])),
            {str(k): str(v) for k, v in tree_files.items()},
        )
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise OutputExistsError(
            f"{path} is unreadable ({exc}); not replacing files in {real}"
        ) from None


def tree_path_problem(path: Path) -> str | None:
    """What is at ``path``, where a copied tree goes, when it is neither nothing nor a
    folder (``a symbolic link to X, which is not there``, ``a file``); None otherwise.

    os.rename cannot put a folder over either: the write failed on "Not a directory".
    """
    if path.is_symlink() and not path.exists():
        return f"a symbolic link to {os.readlink(path)}, which is not there"
    if path.is_symlink() and not path.is_dir():
        # "a file" was said of it, and the rm advised removes only the link.
        return f"a symbolic link to a file ({os.readlink(path)}), not a folder"
    if os.path.lexists(path) and not path.is_dir():
        return "a file, not a folder"
    return None


def _free_name(path: Path, suffix: str) -> Path:
    """The first of ``path`` + ``suffix``, then ``.1``, ``.2``, ... that nothing is at:
    an ``mv`` to a name in use (a file moved aside before) would silently replace it."""
    candidate = Path(f"{path}{suffix}")
    number = 0
    while os.path.lexists(candidate):
        number += 1
        candidate = Path(f"{path}{suffix}.{number}")
    return candidate


@dataclass(frozen=True)
class TreeBlock:
    """A path a copied ``tree`` cannot be written through, and the user's (a copy never
    makes one): the tree's own place, or a folder above it in the project (``lib``).

    Attributes:
        path: the path in the way.
        rel: ``path`` relative to the project.
        what: what is there, in a few words (``a file, not a folder``).
        tree: the tree's project-relative path (``lib/tflm``).
    """

    path: Path
    rel: str
    what: str
    tree: str

    def why(self) -> str:
        """Why the tree is not written there, after ``what``."""
        if self.rel == self.tree:
            return "not written by tinyslm, so it is not replaced"
        if self.path.is_dir():
            # A folder linked in: the tree would be renamed into the folder it names (and
            # a later --prune would delete it from there). That folder may be inside the
            # project as well as outside, so neither is said.
            return f"so {self.tree} would be written into the folder it names"
        return f"so {self.tree} cannot be written inside it"

    def step(self) -> str:
        """What the user does about it; a file is theirs, so it is moved, not removed."""
        quoted = shell_word(str(self.path))
        if not self.path.is_symlink():
            aside = shell_word(str(_free_name(self.path, ".mine")))
            return f"move it away yourself (mv {quoted} {aside})"
        if not self.path.exists():
            return f"remove it yourself (rm {quoted})"
        if self.rel != self.tree and self.path.is_dir():
            return (
                f"replace the link with a folder of the project's own (rm {quoted} removes "
                "only the link)"
            )
        named = "folder" if self.path.is_dir() else "file"
        return f"remove the link yourself (rm {quoted}; the {named} it names stays)"


def tree_place_problem(real: Path, tree: str, *, links: bool = True) -> TreeBlock | None:
    """The first path from the project ``real`` down to ``tree`` that is not a folder of
    the project's own (a file, a dangling link, or with ``links`` any symbolic link);
    None when the tree can be written (or read, without ``links``) there.

    ``lib`` a file or dangling link was missed (only ``lib/tflm`` was looked at), and
    ``lib`` linked to a folder had the tree written into that folder.
    """
    parts = PurePosixPath(tree).parts
    for depth in range(1, len(parts) + 1):
        path = real.joinpath(*parts[:depth])
        what = tree_path_problem(path)
        if what is None and links and path.is_symlink():
            what = f"a symbolic link to {os.readlink(path)}"
        if what is not None:
            return TreeBlock(path, "/".join(parts[:depth]), what, tree)
    return None


def unrecorded_tree(real: Path, tree: str, ownership: Ownership) -> TreeBlock | None:
    """``tree`` when it is a real folder of the project that no record lists (the user
    made it): a regenerate refuses to replace it, even empty, so it is moved away first.
    None otherwise; an unreadable record is left to the regenerate, which names it."""
    if ownership.record is None or not _own_folder(real, tree):
        return None
    try:
        found = _read_record(real, ownership)
    except OutputExistsError:
        return None
    if found is not None and tree in found.trees:
        return None
    return TreeBlock(real / tree, tree, "a folder tinyslm did not write", tree)


def _own_folder(real: Path, tree: str) -> bool:
    """Whether ``tree`` is a real folder in the project, reached through no link: only
    such a tree can be tinyslm's copy (a file or link there was pruned as one)."""
    return tree_place_problem(real, tree) is None and (real / tree).is_dir()


def _files_under(shas: Mapping[str, str], tree: str) -> dict[str, str]:
    """The entries of ``shas`` inside ``tree``; none for a tree copied before round 32
    (whose record has no ``tree_files``): see :func:`_tree_conflicts`."""
    return {k: v for k, v in shas.items() if k.startswith(tree + "/")}


def _tree_shas(folder: Path, tree: str) -> dict[str, str]:
    """``tree``'s files under ``folder`` (``tree/...`` paths) with their sha256."""
    shas: dict[str, str] = {}
    for root, dirnames, filenames in os.walk(folder / tree):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(root) / name
            shas[path.relative_to(folder).as_posix()] = _sha256(path)
    return shas


def _tree_conflicts(
    real: Path, tree: str, recorded: Mapping[str, str], new: Mapping[str, str] | None = None
) -> list[str]:
    """What in the existing copy of ``tree`` is not as tinyslm wrote it: files added
    (or links, which a copy never makes) and files edited since. A file as in the ``new``
    copy (``path -> sha256``) is none of them: replacing it loses nothing.

    With no ``recorded`` files (a record from before round 32 lists none) nothing shows
    which files tinyslm wrote, so every other file counts: the copy was replaced whole,
    and a file the user had added to it was deleted."""
    found: list[str] = []
    unlisted = "its record, from before round 32, lists no files of the tree"
    for root, dirnames, filenames in os.walk(real / tree):
        dirnames.sort()
        for name in sorted([*filenames, *(d for d in dirnames if os.path.islink(Path(root) / d))]):
            path = Path(root) / name
            rel = path.relative_to(real).as_posix()
            if path.is_symlink() or not path.is_file():
                found.append(f"{rel} (not a plain file)")
            elif new is not None and rel in new and _sha256(path) == new[rel]:
                continue
            elif not recorded:
                found.append(f"{rel} (not as in the new copy, and {unlisted})")
            elif rel not in recorded:
                found.append(f"{rel} (not written by tinyslm)")
            elif _sha256(path) != recorded[rel]:
                found.append(f"{rel} (edited since it was generated)")
    return found


def _record_bytes(
    files: Mapping[str, bytes],
    trees: Iterable[str],
    kept: Mapping[str, str] | None = None,
    tree_files: Mapping[str, str] | None = None,
    command: str = "generate",
) -> bytes:
    """The record: ``files`` just written, plus ``kept`` (stale ones left in place), and
    every file of the copied ``trees``."""
    shas = dict(kept or {})
    shas.update((rel, hashlib.sha256(data).hexdigest()) for rel, data in files.items())
    doc = {
        "about": f"files tinyslm wrote here; 'tinyslm {command} --force' replaces only these",
        "files": dict(sorted(shas.items())),
        "trees": sorted(trees),
        "tree_files": dict(sorted((tree_files or {}).items())),
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def _check_starters(files: Mapping[str, bytes], starters: Mapping[str, bytes]) -> None:
    clash = sorted(set(files) & set(starters))
    if clash:
        raise ValueError(f"{clash[0]} is both a generated file and a starter")


def _stage(files: Mapping[str, bytes], folder: Path, extra: Callable[[Path], None] | None) -> None:
    for rel, data in files.items():
        path = folder.joinpath(*_check_rel(rel))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if extra is not None:
        extra(folder)


def _created_parents(path: Path, missing: list[Path]) -> None:
    """Create the missing parents of ``path``, listed in ``missing`` (deepest first) before
    any is created, so that :func:`_remove_parents` undoes an interrupted call too."""
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    path.parent.mkdir(parents=True, exist_ok=True)


def _remove_parents(made: Sequence[Path]) -> None:
    """Remove the parents :func:`_created_parents` made, deepest first, while empty."""
    for parent in made:
        try:
            parent.rmdir()
        except FileNotFoundError:
            continue  # not made yet: the call was interrupted
        except OSError:
            break


def _write_new(
    files: Mapping[str, bytes],
    target: Path,
    extra: Callable[[Path], None] | None,
    ownership: Ownership | None,
    starters: Mapping[str, bytes],
    shown: Path | None = None,
) -> WriteReport:
    """Stage next to the missing ``target`` and rename into place."""
    _check_starters(files, starters)
    made: list[Path] = []
    staged: list[Path] = []
    renaming = False
    # Everything inside the try: an interrupt (Ctrl-C, or SIGTERM/SIGHUP, which the CLI
    # turns into one) at any point leaves neither the temporary folder nor a parent made.
    try:
        _created_parents(target, made)
        tmp = _new_folder(target.parent, f".{target.name}.tmp-", staged)
        _stage({**starters, **files}, tmp, extra)
        if ownership is not None and ownership.record is not None:
            trees = [t for t in ownership.trees if (tmp / t).exists()]
            tree_files = {k: v for t in trees for k, v in _tree_shas(tmp, t).items()}
            (tmp / ownership.record).write_bytes(
                _record_bytes(files, trees, None, tree_files, ownership.command)
            )
        renaming = True
        os.rename(tmp, target)
        staged.clear()
    except BaseException as exc:
        # Interrupted just as the rename ended: the folder is in place, complete (the
        # temporary one is gone), and stays; the message must not say it was undone.
        if (
            renaming
            and isinstance(exc, KeyboardInterrupt)
            and not (staged and os.path.lexists(staged[0]))
        ):
            raise InterruptedAfterUpdate(shown or target, "written") from None

        def clean() -> None:
            _try_remove_made(staged, "the temporary folder")
            _remove_parents(made)

        _to_the_end(clean)
        raise
    return WriteReport(
        target=target, created=True, added=tuple(sorted(files)), started=tuple(sorted(starters))
    )


def _foreign(real: Path, ours: set[str], trees: Iterable[str], skip: set[str]) -> list[str]:
    """What tinyslm did not write: whole folders without any of ours end with ``/``."""
    tree_set = set(trees)
    # A tree's parents (lib/ of lib/tflm) hold tinyslm's files, not only the user's.
    dirs_with_ours = {str(p) for rel in [*ours, *tree_set] for p in PurePosixPath(rel).parents}
    found: list[str] = []
    for root, dirnames, filenames in os.walk(real):
        rel_root = Path(root).relative_to(real).as_posix()
        rel_root = "" if rel_root == "." else rel_root
        for d in sorted(dirnames):
            rel = f"{rel_root}/{d}" if rel_root else d
            link = os.path.islink(os.path.join(root, d))
            if (rel in tree_set and not link) or rel in skip:
                dirnames.remove(d)
            elif rel not in dirs_with_ours or link:
                # A link at a tree's place is the user's too (a copy never makes one).
                found.append(rel + "/")
                dirnames.remove(d)
        for name in sorted(filenames):
            rel = f"{rel_root}/{name}" if rel_root else name
            if rel not in ours and rel not in skip:
                found.append(rel)
    return sorted(found)


def _update(
    files: Mapping[str, bytes],
    target: Path,
    extra: Callable[[Path], None] | None,
    ownership: Ownership,
    prune: bool,
    starters: Mapping[str, bytes],
    absent_trees: Iterable[str] = (),
    shown: Path | None = None,
) -> WriteReport:
    """Replace tinyslm's files in the existing folder ``target``; keep or refuse the rest.

    ``shown`` is the folder as the user typed it, for messages (``target`` is absolute).
    """
    _check_starters(files, starters)
    real = real_path(target)
    was_empty = not any(real.iterdir())
    found = _read_record(real, ownership)
    record = found.files if found is not None else None
    unrecorded = ownership.record is not None and found is None
    recorded_trees = found.trees if found is not None else frozenset()
    # Empty for a record from before round 32: see _tree_conflicts.
    recorded_tree_files = found.tree_files if found is not None else {}
    staged: list[Path] = []  # the staging folder, once named (see _new_folder)
    moved: list[tuple[Path, Path]] = []  # (from, to), undone in reverse order on failure
    made_dirs: list[Path] = []
    # The previous files are in the staging folder's old/ while the new ones go in: where one
    # cannot be put back, the staging folder stays (the next --force names it) rather than
    # being deleted with it.
    keep_stage = False
    # A starter goes in only where nothing is (a dangling link counts as something).
    started = sorted(
        rel
        for rel in starters
        if not real.joinpath(*_check_rel(rel)).exists()
        and not real.joinpath(*_check_rel(rel)).is_symlink()
    )
    # Set once the last file is in: from then on the new output is complete, and an
    # interrupt no longer puts anything back (see InterruptedAfterUpdate).
    committed = False
    interrupted = False
    # Everything inside the try: an interrupt (Ctrl-C, or SIGTERM/SIGHUP, which the CLI
    # turns into one) at any point puts every file back and leaves no staging folder.
    try:
        stage = _new_folder(real, STAGE_PREFIX, staged)
        new, backup = stage / "new", stage / "old"
        new.mkdir()
        backup.mkdir()
        _stage({**{rel: starters[rel] for rel in started}, **files}, new, extra)
        trees = [t for t in ownership.trees if (new / t).exists()]
        new_tree_files = {k: v for t in trees for k, v in _tree_shas(new, t).items()}
        conflicts: list[str] = []
        added, changed, unchanged = [], [], []
        for rel in sorted(files):
            dest = real.joinpath(*_check_rel(rel))
            if not dest.exists() and not dest.is_symlink():
                added.append(rel)
            elif dest.is_symlink() or not dest.is_file():
                conflicts.append(f"{rel} (not a plain file)")
            elif _holds(dest, files[rel]):
                # Already as it would be written: nothing of it can be lost, whatever the
                # record says. After a run killed halfway through the swap, the files it
                # put in are the new ones while the record is still the old one.
                unchanged.append(rel)
            elif unrecorded:
                # No record (lost in a copy, or never written): nothing here can be
                # shown to be tinyslm's, so only a file already as it would be written
                # is taken; a marker file of the right name alone proves nothing.
                conflicts.append(f"{rel} (no {ownership.record} says tinyslm wrote it)")
            elif record is not None and rel not in record:
                conflicts.append(f"{rel} (not written by tinyslm)")
            elif record is not None and _sha256(dest) != record[rel]:
                conflicts.append(f"{rel} (edited since it was generated)")
            else:
                changed.append(rel)
        for tree in trees:
            dest, ours = real / tree, _files_under(recorded_tree_files, tree)
            block = tree_place_problem(real, tree)
            if block is not None:
                # A copy never makes one, so it is not tinyslm's: never replaced, and
                # never written through (a linked lib/ put the tree outside the project).
                conflicts.append(f"{block.rel} ({block.what}, {block.why()})")
            elif dest.exists() and unrecorded:
                conflicts.append(f"{tree}/ (no {ownership.record} says tinyslm wrote it)")
            elif dest.exists() and record is not None and tree not in recorded_trees:
                conflicts.append(f"{tree}/ (not written by tinyslm)")
            elif dest.exists() and record is not None:
                # Recorded: with no tree_files (before round 32) every file not as in the
                # new copy counts, else a file the user added was deleted with the copy.
                conflicts.extend(_tree_conflicts(real, tree, ours, new_tree_files))
        stale_all = sorted(set(record or {}) - set(files))
        removable = [
            rel
            for rel in stale_all
            if (real / rel).is_file() and _sha256(real / rel) == (record or {})[rel]
        ]
        removed = removable if prune else []
        # A folder of fixed names without a record (a model folder) is tinyslm's by name,
        # as the files it replaces are: one of its names not written this time
        # (report.html with --no-report) describes the model being replaced, so it goes.
        # It was refused as "not written by tinyslm", after the whole training.
        if ownership.names and ownership.record is None:
            removed += [
                n
                for n in ownership.names
                if n not in files and (real / n).is_file() and not (real / n).is_symlink()
            ]
        stale = [rel for rel in stale_all if rel not in removed and (real / rel).exists()]
        # A recorded tree this output has no place for (a project moved to a board that
        # builds TFLM as a component) is stale like a file: pruned when it is still as
        # copied, else kept and reported. Only a tree merely not copied this time (no
        # --tflm-dir) is kept as the project's, as it was.
        # A file or link there is the user's (it was pruned as the tree): kept, as theirs.
        dropped = sorted(t for t in absent_trees if t in recorded_trees and _own_folder(real, t))
        prunable_trees = [
            t
            for t in dropped
            if _files_under(recorded_tree_files, t)
            and not _tree_conflicts(real, t, _files_under(recorded_tree_files, t))
        ]
        removed_trees = prunable_trees if prune else []
        stale_trees = [t for t in dropped if t not in removed_trees]
        skip = {stage.name, *(x for x in [ownership.record] if x)}
        # Starters already there are the user's, so they count (and are kept) as theirs.
        foreign = _foreign(
            real,
            set(files) | set(stale_all) | set(removed),
            [*trees, *ownership.trees, *recorded_trees],
            skip,
        )
        if foreign and not ownership.keep_foreign:
            conflicts.extend(f"{rel} ({_not_ours(ownership)})" for rel in foreign)
        # What a file must hold to be tinyslm's (a model folder's manifest): checked again
        # here, as the folder may have changed since check_target.
        conflicts += _failed_checks(real, ownership, [*changed, *removed])
        if conflicts:
            raise _in_the_way(shown or target, conflicts)

        # Each move is listed before it is made: an interrupt right after the rename must
        # still undo it (undoing one that was not made finds nothing to move back).
        def put_aside(dest: Path, rel: str) -> None:
            aside = backup / rel
            aside.parent.mkdir(parents=True, exist_ok=True)
            _movable(dest)
            moved.append((dest, aside))
            os.rename(dest, aside)

        def put_in(rel: str) -> None:
            dest = real / rel
            for parent in reversed(dest.relative_to(real).parents):
                folder = real / parent
                if not folder.exists():
                    made_dirs.append(folder)
                    folder.mkdir()
            _movable(new / rel)
            moved.append((new / rel, dest))
            os.rename(new / rel, dest)

        for rel in [*changed, *added]:
            if (real / rel).exists():
                # The replaced file's mode carries over (a README made private with chmod
                # 600 stayed so); a new file was written with the umask's.
                os.chmod(new / rel, stat.S_IMODE((real / rel).stat().st_mode))
                put_aside(real / rel, rel)
            put_in(rel)
        for rel in started:
            put_in(rel)
        for tree in trees:
            if (real / tree).exists():
                put_aside(real / tree, tree)
            put_in(tree)
        for rel in [*removed, *removed_trees]:
            put_aside(real / rel, rel)
        if ownership.record is not None:
            # A file or link now there is not recorded as the tree (a later prune took it).
            kept_trees = {t for t in recorded_trees if _own_folder(real, t)} - {
                *trees,
                *removed_trees,
            }
            tree_files = dict(new_tree_files)
            for tree in kept_trees:
                tree_files.update(_files_under(recorded_tree_files, tree))
            (new / ownership.record).write_bytes(
                _record_bytes(
                    files,
                    set(trees) | kept_trees,
                    # Stale files left in place stay tinyslm's, so --prune can remove them later.
                    {rel: (record or {})[rel] for rel in stale},
                    tree_files,
                    ownership.command,
                )
            )
            if (real / ownership.record).exists():
                put_aside(real / ownership.record, ownership.record)
            put_in(ownership.record)
        committed = True
    except BaseException:
        # Only the last move listed can be one never made: each is listed just before its
        # rename, and the first rename that raises ends the sequence. Its source still
        # there says so (a rename is atomic), and what is at its destination is not ours
        # to move: a dangling link at lib/tflm was taken into the staging folder, failed
        # there, and the staging folder stayed in the project. Decided once, here: in the
        # loop, a source a later move had filled again (put_in after put_aside) skipped
        # the undo of that put_aside, and the replaced file stayed in the staging folder.
        # So only the entry on top when the rollback began is checked, and inside the
        # repeated put_back: a second interrupt (a closing terminal sends SIGHUP then
        # SIGTERM) on a check made out here skipped the whole rollback, and the finally
        # deleted old/ with the replaced files in it.
        listed = len(moved)

        def put_back() -> None:
            # Each move is forgotten once undone, so that a repeat (after an interrupt
            # here) never moves a file put back out again.
            nonlocal keep_stage
            while moved:
                src, dst = moved[-1]
                if len(moved) == listed and os.path.lexists(src):
                    # Never made, or already undone by an interrupted earlier pass: either
                    # way nothing of it is left to put back.
                    moved.pop()
                    continue
                try:
                    os.rename(dst, src)
                except FileNotFoundError:
                    pass  # not moved (interrupted before that rename), or already back
                except OSError:
                    keep_stage = True
                moved.pop()
            while made_dirs:
                with contextlib.suppress(OSError):
                    made_dirs[-1].rmdir()
                made_dirs.pop()

        _to_the_end(put_back)
        raise
    finally:
        if keep_stage:
            _to_the_end(lambda: _try_remove_made([staged[0] / "new"], "the temporary folder"))
        else:
            # After the commit this removes the replaced files (old/, a whole lib/tflm
            # tree: the longest step after the copy), so an interrupt often lands here.
            interrupted = _to_the_end(lambda: _try_remove_made(staged, "the temporary folder"))
            if interrupted and not committed:
                raise KeyboardInterrupt
    # Committed: the output is complete. The folders pruning emptied go too (repeatable:
    # one already gone is skipped), whatever interrupts, so nothing is left half done.
    interrupted |= _to_the_end(lambda: _remove_emptied_folders(real, [*removed, *removed_trees]))
    if interrupted:
        raise InterruptedAfterUpdate(shown or target)
    return WriteReport(
        target=target,
        created=was_empty,
        added=tuple(added),
        changed=tuple(changed),
        unchanged=tuple(unchanged),
        removed=(*removed, *(t + "/" for t in removed_trees)),
        stale=(*stale, *(t + "/" for t in stale_trees)),
        stale_edited=(
            *(rel for rel in stale if rel not in removable),
            *(t + "/" for t in stale_trees if t not in prunable_trees),
        ),
        stale_unlisted=tuple(
            t + "/" for t in stale_trees if not _files_under(recorded_tree_files, t)
        ),
        kept=tuple(foreign),
        started=tuple(started),
    )


def _remove_emptied_folders(real: Path, removed: Sequence[str]) -> None:
    """Remove the folders that pruning ``removed`` left empty, innermost first.

    A folder left behind with nothing in it is not harmless: a keyword dataset's
    ``no/`` without clips makes the loader refuse the whole dataset. Only folders
    that held a pruned file and now hold nothing go; a folder with anything of the
    user's in it stays, and ``real`` itself always stays.
    """
    parents = {p for rel in removed for p in PurePosixPath(rel).parents if p.parts}
    for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        folder = real.joinpath(*parent.parts)
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            # Gone already: removed by a run of this interrupted just after the rmdir.
            with contextlib.suppress(FileNotFoundError):
                folder.rmdir()


def write_tree(
    files: Mapping[str, bytes],
    target: Path,
    *,
    force: bool = False,
    extra: Callable[[Path], None] | None = None,
    ownership: Ownership | None = None,
    protect: Mapping[str, Path] | None = None,
    prune: bool = False,
    starters: Mapping[str, bytes] | None = None,
    absent_trees: Iterable[str] = (),
    wait_until_free: bool = False,
) -> WriteReport:
    """Write ``files`` (POSIX relative path -> bytes) into the folder ``target``.

    Args:
        files: the output's files; paths must be relative and stay inside.
        target: the folder to create or (with ``force``) update.
        force: replace tinyslm's files in an existing non-empty folder.
        extra: called with the staging folder after the files are written, to
            add content that is copied rather than rendered (a TFLM tree).
        ownership: the folder kind (see :class:`Ownership`); ``None`` treats
            every file as tinyslm's only in a new folder and refuses to update one.
        protect: paths the target must not hold (see :func:`check_target`).
        prune: with ``force``, remove generated files that are no longer generated.
        starters: the user's files to begin with (a project's ``src/tinyslm_actions.c``):
            written only where nothing is at the path, never recorded as tinyslm's,
            so never replaced, refused as edited or pruned; reported as ``started``.
        absent_trees: ownership trees this output has no place for at all (not merely
            not copied this time): a recorded one is stale, so ``prune`` removes it
            when it is as copied; reported as ``tree/`` in ``removed`` or ``stale``.
        wait_until_free: where another run is writing ``target``, wait as long as it does
            (a caller whose work a refusal would lose: ``train`` after its training),
            not up to :data:`LOCK_WAIT_S`.

    Returns:
        What was added, changed, kept (:class:`WriteReport`).

    Raises:
        OutputExistsError: see :func:`check_target` (also: another tinyslm run is
            still writing ``target`` after the wait), or files that tinyslm did not
            write (or that were edited) are in the way.
        OutputError: the target cannot be written.
    """
    shown, target = target, Path(os.path.abspath(target))
    # Held from the checks to the last file: a second run into the same folder waits,
    # and what the checks and the leftover warning find is no live run's.
    with _writing(real_path(target), shown, wait_until_free):
        check_target(shown, force, protect=protect, ownership=ownership)
        _name_leftovers(target, shown, "output")
        if target.exists():
            # In place, also when empty: a symlinked folder stays a symlink, and the
            # folder keeps its own permissions.
            return _update(
                files,
                target,
                extra,
                ownership or Ownership("output folder"),
                prune,
                starters or {},
                absent_trees,
                shown,
            )
        return _write_new(files, target, extra, ownership, starters or {}, shown)


# What each single-file output is, for the refusal of a file that is not an earlier one.
_OUTPUT_KINDS = {"--json": "--json figures file", "-o": "report page"}
# What each kind keeps as the user's, as its recogniser decides (is_json_document,
# report.is_report_page). A report page drawn before pages carried a seal is taken as
# tinyslm's and replaced: the one message of both kinds said it was kept.
_KEPT_AS_YOURS = {
    "--json": "one written by an earlier version, or edited since, is kept as yours",
    "-o": "a page edited since tinyslm drew it, or a file that is not a tinyslm page, "
    "is kept as yours",
}


def _refuse_foreign(path: Path, what: str, ours: Callable[[bytes], bool]) -> None:
    """Refuse to replace an existing file at ``path`` unless ``ours`` recognises it.

    Only a plain file can be ours: the new file is renamed over the path, so a symbolic
    link, a named pipe or a device there (``/dev/stdout`` is a link) would be deleted.
    Folders are left to the callers, whose message says to give a file name.
    """
    absolute = Path(os.path.abspath(path))
    special = os.path.lexists(absolute) and not absolute.is_dir() and not absolute.is_file()
    if os.path.islink(absolute) or special:
        # Only --json takes '-' for stdout; report's -o writes a file of that name.
        stdout = " ('-' prints to stdout)" if what == "--json" else ""
        raise OutputExistsError(
            f"{what} {path} is a link, a pipe or a device, not a file tinyslm wrote; give "
            f"another file name{stdout}"
        )
    if not absolute.is_file():
        return
    try:
        data = absolute.read_bytes()
    except OSError:
        data = None
    if data is None or not ours(data):
        # Not "a file tinyslm wrote": a model's manifest.json or a project's tinyslm.json
        # is one, and is refused all the same (only an earlier output of this kind is).
        kind = _OUTPUT_KINDS.get(what, f"{what} output")
        kept = _KEPT_AS_YOURS[what]
        raise OutputExistsError(
            f"{what} {path} exists and is not a {kind} this tinyslm may replace ({kept}); "
            "give another file name or move it away (it is never replaced)"
        )


def names_folder(text: str) -> str | None:
    """Why the file name ``text``, as typed, names a folder, else None: it ends in a path
    separator or in ``.``/``..`` after one (or is ``.``/``..``). Path() drops a trailing
    separator and ``/.``, so ``--json out/`` and ``--json out/.`` wrote a file named
    ``out``. Checked on the text, where the separator is still seen."""
    last = text.replace(os.sep, "/").rsplit("/", 1)[-1]
    if text.endswith(("/", os.sep)):
        return f"{text} names a folder (it ends in {text[-1]!r}); give a file name"
    if last in (".", ".."):
        return f"{text} names a folder (it ends in {last!r}); give a file name"
    return None


def check_file_target(path: Path, what: str, ours: Callable[[bytes], bool]) -> None:
    """Refuse an output file path that cannot be written, before the work that fills it.

    A missing parent folder is fine (it is created); a folder at ``path``, a
    file where a parent folder must be, or an unwritable folder is not. An
    existing file is replaced only where ``ours`` recognises it as an earlier
    output of the same kind: a user's file (or a project's source, a model's
    manifest) named by mistake is never overwritten. (A name typed as a folder's,
    ``out/``, is refused on the text: :func:`names_folder`.)

    Raises:
        OutputError: one line naming ``what`` (the option) and ``path``.
    """
    absolute = Path(os.path.abspath(path))
    if absolute.is_dir():
        raise OutputError(f"{what} {path} is a folder; give a file name")
    _refuse_foreign(path, what, ours)
    where = _nearest_existing(absolute.parent)
    if not where.is_dir():
        raise OutputError(f"{what} {path}: {where} is not a folder")
    try:
        _probe(where)
    except OSError as exc:
        raise OutputError(
            f"{what} {path}: cannot write in {where}: {exc.strerror or exc}"
        ) from None


# The key every --json document carries (the tool's version): it says which tinyslm wrote
# the figures.
JSON_TOOL_KEY = "tinyslm"
# A second key, with a fixed value, that only tinyslm's own documents carry: a user's file
# that names the tool (version pins: {"tinyslm": "0.1.0", "numpy": ...}) has the first key
# too, and was replaced by a later --json run when the first was all that was checked.
JSON_MARKER_KEY = "tinyslm_document"
JSON_MARKER = "--json figures"


def json_document(figures: Mapping[str, object], version: str) -> bytes:
    """A --json document: ``figures`` with :data:`JSON_TOOL_KEY` and
    :data:`JSON_MARKER_KEY`, sorted keys, indented.

    A figure that is not a finite number (a NaN metric in a hand-edited manifest) is
    written as ``null``: Python's ``NaN`` is not JSON, and CI's parsers refuse it.
    """
    doc = finite({**figures, JSON_TOOL_KEY: version, JSON_MARKER_KEY: JSON_MARKER})
    text = json.dumps(doc, indent=2, sort_keys=True, allow_nan=False)
    return (text + "\n").encode()


def finite(value: object) -> object:
    """``value`` (JSON-ready) with every NaN and infinity as None (JSON ``null``): a figure
    not measured. JSON has no NaN; jq and a browser's ``JSON.parse`` refuse the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def is_json_document(data: bytes) -> bool:
    """Whether ``data`` is a --json document tinyslm wrote (one a --json run may replace).

    Both keys, and the bytes exactly as :func:`json_document` writes them: a document
    edited since (or a file of yours that copies the keys) is yours, as an edited file
    of a project is. A document of a tinyslm before the marker key is not recognised:
    nothing tells it apart from a user's sorted, indented file naming the tool.
    """
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):  # brackets nested thousands deep
        return False
    if not isinstance(doc, dict) or doc.get(JSON_MARKER_KEY) != JSON_MARKER:
        return False
    version = doc.get(JSON_TOOL_KEY)
    if not isinstance(version, str):
        return False
    try:
        return json_document(doc, version) == data
    except (ValueError, TypeError, RecursionError):
        return False


def write_file(path: Path, data: bytes, what: str, ours: Callable[[bytes], bool]) -> None:
    """Write ``data`` to ``path`` all at once (a temporary file renamed), parents created.

    An existing file is replaced only where ``ours`` recognises it (checked again
    here: the file may have appeared during the work since :func:`check_file_target`).

    Raises:
        OutputError: the file cannot be written (nothing is left behind), or is not ours.
    """
    _refuse_foreign(path, what, ours)
    absolute = Path(os.path.abspath(path))
    _name_leftovers(absolute, Path(path), "file")
    made: list[Path] = []
    temps: list[Path] = []
    try:
        _created_parents(absolute, made)
        tmp = _new_file(absolute.parent, f".{absolute.name}.tmp-", temps)
        with tmp.open("wb") as f:
            f.write(data)
        os.replace(tmp, absolute)
        temps.clear()
    except BaseException as exc:
        # Ctrl-C (or SIGTERM/SIGHUP, which the CLI turns into one) as well: nothing
        # half-written, no temporary file, no folder made here, even if interrupted again.
        def clean() -> None:
            _try_remove_made(temps, "the temporary file")
            _remove_parents(made)

        if _to_the_end(clean) and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt from exc
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
