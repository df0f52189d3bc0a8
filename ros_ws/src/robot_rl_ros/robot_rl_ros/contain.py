"""Fault containment for node callbacks: an exception raised while handling one message,
timer or service request is logged with the message, counted on the node and never leaves
the callback, so it cannot stop the executor that also delivers ``/estop``, ``~/reset`` and
the watchdog ticks (issue: a NaN ``/cmd_vel`` used to kill the in-process graph's executor).

`robot_rl_ros.qos.subscribe` wraps every subscription callback of the graph's nodes; nodes
wrap their timers and services with `contained`. What a node counts is in its ``stats()``
and, for the safety node, in ``/diagnostics`` (``callback_errors``).
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable
from typing import Any

from robot_rl_ros.log import NodeLog

_log = NodeLog("contain")


def _errors(node: Any) -> Counter[str]:
    errs = getattr(node, "callback_errors", None)
    if errs is None:
        errs = Counter()
        node.callback_errors = errs
    return errs


def record(node: Any, what: str, err: BaseException, arg: Any = None) -> None:
    """Count ``err`` raised by ``node``'s callback ``what`` and log it with the input."""
    _errors(node)[what] += 1
    name = node.get_name() if hasattr(node, "get_name") else type(node).__name__
    shown = "" if arg is None else f"; input: {repr(arg)[:300]}"
    node.last_callback_error = f"{what}: {type(err).__name__}: {err}"
    log = getattr(node, "log", None)
    msg = f"[{name}] {what} failed and was contained: {type(err).__name__}: {err}{shown}"
    (log if isinstance(log, NodeLog) else _log).error(msg, throttle_s=1.0, key=what)


def contained(node: Any, what: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` for a subscription (one argument: the message), a timer (none) or a service
    (request, response: on an error the response is returned as it is, with ``success``
    False and the reason where it has those fields)."""

    def sub(msg: Any) -> None:
        try:
            fn(msg)
        except Exception as e:
            record(node, what, e, msg)

    def timer() -> None:
        try:
            fn()
        except Exception as e:
            record(node, what, e)

    def service(request: Any, response: Any) -> Any:
        try:
            return fn(request, response)
        except Exception as e:
            record(node, what, e, request)
            if hasattr(response, "success"):
                response.success = False
                response.message = f"{type(e).__name__}: {e}"
            return response

    n = sum(1 for p in inspect.signature(fn).parameters.values()
            if p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    wrapped: dict[int, Callable[..., Any]] = {0: timer, 1: sub, 2: service}
    return wrapped[n]


def error_counts(node: Any) -> dict[str, int]:
    """Contained errors per callback so far."""
    return dict(_errors(node))


__all__ = ["contained", "error_counts", "record"]
