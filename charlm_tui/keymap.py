"""The app's keys: every binding with its id and help, and the user's remapping in keys.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.binding import Binding
from textual.keys import Keys, key_to_character

from core.data import read_file_text
from core.places import config_home

APP_BINDINGS = [
    Binding("f1", "help", "Help", tooltip="Show every key", id="help"),
    Binding("question_mark", "help", "Help", show=False, tooltip="Show every key", id="help.alt"),
    Binding("ctrl+q", "quit", "Quit", priority=True, tooltip="Quit (autosaves a trained model)", id="quit"),
]
SCREEN_BINDINGS = [  # the main screen's: they do not apply while a dialog is open
    # shown on the view tabs rather than in the footer
    Binding("f2", "view('setup', True)", "Setup view", show=False, tooltip="Corpus and hyperparameters", id="view.setup"),
    Binding("f3", "view('train', True)", "Watch view", show=False, tooltip="Training and generation", id="view.train"),
    Binding("f4", "runs", "Runs", tooltip="Runs: every run so far; mark runs to compare their curves and "
            "settings, enter loads one", id="runs.show"),
    Binding("ctrl+n", "inside", "Inside", tooltip="Inside the model: one step at a time, the next character's odds, "
            "the embedding map, layer health, the graph", id="inside.show"),
    Binding("f5", "toggle_training", "Train", tooltip="Start, pause or resume training", id="train.toggle"),
    Binding("f6", "stop_training", "Stop", tooltip="Stop training (keeps the model)", id="train.stop"),
    Binding("ctrl+r", "find_lr", "Find lr", show=False, tooltip="Learning-rate finder: sweep the lr on fresh weights "
            "of the model's settings and suggest one (a applies it)", id="lr.find"),
    Binding("f7", "generate", "Sample", tooltip="Generate text from the current weights", id="sample.start"),
    Binding("ctrl+t", "compare_temperatures", "Temperatures", show=False, tooltip="Temperatures side by side: "
            "samples at several temperatures from one snapshot, with how much of each is new", id="sample.compare"),
    Binding("f8", "stop_generation", "Stop text", tooltip="Stop the generation in progress", id="sample.stop"),
    # F9/F10 are left out of the footer (the temp field is in view beside them) so that F1 Help fits in 80 columns
    Binding("f9", "temperature(-0.1)", "Temp −", show=False, tooltip="Temperature down", id="sample.cooler"),
    Binding("f10", "temperature(0.1)", "Temp +", show=False, tooltip="Temperature up", id="sample.warmer"),
    Binding("ctrl+l", "log_scale", "Log y", show=False, tooltip="Loss chart: log or linear loss axis", id="chart.log"),
    Binding("ctrl+s", "save", "Save", tooltip="Save a checkpoint", id="checkpoint.save"),
    Binding("ctrl+o", "load", "Load", tooltip="Load a checkpoint", id="checkpoint.load"),
]
PART_KEYS = Binding.Group("Part")  # one place in the footer for both
INSIDE_BINDINGS = [  # the Inside view's own. Priority: before the context field's, which scroll it sideways
    Binding("ctrl+pageup", "part(-1)", "Previous part", priority=True, group=PART_KEYS,
            tooltip="Inside view, on tabs: the previous part", id="inside.previous"),
    Binding("ctrl+pagedown", "part(1)", "Next part", priority=True, group=PART_KEYS,
            tooltip="Inside view, on tabs: the next part", id="inside.next"),
]
BINDINGS = APP_BINDINGS + SCREEN_BINDINGS + INSIDE_BINDINGS


def keymap_file() -> Path:
    return config_home() / "keys.toml"


MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}
NAMED_KEYS = {key.value.split("+")[-1] for key in Keys}


def is_key(combo: str) -> bool:
    """Whether Textual knows `combo` as a key: modifiers, then a named key (f5, enter) or a character's name."""
    *modifiers, base = combo.split("+")
    return set(modifiers) <= MODIFIERS and (base in NAMED_KEYS or key_to_character(base) is not None)


def read_keymap(path: Path) -> dict[str, str]:
    """The remapping in `path` ({binding id: keys}), checked; a ValueError says what is wrong with it."""
    try:
        keys = tomllib.loads(read_file_text(path, 64 * 1024, "keymap", ValueError)).get("keys", {})
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"not TOML: {error}") from None
    if not isinstance(keys, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items()):
        raise ValueError("every entry of [keys] must be id = \"key\"")
    known = {b.id for b in BINDINGS}
    unknown = sorted(set(keys) - known)
    if unknown:
        raise ValueError(f"unknown binding id {', '.join(unknown)}; the ids are {', '.join(sorted(known))}")
    keys = {binding_id: ",".join(key.strip() for key in combo.split(",")) for binding_id, combo in keys.items()}
    bad = sorted({key for combo in keys.values() for key in combo.split(",") if not is_key(key.strip())})
    if bad:
        raise ValueError(f"not a key: {', '.join(repr(k) for k in bad)} (keys look like f4, ctrl+g, a, question_mark)")
    owners: dict[str, list[str]] = {}
    for binding in BINDINGS:
        for key in keys.get(binding.id, binding.key).split(","):
            owners.setdefault(key.strip(), []).append(binding.id)
    clashes = [f"{key} ({' and '.join(ids)})" for key, ids in owners.items() if len(ids) > 1]
    if clashes:
        raise ValueError(f"a key would do two things: {'; '.join(clashes)}")
    return keys
