"""Render an evaluation page (``report.html``) in headless Chromium, check it, and save a screenshot.

Two Chromium runs on a temporary copy of the page (the report itself is not changed):

1. ``--dump-dom`` with a small script added to the copy that, once the page has loaded, records how many ``<img>``
   elements did not decode (``complete`` and a natural width above 0), how many SVG charts have no size, and the
   page height. The check fails on any broken picture or empty chart.
2. ``--screenshot`` at ``--width`` pixels and the page's full height (at most ``--max_height``). The check fails when
   the screenshot is blank (one colour, or almost no contrast). The PNG is cropped of trailing empty rows and made
   smaller (256 colours, then shrunk) until it is at most ``--max_kb`` kilobytes.

Exit status 0 when the page passes, 1 when a check fails, 2 when Chromium is missing or the page does not exist;
each failure is one line on stderr. Example:

    python scripts/screenshot_report.py eval/report.html --out docs/images/evaluate_report.png --max_kb 400
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from microseg.io.writers import atomic_output

logger = logging.getLogger("screenshot_report")

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
)
#: Added to the copy of the page: records the broken pictures, empty charts and the page height on <body>.
CHECK_SCRIPT = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter((img) => !(img.complete && img.naturalWidth > 0)).length;
  const charts = Array.from(document.querySelectorAll("svg"));
  const empty = charts.filter((svg) => {
    const box = svg.getBoundingClientRect();
    return !(box.width > 0 && box.height > 0);
  });
  const body = document.body;
  body.setAttribute("data-images", images.length);
  body.setAttribute("data-broken-images", broken);
  body.setAttribute("data-charts", charts.length);
  body.setAttribute("data-empty-charts", empty.length);
  body.setAttribute("data-page-height", Math.ceil(document.documentElement.scrollHeight));
});
</script>"""


class PageCheckError(RuntimeError):
    """The page did not render as it should; the message says what is wrong."""


class ChromiumMissingError(RuntimeError):
    """No Chromium executable; the message says how to get one."""


def find_chromium(path: str | None = None) -> str:
    """The Chromium executable: ``path`` when given, else the first of :data:`CHROMIUM_NAMES` on ``PATH``."""
    if path:
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            raise ChromiumMissingError(f"{path} is not an executable file: pass the Chromium binary with --chromium")
        return path
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise ChromiumMissingError(
        "Chromium not found (looked for " + ", ".join(CHROMIUM_NAMES) + "): install it, e.g. `apt-get install -y "
        "chromium`, or pass its path with --chromium"
    )


