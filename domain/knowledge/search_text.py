"""What the index embeds and matches for a chunk: its text under the path that locates it.

A section's own text rarely repeats its headings ("Rolling back" under "Deploying the payments
service"), and a method's body rarely names its class or file; chat questions name both."""

from __future__ import annotations

# Bumped when the recipe changes: an index built with another recipe is re-embedded.
SEARCH_TEXT_VERSION = 2


def search_text(path: str, locator: str, kind: str, text: str) -> str:
    """The chunk text headed by its heading path (prose) or file and symbol (code)."""
    head = f"{path} {locator}".strip() if kind == "code" else locator
    first_line = text.split("\n", 1)[0].strip()
    # Prose chunks start with their own heading; do not say the last title twice.
    if head and kind != "code" and head.rsplit(" > ", 1)[-1] == first_line:
        head = head.rsplit(" > ", 1)[0] if " > " in head else ""
    return f"{head}\n{text}" if head else text
