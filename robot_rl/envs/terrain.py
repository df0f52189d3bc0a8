"""Height-field terrains for legged tasks (numpy only, seeded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import mujoco
import numpy as np


@dataclass
class TerrainConfig:
    """Ground of a legged task.

    Attributes:
        kind: ``flat`` (plane) or ``rough`` (random height field, regenerated every reset).
        amplitude: peak-to-peak bump height of the rough terrain [m] (≤ the hfield's z size).
        smooth_cells: box-blur width in cells (1 = none); larger gives rolling hills.
        flat_radius: radius of the flat spawn patch around the origin [m].
    """

    kind: Literal["flat", "rough"] = "flat"
    amplitude: float = 0.06
    smooth_cells: int = 2
    flat_radius: float = 0.6

    def validate(self) -> None:
        if self.amplitude < 0:
            raise ValueError(f"terrain.amplitude must be >= 0, got {self.amplitude}")
        if self.smooth_cells < 1:
            raise ValueError(f"terrain.smooth_cells must be >= 1, got {self.smooth_cells}")


class HeightField:
    """A MuJoCo height field named ``name`` whose elevations are set from numpy.

    World height at (x, y) is ``size_z * data[row, col]`` over the field's x/y extent; MuJoCo
    stores rows along +y and columns along +x, centred on the geom's position.
    """

    def __init__(self, model: mujoco.MjModel, name: str = "terrain") -> None:
        hid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_HFIELD, name)
        if hid < 0:
            raise ValueError(f"scene has no height field named '{name}'")
        self.model, self.id = model, hid
        self.nrow, self.ncol = int(model.hfield_nrow[hid]), int(model.hfield_ncol[hid])
        self.size = model.hfield_size[hid].copy()  # (rx, ry, z_top, z_bottom)
        adr = int(model.hfield_adr[hid])
        self._view = model.hfield_data[adr: adr + self.nrow * self.ncol]
        self.heights = np.zeros((self.nrow, self.ncol))

    def set_heights(self, heights: np.ndarray) -> None:
        """Set elevations [m], shape (nrow, ncol), clipped to [0, size_z]."""
        h = np.clip(heights, 0.0, self.size[2])
        self.heights = h
        self._view[:] = (h / self.size[2]).reshape(-1)

    def height_at(self, x: float, y: float) -> float:
        """Terrain height [m] at world (x, y) (nearest cell; 0 outside the field)."""
        rx, ry = self.size[0], self.size[1]
        col = int(round((x + rx) / (2 * rx) * (self.ncol - 1)))
        row = int(round((y + ry) / (2 * ry) * (self.nrow - 1)))
        if 0 <= row < self.nrow and 0 <= col < self.ncol:
            return float(self.heights[row, col])
        return 0.0

    def inside(self, x: float, y: float, margin: float = 0.5) -> bool:
        return abs(x) < self.size[0] - margin and abs(y) < self.size[1] - margin

    def randomize(self, rng: np.random.Generator, cfg: TerrainConfig) -> None:
        """Random bumps of ``cfg.amplitude`` with a flat patch around the origin."""
        h = rng.uniform(0.0, cfg.amplitude, (self.nrow, self.ncol))
        k = cfg.smooth_cells
        if k > 1:
            kernel = np.ones(k) / k
            h = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 0, h)
            h = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 1, h)
        xs = np.linspace(-self.size[0], self.size[0], self.ncol)
        ys = np.linspace(-self.size[1], self.size[1], self.nrow)
        r = np.hypot(*np.meshgrid(xs, ys))
        h = np.where(r < cfg.flat_radius, h[self.nrow // 2, self.ncol // 2], h)
        self.set_heights(h)