def run_chromium(chromium: str, arguments: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run headless Chromium with a fresh, temporary profile (and ``--no-sandbox`` when running as root)."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        try:
            result = subprocess.run([*command, *arguments], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as error:
            raise PageCheckError(f"Chromium did not finish within {timeout:.0f} s") from error
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise PageCheckError(f"Chromium exited with status {result.returncode}: {last}")
    return result


def inspect_page(chromium: str, page: Path, width: int, timeout: float) -> dict[str, int]:
    """Load a copy of ``page`` with :data:`CHECK_SCRIPT` and return its counts (``images``, ``broken-images``,
    ``charts``, ``empty-charts``, ``page-height``)."""
    text = page.read_text(encoding="utf-8")
    marker = re.search(r"</body\s*>", text, re.IGNORECASE)
    checked = text[: marker.start()] + CHECK_SCRIPT + text[marker.start() :] if marker else text + CHECK_SCRIPT
    with tempfile.TemporaryDirectory(prefix="report-check-") as folder:
        copy = Path(folder) / page.name
        copy.write_text(checked, encoding="utf-8")
        result = run_chromium(chromium, [f"--window-size={width},1000", "--dump-dom", copy.as_uri()], timeout)
    body = re.search(r"<body([^>]*)>", result.stdout)
    values = dict(re.findall(r'data-([a-z-]+)="(\d+)"', body.group(1))) if body else {}
    keys = ("images", "broken-images", "charts", "empty-charts", "page-height")
    if any(k not in values for k in keys):
        raise PageCheckError(f"the page's check script did not run: is {page} an HTML page with a <body>?")
    return {k: int(values[k]) for k in keys}


def check_not_blank(picture: np.ndarray) -> None:
    """Fail when a screenshot is one colour or has almost no contrast."""
    grey = picture[..., :3].astype(np.float32).mean(-1)
    if grey.std() < 2.0 or len(np.unique(picture[..., :3].reshape(-1, 3)[::97], axis=0)) < 8:
        raise PageCheckError("the screenshot is blank: Chromium rendered no visible content")


def crop_bottom(picture: np.ndarray, margin: int = 24) -> np.ndarray:
    """Cut the rows below the last row that differs from the bottom-right background colour (keep ``margin``)."""
    background = picture[-1, -1]
    busy = np.flatnonzero((picture != background).any(axis=(1, 2)))
    return picture[: min(len(picture), busy[-1] + 1 + margin)] if busy.size else picture


def small_png(picture: np.ndarray, max_bytes: int) -> bytes:
    """PNG bytes of ``picture``: as it is when small enough, else with 256 colours, else shrunk in steps of 15%."""
    image = Image.fromarray(np.ascontiguousarray(picture[..., :3]))
    while True:
        for candidate in (image, image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)):
            buffer = io.BytesIO()
            candidate.save(buffer, format="PNG", optimize=True)
            if buffer.tell() <= max_bytes:
                return buffer.getvalue()
        if image.width < 320:
            raise PageCheckError(f"cannot make the screenshot smaller than {max_bytes // 1000} kB: raise --max_kb")
        image = image.resize((round(image.width * 0.85), round(image.height * 0.85)), Image.Resampling.LANCZOS)


def screenshot_report(
    page: Path,
    out: Path,
    width: int = 1280,
    max_height: int = 6000,
    max_kb: int = 400,
    chromium: str | None = None,
    timeout: float = 120,
) -> dict[str, int]:
    """Check ``page`` in headless Chromium and write its screenshot to ``out`` (see the module docstring).

    Returns:
        the page's counts (images, broken images, charts, empty charts, page height).

    Raises:
        ChromiumMissingError: no Chromium.
        PageCheckError: a broken picture, an empty chart, a blank screenshot, or Chromium failed.
    """
    executable = find_chromium(chromium)
    page = Path(page).resolve()
    counts = inspect_page(executable, page, width, timeout)
    if counts["broken-images"]:
        raise PageCheckError(f"{counts['broken-images']} of the {counts['images']} pictures in {page} do not decode")
    if counts["empty-charts"]:
        raise PageCheckError(f"{counts['empty-charts']} of the {counts['charts']} charts in {page} have no size")
    height = max(200, min(counts["page-height"], max_height))
    with tempfile.TemporaryDirectory(prefix="report-shot-") as folder:
        raw = Path(folder) / "shot.png"
        run_chromium(executable, [f"--window-size={width},{height}", f"--screenshot={raw}", page.as_uri()], timeout)
        if not raw.is_file():
            raise PageCheckError("Chromium wrote no screenshot")
        picture = np.asarray(Image.open(raw).convert("RGB"))
    check_not_blank(picture)
    data = small_png(crop_bottom(picture), max_kb * 1000)
    with atomic_output(out) as tmp:
        tmp.write_bytes(data)
    logger.info(
        "%s: %d pictures, %d charts, page %d px high; wrote %s (%d kB)",
        page.name,
        counts["images"],
        counts["charts"],
        counts["page-height"],
        out,
        len(data) // 1000,
    )
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="the HTML page, e.g. eval/report.html")
    parser.add_argument("--out", type=Path, required=True, help="the screenshot PNG to write")
    parser.add_argument("--width", type=int, default=1280, help="browser window width in pixels")
    parser.add_argument("--max_height", type=int, default=6000, help="screenshot at most this high (pixels)")
    parser.add_argument("--max_kb", type=int, default=400, help="make the PNG at most this many kilobytes")
    parser.add_argument("--chromium", help="the Chromium executable (default: found on PATH)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds allowed for each Chromium run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.report.is_file():
        logger.error("screenshot_report: %s does not exist: pass the report.html of an evaluation", args.report)
        return 2
    try:
        screenshot_report(args.report, args.out, args.width, args.max_height, args.max_kb, args.chromium, args.timeout)
    except ChromiumMissingError as error:
        logger.error("screenshot_report: %s", error)
        return 2
    except PageCheckError as error:
        logger.error("screenshot_report: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
