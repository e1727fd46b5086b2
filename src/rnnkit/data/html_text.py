"""HTML to plain text, as a reader of an HTML email sees it: the words, not the markup.

What goes: ``<script>``, ``<style>`` and ``<head>`` with their contents, comments, tags. What
stays: every text node, link text included, with entities unescaped (``&amp;`` -> ``&``).
Block elements (``<p>``, ``<div>``, ``<br>``, ``<li>``, table rows, headings) start new
lines, table cells are separated by a space, runs of spaces collapse to one and runs of
blank lines to one blank line::

    >>> html_to_text("<p>Hi&nbsp;<b>there</b></p><script>x()</script><p>Click <a href=u>here</a>")
    'Hi there\\n\\nClick here'

Only Python's :mod:`html.parser`: broken markup gives the text a browser would show, near
enough, and markup the parser gives up on (an unknown ``<![keyword``) falls back to dropping
everything between ``<`` and ``>``.
"""

from __future__ import annotations

import html as html_lib
import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

#: elements dropped with everything inside them
_HIDDEN = frozenset({"script", "style", "head", "title", "noscript", "template"})
#: elements that start and end a line
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "br", "center", "dd", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead",
    "tfoot", "tr", "ul",
})  # fmt: skip
#: elements followed by a blank line, not just a line end
_PARAGRAPHS = frozenset({
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre", "ul", "ol", "dl",
})  # fmt: skip
_CELLS = frozenset({"td", "th"})
_SPACES = re.compile(r"[^\S\n]+")  # whitespace but line ends (nbsp included)
_BLANK_LINES = re.compile(r"\n{3,}")
_HIDDEN_ELEMENTS = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")


def html_to_text(html: str) -> str:
    """The visible text of an HTML document or fragment (see the module docstring)."""
    parser = _TextParser()
    try:
        parser.feed(html)
        parser.close()
        text = "".join(parser.out)
    except AssertionError:  # html.parser's way of refusing markup it cannot place
        text = html_lib.unescape(_TAGS.sub(" ", _HIDDEN_ELEMENTS.sub(" ", html)))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


class _TextParser(HTMLParser):
    """Collects text nodes in ``out``, with ``\\n`` for block boundaries."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hidden: dict[str, int] = {}  # hidden element -> how deep we are inside it

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.hidden.pop("head", None)  # a <head> that was never closed ends here
        if tag in _HIDDEN:
            self.hidden[tag] = self.hidden.get(tag, 0) + 1
        elif tag in _BLOCKS:
            self.out.append("\n")
        elif tag in _CELLS:
            self.out.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:  # <br/>, <hr/>
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            if self.hidden.get(tag, 0) > 1:
                self.hidden[tag] -= 1
            else:
                self.hidden.pop(tag, None)
        elif tag in _BLOCKS:
            self.out.append("\n\n" if tag in _PARAGRAPHS else "\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.out.append(data)
