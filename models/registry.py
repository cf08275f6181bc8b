"""Where named styles live: the weights shipped inside livefx, plus ``LIVEFX_STYLE_PATH``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import UsageError

EMBEDDED_DIR = Path(__file__).parent / "weights"
#: Styles the project distilled and ships (safetensors), with a model card per style beside them.
EMBEDDED_STYLES_DIR = EMBEDDED_DIR / "styles"
#: The shipped style ``livefx run`` and ``livefx serve`` use unless told ``--style none``
#: (the one with the best held-out score; see models/weights/styles/CARD.md).
DEFAULT_STYLE = "rain_princess"
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt")
#: The interpolator the project trained (models/train/train_rife.py), used by ``--rife default``.
DEFAULT_RIFE = EMBEDDED_DIR / "rife" / "ifnet-livefx.safetensors"
#: The action model the project trained (models/train/train_actions.py), for ``--actions default``.
DEFAULT_ACTIONS = EMBEDDED_DIR / "actions"


def style_dirs() -> list[Path]:
    """Folders searched for ``--style NAME``, first match wins."""
    extra = [Path(p) for p in os.environ.get("LIVEFX_STYLE_PATH", "").split(os.pathsep) if p]
    return [EMBEDDED_STYLES_DIR, *extra]


def available_styles() -> dict[str, Path]:
    """Style name -> weights file, over all search folders."""
    found: dict[str, Path] = {}
    for folder in style_dirs():
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix in WEIGHT_SUFFIXES:
                    found.setdefault(path.stem, path)
    return found


def resolve_style(spec: str) -> Path | None:
    """``none`` -> None; ``default`` -> the default shipped style; a path to a weights file; or a style name."""
    if spec == "none":
        return None
    if spec == "default":
        spec = DEFAULT_STYLE
    path = Path(spec)
    if path.suffix in WEIGHT_SUFFIXES or os.sep in spec:
        return path  # the loader reports a missing or bad file with its own message
    styles = available_styles()
    if spec in styles:
        return styles[spec]
    names = ", ".join(sorted(styles)) or "none installed"
    raise UsageError(
        f"{spec}: unknown style (available: {names}); pass a .pth/.safetensors path,"
        " or add its folder to LIVEFX_STYLE_PATH",
        setting="style",
    )


def describe_style(path: Path) -> dict:
    """``kind`` (compact/student/teacher) and, for distilled styles, the training record in the file."""
    from .compact import is_compact_file, read_compact_record
    from .student import is_student_file, read_record

    if is_compact_file(path):
        return {"kind": "compact", **read_compact_record(path)}
    if is_student_file(path):
        return {"kind": "student", **read_record(path)}
    return {"kind": "teacher"}


def resolve_rife(spec: str) -> Path:
    """``default`` -> the embedded interpolator; anything else is a path (e.g. RIFE v4.6 flownet.pkl)."""
    if spec != "default":
        return Path(spec)
    if not DEFAULT_RIFE.is_file():
        raise UsageError(
            f"default: the embedded interpolator {DEFAULT_RIFE} is missing; reinstall livefx or give a path",
            setting="rife",
        )
    return DEFAULT_RIFE


def resolve_actions(spec: str) -> Path:
    """``default`` -> the embedded action model folder; anything else is a folder path."""
    if spec != "default":
        return Path(spec)
    if not (DEFAULT_ACTIONS / "config.json").is_file():
        raise UsageError(
            f"default: the embedded action model {DEFAULT_ACTIONS} is missing; reinstall livefx or give a folder",
            setting="actions",
        )
    return DEFAULT_ACTIONS


def describe_rife(path: Path = DEFAULT_RIFE) -> dict:
    """The interpolator's training record (its held-out PSNRs) and file size, from the file."""
    from .weights import read_metadata

    record = json.loads(read_metadata(path).get("record", "{}"))
    return {**record, "size_kb": path.stat().st_size / 1024}


def describe_actions(folder: Path = DEFAULT_ACTIONS) -> dict:
    """The action model's training record (``training.json``: held-out accuracy) and size."""
    record = folder / "training.json"
    info = json.loads(record.read_text()) if record.is_file() else {}
    return {**info, "size_kb": sum(p.stat().st_size for p in folder.iterdir()) / 1024}
