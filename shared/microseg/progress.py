"""Progress bars for the long loops of a run (inputs, slices of a stack, blocks, epochs), with ``tqdm``.

Bars are off unless :func:`show_progress` turned them on: the ``microseg`` command does so when its standard error is
a terminal and ``--quiet`` is not given, so library calls, tests, pipes and log files stay free of them. Inner bars
(slices, blocks) appear only after a second, so short loops do not flicker.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["progress", "progress_shown", "show_progress"]

_shown = False
INNER_DELAY_S = 1.0  # an inner bar shows only once its loop has run this long


def show_progress(flag: bool) -> None:
    """Turn the progress bars of this process on or off."""
    global _shown
    _shown = bool(flag)


def progress_shown() -> bool:
    """Whether progress bars are on (see :func:`show_progress`)."""
    return _shown


def progress(
    iterable: Iterable | None = None,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    inner: bool = False,
    **kwargs,
):
    """A ``tqdm`` bar over ``iterable`` (or a manual one with ``total``), a silent pass-through when bars are off.

    Args:
        iterable: what to loop over; ``None`` for a bar advanced with ``update()``.
        total: number of steps (default ``len(iterable)`` when it has one).
        desc: the label in front of the bar.
        unit: what one step is ("input", "slice", "block", "epoch").
        inner: a bar inside another loop's bar: removed when done and shown only after :data:`INNER_DELAY_S`.
        kwargs: further ``tqdm`` arguments.
    """
    from tqdm.auto import tqdm

    if inner:
        kwargs.setdefault("leave", False)
        kwargs.setdefault("delay", INNER_DELAY_S)
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not _shown, dynamic_ncols=True, **kwargs)
