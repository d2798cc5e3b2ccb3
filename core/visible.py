"""Text from outside the program, made safe to show: its control characters drawn, never sent to a terminal.

A corpus, a sample of it, a file name, a run-history field or a checkpoint's can carry escape sequences
(OSC 52 writes the clipboard, ESC [ 2 J clears the screen, C1's CSI 0x9B is ESC [ in one byte). Shown as
they are, they drive the terminal. `visible` draws C0 controls as Unicode's control pictures (ESC → ␛) and
C1 controls as `\\x9b`; every other character is left alone, so ordinary text looks exactly as it is. Only
what is shown changes: a model still learns, and may write, any character.
"""

from __future__ import annotations

_DRAWN = {code: chr(0x2400 + code) for code in range(0x20)} | {code: f"\\x{code:02x}" for code in range(0x80, 0xA0)}
_ONE_LINE = str.maketrans(_DRAWN)
_LINES = str.maketrans({code: drawn for code, drawn in _DRAWN.items() if chr(code) not in "\n\t"})


def visible(text: str, lines: bool = False) -> str:
    """`text` with its control characters drawn; with `lines`, newlines and tabs are kept as they are."""
    return text.translate(_LINES if lines else _ONE_LINE)


class VisibleStream:
    """A text stream (stdout, stderr) whose writes have their control characters drawn: whatever a command
    prints of a corpus, a file name or a record cannot drive the terminal. JSON lines pass unchanged: JSON
    escapes every control character itself (with ensure_ascii, C1 too)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(visible(text, lines=True))

    def __getattr__(self, name: str):
        return getattr(self.stream, name)
