"""What in an HTML page would be fetched from the network: scripts, style sheets, fonts, images, frames.

A static deck must open in a lecture hall with no network, so :func:`network_references` lists every
reference the browser would load from a remote address (``http://``, ``https://`` or protocol-relative
``//``): ``src``/``href``/``data`` attributes of loading elements, ES-module ``import``s, and CSS ``@import``
and ``url(...)`` in ``<style>`` blocks and ``style`` attributes (which is where web fonts come from).
Hyperlinks (``<a href>``) are not loads and are not listed.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["network_references"]

_REMOTE = re.compile(r"^\s*(https?:)?//", re.I)
# element → attributes whose value the browser loads by itself
_LOADS = {"script": ("src",), "link": ("href",), "img": ("src", "srcset"), "iframe": ("src",), "frame": ("src",),
          "source": ("src", "srcset"), "video": ("src", "poster"), "audio": ("src",), "track": ("src",),
          "embed": ("src",), "object": ("data",), "input": ("src",), "image": ("href", "xlink:href"),
          "use": ("href", "xlink:href"), "feimage": ("href", "xlink:href")}
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)|@import\s+(['"])([^'"]+)\3""", re.I)
_MODULE_IMPORT = re.compile(r"""(?:\bimport\s*(?:[\w*{}\s,]+\s*from\s*)?|\bimport\s*\()\s*(['"])([^'"]+)\1""")


def _css_refs(css: str) -> list[str]:
    return [m.group(2) or m.group(4) for m in _CSS_URL.finditer(css)]


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in: str | None = None
        self._module = False

    def _note(self, where: str, ref: str) -> None:
        for part in ref.split(",") if "srcset" in where else [ref]:
            url = part.strip().split(" ")[0]
            if _REMOTE.match(url):
                self.found.append(f"{where}: {url}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        values = {k.lower(): v or "" for k, v in attrs}
        for attr in _LOADS.get(tag, ()):
            if attr in values:
                self._note(f"<{tag} {attr}>", values[attr])
        if "style" in values:
            for ref in _css_refs(values["style"]):
                self._note(f"<{tag} style>", ref)
        if tag in ("style", "script"):
            self._in = tag
            self._module = tag == "script" and values.get("type", "").lower() == "module"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in = None

    def handle_endtag(self, tag: str) -> None:
        if tag.lower() == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            for ref in _css_refs(data):
                self._note("<style>", ref)
        elif self._in == "script" and self._module:
            for m in _MODULE_IMPORT.finditer(data):
                self._note("<script type=module> import", m.group(2))


def network_references(html: str) -> list[str]:
    """Every remote load in ``html``, as ``"<tag attr>: url"`` lines; empty when the page is self-contained."""
    scan = _Scan()
    scan.feed(html)
    scan.close()
    return scan.found
