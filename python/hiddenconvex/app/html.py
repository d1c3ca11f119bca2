"""A small, dependency-free writer of self-contained HTML reports (``index.html``).

Figures are embedded as base64 PNG data URIs, so the file can be mailed or attached as is; the PNGs
are also kept beside it. Text is HTML-escaped; tables are plain ``<table>`` elements.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import atomic_write_text

__all__ = ["HtmlReport", "Section"]

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0;
       color: #1d1d1f; background: #fafafa; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5em 2em 4em; }
h1 { font-size: 1.8em; margin-bottom: 0.1em; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.sub { color: #666; margin-top: 0; }
section { background: white; border: 1px solid #e3e3e3; border-radius: 8px; padding: 0.5em 1.5em 1em;
          margin: 1.5em 0; }
.verdict { display: inline-block; padding: 0.15em 0.6em; border-radius: 4px; font-weight: 600;
           font-size: 0.9em; margin-right: 0.4em; }
.ok { background: #dff3e3; color: #13652b; }
.bad { background: #fbe2e2; color: #8a1c1c; }
.info { background: #e6eefb; color: #1c3f8a; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border-bottom: 1px solid #e6e6e6; padding: 0.3em 0.8em; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
td.text { text-align: left; }
figure { margin: 1em 0; text-align: center; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; margin-top: 0.3em; }
pre { background: #f4f4f4; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
footer { color: #888; font-size: 0.85em; margin-top: 3em; }
"""


@dataclasses.dataclass
class Section:
    """One block of the report: a title, verdict badges, paragraphs, tables and figures."""

    title: str
    paragraphs: list[str] = dataclasses.field(default_factory=list)
    verdicts: list[tuple[bool | None, str]] = dataclasses.field(default_factory=list)
    tables: list[tuple[list[str], list[list[Any]]]] = dataclasses.field(default_factory=list)
    figures: list[tuple[Path, str]] = dataclasses.field(default_factory=list)
    preformatted: list[str] = dataclasses.field(default_factory=list)

    def verdict(self, ok: bool | None, text: str) -> None:
        """A badge: green (True), red (False) or blue (None, informational)."""
        self.verdicts.append((ok, text))

    def para(self, text: str) -> None:
        self.paragraphs.append(text)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.tables.append((list(header), [list(r) for r in rows]))

    def figure(self, path: str | Path, caption: str) -> None:
        self.figures.append((Path(path), caption))

    def pre(self, text: str) -> None:
        self.preformatted.append(text)


def _numeric(text: str) -> bool:
    try:
        float(text.replace(",", "").rstrip("%").replace(" ms", "").replace(" s", ""))
    except ValueError:
        return False
    return True


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


class HtmlReport:
    """Collects :class:`Section` objects and writes one self-contained HTML file."""

    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title = title
        self.subtitle = subtitle
        self.sections: list[Section] = []

    def section(self, title: str) -> Section:
        s = Section(title)
        self.sections.append(s)
        return s

    def render(self, *, embed: bool = True) -> str:
        e = html.escape
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{e(self.title)}</title><style>{_CSS}</style></head><body><main>",
            f"<h1>{e(self.title)}</h1>",
        ]
        if self.subtitle:
            parts.append(f'<p class="sub">{e(self.subtitle)}</p>')
        for s in self.sections:
            parts.append(f"<section><h2>{e(s.title)}</h2>")
            if s.verdicts:
                badges = []
                for ok, text in s.verdicts:
                    cls = "info" if ok is None else ("ok" if ok else "bad")
                    mark = "" if ok is None else ("✔ " if ok else "✘ ")
                    badges.append(f'<span class="verdict {cls}">{mark}{e(text)}</span>')
                parts.append("<p>" + " ".join(badges) + "</p>")
            for p in s.paragraphs:
                parts.append(f"<p>{e(p)}</p>")
            for header, rows in s.tables:
                parts.append("<table><thead><tr>")
                parts.extend(f"<th>{e(str(h))}</th>" for h in header)
                parts.append("</tr></thead><tbody>")
                for r in rows:
                    cells = []
                    for v in r:
                        cls = ' class="text"' if isinstance(v, str) and not _numeric(v) else ""
                        cells.append(f"<td{cls}>{e(_fmt(v))}</td>")
                    parts.append("<tr>" + "".join(cells) + "</tr>")
                parts.append("</tbody></table>")
            for text in s.preformatted:
                parts.append(f"<pre>{e(text)}</pre>")
            for path, caption in s.figures:
                if embed and path.is_file():
                    data = base64.b64encode(path.read_bytes()).decode("ascii")
                    src = f"data:image/png;base64,{data}"
                else:
                    src = e(path.name)
                parts.append(
                    f'<figure><img src="{src}" alt="{e(caption)}">'
                    f"<figcaption>{e(caption)}</figcaption></figure>"
                )
            parts.append("</section>")
        from .. import __version__

        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        parts.append(
            f"<footer>hiddenconvex {e(__version__)} · generated {stamp}</footer></main></body></html>"
        )
        return "\n".join(parts)

    def write(self, path: str | Path, *, embed: bool = True) -> Path:
        """Write the report atomically; figures embedded (``embed=True``) or linked by name."""
        return atomic_write_text(path, self.render(embed=embed))
