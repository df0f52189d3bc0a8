"""Roll out a task with a simple policy: `robot-rl sim`.

A "random" policy samples uniform actions from the action space; "zero" outputs zeros,
i.e. holds the default pose (q0) through the PD controller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from robot_rl.envs import make_env

PolicyFn = Callable[[np.ndarray], np.ndarray]


class VideoWriter:
    """MP4 writer over OpenCV (frames are RGB uint8 (H, W, 3))."""

    def __init__(self, path: str | Path, fps: float) -> None:
        import cv2

        self._cv2 = cv2
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self._writer: Any = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        cv2 = self._cv2
        if self._writer is None:
            h, w = frame.shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"),
                                           self.fps, (w, h))
            if not self._writer.isOpened():
                raise OSError(f"cannot open video file {self.path} for writing; check the "
                              "directory exists and is writable")
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


def rollout(task: str, policy: str | PolicyFn = "zero", steps: int = 500, seed: int = 0,
            config: str | None = None, video: str | None = None,
            progress: bool = False) -> dict[str, Any]:
    """Run ``steps`` policy steps with auto-reset; return a JSON-able summary."""
    if steps <= 0:
        raise ValueError(f"--steps must be positive, got {steps}")
    env = make_env(task, config, render_mode="rgb_array" if video else None)
    env.action_space.seed(seed)
    if policy == "random":
        act: PolicyFn = lambda obs: env.action_space.sample()
    elif policy == "zero":
        zero: np.ndarray = np.zeros(env.action_space.shape or (), dtype=np.float32)
        act = lambda obs: zero
    elif callable(policy):
        act = policy
    else:
        raise ValueError(f"unknown policy '{policy}'; use random or zero")
    writer = VideoWriter(video, fps=1.0 / env.dt) if video else None
    obs, _ = env.reset(seed=seed)
    episodes: list[dict[str, Any]] = []
    finite = True
    t0 = time.perf_counter()
    try:
        for _ in tqdm(range(steps), disable=not progress, desc=f"sim {task}", unit="step"):
            state_obs = obs["state"] if isinstance(obs, dict) else obs
            obs, reward, term, trunc, info = env.step(act(state_obs))
            state_obs = obs["state"] if isinstance(obs, dict) else obs
            finite = finite and bool(np.all(np.isfinite(state_obs))) and np.isfinite(reward)
            if writer is not None:
                frame = env.render()
                if frame is not None:
                    writer.write(frame)
            if term or trunc:
                episodes.append(info["episode"])
                obs, _ = env.reset()
    finally:
        if writer is not None:
            writer.close()
        env.close()
    elapsed = time.perf_counter() - t0
    summary: dict[str, Any] = {"task": task, "policy": policy if isinstance(policy, str)
                               else "custom", "steps": steps, "seed": seed,
                               "sim_time_s": steps * env.dt, "episodes": len(episodes),
                               "finite": bool(finite), "steps_per_s": steps / elapsed}
    if episodes:
        summary["mean_return"] = float(np.mean([e["r"] for e in episodes]))
        summary["mean_length"] = float(np.mean([e["l"] for e in episodes]))
        keys = [k for k in episodes[0] if k.startswith("rew_")]
        summary["reward_terms"] = {k[4:]: float(np.mean([e[k] for e in episodes])) for k in keys}
        for flag in ("fell", "success"):
            if flag in episodes[0]:
                summary[f"{flag}_rate"] = float(np.mean([e[flag] for e in episodes]))
    if writer is not None:
        summary["video"] = str(writer.path)
        summary["video_frames"] = writer.frames
    return summary


def run_episodes(task: str, act: PolicyFn, episodes: int, seed: int = 0,
                 config: str | None = None, video: str | None = None,
                 video_episodes: int = 2, overrides: dict[str, Any] | None = None,
                 ) -> list[dict[str, Any]]:
    """Run ``episodes`` full episodes (seeds ``seed + k``) and return their ``episode`` infos,
    each with ``final_distance`` for arm tasks (end-effector / object to goal, metres)."""
    env = make_env(task, config, overrides, render_mode="rgb_array" if video else None,
                   render_size=(240, 320))
    writer = VideoWriter(video, fps=1.0 / env.dt) if video else None
    out: list[dict[str, Any]] = []
    try:
        for k in range(episodes):
            obs, _ = env.reset(seed=seed + k)
            while True:
                state_obs = obs["state"] if isinstance(obs, dict) else obs
                obs, _, term, trunc, info = env.step(act(state_obs))
                if writer is not None and k < video_episodes:
                    frame = env.render()
                    if frame is not None:
                        writer.write(frame)
                if term or trunc:
                    ep = dict(info["episode"])
                    goal = getattr(env, "goal", None)
                    if goal is not None and env.robot.ee_site_id >= 0:
                        ee = env.data.site_xpos[env.robot.ee_site_id]
                        ep["final_distance"] = float(np.linalg.norm(ee - goal))
                    out.append(ep)
                    break
    finally:
        if writer is not None:
            writer.close()
        env.close()
    return out


def summarize(episodes: list[dict[str, Any]]) -> dict[str, float]:
    """Mean and std of every numeric episode field (``success`` → success rate)."""
    out: dict[str, float] = {"episodes": float(len(episodes))}
    for key in episodes[0] if episodes else []:
        vals = np.array([float(e[key]) for e in episodes])
        out[f"{key}_mean"] = float(vals.mean())
        out[f"{key}_std"] = float(vals.std())
    return out
