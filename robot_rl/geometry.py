"""Orientation helpers of the observation and the fall guard. Quaternions are (w, x, y, z),
MuJoCo order."""

from __future__ import annotations

import math

import numpy as np


def projected_gravity(q: np.ndarray) -> np.ndarray:
    """Unit gravity direction (0, 0, -1) expressed in the body frame of orientation ``q``
    (4,); for a batch of orientations (K, 4), the (K, 3) directions."""
    if q.ndim == 1:
        w, x, y, z = q.tolist()  # Python floats: the same IEEE arithmetic, less dispatch
        return np.array([-2.0 * (x * z - w * y), -2.0 * (y * z + w * x),
                         -(1.0 - 2.0 * (x * x + y * y))])
    if q.shape[0] == 1:  # cheaper row by row for one (the same arithmetic either way)
        return projected_gravity(q[0])[None]
    w, x, y, z = q.T  # the columns: the same arithmetic, element by element
    out = np.empty((q.shape[0], 3))
    out[:, 0] = -2.0 * (x * z - w * y)
    out[:, 1] = -2.0 * (y * z + w * x)
    out[:, 2] = -(1.0 - 2.0 * (x * x + y * y))
    return out


def roll_pitch(q: np.ndarray) -> tuple[float, float]:
    """Roll and pitch [rad] (ZYX Euler) of orientation ``q``; NaN in ``q`` gives NaN angles."""
    w, x, y, z = q.tolist()  # Python floats: scalar math is much faster than numpy scalars
    roll = math.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    # sin(pitch) clipped to [-1, 1] (rounding of a unit quaternion); in this order of min and
    # max a NaN stays NaN (Python's max(-1.0, nan) would give -1.0: a pitch of -pi/2)
    pitch = math.asin(min(max(2.0 * (w * y - z * x), -1.0), 1.0))
    return roll, pitch
