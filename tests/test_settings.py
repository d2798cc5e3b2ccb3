"""One declaration per setting: the form, the command line and the core accept and refuse the same values."""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from textual.widgets import Select
from textual.widgets.select import InvalidSelectValueError

from charlm_tui.app import CharLMApp
from charlm_tui.arguments import build_parser, run_config_from_args
from core.settings import BY_NAME, NONE_WORDS, PRESETS, SAMPLING, SETTINGS, RunConfig, SettingError


def core_accepts(setting, text: str) -> tuple[bool, object]:
    """What the core makes of `text` read as a Python value of the setting's kind (empty, none, off: None)."""
    try:
        value = None if text.strip().lower() in NONE_WORDS else setting.kind(text.strip())
    except ValueError:
        return False, None
    others = {"epochs": {"max_steps": 10}, "max_steps": {"epochs": 3}}.get(setting.name, {})  # a budget must remain
    try:
        return True, getattr(RunConfig(**others, **{setting.name: value}), setting.name)
    except SettingError:
        return False, None


def cli_accepts(setting, text: str) -> tuple[bool, object]:
    """What `charlm-tui --flag=text` makes of it (as main() does: parse, then build the configuration)."""
    budget = {"epochs": ["--steps=10"], "max_steps": ["--epochs=3"]}.get(setting.name, [])  # one budget is needed
    try:
        return True, getattr(run_config_from_args(build_parser().parse_args([f"{setting.flag}={text}", *budget])), setting.name)
    except (SystemExit, SettingError):
        return False, None


def texts_for(setting):
    """Typed values around the setting's limits, in several spellings, and junk."""
    if setting.choices:
        return st.one_of(st.sampled_from(setting.choices), st.text(max_size=6))
    bounds = [setting.minimum, setting.maximum]
    numbers = st.one_of(
        st.sampled_from(bounds),
        st.integers(int(setting.minimum) - 3, int(setting.minimum) + 3),
        st.integers(int(setting.maximum) - 3, int(setting.maximum) + 3),
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(setting.minimum - 1, setting.maximum + 1),
    )
    spellings = numbers.flatmap(lambda v: st.sampled_from([str(v), repr(v), f"{v:g}" if isinstance(v, (int, float)) else str(v),
                                                           f" {v} "]))
    return st.one_of(spellings, st.sampled_from(["", "none", "off", "1e3", "0x10", "1_0", "-0", "abc", "1.5", "nan"]),
                     st.text(alphabet="0123456789.-e+ ", max_size=8))


def selectable(field: Select, value: str) -> bool:
    """Whether a Select offers `value` (it refuses to take any other)."""
    before = field.value
    try:
        field.value = value
    except InvalidSelectValueError:
        return False
    field.value = before
    return True


@pytest.mark.parametrize("size", [(80, 24)])
async def test_form_cli_and_core_accept_exactly_the_same_values(tmp_path, size):
    app = CharLMApp(autosave_path=tmp_path / "autosave.json", calibrate=False)
    async with app.run_test(size=size):
        form = {s.name: app.query_one(f"#{s.name}") for s in SETTINGS}

        @settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.data())
        def agree(data):
            setting = data.draw(st.sampled_from(SETTINGS))
            text = data.draw(texts_for(setting))
            field = form[setting.name]
            if isinstance(field, Select):
                form_ok = selectable(field, text)
            else:
                form_ok = field.validate(text).is_valid
            cli_ok, cli_value = cli_accepts(setting, text)
            core_ok, core_value = core_accepts(setting, text)
            if setting.choices:  # picked from a list in the form, typed exactly on the command line
                assert form_ok == cli_ok == core_ok, (setting.name, text, form_ok, cli_ok, core_ok)
            else:
                assert form_ok == cli_ok, (setting.name, text, form_ok, cli_ok)
                # the core never sees text with spaces or Python's literal quirks: compare where they meet
                if core_ok or cli_ok:
                    assert cli_ok == core_ok and cli_value == core_value, (setting.name, text, cli_value, core_value)

        agree()


def test_every_setting_has_a_form_field_and_a_flag(tmp_path):
    flags = {a.dest: a for a in build_parser()._actions}
    for s in SETTINGS:
        assert s.name in flags and s.flag in flags[s.name].option_strings
        assert s.help in flags[s.name].help and s.requirement() in flags[s.name].help
        assert s.check(s.default) == s.default
        for preset in PRESETS:
            s.check(s.preset_value(preset))
    assert all(s.name not in BY_NAME for s in SAMPLING)


def test_presets_are_built_from_the_declarations():
    course = RunConfig.preset("course")
    assert (course.context_length, course.embed_dim, course.hidden_dim, course.n_hidden) == (8, 32, 128, 2)
    assert (course.learning_rate, course.epochs, course.validation_fraction) == (0.01, 3, 0.0)
    assert course.matching_preset() == "course" and RunConfig().matching_preset() == "default"
    assert course.replace(seed=1).matching_preset() is None
    with pytest.raises(SettingError, match="no preset called 'fast'"):
        RunConfig.preset("fast")


def test_a_config_is_checked_and_immutable():
    with pytest.raises(SettingError, match="hidden dim must be a whole number from 1 to 1,024, not 100,000"):
        RunConfig(hidden_dim=100_000)
    with pytest.raises(SettingError, match="epochs, a step budget or a time budget"):
        RunConfig(epochs=None, max_steps=None)
    with pytest.raises(SettingError, match="unknown setting bogus"):
        RunConfig(bogus=1)
    with pytest.raises(AttributeError):
        RunConfig().learning_rate = 1.0
    config = RunConfig(hidden_dim=32.0)  # a whole float from JSON is a whole number
    assert config.hidden_dim == 32 and isinstance(config.hidden_dim, int)
    assert RunConfig(**config.to_json()) == config


@pytest.mark.parametrize("name", ["seed", "hidden_dim", "learning_rate", "epochs"])
def test_a_number_too_big_for_a_float_is_refused_not_raised(name):
    """From a damaged run history or checkpoint: JSON holds integers of any size (it raised OverflowError)."""
    with pytest.raises(SettingError, match="not a number of 401 digits"):
        RunConfig(**{name: 10**400})


def test_a_value_just_past_a_limit_is_shown_as_it_was_given():
    with pytest.raises(SettingError, match=r"from 0 to 5, not 5\.0000001$"):
        SAMPLING[0].parse("5.0000001")


def test_differences_name_the_settings_in_the_forms_words():
    a, b = RunConfig(), RunConfig(hidden_dim=128, learning_rate=0.1, clip_value=1.0)
    assert a.differences(b) == ["hidden dim 64 → 128", "lr 0.01 → 0.1", "clip off → 1"]
    assert a.differences(b, fixed_only=True) == ["hidden dim 64 → 128"]
    assert b.with_fixed_of(a) == RunConfig(learning_rate=0.1, clip_value=1.0)


def test_command_line_settings_go_over_the_preset():
    args = build_parser().parse_args(["--preset", "course", "--hidden", "32", "--steps", "100"])
    config = run_config_from_args(args)
    assert (config.hidden_dim, config.embed_dim, config.max_steps, config.epochs) == (32, 32, 100, None)
    assert not hasattr(build_parser().parse_args([]), "hidden_dim")  # what was not given is absent
