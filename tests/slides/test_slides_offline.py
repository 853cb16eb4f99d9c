"""course.slides.offline: every way a page loads something from the network is found; links and inline data are not."""
from __future__ import annotations

import pytest

from course.slides.offline import network_references

REMOTE = [
    ('<script src="https://unpkg.com/reveal.js@4.0.2/dist/reveal.js"></script>', "<script src>"),
    ('<script src="//cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js"></script>', "<script src>"),
    ('<link rel="stylesheet" href="http://cdnjs.cloudflare.com/font-awesome.css">', "<link href>"),
    ('<link rel="preload" as="font" href="https://fonts.gstatic.com/x.woff2"/>', "<link href>"),
    ("<style>@import url(https://fonts.googleapis.com/css?family=Lato);</style>", "<style>"),
    ("<style>@import 'https://example.org/theme.css';</style>", "<style>"),
    ("<style>@font-face { font-family: X; src: url('https://fonts.gstatic.com/a.woff') format('woff'); }</style>",
     "<style>"),
    ('<div style="background: url(https://example.org/bg.png)"></div>', "<div style>"),
    ('<img src="https://example.org/plot.png">', "<img src>"),
    ('<img srcset="a.png 1x, https://example.org/b.png 2x">', "<img srcset>"),
    ('<iframe src="https://www.youtube.com/embed/x"></iframe>', "<iframe src>"),
    ("<script type=\"module\">import mermaid from 'https://cdn.jsdelivr.net/npm/mermaid.esm.min.mjs';</script>",
     "<script type=module> import"),
    ('<svg><image href="https://example.org/a.svg"/></svg>', "<image href>"),
]


@pytest.mark.parametrize("html, where", REMOTE, ids=[w for _, w in REMOTE])
def test_a_remote_load_is_found(html: str, where: str) -> None:
    found = network_references(f"<html><head></head><body>{html}</body></html>")
    assert len(found) == 1 and found[0].startswith(where), found


LOCAL = [
    '<a href="https://revealjs.com">reveal.js</a>',                       # a link is clicked, not loaded
    '<img src="data:image/png;base64,iVBORw0KGgo=">',
    "<style>@font-face { src: url(data:font/woff;base64,d09GRgAB) format('woff'); }</style>",
    '<script src="reveal.js"></script><link rel="stylesheet" href="./theme.css">',   # relative: local files
    "<script>var paths = {mathjax: 'https://cdn.jsdelivr.net/npm/mathjax@3/es5'};</script>",  # a string, not a load
    "<p>see https://example.org and url(https://example.org/x.png) in prose</p>",
]


@pytest.mark.parametrize("html", LOCAL)
def test_what_is_not_a_network_load_is_not_listed(html: str) -> None:
    assert network_references(f"<html><body>{html}</body></html>") == []


def test_every_load_of_a_page_is_listed_once() -> None:
    page = ('<script src="https://a.org/1.js"></script><style>@import url(//b.org/2.css); '
            'div { background: url("http://c.org/3.png"); }</style><img src="https://d.org/4.png">')
    assert [r.split(": ", 1)[1] for r in network_references(page)] == [
        "https://a.org/1.js", "//b.org/2.css", "http://c.org/3.png", "https://d.org/4.png"]
