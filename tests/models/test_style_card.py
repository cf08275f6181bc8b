"""The style cards' reproduce line: each run of a student with its own form's flags."""

from livefx.models.registry import EMBEDDED_STYLES_DIR
from livefx.models.train.style_card import reproduce_command


def run(config: dict, **extra) -> dict:
    return {
        "teacher": "candy.pth",
        "config": config,
        "views": 600,
        "view_size": "256x192",
        "steps": 4000,
        "batch": 4,
        "forced_share": 0.3,
        "lr": 0.002,
        "middle_lr": 0.5,
        "hint": 0.02,
        "seed": 0,
        **extra,
    }


def test_a_continued_run_that_changed_form_shows_each_runs_flags():
    first = run({"rank": 14, "width": 20, "ends": "slim", "block_norms": "fixed"})
    later = {"rank": 14, "width": 20, "ends": "slim", "block_norms": "fixed", "end_norms": "fixed", "padding": "zeros"}
    record = run(later, steps=2000, forced_share=0.0, lr=0.0002, continued_from=first)
    path = EMBEDDED_STYLES_DIR / "light" / "candy.safetensors"
    first_command, then = reproduce_command(path, record).split("`, then `")
    assert "--ends slim --block-norms fixed --views" in first_command and "--end-norms" not in first_command
    assert "--block-norms fixed --end-norms fixed --padding zeros" in then
    assert then.endswith("--init models/weights/styles/light/candy.safetensors")
    assert " --steps 2000 " in then and " --steps 4000 " in first_command


def test_a_single_run_of_the_default_form_names_no_form_flags():
    command = reproduce_command(EMBEDDED_STYLES_DIR / "udnie.safetensors", run({"rank": 32, "width": 32}))
    assert "--ends" not in command and "--padding" not in command and "then" not in command
