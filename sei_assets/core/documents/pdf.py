"""The dossier's PDF, printed by headless Chromium (Debian's ``chromium``), with its bytes made
stable.

A Chromium PDF differs between two prints of the same page in two places, both rewritten here
with text of the same length (so the cross-reference offsets stay right): the creation and
modification dates (set to the evidence's date) and the ids of the tagged-PDF structure
elements (``node00000057``…: DOM node numbers, renumbered in order of first appearance).
Everything else (the Creator string names the Chromium version) is left as printed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_ENV = "SEI_CHROMIUM"
#: Headless, no sandbox (root in CI), and none of Chromium's own network traffic (this closed
#: network refuses it, and a dossier must not reach out).
OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
FLAGS = (*OFFLINE_FLAGS, "--disable-extensions", "--no-pdf-header-footer")
TIMEOUT = 180


def chromium() -> str | None:
    """The Chromium to print with: ``$SEI_CHROMIUM``, else ``chromium`` on the PATH, else
    Debian's ``/usr/bin/chromium``; None when there is none."""
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        return named if Path(named).is_file() and os.access(named, os.X_OK) else None
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def _pdf_date(iso: str | None) -> bytes:
    digits = re.sub(r"\D", "", iso or "")[:14].ljust(14, "0")
    return f"D:{digits}+00'00'".encode("ascii")


def normalise(pdf: bytes, iso_date: str | None) -> bytes:
    """``pdf`` with its dates set to ``iso_date`` and its structure ids renumbered."""
    date = _pdf_date(iso_date)

    def fix_date(m: re.Match[bytes]) -> bytes:
        old = m.group(2)
        return m.group(1) + (date if len(date) == len(old) else old) + b")"

    pdf = re.sub(rb"(/(?:CreationDate|ModDate) \()(D:[^)]*)\)", fix_date, pdf)
    numbers: dict[bytes, bytes] = {}

    def renumber(m: re.Match[bytes]) -> bytes:
        old = m.group(1)
        new = numbers.setdefault(old, str(len(numbers) + 1).zfill(len(old)).encode("ascii"))
        return b"(node" + (new if len(new) == len(old) else old) + b")"

    return re.sub(rb"\(node(\d+)\)", renumber, pdf)


def render_pdf(html: bytes, iso_date: str | None) -> tuple[bytes | None, str | None]:
    """The PDF of ``html`` and None, or None and why it was not made (no Chromium, it failed,
    it timed out). The page is printed from a private temporary folder, offline."""
    exe = chromium()
    if exe is None:
        return None, (
            f"no Chromium found (install Debian's chromium, or set {CHROMIUM_ENV} to its path)"
        )
    with tempfile.TemporaryDirectory(prefix="sei-dossier-pdf-") as tmp:
        page = Path(tmp, "dossier.html")
        page.write_bytes(html)
        out = Path(tmp, "dossier.pdf")
        args = [
            exe,
            *FLAGS,
            f"--user-data-dir={Path(tmp, 'profile')}",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(args, capture_output=True, timeout=TIMEOUT, cwd=tmp)
        except subprocess.TimeoutExpired:
            return None, f"Chromium did not finish printing within {TIMEOUT} s"
        except OSError as exc:
            return None, f"Chromium could not be started: {exc.strerror or exc}"
        if not out.is_file() or out.stat().st_size == 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
            return None, f"Chromium exited {done.returncode} without a PDF" + (
                f": {tail[0][:300]}" if tail else ""
            )
        return normalise(out.read_bytes(), iso_date), None
