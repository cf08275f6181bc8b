"""``livefx weights``: the styles livefx can load by name, and the other embedded models."""

from __future__ import annotations

import argparse


def add_weights_command(sub: argparse._SubParsersAction) -> None:
    """The ``weights`` subcommand (no options of its own)."""
    sub.add_parser(
        "weights",
        help="list the styles livefx can load by name",
        description="List the embedded styles (and any found in LIVEFX_STYLE_PATH) with their size"
        " and the quality figures from their model cards.",
    ).set_defaults(func=cmd_weights)


def print_other_models() -> None:
    """The embedded interpolator and action model, with their card figures."""
    from livefx.models.registry import DEFAULT_ACTIONS, DEFAULT_RIFE, describe_actions, describe_rife

    if DEFAULT_RIFE.is_file():
        info = describe_rife(DEFAULT_RIFE)
        figures = ", ".join(f"{k} {v['psnr_mean']:.2f} dB" for k, v in info.get("held_out", {}).items())
        print(f"interpolator (--rife default) {info['size_kb']:.0f}KB  held-out PSNR: {figures}  {DEFAULT_RIFE}")
    if (DEFAULT_ACTIONS / "training.json").is_file():
        info = describe_actions(DEFAULT_ACTIONS)
        accuracy = 100 * info["held_out"]["accuracy"]
        print(
            f"actions (--actions default) {info['size_kb']:.0f}KB  held-out accuracy {accuracy:.1f}%  {DEFAULT_ACTIONS}"
        )
    print()


def cmd_weights(args: argparse.Namespace) -> int:
    from livefx.models.registry import DEFAULT_STYLE, EMBEDDED_STYLES_DIR, available_styles, describe_style

    print_other_models()
    styles = available_styles()
    if not styles:
        print("no styles found; the shipped ones live in models/weights/styles/")
        return 0
    rows = []
    # Sorted and numbered as a running stream's ``style N`` and the window's 1-9 keys count them.
    for number, (name, path) in enumerate(sorted(styles.items()), start=1):
        info = describe_style(path)
        held_out = info.get("held_out", info)
        mark = " (default)" if name == DEFAULT_STYLE and path.parent == EMBEDDED_STYLES_DIR else ""
        score = f"{held_out['score']:.2f}" if "score" in held_out else "-"
        psnr = f"{held_out['psnr_mean']:.1f}/{held_out['psnr_worst']:.1f} dB" if "psnr_mean" in held_out else "-"
        ssim = f"{held_out['ssim_mean']:.3f}" if "ssim_mean" in held_out else "-"
        gmacs = f"{info['gmacs_640x480']:.1f}" if "gmacs_640x480" in info else "-"
        size = f"{path.stat().st_size / 1024:.0f}KB"
        rows.append([str(number), name + mark, size, str(info["kind"]), score, psnr, ssim, gmacs, light_cell(path)])
        rows[-1].append(str(path))
    print("\n".join(table(WEIGHTS_COLUMNS, rows)))
    return 0


def light_cell(path) -> str:
    """The light student beside ``path`` (``models.stylize.light_variant``): its score and MACs."""
    from livefx.models.registry import describe_style
    from livefx.models.stylize import light_variant

    light = light_variant(path)
    if light is None:
        return "-"
    info = describe_style(light)
    score = info.get("held_out", {}).get("score")
    gmacs = info.get("gmacs_640x480")
    return f"{score:.2f}, {gmacs:.1f} GMAC" if score is not None and gmacs is not None else "yes"


#: The ``livefx weights`` table: (header, alignment) per column; numbers align right.
WEIGHTS_COLUMNS = [
    ("N", ">"),
    ("style", "<"),
    ("size", ">"),
    ("kind", "<"),
    ("score", ">"),
    ("PSNR mean/worst", ">"),
    ("SSIM mean", ">"),
    ("GMAC 640x480", ">"),
    ("light student", "<"),
    ("path", "<"),
]


def table(columns: list[tuple[str, str]], rows: list[list[str]]) -> list[str]:
    """Lines of a plain-text table: each column as wide as its widest cell (header included),
    two spaces between columns, the last column unpadded."""
    widths = [max([len(header), *(len(row[i]) for row in rows)]) for i, (header, _) in enumerate(columns)]
    lines = []
    for cells in [[header for header, _ in columns], *rows]:
        padded = [f"{cell:{align}{width}}" for cell, (_, align), width in zip(cells, columns, widths)]
        lines.append("  ".join(padded).rstrip())
    return lines
