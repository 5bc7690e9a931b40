"""SVG screenshots that any viewer draws in place: each glyph run at its own cell, blanks left to the backgrounds.

Rich writes a run of same-styled cells as one ``<text>`` whose ``textLength`` says how wide it
is. A viewer that ignores ``textLength`` (rsvg, which turns the snapshots into PNGs) lays the
run out in its fallback font instead: braille dots, twice a cell wide there, then spill across
a chart's frame, and blanks of another width move the frame's ``│`` off its column. Split
into runs without blanks, and braille one glyph at a time, every glyph starts at its cell.
"""

from __future__ import annotations

import html
import re

from rich.cells import cell_len

_TEXT = re.compile(
    r'<text class="(?P<cls>[^"]*)" x="(?P<x>[0-9.]+)" y="(?P<y>[0-9.]+)" textLength="(?P<len>[0-9.]+)" '
    r'clip-path="(?P<clip>[^"]*)">(?P<body>[^<]*)</text>'
)
_RUNS = re.compile(r" +|[\u2800-\u28ff]|[^ \u2800-\u28ff]+")


def _escape(text: str) -> str:
    # As Rich escapes a run: HTML entities, and spaces as no-break spaces.
    return html.escape(text).replace(" ", "&#160;")


def _split(match: re.Match[str]) -> str:
    text = html.unescape(match["body"]).replace("\xa0", " ")
    if not text or (" " not in text and not any("\u2800" <= c <= "\u28ff" for c in text)) or len(text) == 1:
        return match.group(0)
    cell = float(match["len"]) / len(text)
    x0 = float(match["x"])
    out = []
    offset = 0
    for run in _RUNS.findall(text):
        if run.strip():
            out.append(
                f'<text class="{match["cls"]}" x="{x0 + offset * cell:g}" y="{match["y"]}" textLength="{cell * len(run):g}" '
                f'clip-path="{match["clip"]}">{_escape(run)}</text>'
            )
        offset += cell_len(run)
    return "".join(out)


def tidy_svg(svg: str) -> str:
    """``svg`` (a Rich/Textual screenshot) with its text runs split where a viewer could misplace them."""
    return _TEXT.sub(_split, svg)
