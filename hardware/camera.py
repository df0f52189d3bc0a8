"""Cameras: threaded capture with the latest frame and its age (never a stale frame as fresh).

`Camera` runs a capture thread that keeps only the newest frame, its capture time
(``time.monotonic()``) and a frame counter; `read_latest(max_age)` returns it or raises
`CameraError` when there is none or it is older than ``max_age``. Backends implement
``_open`` / ``_grab`` / ``_close``, all called from the capture thread (OpenGL contexts and
some V4L2 drivers must stay on one thread):

- `OpenCVCamera`: a V4L2 device index or path (``/dev/video0``), a video file or a stream
  URL, through OpenCV, with MJPG requested by default (USB cameras deliver far higher frame
  rates in MJPG than in raw YUYV);
- `MujocoCamera`: an offscreen render of a named MuJoCo camera, for the sim and the reality
  proxy (the same interface the robot's code sees).

Frames are uint8 RGB arrays (H, W, 3).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.errors import HardwareError


class CameraError(HardwareError):
    """The camera cannot be opened, stopped delivering, or the latest frame is too old."""


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # uint8 (H, W, 3) RGB
    t: float  # capture time, time.monotonic() [s]
    index: int  # frames captured since start (1 = first)


class Camera:
    """Base class: a capture thread keeping the newest frame.

    Args:
        name: for messages. fps: target capture rate [Hz] (the thread paces itself; a
            device may deliver less). width, height: requested resolution [px].
    """

    def __init__(self, name: str, fps: float = 30.0, width: int = 640, height: int = 480
                 ) -> None:
        if fps <= 0 or width < 1 or height < 1:
            raise ValueError(f"camera {name}: fps, width and height must be positive")
        self.name, self.fps, self.width, self.height = name, float(fps), width, height
        self._lock = threading.Lock()
        self._latest: Frame | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._opened = threading.Event()
        self._error: BaseException | None = None
        self._count = 0
        self._t_first = self._t_last = 0.0

    # -- backend hooks (capture thread) -----------------------------------------------------
    def _open(self) -> None:
        raise NotImplementedError

    def _grab(self) -> np.ndarray | None:
        """The next frame (RGB uint8), or None at the end of a finite source."""
        raise NotImplementedError

    def _close(self) -> None:
        """Release the device."""

    # -- API ------------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> Camera:
        """Open the camera in the capture thread and start capturing; raises CameraError if it
        cannot be opened within ``timeout`` seconds."""
        if self._thread is not None:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}",
                                        daemon=True)
        self._thread.start()
        if not self._opened.wait(timeout) or self._error is not None:
            err = self._error
            self.stop()
            if isinstance(err, CameraError):
                raise err
            raise CameraError(f"camera {self.name}: could not be opened within {timeout} s"
                              + (f": {err}" if err else "")) from None
        return self

    def _run(self) -> None:
        try:
            self._open()
        except BaseException as e:  # reported by start()
            self._error = e
            self._opened.set()
            return
        self._opened.set()
        period = 1.0 / self.fps
        next_t = time.monotonic()
        try:
            while not self._stop.is_set():
                img = self._grab()
                if img is None:
                    break
                now = time.monotonic()
                with self._lock:
                    self._count += 1
                    self._latest = Frame(img, now, self._count)
                    if self._count == 1:
                        self._t_first = now
                    self._t_last = now
                next_t = max(next_t + period, now)
                self._stop.wait(max(0.0, next_t - time.monotonic()))
        except BaseException as e:
            self._error = e
        finally:
            self._close()

    def read_latest(self, max_age: float = 0.2) -> Frame:
        """The newest frame if it is at most ``max_age`` seconds old; else CameraError."""
        with self._lock:
            frame = self._latest
        if frame is None:
            raise CameraError(f"camera {self.name}: no frame yet"
                              + (f" (capture failed: {self._error})" if self._error else ""))
        age = time.monotonic() - frame.t
        if age > max_age:
            raise CameraError(f"camera {self.name}: the latest frame is {age * 1e3:.0f} ms old "
                              f"(> {max_age * 1e3:.0f} ms); the camera stopped delivering"
                              + (f": {self._error}" if self._error else ""))
        return frame

    @property
    def measured_fps(self) -> float:
        """Frames per second since the first frame (0 before two frames)."""
        with self._lock:
            n, span = self._count, self._t_last - self._t_first
        return (n - 1) / span if n > 1 and span > 0 else 0.0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self._thread = None
        self._opened.clear()

    def __enter__(self) -> Camera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class OpenCVCamera(Camera):
    """A camera through OpenCV: device index, ``/dev/videoN``, a video file or a URL.

    ``fourcc`` (default MJPG) is requested from devices; files play at ``fps``."""

    def __init__(self, source: int | str, fps: float = 30.0, width: int = 640,
                 height: int = 480, fourcc: str | None = "MJPG", name: str | None = None) -> None:
        super().__init__(name or str(source), fps, width, height)
        self.source, self.fourcc = source, fourcc
        self._cap: Any = None

    def _open(self) -> None:
        import cv2

        cap = cv2.VideoCapture(self.source)
        if not cap.isOpened():
            raise CameraError(
                f"camera {self.source!r} could not be opened: check that it is plugged in "
                "(`ls /dev/video*`), that this user may read it (the 'video' group), and that "
                "no other process holds it")
        if self.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*self.fourcc))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        self._cap = cap

    def _grab(self) -> np.ndarray | None:
        import cv2

        ok, bgr = self._cap.read()
        if not ok:
            return None
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class MujocoCamera(Camera):
    """Offscreen render of MuJoCo camera ``camera`` from ``data`` (shared with the physics).

    ``lock`` (optional) is held while the scene is read, so renders never see a half-stepped
    state; the physics loop holds the same lock while it steps."""

    def __init__(self, model: Any, data: Any, camera: str, fps: float = 30.0, width: int = 320,
                 height: int = 240, lock: threading.Lock | None = None,
                 name: str | None = None) -> None:
        import mujoco

        if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera) < 0:
            names = [model.camera(i).name for i in range(model.ncam)]
            raise CameraError(f"no MuJoCo camera '{camera}' in the model; cameras: {names}")
        super().__init__(name or camera, fps, width, height)
        self.model, self.data, self.camera = model, data, camera
        self.scene_lock = lock or threading.Lock()
        self._renderer: Any = None
        self._on_close: Callable[[], None] | None = None

    def _open(self) -> None:
        import mujoco

        m = self.model
        m.vis.global_.offwidth = max(m.vis.global_.offwidth, self.width)
        m.vis.global_.offheight = max(m.vis.global_.offheight, self.height)
        self._renderer = mujoco.Renderer(m, self.height, self.width)

    def _grab(self) -> np.ndarray | None:
        with self.scene_lock:
            self._renderer.update_scene(self.data, camera=self.camera)
        return self._renderer.render().copy()

    def _close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


__all__ = ["Camera", "CameraError", "Frame", "MujocoCamera", "OpenCVCamera"]
