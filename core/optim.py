"""Adam, as torch.optim.Adam computes it on the CPU, without torch.optim's compile hooks.

Every `torch.optim.Optimizer.step` imports torch._dynamo (about 800 modules,
~70 MB resident, a second or more of start-up) only to mark itself for
torch.compile. A training worker never compiles, and that import would be a
large share of its peak memory. This is the same update, op for op, as torch's
single-tensor Adam (the one it uses for CPU tensors), with the default
options (no weight decay, amsgrad, maximize); results are equal to the bit
(tests/core check it). `state_dict()` has torch's layout, so checkpoints
load into either.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

# torch.optim.Adam's param-group options, as its state_dict carries them.
_TORCH_GROUP = {"weight_decay": 0, "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                "differentiable": False, "fused": None, "decoupled_weight_decay": False}


class Adam:
    """Adam with torch.optim.Adam's defaults and numerics; one parameter group."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.state: list[dict[str, torch.Tensor]] = [{} for _ in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        for p, state in zip(self.params, self.state, strict=True):
            if p.grad is None:
                continue
            if not state:
                state["step"] = torch.tensor(0.0)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            grad, exp_avg, exp_avg_sq = p.grad, state["exp_avg"], state["exp_avg_sq"]
            state["step"] += 1
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step = state["step"].item()
            step_size = self.lr / (1 - beta1**step)
            denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2**step)).add_(self.eps)
            p.addcdiv_(exp_avg, denom, value=-step_size)

    def state_dict(self) -> dict[str, Any]:
        """torch.optim.Adam's layout: {"state": {index: {...}}, "param_groups": [...]}."""
        group = {"lr": self.lr, "betas": self.betas, "eps": self.eps, **_TORCH_GROUP,
                 "params": list(range(len(self.params)))}
        return {"state": {i: dict(s) for i, s in enumerate(self.state) if s}, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state saved by this class or by torch.optim.Adam (defaults, one group)."""
        (group,) = state_dict["param_groups"]
        options = {k: group.get(k, v) for k, v in _TORCH_GROUP.items()}
        if {k: v for k, v in options.items() if k not in ("foreach", "fused")} != {
                k: v for k, v in _TORCH_GROUP.items() if k not in ("foreach", "fused")}:
            raise ValueError(f"unsupported Adam options in state: {options}")
        if len(group["params"]) != len(self.params):
            raise ValueError(f"state has {len(group['params'])} parameters, this optimizer {len(self.params)}")
        self.lr, self.betas, self.eps = float(group["lr"]), tuple(group["betas"]), float(group["eps"])
        saved = state_dict["state"]
        self.state = []
        for index, p in zip(group["params"], self.params, strict=True):
            entry = saved.get(index) or saved.get(str(index)) or {}
            # As torch keeps it: the step count on the CPU, the moments beside their parameter.
            self.state.append({k: v.to(dtype=torch.float32).clone() if k == "step" else v.to(p).clone()
                               for k, v in entry.items()})
