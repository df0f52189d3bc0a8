"""argparse ``type`` functions for the command lines (`robot-rl`, `robot-rl hardware`,
`robot-rl sysid`): a bad number ends in argparse's one-line error and exit status 2, never
in a traceback from deep inside (``--max-id 300`` or ``--baud -5`` is refused at the
command line, not by the bus driver)."""

from __future__ import annotations

import argparse
import math
from typing import Any


def int_in(lo: int, hi: int | None = None) -> Any:
    """An integer in [lo, hi] (no upper bound if hi is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            span = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            raise argparse.ArgumentTypeError(f"must be {span}, got {value}")
        return value

    return parse


def float_at_least(lo: float, strict: bool = False) -> Any:
    """A finite float >= lo (> lo if ``strict``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (math.isfinite(value) and (value > lo if strict else value >= lo)):
            raise argparse.ArgumentTypeError(
                f"must be a finite number {'>' if strict else '>='} {lo:g}, got {text}")
        return value

    return parse


__all__ = ["float_at_least", "int_in"]
