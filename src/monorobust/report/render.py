"""Sections of the report rendered to one self-contained HTML page and to Markdown.

The HTML embeds every figure as a base64 PNG and its CSS inline: no script, no external file,
so it opens offline and survives being mailed around. Markdown links the PNGs in ``figures/``.
"""

from __future__ import annotations

import base64
import html
from typing import Any, NamedTuple

import pandas as pd

from monorobust.report.style import Figure
from monorobust.report.tables import to_html, to_markdown

VERDICT_CLASSES = {"supports": "v-sup", "contradicts": "v-con", "cannot tell": "v-unk"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:1.5rem 2rem 4rem;background:#fff}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:2px solid #0072B2;padding-bottom:.2rem;
margin-top:2.4rem}h3{margin-top:1.6rem}
nav{font-size:.9rem;background:#f0f4f8;padding:.6rem 1rem;border-radius:6px;display:flex;
flex-wrap:wrap;gap:.3rem 1.2rem}nav a{color:#0072B2;text-decoration:none;white-space:nowrap}
table{border-collapse:collapse;margin:.8rem 0;font-size:.85rem}
th,td{border:1px solid #ccd;padding:.25rem .55rem;text-align:left;vertical-align:top}
th{background:#eef2f6}tbody tr:nth-child(even){background:#f8f9fb}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#555;max-width:900px}
pre{background:#f4f4f4;padding:.8rem;overflow-x:auto;font-size:.8rem}
.v-sup{background:#cfe6f7;font-weight:600}.v-con{background:#f9d8c4;font-weight:600}
.v-unk{background:#e8e8e8}.missing li{color:#8a4b00}.note{color:#555;font-size:.9rem}
"""


class Section(NamedTuple):
    """One titled part of the report: a list of blocks, drawn in order.

    Blocks are ``("text", str)``, ``("h3", str)``, ``("list", [str])``, ``("missing", [str])``, ``("table", DataFrame)``,
    ``("figure", Figure)``, ``("image", (relative_path, png_bytes, caption))``, ``("pre", str)``.
    """

    id: str
    title: str
    blocks: list[tuple[str, Any]]


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _block_html(kind: str, value: Any) -> str:
    if kind == "text":
        return f"<p>{html.escape(value)}</p>"
    if kind == "h3":
        return f"<h3>{html.escape(value)}</h3>"
    if kind == "list":
        items = "".join(f"<li>{html.escape(v)}</li>" for v in value)
        return f"<ul>{items}</ul>"
    if kind == "missing":
        items = "".join(f"<li>{html.escape(v)}</li>" for v in value)
        return f'<ul class="missing">{items}</ul>'
    if kind == "table":
        return to_html(value, VERDICT_CLASSES)
    if kind == "figure":
        fig: Figure = value
        return (f'<figure id="fig-{fig.name}">{_img(fig.png, fig.caption)}'
                f"<figcaption>{html.escape(fig.caption)} "
                f"(figures/{fig.name}.png, figures/{fig.name}.svg)</figcaption></figure>")
    if kind == "image":
        path, png, caption = value
        return (f"<figure>{_img(png, caption)}<figcaption>{html.escape(caption)} "
                f"({html.escape(path)})</figcaption></figure>")
    if kind == "pre":
        return f"<pre>{html.escape(value)}</pre>"
    raise ValueError(f"unknown block kind {kind!r}")


def to_html_page(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole report as one HTML document."""
    nav = "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    body = []
    for s in sections:
        body.append(f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>')
        body += [_block_html(k, v) for k, v in s.blocks]
        body.append("</section>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body><main>"
            f"<h1>{html.escape(title)}</h1><p class=\"note\">{html.escape(subtitle)}</p>"
            f"<nav>{nav}</nav>{''.join(body)}</main></body></html>\n")


def _block_md(kind: str, value: Any) -> str:
    if kind == "text":
        return value
    if kind == "h3":
        return f"### {value}"
    if kind in ("list", "missing"):
        return "\n".join(f"- {v}" for v in value)
    if kind == "table":
        return to_markdown(value if isinstance(value, pd.DataFrame) else pd.DataFrame(value))
    if kind == "figure":
        return f"![{value.caption}](figures/{value.name}.png)\n\n*{value.caption}*"
    if kind == "image":
        path, _, caption = value
        return f"![{caption}]({path})"
    if kind == "pre":
        return f"```\n{value.rstrip()}\n```"
    raise ValueError(f"unknown block kind {kind!r}")


def to_markdown_page(title: str, subtitle: str, sections: list[Section]) -> str:
    """The report as Markdown (figures linked from ``figures/``)."""
    parts = [f"# {title}", subtitle]
    for s in sections:
        parts.append(f"## {s.title}")
        parts += [_block_md(k, v) for k, v in s.blocks]
    return "\n\n".join(parts) + "\n"
