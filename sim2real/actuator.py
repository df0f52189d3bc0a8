"""Actuator models: what lies between a motor driver's torque command and the joint.

- `DCMotorModel` (per joint, numpy, torch-free): the brushless motor + gearbox of a
  quadruped or servo joint as a physical model:

  * torque-speed envelope: the driver's voltage limit caps the torque while the motor
    drives, ``|tau| <= tau_stall (1 - |dq| / omega_max)`` when ``tau dq > 0`` (never below
    zero); braking torque is capped at ``tau_stall`` only;
  * gearbox friction, Coulomb and viscous: ``tau_out = tau - f_c tanh(dq / 0.01) - f_v dq``;
  * backlash: the encoder sits on the motor side of the gearbox, so the driver's PD loop and
    the reported position follow the link through a play of width ``backlash`` (a play
    operator, `Backlash`).

  The reported torque (the driver's current times its nominal torque constant) is the
  enveloped command; gearbox friction and the motor-strength error act after it.
  The reality proxy (`sim2real.proxy`) samples one per seed and `SimPlant` runs it at every
  physics step.

- `ActuatorNet` (torch, training side): an MLP from 15 ms of position errors and velocities
  (plus kp, kd and the joint's one-hot) to the torque the joint delivers (Hwangbo et al.
  2019; walk-these-ways), fitted on logged data. `actuator_dataset` builds its inputs from
  a `SysIdLog` that holds the delivered torque (a torque sensor on the bench; the proxy's
  ground truth here); `ideal_pd_torque` is the baseline it must beat.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class DCMotorModel:
    """Per-joint arrays, shape (n,): stall torque [N m], no-load speed [rad/s] (joint side),
    Coulomb and viscous gearbox friction [N m, N m s/rad], backlash [rad]."""

    tau_stall: np.ndarray
    omega_max: np.ndarray
    coulomb: np.ndarray
    viscous: np.ndarray
    backlash: np.ndarray

    def __post_init__(self) -> None:
        for k, v in asdict(self).items():
            a = np.asarray(v, dtype=np.float64)
            if a.ndim != 1 or np.any(a < 0) or not np.all(np.isfinite(a)):
                raise ValueError(f"DCMotorModel.{k} must be a 1-D array of finite values "
                                 f">= 0, got {v!r}")
            setattr(self, k, a)
        if np.any(self.tau_stall <= 0) or np.any(self.omega_max <= 0):
            raise ValueError("DCMotorModel: tau_stall and omega_max must be > 0")

    @classmethod
    def sample(cls, rng: np.random.Generator, tau_max: np.ndarray, dq_max: np.ndarray
               ) -> DCMotorModel:
        """One robot's motors: stall torque = the spec's limit, no-load speed
        U(1.0, 1.4) x the spec's velocity limit, gearbox friction U(0, 0.015) x the torque
        limit (Coulomb) and U(0, 0.02) N m s/rad, backlash U(0, 0.01) rad."""
        n = len(tau_max)
        return cls(tau_stall=np.asarray(tau_max, dtype=np.float64).copy(),
                   omega_max=rng.uniform(1.0, 1.4, n) * dq_max,
                   coulomb=rng.uniform(0.0, 0.015, n) * tau_max,
                   viscous=rng.uniform(0.0, 0.02, n),
                   backlash=rng.uniform(0.0, 0.01, n))

    def envelope(self, tau: np.ndarray, dq: np.ndarray) -> np.ndarray:
        """The torque the driver can deliver for command ``tau`` at speed ``dq``."""
        motoring = tau * dq > 0
        cap = np.where(motoring, self.tau_stall * np.clip(1.0 - np.abs(dq) / self.omega_max,
                                                          0.0, 1.0), self.tau_stall)
        return np.clip(tau, -cap, cap)

    def friction(self, dq: np.ndarray) -> np.ndarray:
        """Gearbox friction torque opposing the motion [N m]."""
        return self.coulomb * np.tanh(dq / 0.01) + self.viscous * dq

    def to_dict(self) -> dict[str, Any]:
        return {k: np.round(v, 6).tolist() for k, v in asdict(self).items()}


class Backlash:
    """A play operator per joint: the motor-side position follows the link within ±b/2."""

    def __init__(self, width: np.ndarray, q0: np.ndarray) -> None:
        self.half = 0.5 * np.asarray(width, dtype=np.float64)
        self.q_motor = np.asarray(q0, dtype=np.float64).copy()

    def update(self, q_link: np.ndarray) -> np.ndarray:
        self.q_motor = np.clip(self.q_motor, q_link - self.half, q_link + self.half)
        return self.q_motor


# -- the learned actuator model (training side: torch) ----------------------------------------
HISTORY_S = 0.015  # s of position-error and velocity history the network sees


def history_ticks(control_dt: float) -> int:
    """Control ticks of history: 15 ms, at least 3 (quad12 at 200 Hz: 3; arm6 at 500 Hz: 8)."""
    return max(3, round(HISTORY_S / control_dt))


def ideal_pd_torque(log: Any, tau_max: np.ndarray) -> np.ndarray:
    """The ideal actuator: the MIT PD law on the logged state and command, clipped at the
    torque limit; shape (T, n). Row k predicts the torque delivered at tick k + 1 (the
    command of row k acts until then)."""
    tau = log.kp * (log.q_target - log.q) + log.kd * (log.dq_target - log.dq) + log.tau_ff
    return np.asarray(np.clip(tau, -tau_max, tau_max))


def actuator_dataset(log: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs (N, 2 h + 2 + n), targets (N,), ticks (N_t,)) with N = N_t n, tick-major over
    all joints: the position errors and velocities of the last h = `history_ticks` ticks, kp
    and kd, the joint as a one-hot (one network for all joints, which differ in strength and
    friction), and the delivered torque at the next tick (``log.tau_delivered`` is
    required); the soft start (`sim2real.experiment.SKIP_S`) left out."""
    from sim2real.experiment import SKIP_S, SysIdError

    delivered = log.tau_delivered
    if delivered is None:
        raise SysIdError("the log has no delivered torque (a torque sensor's reading): an "
                         "actuator network needs it as its target")
    err = log.q_target - log.q
    h = history_ticks(log.control_dt)
    k0 = max(h - 1, round(SKIP_S / log.control_dt))
    ks = np.arange(k0, len(log.t) - 1)
    feats = [err[ks - i] for i in range(h)] + [log.dq[ks - i] for i in range(h)]
    feats += [log.kp[ks], log.kd[ks]]
    n = log.q.shape[1]
    onehot = np.broadcast_to(np.eye(n), (len(ks), n, n))  # which joint: strengths differ
    x = np.concatenate([np.stack(feats, axis=-1), onehot], axis=-1)  # (N_t, n, F)
    return (x.reshape(-1, x.shape[-1]).astype(np.float32),
            delivered[ks + 1].reshape(-1).astype(np.float32), ks)


