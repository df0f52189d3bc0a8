"""Small rotation helpers in numpy. Quaternions are (w, x, y, z), MuJoCo order."""

from __future__ import annotations

import math

import numpy as np


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) of unit quaternion ``q`` (w, x, y, z)."""
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def quat_rotate_inverse(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Express world vector ``v`` (3,) in the frame of orientation ``q``: R(q)^T v."""
    w = q[0]
    u = q[1:4]
    # R^T v = v (2w^2 - 1) - 2w (u x v) + 2u (u . v)
    return v * (2.0 * w * w - 1.0) - 2.0 * w * np.cross(u, v) + 2.0 * u * np.dot(u, v)


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


def yaw_quat(yaw: float) -> np.ndarray:
    """Quaternion of a rotation by ``yaw`` [rad] about world z."""
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a ⊗ b."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.array([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw])
