"""Debian packages as data: find or download a .deb, read its version, extract its files.

No dpkg is needed: a .deb is an ar archive holding ``control.tar.*`` and
``data.tar.{xz,gz,bz2}``. Used by :mod:`espnet_mvc.recipe.realvoice`, whose recordings of
real people come from Debian packages.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path, PurePosixPath
from typing import Iterator, List, Sequence, Tuple


class DebError(RuntimeError):
    """A package cannot be had or read; the message names it and says what to do."""


def _download_hint(package: str) -> str:
    return (f"fetch it on a Debian/Ubuntu machine with `apt-get download {package}` (or from "
            f"https://packages.debian.org/stable/{package}) and pass the directory that "
            f"holds {package}_*.deb with --deb-dir DIR")


def find_deb(package: str, deb_dirs: Sequence[Path], cache_dir: Path,
             download: bool = True, who: str = "") -> Path:
    """The package's .deb: in ``deb_dirs``, else the cache, else ``apt-get download``.

    Raises :class:`DebError` naming the package when none can be had.
    """
    for d in list(deb_dirs) + [cache_dir]:
        hits = sorted(Path(d).glob(f"{package}_*.deb")) if Path(d).is_dir() else []
        if hits:
            return hits[-1]
    what = f"Debian package '{package}'" + (f" (recordings of {who})" if who else "")
    where = ", ".join(str(d) for d in list(deb_dirs) + [cache_dir])
    if not download:
        raise DebError(f"{what} not found in {where}; {_download_hint(package)}")
    apt = shutil.which("apt-get")
    if apt is None:
        raise DebError(f"{what} not found in {where}, and apt-get is not installed "
                       f"here to download it; {_download_hint(package)}")
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    print(f"apt-get download {package} -> {cache_dir}", file=sys.stderr, flush=True)
    r = subprocess.run([apt, "download", package], cwd=str(cache_dir),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    hits = sorted(Path(cache_dir).glob(f"{package}_*.deb"))
    if r.returncode != 0 or not hits:
        tail = " | ".join(r.stdout.strip().splitlines()[-3:])
        raise DebError(f"{what}: `apt-get download {package}` failed (exit "
                       f"{r.returncode}: {tail}); {_download_hint(package)}")
    return hits[-1]


def _ar_members(deb: Path) -> Iterator[Tuple[str, bytes]]:
    with open(deb, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise DebError(f"{deb}: not a .deb (no ar archive header)")
        while True:
            head = f.read(60)
            if len(head) < 60:
                return
            name = head[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(head[48:58].decode("ascii").strip())
            data = f.read(size)
            if size % 2:
                f.read(1)
            yield name, data


def deb_version(deb: Path) -> str:
    """The ``Version:`` of the package (from control.tar.*)."""
    for name, data in _ar_members(deb):
        if name.startswith("control.tar"):
            with tarfile.open(fileobj=io.BytesIO(data)) as t:
                for m in t.getmembers():
                    if PurePosixPath(m.name).name == "control" and m.isfile():
                        text = t.extractfile(m).read().decode("utf-8", "replace")
                        hit = re.search(r"^Version:\s*(\S+)", text, re.M)
                        return hit.group(1) if hit else "?"
    return "?"


def extract_deb(deb: Path, dest: Path, keep) -> List[str]:
    """Extract the regular files of the .deb's data archive for which ``keep(path)`` holds.

    Paths are relative (``usr/share/...``); links and anything leaving ``dest`` are skipped.
    Returns the extracted paths, sorted.
    """
    out = []
    for name, data in _ar_members(deb):
        if not name.startswith("data.tar"):
            continue
        try:
            t = tarfile.open(fileobj=io.BytesIO(data))
        except tarfile.TarError as e:
            raise DebError(f"{deb}: cannot read {name} ({e}); extract it with "
                           f"`dpkg-deb -x` and use a .deb made by dpkg") from e
        with t:
            for m in t:
                rel = PurePosixPath(m.name.lstrip("./").lstrip("/"))
                if not m.isfile() or ".." in rel.parts or not keep(str(rel)):
                    continue
                target = Path(dest) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with t.extractfile(m) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                out.append(str(rel))
        return sorted(out)
    raise DebError(f"{deb}: no data.tar member (not a .deb?)")
