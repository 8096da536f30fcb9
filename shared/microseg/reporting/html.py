"""The evaluation page: one self-contained HTML file that a person opens after ``microseg evaluate``.

:func:`write_html_report` writes ``report.html``: the title and date, the metric table (the content of
``metrics.json``, 4 significant digits) with the metric definitions under it, a bar chart of one score per image
(sorted, worst first), the object precision/recall curve against the IoU matching threshold, and the pictures of the
worst images with prediction and ground-truth outlines (:func:`microseg.reporting.overlay.outline_overlay`).

The page needs nothing else: inline CSS, charts as inline SVG, pictures as base64 PNG, no script, no network access.
:func:`render_html_report` returns the same page as a string. NumPy and Pillow only.
"""

from __future__ import annotations

import base64
import datetime
import html
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from microseg.io.writers import atomic_output
from microseg.reporting.overlay import BOTH_COLOUR, PREDICTION_COLOUR, TRUTH_COLOUR, encode_png

__all__ = ["format_value", "render_html_report", "write_html_report"]

logger = logging.getLogger(__name__)

_BAR_COLOUR = "#0072B2"
_MEAN_COLOUR = "#E69F00"
_CURVE_COLOURS = {"precision": "#0072B2", "recall": "#D55E00", "f1": "#009E73"}
_MAX_BAR_LABELS = 40  # more bars than this: names only in the tooltips
_MAX_LABEL_CHARS = 22  # longer bar labels are cut (the tooltip has the whole name)
_PICTURE_SIDE = 480  # pictures are shown with this longest side (small ones enlarged, pixels kept sharp)

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; color: #1a1a1a; background: #fff; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.date { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
dl.definitions { font-size: 0.9rem; color: #333; }
dl.definitions dt { font-weight: 600; margin-top: 0.4rem; }
dl.definitions dd { margin-left: 1.5rem; }
svg { max-width: 100%; height: auto; font-size: 12px; }
svg text { fill: #333; }
svg .bar:hover { fill: #E69F00; }
.legend span { display: inline-block; width: 1rem; height: 0.6rem; margin: 0 0.3rem 0 1rem; }
.gallery { display: flex; flex-wrap: wrap; gap: 1rem; }
.gallery figure { margin: 0; max-width: 100%; }
.gallery img { max-width: 100%; height: auto; image-rendering: pixelated; border: 1px solid #ccc; }
.gallery figcaption { font-size: 0.9rem; word-break: break-all; }
.note { color: #555; font-size: 0.9rem; }
"""


def format_value(value) -> str:
    """A metric value as table text: 4 significant digits for floats, whole numbers without decimals, lists joined,
    ``None`` as a dash."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e9:
            return str(int(value))
        return f"{value:.4g}"
    if isinstance(value, Sequence):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _is_number(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _metric_tables(metrics: Mapping) -> str:
    """Scalar entries as one ``metric | value`` table; dict entries (e.g. scores per split) as one table with a
    column per entry."""
    scalars = {k: v for k, v in metrics.items() if k != "definitions" and not isinstance(v, Mapping)}
    groups = {k: v for k, v in metrics.items() if k != "definitions" and isinstance(v, Mapping)}
    parts = []
    if scalars:
        body = "".join(
            f'<tr><th scope="row">{_esc(k)}</th><td class="{"num" if _is_number(v) else "text"}">'
            f"{_esc(format_value(v))}</td></tr>"
            for k, v in scalars.items()
        )
        parts.append(f'<table class="metrics"><tr><th>metric</th><th>value</th></tr>{body}</table>')
    if groups:
        keys: list[str] = []
        for group in groups.values():
            keys += [k for k in group if k not in keys]
        head = "".join(f"<th>{_esc(name)}</th>" for name in groups)
        body = "".join(
            f'<tr><th scope="row">{_esc(key)}</th>'
            + "".join(f'<td class="num">{_esc(format_value(g.get(key)))}</td>' for g in groups.values())
            + "</tr>"
            for key in keys
        )
        parts.append(f'<table class="metrics"><tr><th>metric</th>{head}</tr>{body}</table>')
    return "\n".join(parts) or '<p class="note">no metrics</p>'


def _definitions(definitions: Mapping[str, str] | None) -> str:
    if not definitions:
        return ""
    items = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in definitions.items())
    return f'<dl class="definitions">{items}</dl>'


def _score(row: Mapping, key: str) -> float:
    try:
        value = float(row.get(key))
    except (TypeError, ValueError):
        return math.nan
    return value


def _bar_chart(rows: Sequence[Mapping], score_key: str, label_key: str) -> str:
    """An SVG bar chart of ``row[score_key]`` per row, sorted ascending (worst first, NaN last)."""
    entries = [(str(r.get(label_key, f"#{i}")), _score(r, score_key)) for i, r in enumerate(rows)]
    if not entries:
        return '<p class="note">no images</p>'
    entries.sort(key=lambda e: (math.isnan(e[1]), e[1]))
    finite = [v for _, v in entries if not math.isnan(v)]
    lo, hi = min([0.0, *finite]), max([1.0, *finite])
    n, show_labels = len(entries), len(entries) <= _MAX_BAR_LABELS
    longest = max(min(len(name), _MAX_LABEL_CHARS) for name, _ in entries)
    left, right, top, bottom = 52, 12, 12, (24 + round(5.6 * longest) if show_labels else 28)
    width, plot_h = 960, 260
    plot_w = width - left - right
    height = top + plot_h + bottom

    def y_of(value: float) -> float:
        return top + plot_h * (hi - value) / (hi - lo)

    out = [
        f'<svg class="bars" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{_esc(score_key)} per image">'
    ]
    for tick in np.linspace(lo, hi, 5):
        y = y_of(float(tick))
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_esc(format_value(float(tick)))}</text>')
    step = plot_w / n
    bar_w = min(max(step * 0.8, 0.5), 48.0)
    zero = y_of(0.0)
    for i, (name, value) in enumerate(entries):
        x = left + i * step + (step - bar_w) / 2
        y, h = (zero, 0.0) if math.isnan(value) else (min(y_of(value), zero), abs(y_of(value) - zero))
        out.append(
            f'<rect class="bar" x="{x:.2f}" y="{y:.2f}" width="{bar_w:.2f}" height="{h:.2f}" fill="{_BAR_COLOUR}">'
            f"<title>{_esc(name)}: {_esc(format_value(value))}</title></rect>"
        )
        if show_labels:
            label = name if len(name) <= _MAX_LABEL_CHARS else name[: _MAX_LABEL_CHARS - 1] + "\u2026"
            cx, cy = x + bar_w / 2, top + plot_h + 10
            out.append(
                f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="end" transform="rotate(-55 {cx:.1f} {cy:.1f})">'
                f"{_esc(label)}</text>"
            )
    if finite:
        mean = float(np.mean(finite))
        y = y_of(mean)
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{_MEAN_COLOUR}" '
            f'stroke-width="2" stroke-dasharray="6 4"><title>mean {_esc(format_value(mean))}</title></line>'
        )
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#888"/>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#888"/>')
    if not show_labels:
        out.append(
            f'<text x="{left + plot_w / 2:.0f}" y="{height - 8}" text-anchor="middle">{n} images, sorted '
            "(names in the tooltips)</text>"
        )
    out.append("</svg>")
    legend = (
        f'<p class="legend note"><span style="background:{_BAR_COLOUR}"></span>{_esc(score_key)} per image'
        f'<span style="background:{_MEAN_COLOUR}"></span>mean over images</p>'
    )
    return "".join(out) + legend


def _curve_section(curve: Mapping) -> str:
    """An SVG line chart of precision, recall (and F1 when given) against the IoU threshold, and its table."""
    thresholds = [float(t) for t in curve["thresholds"]]
    series = {k: [float(v) for v in curve[k]] for k in ("precision", "recall", "f1") if k in curve}
    for key, values in series.items():
        if len(values) != len(thresholds):
            raise ValueError(f"the curve has {len(values)} {key} values for {len(thresholds)} thresholds")
    left, right, top, bottom, width, height = 52, 130, 12, 44, 640, 340
    plot_w, plot_h = width - left - right, height - top - bottom
    t_lo, t_hi = min(thresholds), max(thresholds)
    span = (t_hi - t_lo) or 1.0

    def xy(t: float, v: float) -> tuple[float, float]:
        return left + plot_w * (t - t_lo) / span, top + plot_h * (1.0 - (v if math.isfinite(v) else 0.0))

    out = [
        f'<svg class="curve" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="precision and recall against the IoU threshold">'
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        _, y = xy(t_lo, tick)
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{format_value(tick)}</text>')
    for t in thresholds:
        x, _ = xy(t, 0.0)
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{t:.2f}</text>')
    out.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle">IoU matching threshold</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>')
    legend_row = {key: index for index, key in enumerate(series)}
    for key in sorted(series, key=lambda k: k != "f1"):  # F1 first: where the curves coincide, P and R stay visible
        values, index, colour = series[key], legend_row[key], _CURVE_COLOURS[key]
        points = " ".join("{:.1f},{:.1f}".format(*xy(t, v)) for t, v in zip(thresholds, values, strict=True))
        dash = ' stroke-dasharray="5 3"' if key == "f1" else ""
        out.append(f'<polyline class="{key}" points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for t, v in zip(thresholds, values, strict=True):
            x, y = xy(t, v)
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}" data-threshold="{t:.2f}" '
                f'data-value="{v:.6g}"><title>{key} at IoU {t:.2f}: {format_value(v)}</title></circle>'
            )
        ly = top + 14 + 20 * index
        out.append(
            f'<line x1="{left + plot_w + 14}" x2="{left + plot_w + 38}" y1="{ly - 4}" y2="{ly - 4}" '
            f'stroke="{colour}" stroke-width="2"{dash}/><text x="{left + plot_w + 44}" y="{ly}">{key}</text>'
        )
    out.append("</svg>")
    columns = [k for k in ("precision", "recall", "f1", "tp", "fp", "fn") if k in curve]
    head = "".join(f"<th>{_esc(k)}</th>" for k in ["IoU threshold", *columns])
    body = "".join(
        f'<tr><td class="num">{t:.2f}</td>'
        + "".join(f'<td class="num">{_esc(format_value(curve[k][i]))}</td>' for k in columns)
        + "</tr>"
        for i, t in enumerate(thresholds)
    )
    rule = f'<p class="note">{_esc(curve["rule"])}</p>' if curve.get("rule") else ""
    return "".join(out) + rule + f'<table class="curve-points"><tr>{head}</tr>{body}</table>'


def _rgb(colour: Sequence[int]) -> str:
    return "rgb({},{},{})".format(*colour)


def _gallery(worst: Sequence[tuple[str, np.ndarray]]) -> str:
    figures = []
    for caption, picture in worst:
        data = base64.b64encode(encode_png(picture)).decode("ascii")
        scale = _PICTURE_SIDE / max(picture.shape[:2])
        width, height = round(picture.shape[1] * scale), round(picture.shape[0] * scale)
        figures.append(
            f'<figure style="width:{width}px"><img src="data:image/png;base64,{data}" width="{width}" '
            f'height="{height}" alt="{_esc(caption)}"><figcaption>{_esc(caption)}</figcaption></figure>'
        )
    legend = (
        f'<p class="legend note">outlines:<span style="background:{_rgb(PREDICTION_COLOUR)}"></span>prediction'
        f'<span style="background:{_rgb(TRUTH_COLOUR)}"></span>ground truth'
        f'<span style="background:{_rgb(BOTH_COLOUR)};border:1px solid #999"></span>both</p>'
    )
    return legend + f'<div class="gallery">{"".join(figures)}</div>'


def render_html_report(
    title: str,
    metrics: Mapping,
    definitions: Mapping[str, str] | None,
    rows: Sequence[Mapping],
    score_key: str,
    curve: Mapping | None = None,
    worst: Sequence[tuple[str, np.ndarray]] = (),
    label_key: str = "image",
    notes: Sequence[str] = (),
    date: str | None = None,
) -> str:
    """The page of :func:`write_html_report` as a string (same arguments, without ``path``)."""
    date = date or datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    if definitions is None:
        definitions = metrics.get("definitions") if isinstance(metrics.get("definitions"), Mapping) else None
    sections = [
        f"<h1>{_esc(title)}</h1>",
        f'<p class="date">{_esc(date)}</p>',
        *(f'<p class="note">{_esc(n)}</p>' for n in notes),
        "<h2>Metrics</h2>",
        _metric_tables(metrics),
        _definitions(definitions),
        f"<h2>{_esc(score_key)} per image</h2>",
        _bar_chart(rows, score_key, label_key),
    ]
    if curve is not None:
        sections += ["<h2>Object precision and recall against the IoU threshold</h2>", _curve_section(curve)]
    if worst:
        sections += [f"<h2>The {len(worst)} lowest {_esc(score_key)}</h2>", _gallery(worst)]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


def write_html_report(
    path: str | os.PathLike,
    title: str,
    metrics: Mapping,
    definitions: Mapping[str, str] | None,
    rows: Sequence[Mapping],
    score_key: str,
    curve: Mapping | None = None,
    worst: Sequence[tuple[str, np.ndarray]] = (),
    label_key: str = "image",
    notes: Sequence[str] = (),
    date: str | None = None,
) -> Path:
    """Write the evaluation page as one self-contained HTML file, atomically.

    Args:
        path: the HTML file (its folder is created).
        title: page title.
        metrics: the content of ``metrics.json``: scalar values in one table, dict values (e.g. one per split) as
            columns of a second table; a ``"definitions"`` entry is not shown as a metric.
        definitions: metric name -> definition, listed under the table (default ``metrics["definitions"]``).
        rows: one mapping per image with ``row[label_key]`` (its name) and ``row[score_key]`` (a number).
        score_key: the per-image score of the bar chart (sorted ascending, worst first).
        curve: optional ``{"thresholds", "precision", "recall"}`` lists (``"f1"``, ``"tp"``, ``"fp"``, ``"fn"``
            optional, ``"rule"`` a sentence on the matching), e.g. from
            :func:`microseg.metrics.objects.precision_recall_by_threshold`.
        worst: ``(caption, picture)`` per shown image; pictures uint8 ``(H, W, 3)``, e.g. from
            :func:`microseg.reporting.overlay.outline_overlay` with the ground truth.
        label_key: the image name key of ``rows``.
        notes: sentences shown under the title.
        date: the date line (default: now, local time).

    Returns:
        ``path``.
    """
    page = render_html_report(title, metrics, definitions, rows, score_key, curve, worst, label_key, notes, date)
    with atomic_output(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    logger.info("wrote %s", path)
    return Path(path)
