"""Cameras: threaded capture of the latest frame with its age, from a video source through
OpenCV and from a MuJoCo offscreen camera; stale frames and missing devices are errors."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import mujoco
import numpy as np
import pytest

from hardware.camera import CameraError, MujocoCamera, OpenCVCamera
from robot_rl.robots import get_robot


def _video(path: Path, frames: int = 60, size: tuple[int, int] = (160, 120)) -> Path:
    w, h = size
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (w, h))
    assert out.isOpened()
    for k in range(frames):
        img = np.zeros((h, w, 3), np.uint8)
        img[:, :, 2] = 255  # BGR red
        cv2.putText(img, str(k), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        out.write(img)
    out.release()
    return path


def test_opencv_camera_latest_frame_and_staleness(tmp_path: Path) -> None:
    src = _video(tmp_path / "clip.avi")
    cam = OpenCVCamera(str(src), fps=60.0, fourcc=None)
    with cam:
        time.sleep(0.3)
        f1 = cam.read_latest(max_age=0.5)
        assert f1.image.shape == (120, 160, 3) and f1.image.dtype == np.uint8
        assert f1.image[..., 0].mean() > 150 and f1.image[..., 2].mean() < 100  # RGB order
        time.sleep(0.1)
        f2 = cam.read_latest(max_age=0.5)
        assert f2.index > f1.index and f2.t > f1.t
        time.sleep(1.5)  # the 60-frame clip ends after ~1 s: no new frames
        with pytest.raises(CameraError, match="ms old"):
            cam.read_latest(max_age=0.2)
        assert 20.0 < cam.measured_fps < 90.0


def test_missing_camera_names_the_device() -> None:
    with pytest.raises(CameraError, match=r"could not be opened: check that it is plugged in"):
        OpenCVCamera("/dev/video99").start(timeout=5.0)
    cam = OpenCVCamera("/dev/video99")
    with pytest.raises(CameraError, match="no frame yet"):
        cam.read_latest()


def test_mujoco_camera_renders_the_scene() -> None:
    spec = get_robot("arm6")
    model = mujoco.MjModel.from_xml_path(str(spec.mjcf))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    with MujocoCamera(model, data, "scene", fps=20.0, width=96, height=72) as cam:
        time.sleep(0.4)
        frame = cam.read_latest(max_age=0.3)
        assert frame.image.shape == (72, 96, 3)
        assert frame.image.std() > 5.0  # a rendered scene, not a blank buffer
    with pytest.raises(CameraError, match="no MuJoCo camera 'front'"):
        MujocoCamera(model, data, "front")
