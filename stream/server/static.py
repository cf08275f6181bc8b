"""Serving the files of ``web/`` and nothing outside it."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import unquote, urlsplit

import livefx.web as web

#: The installed ``livefx.web`` package folder (works for editable and regular installs).
WEB_ROOT = Path(web.__file__).resolve().parent
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def resolve(path: str, root: Path = WEB_ROOT) -> Path | None:
    """The file under ``root`` that ``path`` names, or None (missing, or outside root)."""
    rel = unquote(urlsplit(path).path).lstrip("/") or "index.html"
    if "\x00" in rel:
        return None
    candidate = (root / rel).resolve()
    root = root.resolve()
    if root not in candidate.parents or not candidate.is_file() or candidate.suffix == ".py":
        return None
    return candidate


def content_type(path: Path) -> str:
    return TYPES.get(path.suffix, mimetypes.guess_type(path.name)[0] or "application/octet-stream")
