"""What ``--style`` names, as the engine runs it: a style network's weights, a diffusion model
(``sd:PATH``), or nothing; and the stage each stream builds from it."""

from __future__ import annotations

import logging
from pathlib import Path

from livefx.models.diffusion.stage import DiffusionOptions, DiffusionStyle
from livefx.models.stage import STYLE_STAGE, Stage

from ..device import FrameConverter
from ..errors import UsageError
from ..scheduling.budget import StageSpec
from ..scheduling.chain import BoundStage

log = logging.getLogger("livefx")

#: A style as the engine takes it: a style network's weights file, a loaded diffusion model
#: with its options (``--style sd:PATH``), or None for the raw camera.
Style = Path | DiffusionStyle | None


def style_spec(style: Style) -> StageSpec:
    """The planner's view of ``style``: diffusion styles run in steps the planner picks, a
    style with a light student in two forms (full, light) it picks between the same way."""
    if isinstance(style, DiffusionStyle):
        return StageSpec(STYLE_STAGE, steps=style.options.step_choices)
    from livefx.models.stylize import FULL_FORM, LIGHT_FORM, light_variant

    if style is not None and light_variant(style) is not None:
        return StageSpec(STYLE_STAGE, steps=(FULL_FORM, LIGHT_FORM), step_names=("full", "light"))
    return StageSpec(STYLE_STAGE)


def build_style(style: Style, converter: FrameConverter, backend: str) -> Stage | None:
    """One stream's stage for ``style`` (None for None), for the converter's device and dtype."""
    if style is None:
        return None
    if isinstance(style, DiffusionStyle):
        return style.build_stage(backend)
    from livefx.models.stylize import build_style_stage

    return build_style_stage(style, converter.device, converter.dtype, backend, converter.precision)


def style_stages(style: Style, converter: FrameConverter, backend: str) -> list[BoundStage]:
    """The stage list for one style (empty for None), built for the converter's device and dtype."""
    stage = build_style(style, converter, backend)
    if stage is None:
        return []
    source = describe(style) if isinstance(style, DiffusionStyle) else f"{style.stem} from {style}"
    log.info("style %s loaded; backend %s", source, stage.accel.describe() if stage.accel else "no accel report")
    return [BoundStage(style_spec(style), stage)]


def describe(style: Style) -> str:
    """The style's name for logs and the page."""
    if isinstance(style, DiffusionStyle):
        return style.name
    return style.stem if style is not None else "none"


def pick_style(name: str, loaded: Style = None) -> Style:
    """THE way a style name becomes a style once a stream runs (the page, a label rule, a
    control command): ``none``, ``default``, a style name or a weights path; the diffusion
    model loaded at start (``loaded``) by its name. A new ``sd:`` model loads only at start."""
    from livefx.models.diffusion.folder import parse_sd_spec
    from livefx.models.registry import resolve_style

    if isinstance(loaded, DiffusionStyle) and name == loaded.name:
        return loaded
    if parse_sd_spec(name) is not None:
        raise UsageError(f"{name}: a diffusion model loads only at start (--style {name})", setting="style")
    return resolve_style(name)


def load_style(
    spec: str,
    converter: FrameConverter,
    options: DiffusionOptions | None = None,
    *,
    vae_tiny: str | None = None,
    allow_download: bool = False,
) -> Style:
    """Resolve ``--style SPEC`` at start: ``sd:PATH`` loads the diffusion model once (it is
    shared by every stream) with ``options`` for its streams; anything else is ``pick_style``."""
    from livefx.models.diffusion.folder import DiffusionSource, load_diffusion, parse_sd_spec

    folder = parse_sd_spec(spec)
    if folder is None:
        return pick_style(spec)
    source = DiffusionSource(folder, vae_tiny, allow_download)
    model = load_diffusion(source, converter.device, converter.dtype)
    log.info("diffusion style %s loaded: %s", model.name, model.describe())
    return DiffusionStyle(model, options or DiffusionOptions())