def train_actuator_net(x: np.ndarray, y: np.ndarray, hidden: tuple[int, ...] = (32, 32),
                       epochs: int = 60, lr: float = 3e-3, seed: int = 0) -> Any:
    """Fit the MLP (softsign activations, as Hwangbo et al.) by Adam on mean squared error;
    the input normaliser is inside the returned module."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(1)  # small network: one thread is as fast and leaves the rest free
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    mean, std = xt.mean(0), xt.std(0).clamp_min(1e-6)
    layers: list[nn.Module] = []
    d = x.shape[1]
    for h in hidden:
        layers += [nn.Linear(d, h), nn.Softsign()]
        d = h
    layers.append(nn.Linear(d, 1))
    body = nn.Sequential(*layers)

    class ActuatorNet(nn.Module):
        mean: torch.Tensor
        std: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)
            self.body = body

        def forward(self, inp: torch.Tensor) -> torch.Tensor:
            return self.body((inp - self.mean) / self.std).squeeze(-1)

    net = ActuatorNet()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 1024):
            idx = perm[i:i + 1024]
            loss = (net(xt[idx]) - yt[idx]).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def actuator_report(log: Any, train_fraction: float = 0.75, seed: int = 0,
                    out: str | None = None) -> dict[str, Any]:
    """Fit an `ActuatorNet` on the first ``train_fraction`` of ``log`` and compare its
    torque prediction with the ideal PD model's on the held-out rest (RMS and max error
    [N m], per joint and overall). With ``out``, the network is written there as ONNX
    (input ``x`` (B, F), output ``tau`` (B,)) with the report."""
    import json
    from pathlib import Path

    import torch

    from robot_rl.robots import get_robot

    x, y, ks = actuator_dataset(log)
    n = log.q.shape[1]
    cut = int(train_fraction * len(ks)) * n
    net = train_actuator_net(x[:cut], y[:cut], seed=seed)
    with torch.no_grad():
        pred_net = net(torch.as_tensor(x[cut:])).numpy()
    pd = ideal_pd_torque(log, get_robot(log.robot).tau_max)[ks].reshape(-1)[cut:]
    y_test, j_test = y[cut:], np.tile(np.arange(n), len(ks))[cut:]
    h = history_ticks(log.control_dt)

    def errors(pred: np.ndarray) -> dict[str, Any]:
        e = pred - y_test
        return {"rms": round(float(np.sqrt(np.mean(e ** 2))), 4),
                "max": round(float(np.abs(e).max()), 4),
                "rms_per_joint": [round(float(np.sqrt(np.mean(e[j_test == j] ** 2))), 4)
                                  for j in range(n)]}

    report = {"robot": log.robot, "train_samples": int(cut), "test_samples": int(len(y_test)),
              "test_seconds": round((len(ks) - cut // n) * log.control_dt, 2),
              "torque_rms": round(float(np.sqrt(np.mean(y_test ** 2))), 4),
              "ideal_pd": errors(pd), "actuator_net": errors(pred_net),
              "inputs": [f"pos_error[t-{i}]" for i in range(h)]
              + [f"dq[t-{i}]" for i in range(h)] + ["kp", "kd"]
              + [f"joint_{j}" for j in range(n)]}
    report["improvement"] = round(report["ideal_pd"]["rms"] / report["actuator_net"]["rms"], 2)
    if out is not None:
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        torch.onnx.export(net, (torch.as_tensor(x[:1]),), str(d / "actuator_net.onnx"),
                          input_names=["x"], output_names=["tau"],
                          dynamic_axes={"x": {0: "batch"}, "tau": {0: "batch"}},
                          opset_version=17, dynamo=False)
        (d / "actuator_report.json").write_text(json.dumps(report, indent=1))
    return report


__all__ = ["HISTORY_S", "Backlash", "DCMotorModel", "actuator_dataset", "actuator_report",
           "history_ticks", "ideal_pd_torque", "train_actuator_net"]
