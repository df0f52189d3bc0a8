"""Every policy kind → checkpoint → bundle → torch-free runtime: parity, metadata, errors."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_rl.cli import main
from robot_rl.export import export_diffusion, export_residual
from robot_rl.policies.checkpoint import load_policy_checkpoint, save_policy
from robot_rl.policies.diffusion import DiffusionChunkPolicy, DiffusionConfig
from robot_rl.policies.mlp import ActorCritic
from robot_rl.policies.residual import ResidualPolicy
from robot_rl.robots import get_robot
from robot_rl.runtime.chunked import ChunkPolicy
from robot_rl.runtime.loader import open_policy
from robot_rl.runtime.policy import BundleError, OnnxPolicy
from robot_rl.runtime.residual import ResidualStack

ROOT = Path(__file__).resolve().parents[2]
OBS, ACT, H = 30, 6, 8


def layout(n: int) -> list[dict]:
    return [{"name": "obs", "dim": n, "scale": 1.0, "noise": 0.0}]


def diffusion_policy(denoiser: str = "mlp", seed: int = 0) -> DiffusionChunkPolicy:
    """O(1)-gain weights (not the tiny default init) and normalisers fitted to shifted data."""
    torch.manual_seed(seed)
    cfg = DiffusionConfig(obs_dim=OBS, act_dim=ACT, horizon=H, denoiser=denoiser,
                          unet_channels=(32, 64), sample_steps=5)
    p = DiffusionChunkPolicy(cfg)
    for m in p.modules():
        if isinstance(m, torch.nn.Linear | torch.nn.Conv1d):
            torch.nn.init.normal_(m.weight, std=m.weight[0].numel() ** -0.5)
    spec = get_robot("arm6")
    lo, hi = torch.tensor(spec.q_min).float(), torch.tensor(spec.q_max).float()
    acts = lo + (hi - lo) * torch.rand(4096, H, ACT)
    p.fit_normalizers(torch.randn(4096, OBS) * 3.0 + 1.0, acts)
    return p.eval()


def ddim_bundle(tmp: Path, denoiser: str = "mlp",
                n_exec: int = 4) -> tuple[Path, DiffusionChunkPolicy]:
    p = diffusion_policy(denoiser)
    path = export_diffusion(p, tmp / f"diffusion_{denoiser}.onnx", robot="arm6",
                            obs_layout=layout(OBS), chunk_action_type="joint_pos",
                            action_scale=1.0, policy_dt=0.1, n_exec=n_exec)
    return path, p


@pytest.mark.parametrize("denoiser", ["mlp", "unet"])
def test_diffusion_parity_same_noise(tmp_path: Path, denoiser: str) -> None:
    path, p = ddim_bundle(tmp_path, denoiser)
    pol = OnnxPolicy(path)
    assert pol.kind == "chunk" and pol.horizon == H
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(1000, OBS, generator=g) * 3.0 + 1.0
    noise = torch.randn(1000, H, ACT, generator=g)
    with torch.no_grad():
        ref = p(obs, noise).numpy()
        ref64 = copy.deepcopy(p).double()(obs.double(), noise.double()).numpy()
    out = pol.act(obs.numpy(), noise=noise.numpy())
    assert out.shape == (1000, H, ACT) and out.dtype == np.float32
    assert np.abs(ref).max() > 1.0
    assert np.abs(out - ref).max() <= 1e-5
    assert np.abs(out - ref64).max() <= 2.0 * np.abs(ref - ref64).max() + 1e-6
    one = pol.act(obs[0].numpy(), noise=noise[0].numpy())
    np.testing.assert_allclose(one, ref[0], atol=1e-5)


def test_chunk_bundle_metadata_and_noise(tmp_path: Path) -> None:
    path, _ = ddim_bundle(tmp_path)
    pol = OnnxPolicy(path, seed=7)
    meta = pol.metadata
    assert meta["action_type"] == "chunk" and meta["horizon"] == H and meta["act_dim"] == ACT
    assert meta["chunk"] == {"action_type": "joint_pos", "n_exec": 4, "sample_steps": 5,
                             "denoiser": "mlp"}
    pol.check_robot(get_robot("arm6"), layout(OBS))
    obs = np.zeros(OBS, np.float32)
    a, b = pol.act(obs), OnnxPolicy(path, seed=7).act(obs)  # seeded noise: reproducible
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, pol.act(obs))  # fresh noise each call
    with pytest.raises(BundleError, match=r"noise shape \(8, 5\) does not fit"):
        pol.act(obs, noise=np.zeros((8, 5)))
    with pytest.raises(BundleError, match="noise batch size 2 != the observation batch 3"):
        pol.act(np.zeros((3, OBS)), noise=np.zeros((2, H, ACT)))
    with pytest.raises(BundleError, match="noise has non-finite"):
        pol.act(obs, noise=np.full((H, ACT), np.nan))
    with pytest.raises(BundleError, match="takes no base_action"):
        pol.act(obs, base_action=np.zeros(ACT))
    with pytest.raises(BundleError, match="not 'quad12'"):
        pol.check_robot("quad12")


def test_chunk_policy_queue(tmp_path: Path) -> None:
    path, p = ddim_bundle(tmp_path, n_exec=4)
    cp = open_policy(path, control_dt=0.02)
    assert isinstance(cp, ChunkPolicy) and cp.replan_every == 4
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(20, OBS)).astype(np.float32)
    noises = rng.standard_normal((20, H, ACT), dtype=np.float32)
    pushed = {}
    for k in range(20):  # 2 s at the 10 Hz policy rate
        t = round(k * 0.1, 10)
        due = cp.due(t)
        target = cp.step(obs[k], t, noise=noises[k])
        if due:
            with torch.no_grad():
                pushed[k] = p(torch.from_numpy(obs[k])[None], torch.from_numpy(noises[k])[None])[0]
        base = max(i for i in pushed)
        # policy ticks land on chunk steps: the target is chunk step k - base exactly
        np.testing.assert_allclose(target, pushed[base][k - base].numpy(), atol=1e-5)
        # between ticks: linear interpolation to the next chunk step
        mid = cp.action_at(t + 0.05)
        if k - base < 3:
            want = 0.5 * (pushed[base][k - base] + pushed[base][k - base + 1]).numpy()
            np.testing.assert_allclose(mid, want, atol=1e-5)
    assert sorted(pushed) == [0, 4, 8, 12, 16] and cp.inferences == 5 and not cp.starved
    ens = ChunkPolicy(OnnxPolicy(path), temporal_ensemble=True)
    for k in range(6):
        ens.step(obs[k], k * 0.1)
    assert ens.replan_every == 1 and ens.inferences == 6 and ens.executor.n_active == 4
    with pytest.raises(ValueError, match="replan_every must be in"):
        ChunkPolicy(OnnxPolicy(path), replan_every=5)


def residual_parts(seed: int = 0) -> tuple[ActorCritic, ActorCritic]:
    torch.manual_seed(seed)
    base = ActorCritic(OBS, ACT, (64, 64), (32,))
    res = ActorCritic(OBS + ACT, ACT, (64, 64), (32,))
    for net in (base.actor, res.actor):
        for m in net:
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.normal_(m.weight, std=m.in_features ** -0.5)
    base.train()
    base.update_normalizers(torch.randn(512, OBS) * 2 + 1)
    res.train()
    res.update_normalizers(torch.randn(512, OBS + ACT) * 2)
    return base.eval(), res.eval()


def test_residual_embedded_parity_and_composition(tmp_path: Path) -> None:
    base, res = residual_parts()
    rp = ResidualPolicy(res, 0.1, OBS, copy.deepcopy(base))
    path = export_residual(rp, tmp_path / "res.onnx", robot="arm6", obs_layout=layout(OBS),
                           action_type="joint_pos_offset", action_scale=0.5, policy_dt=0.02)
    pol = OnnxPolicy(path)
    assert pol.kind == "single" and pol.metadata["residual"] == {"scale": 0.1, "base": "embedded"}
    obs = torch.randn(1000, OBS) * 2 + 1
    with torch.no_grad():
        ref = rp(obs)
        a_base = base(obs)
        want = a_base + 0.1 * res(torch.cat([obs, a_base], -1))
    torch.testing.assert_close(ref, want)
    assert np.abs(pol.act(obs.numpy()) - ref.numpy()).max() <= 1e-5
    # the base is frozen: no gradient reaches it, and train() keeps it in eval mode
    rp.train()
    assert rp.base is not None and not rp.base.training
    rp.distribution(obs[:8]).log_prob(torch.zeros(8, ACT)).sum().backward()
    assert all(p.grad is None for p in rp.base.parameters())
    assert any(p.grad is not None for p in rp.residual.parameters())


def test_residual_over_an_external_chunk_base(tmp_path: Path) -> None:
    base_path, _ = ddim_bundle(tmp_path, n_exec=4)
    _, res = residual_parts()
    rp = ResidualPolicy(res, 0.05, OBS)
    path = export_residual(rp, tmp_path / "res.onnx", robot="arm6", obs_layout=layout(OBS),
                           action_type="joint_pos", action_scale=1.0, policy_dt=0.1,
                           base_bundle=base_path)
    stack = open_policy(path)
    assert isinstance(stack, ResidualStack) and isinstance(stack.base, ChunkPolicy)
    obs = np.random.default_rng(0).normal(size=(6, OBS)).astype(np.float32)
    for k in range(6):
        a = stack.step(obs[k], k * 0.1)
        a_base = stack.base.action_at(k * 0.1)
        with torch.no_grad():
            want = rp(torch.from_numpy(obs[k])[None],
                      torch.from_numpy(a_base.astype(np.float32))[None])[0].numpy()
        np.testing.assert_allclose(a, want, atol=1e-5)
    assert stack.base.inferences == 2
    # a different base is refused by hash; a missing one names the file to copy
    other = export_diffusion(diffusion_policy(seed=1), tmp_path / "other.onnx", robot="arm6",
                             obs_layout=layout(OBS), chunk_action_type="joint_pos",
                             action_scale=1.0, policy_dt=0.1)
    base_path.write_bytes(other.read_bytes())
    with pytest.raises(BundleError, match="SHA-256 differs"):
        ResidualStack.from_bundle(path)
    base_path.unlink()
    with pytest.raises(BundleError, match="copy diffusion_mlp.onnx next to the residual"):
        ResidualStack.from_bundle(path)
    with pytest.raises(BundleError, match="needs base_action"):
        OnnxPolicy(path).act(obs[0])


def test_export_argument_errors(tmp_path: Path) -> None:
    _, res = residual_parts()
    with pytest.raises(ValueError, match="external base: pass base_bundle"):
        export_residual(ResidualPolicy(res, 0.1, OBS), tmp_path / "r.onnx", robot="arm6",
                        obs_layout=layout(OBS), action_type="joint_pos", action_scale=1.0,
                        policy_dt=0.1)
    with pytest.raises(ValueError, match="chunk_action_type must be a per-step type"):
        export_diffusion(diffusion_policy(), tmp_path / "d.onnx", robot="arm6",
                         obs_layout=layout(OBS), chunk_action_type="chunk", action_scale=1.0,
                         policy_dt=0.1)
    with pytest.raises(ValueError, match="n_exec must be in"):
        export_diffusion(diffusion_policy(), tmp_path / "d.onnx", robot="arm6",
                         obs_layout=layout(OBS), chunk_action_type="joint_pos",
                         action_scale=1.0, policy_dt=0.1, n_exec=9)
    with pytest.raises(ValueError, match="must be obs_dim"):
        ResidualPolicy(res, 0.1, OBS + ACT)


def test_checkpoints_of_every_kind_export_from_the_cli(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    base, res = residual_parts()
    diff = diffusion_policy()
    common = {"robot": "arm6", "obs_layout": layout(OBS), "action_scale": 1.0,
              "policy_dt": 0.1, "task": "arm6-lift"}
    save_policy(tmp_path / "bc.pt", diff, action_type="joint_pos", algorithm="diffusion_bc",
                n_exec=4, **common)
    save_policy(tmp_path / "res.pt", ResidualPolicy(res, 0.05, OBS), action_type="joint_pos",
                algorithm="residual_ppo", base_bundle="bc.onnx", **common)
    save_policy(tmp_path / "emb.pt", ResidualPolicy(res, 0.05, OBS, copy.deepcopy(base)),
                action_type="joint_pos_offset", algorithm="residual_ppo", **common)
    loaded, deploy, kind = load_policy_checkpoint(tmp_path / "emb.pt")
    assert kind == "residual" and deploy["algorithm"] == "residual_ppo"
    obs = torch.randn(4, OBS)
    with torch.no_grad():
        torch.testing.assert_close(loaded(obs), ResidualPolicy(res, 0.05, OBS, base)(obs))
    for name in ("bc", "res", "emb"):  # bc first: the residual's base bundle must exist
        assert main(["export", str(tmp_path / f"{name}.pt")]) == 0
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert out["bundle"] == str(tmp_path / f"{name}.onnx") and out["robot"] == "arm6"
    chunk = OnnxPolicy(tmp_path / "bc.onnx")
    assert chunk.metadata["algorithm"] == "diffusion_bc" and chunk.metadata["chunk"]["n_exec"] == 4
    g = np.random.default_rng(0)
    o, n = g.normal(size=OBS).astype(np.float32), g.standard_normal((H, ACT), dtype=np.float32)
    with torch.no_grad():
        ref = diff(torch.from_numpy(o)[None], torch.from_numpy(n)[None])[0].numpy()
    np.testing.assert_allclose(chunk.act(o, noise=n), ref, atol=1e-5)
    assert isinstance(open_policy(tmp_path / "res.onnx"), ResidualStack)
    assert main(["inspect", str(tmp_path / "bc.onnx"), "--robot", "arm6"]) == 0
    assert "chunk" in capsys.readouterr().out


def test_chunk_and_residual_runtime_never_import_torch(tmp_path: Path) -> None:
    base_path, _ = ddim_bundle(tmp_path)
    _, res = residual_parts()
    path = export_residual(ResidualPolicy(res, 0.05, OBS), tmp_path / "res.onnx", robot="arm6",
                           obs_layout=layout(OBS), action_type="joint_pos", action_scale=1.0,
                           policy_dt=0.1, base_bundle=base_path)
    code = ("import sys, numpy as np\n"
            "from robot_rl.runtime.loader import open_policy\n"
            f"stack = open_policy({str(path)!r}, control_dt=0.02)\n"
            "for k in range(5):\n"
            f"    a = stack.step(np.zeros({OBS}, np.float32), k * 0.1)\n"
            "    b = stack.base.action_at(k * 0.1 + 0.02)\n"
            f"assert a.shape == ({ACT},) and np.isfinite(a).all()\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
