"""The JavaScript, CSS and fonts a static deck inlines, vendored from the npm registry with their licences.

A deck opened from a file must load nothing from the network, so every file a deck needs ships inside the
package (``course/slides/vendor/``): reveal.js 4 (its core, the notes plugin and the white theme with its
fonts) and MathJax 3's all-in-one ``tex-svg-full`` bundle (TeX input, SVG output: no web fonts, no
components fetched at run time). ``vendor/MANIFEST.json`` records, for each package, the npm tarball's
``integrity`` and every file's sha256; :func:`vendored` refuses a file that does not match. Files the
manifest lists under ``gzipped`` (MathJax's 2.3 MB bundle) are stored gzip-compressed, as ``<file>.gz``: git
holds no file over 2 MB; their sha256 is that of the uncompressed file.

To move to another release, edit the version in the manifest and run
``python -m course.slides.assets --refresh`` (needs ``npm``): it packs each package from the registry, checks
the tarball against the integrity npm reports, and rewrites the files and their hashes.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["VENDOR", "AssetError", "Package", "packages", "vendored", "vendored_text", "data_uri", "refresh"]

VENDOR = Path(__file__).with_name("vendor")
_MANIFEST = VENDOR / "MANIFEST.json"


class AssetError(RuntimeError):
    """A vendored file is missing or differs from the manifest."""


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    licence: str
    integrity: str
    files: dict[str, str]  # path inside the package → sha256 (of the uncompressed bytes)
    gzipped: frozenset[str] = frozenset()  # files stored as <path>.gz


@lru_cache(maxsize=1)
def packages() -> dict[str, Package]:
    """The vendored npm packages, by name, as the manifest lists them."""
    raw = json.loads(_MANIFEST.read_text())
    return {name: Package(name, p["version"], p["licence"], p.get("integrity", ""), dict(p["files"]),
                          frozenset(p.get("gzipped", [])))
            for name, p in raw["packages"].items()}


def _path(package: str, file: str, gzipped: bool = False) -> Path:
    return VENDOR / package / (file + ".gz" if gzipped else file)


@lru_cache(maxsize=None)
def vendored(package: str, file: str) -> bytes:
    """The bytes of one vendored file, checked against its sha256 in the manifest."""
    pkg = packages().get(package)
    if pkg is None or file not in pkg.files:
        raise AssetError(f"{package}/{file} is not in {_MANIFEST}")
    path = _path(package, file, file in pkg.gzipped)
    if not path.is_file():
        raise AssetError(f"{path} is missing: reinstall the course package, or run "
                         "`python -m course.slides.assets --refresh`")
    try:
        data = gzip.decompress(path.read_bytes()) if file in pkg.gzipped else path.read_bytes()
    except (OSError, EOFError) as exc:   # a truncated or rewritten .gz
        raise AssetError(f"{path} is not a readable gzip file ({exc}); run `python -m course.slides.assets --refresh`")
    if hashlib.sha256(data).hexdigest() != pkg.files[file]:
        raise AssetError(f"{path} differs from the sha256 in {_MANIFEST.name}: it was changed by hand; "
                         "run `python -m course.slides.assets --refresh`")
    return data


def vendored_text(package: str, file: str) -> str:
    return vendored(package, file).decode("utf-8")


def data_uri(package: str, file: str, mime: str) -> str:
    """A ``data:`` URI of a vendored file (fonts inlined into CSS)."""
    return f"data:{mime};base64,{base64.b64encode(vendored(package, file)).decode('ascii')}"


def _npm_pack(spec: str, where: Path) -> tuple[Path, str]:
    """``npm pack spec`` into ``where``: (the tarball, the integrity the registry reports)."""
    if shutil.which("npm") is None:
        raise AssetError("refreshing the vendored files needs npm (e.g. apt-get install npm)")
    out = subprocess.run(["npm", "pack", spec, "--json", "--pack-destination", str(where)], capture_output=True,
                         text=True, cwd=where)
    if out.returncode != 0:
        raise AssetError(f"npm pack {spec} failed: {out.stderr.strip()[-500:]}")
    info = json.loads(out.stdout)[0]
    return where / info["filename"], info["integrity"]


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode("ascii")


def refresh(log=print) -> None:
    """Re-vendor every package of the manifest at its listed version from the npm registry."""
    raw = json.loads(_MANIFEST.read_text())
    with tempfile.TemporaryDirectory(prefix="course-vendor-") as tmp:
        for name, entry in raw["packages"].items():
            tarball, integrity = _npm_pack(f"{name}@{entry['version']}", Path(tmp))
            if _integrity(tarball) != integrity:
                raise AssetError(f"{tarball.name}: its sha512 is not the integrity npm reports ({integrity})")
            with tarfile.open(tarball) as tar:
                for file in entry["files"]:
                    member = tar.extractfile(f"package/{file}")
                    if member is None:
                        raise AssetError(f"{name}@{entry['version']} has no {file}")
                    data = member.read()
                    packed = file in entry.get("gzipped", [])
                    dest = _path(name, file, packed)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    # mtime=0: the same file gives the same .gz bytes, so a refresh changes nothing in git
                    dest.write_bytes(gzip.compress(data, compresslevel=9, mtime=0) if packed else data)
                    entry["files"][file] = hashlib.sha256(data).hexdigest()
            entry["integrity"] = integrity
            log(f"vendored {name}@{entry['version']}: {len(entry['files'])} files ({integrity[:20]}...)")
    _MANIFEST.write_text(json.dumps(raw, indent=2) + "\n")
    packages.cache_clear()
    vendored.cache_clear()


if __name__ == "__main__":
    if sys.argv[1:] != ["--refresh"]:
        print("usage: python -m course.slides.assets --refresh", file=sys.stderr)
        sys.exit(2)
    refresh()
