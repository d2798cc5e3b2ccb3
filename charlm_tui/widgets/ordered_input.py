"""An Input whose editing keys keep their place among typed characters."""

from __future__ import annotations

from textual import events
from textual.binding import BindingsMap
from textual.widgets import Input


class OrderedInput(Input):
    """Runs its own key bindings (backspace, arrows, ctrl+k, ...) as the key arrives.

    Textual types a printable key straight into the Input but sends a bound key up to the app first,
    so under load a backspace can land after characters typed later (Textual issue #6605). Training
    keeps the CPU busy all the time, so here it happened on every fast edit.
    """

    EDITING_KEYS = BindingsMap(Input.BINDINGS).key_to_bindings

    async def _on_key(self, event: events.Key) -> None:
        if not event.is_printable:
            for key in event.aliases:
                bindings = [b for b in self.EDITING_KEYS.get(key, []) if not b.priority]
                if bindings:
                    event.stop()
                    event.prevent_default()
                    await self.run_action(bindings[0].action)
                    return
        await super()._on_key(event)
