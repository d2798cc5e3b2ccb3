"""Form fields built from a setting's declaration, so the form accepts exactly what the core accepts."""

from __future__ import annotations

from textual.validation import ValidationResult, Validator
from textual.widgets import Select

from charlm_tui.widgets.ordered_input import OrderedInput
from core.settings import Setting, SettingError


class SettingValidator(Validator):
    """Valid when `Setting.parse` accepts the text; its message says what the setting accepts."""

    def __init__(self, setting: Setting):
        super().__init__()
        self.setting = setting

    def validate(self, value: str) -> ValidationResult:
        try:
            self.setting.parse(value)
        except SettingError as error:
            return self.failure(str(error))
        return self.success()


def setting_field(setting: Setting, field_id: str | None = None) -> OrderedInput | Select:
    """A Select for a setting with choices, else an input checked by the setting itself."""
    if setting.choices:
        field = Select([(c, c) for c in setting.choices], allow_blank=False, id=field_id or setting.name, compact=True)
    else:
        field = OrderedInput(id=field_id or setting.name, validators=[SettingValidator(setting)], compact=True,
                             placeholder="off" if setting.optional else "")
    field.tooltip = f"{setting.help} — {setting.requirement()}"
    return field


def read_field(setting: Setting, field: OrderedInput | Select):
    """The field's value, parsed by its setting (a SettingError says what is wrong)."""
    return field.value if isinstance(field, Select) else setting.parse(field.value)
