"""The rich console vahti prints with: text is shown, never interpreted (see vahti.display).

A module of its own so that rich (about 25 ms of import) is loaded when a command
prints with it (a table, a progress bar, a styled line), not by every command that
shows an error or a JSON line through `vahti.display`.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from vahti.display import clean


class SafeConsole(Console):
    """A rich Console that never interprets the text it is given (see vahti.display)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(markup=False, emoji=False, highlight=False)
        super().__init__(**kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        kwargs.pop("markup", None)
        kwargs.pop("emoji", None)
        return super().render_str(clean(text, one_line=False), markup=False, emoji=False,
                                  **kwargs)
