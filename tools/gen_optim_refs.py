"""PyTorch reference values for tests/test_optim.c (models/optim.c).

Writes, in tools/refio.py's format:
  tests/data/optim_steps.txt   optimizer trajectories
  tests/data/optim_sched.txt   learning-rate schedules

Trajectory case "<opt>_<variant>_<clip>_<dtype>":
  inputs   hyper f64 [12]: kind (0 sgd, 1 adam, 2 adamw), lr, momentum, dampening,
                           nesterov, beta1, beta2, eps, weight_decay,
                           clip mode (0 none, 1 norm, 2 value), clip value, steps
           p0 [3,4], p1 [5]             initial parameters
           g0 [S,3,4], g1 [S,5]         the gradient given at each step
  outputs  p0 [S,3,4], p1 [S,5]         parameters after each step
           norm f64 [S]                 clip_grad_norm_'s return (0 unless mode 1)
           state of each parameter after the last step, p0 then p1:
             sgd with momentum: momentum_buffer; adam/adamw: exp_avg, exp_avg_sq

Schedule case "<name>":
  inputs   hyper f64 [8]: kind (0 constant, 1 step, 2 cosine), base_lr,
                          step_size, gamma, t_max, eta_min, warmup, steps
  outputs  lr f64 [steps]: the learning rate used at step 0..steps-1

Run: /usr/bin/python3 tools/gen_optim_refs.py   (from the repository root)
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refio import RefWriter  # noqa: E402

STEPS = 4
# Gradient scale per step: with max_norm 1 some steps are clipped, some not.
SCALES = [1.5, 0.3, 2.0, 0.8]

OPTS = [
    # name, kind, lr, momentum, dampening, nesterov, beta1, beta2, eps, wd
    ("sgd_plain", 0, 0.1, 0.0, 0.0, 0, 0.9, 0.999, 1e-8, 0.0),
    ("sgd_momentum", 0, 0.1, 0.9, 0.0, 0, 0.9, 0.999, 1e-8, 0.0),
    ("sgd_dampening", 0, 0.05, 0.8, 0.3, 0, 0.9, 0.999, 1e-8, 0.0),
    ("sgd_nesterov", 0, 0.1, 0.9, 0.0, 1, 0.9, 0.999, 1e-8, 0.0),
    ("sgd_wd", 0, 0.1, 0.5, 0.0, 0, 0.9, 0.999, 1e-8, 0.05),
    ("adam", 1, 0.01, 0.0, 0.0, 0, 0.9, 0.999, 1e-8, 0.0),
    ("adam_wd", 1, 0.02, 0.0, 0.0, 0, 0.8, 0.99, 1e-6, 0.1),
    ("adamw", 2, 0.01, 0.0, 0.0, 0, 0.9, 0.999, 1e-8, 0.01),
    ("adamw_wd", 2, 0.02, 0.0, 0.0, 0, 0.85, 0.98, 1e-7, 0.2),
]
CLIPS = [("noclip", 0, 0.0), ("clipnorm", 1, 2.0), ("clipvalue", 2, 0.3)]


def make_optimizer(kind, params, lr, mom, damp, nest, b1, b2, eps, wd):
    if kind == 0:
        return torch.optim.SGD(params, lr=lr, momentum=mom, dampening=damp,
                               nesterov=bool(nest), weight_decay=wd, foreach=False)
    if kind == 1:
        return torch.optim.Adam(params, lr=lr, betas=(b1, b2), eps=eps,
                                weight_decay=wd, foreach=False)
    return torch.optim.AdamW(params, lr=lr, betas=(b1, b2), eps=eps,
                             weight_decay=wd, foreach=False)


def trajectory(w, dtype, name, opt, clip):
    _, kind, lr, mom, damp, nest, b1, b2, eps, wd = opt
    clip_name, clip_mode, clip_val = clip
    gen = torch.Generator().manual_seed(1234)
    p0_init = torch.randn(3, 4, generator=gen, dtype=torch.float64).to(dtype)
    p1_init = torch.randn(5, generator=gen, dtype=torch.float64).to(dtype)
    g0 = torch.stack([torch.randn(3, 4, generator=gen, dtype=torch.float64) * s
                      for s in SCALES]).to(dtype)
    g1 = torch.stack([torch.randn(5, generator=gen, dtype=torch.float64) * s
                      for s in SCALES]).to(dtype)
    p0 = p0_init.clone().requires_grad_(True)
    p1 = p1_init.clone().requires_grad_(True)
    o = make_optimizer(kind, [p0, p1], lr, mom, damp, nest, b1, b2, eps, wd)
    traj0, traj1, norms = [], [], []
    for k in range(STEPS):
        p0.grad = g0[k].clone()
        p1.grad = g1[k].clone()
        norm = 0.0
        if clip_mode == 1:
            norm = float(torch.nn.utils.clip_grad_norm_([p0, p1], clip_val))
        elif clip_mode == 2:
            torch.nn.utils.clip_grad_value_([p0, p1], clip_val)
        o.step()
        traj0.append(p0.detach().clone())
        traj1.append(p1.detach().clone())
        norms.append(norm)
    hyper = torch.tensor([kind, lr, mom, damp, nest, b1, b2, eps, wd, clip_mode, clip_val,
                          STEPS], dtype=torch.float64)
    outs = [torch.stack(traj0), torch.stack(traj1), torch.tensor(norms, dtype=torch.float64)]
    for p in (p0, p1):
        st = o.state[p]
        if kind == 0 and mom != 0:
            outs.append(st["momentum_buffer"])
        elif kind != 0:
            outs += [st["exp_avg"], st["exp_avg_sq"]]
    dname = "f64" if dtype == torch.float64 else "f32"
    w.case("%s_%s_%s" % (name, clip_name, dname), [hyper, p0_init, p1_init, g0, g1], outs)


def warmup_factor(step, warmup):
    return (step + 1) / warmup if step < warmup else 1.0


def schedule(w, name, kind, base_lr, step_size, gamma, t_max, eta_min, warmup, steps):
    p = torch.zeros(1, requires_grad=True)
    o = torch.optim.SGD([p], lr=base_lr)
    if warmup == 0 and kind == 1:
        sch = torch.optim.lr_scheduler.StepLR(o, step_size=step_size, gamma=gamma)
    elif warmup == 0 and kind == 2:
        sch = torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=t_max, eta_min=eta_min)
    else:
        # The warm-up as a LambdaLR; after it, the closed form of the decay
        # (StepLR / CosineAnnealingLR) counted from the end of the warm-up.
        def factor(s):
            if s < warmup:
                return warmup_factor(s, warmup)
            t = s - warmup
            if kind == 1:
                return gamma ** (t // step_size)
            if kind == 2:
                return (eta_min + (base_lr - eta_min) *
                        (1 + math.cos(t * math.pi / t_max)) / 2) / base_lr
            return 1.0
        sch = torch.optim.lr_scheduler.LambdaLR(o, factor)
    lrs = []
    for _ in range(steps):
        lrs.append(o.param_groups[0]["lr"])
        o.step()
        sch.step()
    hyper = torch.tensor([kind, base_lr, step_size, gamma, t_max, eta_min, warmup, steps],
                         dtype=torch.float64)
    w.case(name, [hyper], [torch.tensor(lrs, dtype=torch.float64)])


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data = os.path.join(root, "tests", "data")
    os.makedirs(data, exist_ok=True)
    torch.set_num_threads(1)

    w = RefWriter(os.path.join(data, "optim_steps.txt"))
    for dtype in (torch.float64, torch.float32):
        for opt in OPTS:
            for clip in CLIPS:
                trajectory(w, dtype, opt[0], opt, clip)
    w.close()

    w = RefWriter(os.path.join(data, "optim_sched.txt"))
    schedule(w, "steplr", 1, 0.1, 3, 0.5, 0, 0.0, 0, 12)
    schedule(w, "steplr_gamma09", 1, 0.05, 1, 0.9, 0, 0.0, 0, 10)
    schedule(w, "cosine", 2, 0.1, 0, 0.0, 5, 0.0, 0, 17)
    schedule(w, "cosine_etamin", 2, 0.2, 0, 0.0, 7, 0.01, 0, 20)
    schedule(w, "warmup_constant", 0, 0.3, 0, 0.0, 0, 0.0, 4, 8)
    schedule(w, "warmup_steplr", 1, 0.1, 2, 0.3, 0, 0.0, 3, 10)
    schedule(w, "warmup_cosine", 2, 0.1, 0, 0.0, 6, 0.001, 5, 16)
    w.close()


if __name__ == "__main__":
    main()
