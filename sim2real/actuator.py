"""The learned actuator model: what lies between a motor driver's torque command and the
joint, fitted on logged data (the physical model is `sim2real.motor.DCMotorModel`).

`ActuatorNet` (torch, training side): an MLP from 15 ms of position errors and velocities
  (plus kp, kd and the joint's one-hot) to the torque the joint delivers (Hwangbo et al.
  2019; walk-these-ways), fitted on logged data. `actuator_dataset` builds its inputs from
  a `SysIdLog` that holds the delivered torque (a torque sensor on the bench; the proxy's
  ground truth here); `ideal_pd_torque` is the baseline it must beat.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.control.pd import pd_torque
from robot_rl.robots import get_robot
from sim2real.log import SKIP_S, SysIdError, SysIdLog

HISTORY_S = 0.015  # s of position-error and velocity history the network sees


def history_ticks(control_dt: float) -> int:
    """Control ticks of history: 15 ms, at least 3 (quad12 at 200 Hz: 3; arm6 at 500 Hz: 8)."""
    return max(3, round(HISTORY_S / control_dt))


def ideal_pd_torque(log: SysIdLog, tau_max: np.ndarray) -> np.ndarray:
    """The ideal actuator: the PD law (`robot_rl.control.pd.pd_torque`) on the logged state
    and command, clipped at the torque limit; shape (T, n). Row k predicts the torque
    delivered at tick k + 1 (the command of row k acts until then)."""
    return pd_torque(log.q_target, log.q, log.dq, log.kp, log.kd, log.dq_target, log.tau_ff,
                     tau_max)


def actuator_dataset(log: SysIdLog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs (N, 2 h + 2 + n), targets (N,), ticks (N_t,)) with N = N_t n, tick-major over
    all joints: the position errors and velocities of the last h = `history_ticks` ticks, kp
    and kd, the joint as a one-hot (one network for all joints, which differ in strength and
    friction), and the delivered torque at the next tick (``log.tau_delivered`` is
    required); the soft start (`sim2real.log.SKIP_S`) left out."""
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
    # lazy: torch is the optional training dependency; the rest of the module works without
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


def actuator_report(log: SysIdLog, train_fraction: float = 0.75, seed: int = 0,
                    out: str | None = None) -> dict[str, Any]:
    """Fit an `ActuatorNet` on the first ``train_fraction`` of ``log`` and compare its
    torque prediction with the ideal PD model's on the held-out rest (RMS and max error
    [N m], per joint and overall). With ``out``, the network is written there as ONNX
    (input ``x`` (B, F), output ``tau`` (B,)) with the report."""
    # lazy: torch is the optional training dependency; the rest of the module works without
    import torch

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


__all__ = ["HISTORY_S", "actuator_dataset", "actuator_report", "history_ticks",
           "ideal_pd_torque", "train_actuator_net"]
