"""What a run reads and writes, checked before any model loads.

A run that cannot write its figures, or would write over its own input, must say so within
seconds, not after minutes of loading and streaming. Writability is tested by the real means
(a file created in the folder and removed at once), never by permission bits, which root
bypasses. Each failure is a ``UsageError``: one line naming the flag and the fix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from livefx.models.errors import one_line

from .errors import UsageError

#: The probe's name starts so; ``mkstemp`` makes it unique and creates it exclusively, so
#: it never replaces anything, and it is removed at once.
PROBE_PREFIX = ".livefx-probe-"


def _reason(exc: OSError) -> str:
    return exc.strerror or one_line(exc)


def check_folder_writable(folder: Path, what: str) -> None:
    """``UsageError`` unless a new file can be created in ``folder`` (which must exist)."""
    if not folder.exists():
        raise UsageError(f"{what}: folder {folder} does not exist")
    if not folder.is_dir():
        raise UsageError(f"{what}: {folder} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=folder)
    except OSError as exc:
        raise UsageError(f"{what}: cannot create files in folder {folder} ({_reason(exc)})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def check_output_file(path: Path, what: str, *, replace: bool = True) -> None:
    """``UsageError`` unless a file can be written at ``path``: its folder exists and takes
    new files, or the file exists, is not a folder, and opens for writing (opened to append,
    so nothing in it changes). ``replace=False`` also refuses an existing file."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{what}: {path} is a folder; name a file in it")
    if path.exists() or path.is_symlink():
        if not replace:
            raise UsageError(f"{what}: {path} already exists; add --overwrite (or -y) to replace it")
        if not path.exists():  # a link to nothing yet: writing creates its target
            check_folder_writable(Path(os.path.realpath(path)).parent, what)
            return
        try:
            with open(path, "ab"):
                pass
        except OSError as exc:
            raise UsageError(f"{what}: cannot write {path} ({_reason(exc)})") from None
        return
    check_folder_writable(path.parent, what)


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file, however spelled: relative or absolute, ``./``
    and ``..``, symbolic links, hard links (these need the files to exist)."""
    with contextlib.suppress(OSError):
        return os.path.samefile(a, b)
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def check_distinct(source: Path | None, outputs: Iterable[tuple[str, Path]]) -> None:
    """``UsageError`` when an output (``(flag text, path)``) is the ``source`` file or
    another output: writing it would destroy the input, or two writers would mix one file."""
    seen: list[tuple[str, Path]] = []
    for what, path in outputs:
        if source is not None and same_file(path, source):
            raise UsageError(
                f"{what}: that is the source file (--source file:{source}); writing it would destroy"
                " the input while it is read: name another file"
            )
        for other_what, other in seen:
            if same_file(path, other):
                raise UsageError(f"{what}: the same file as {other_what}; give each output its own file")
        seen.append((what, path))


def file_sink_path(spec: str) -> Path | None:
    """The path a ``file:PATH`` sink spec names (None for other sinks)."""
    kind, _, arg = spec.partition(":")
    return Path(arg) if kind == "file" and arg else None


def file_source_path(spec: str) -> Path | None:
    """The path a ``file:PATH`` source spec names (None for other sources)."""
    return file_sink_path(spec)
