#!/usr/bin/python3
"""PyTorch autograd fixtures for qkv's gradients, nn blocks and optimizer.

Run from the repository root with Debian's torch (python3-torch 1.13):

    /usr/bin/python3 tools/make_autograd_fixtures.py

It writes tests/parity/fixtures/autograd.json, read by tests/parity/autograd.test.ts. CI has no torch: the fixture is
committed. The script is deterministic (one torch.manual_seed, cases built in a fixed order).

Encoding, as tools/make_fixtures.py: every tensor is {"dtype", "shape", "data"}, data being base64 of the
little-endian row-major elements. Inputs (parameters, inputs, loss weights, gradients fed to the optimizer) are
float32, exactly what qkv is fed; expected values (losses, gradients, optimizer results) are float64, computed from
those float32 values by torch in float64 (modules converted with .double()).

Cases:
- encoder_layer: nn.TransformerEncoderLayer(norm_first=True, batch_first=True, activation="gelu", dropout=0) under a
  causal mask and a key padding mask; loss = sum(output * w).
- mha_ln_gelu_ce: cross-attention nn.MultiheadAttention (kdim != vdim != embed_dim, add_bias_kv, add_zero_attn, key
  padding mask) -> LayerNorm -> GELU -> Linear -> cross_entropy (ignore_index, label_smoothing 0.1).
- tiny_lm: Embedding + sinusoidal positions -> encoder layer (causal) -> LayerNorm -> Linear -> cross_entropy.
- adamw: torch.optim.AdamW steps on given gradients (custom hyper-parameters, and PyTorch's defaults).
- clip: torch.nn.utils.clip_grad_norm_ with the 2-norm and the inf-norm, clipping and not clipping.
"""

import base64
import json
import math
import os
import sys

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    sys.exit("make_autograd_fixtures.py needs torch: run it with Debian's /usr/bin/python3 (python3-torch)")

SEED = 4321
OUT = os.path.join("tests", "parity", "fixtures", "autograd.json")


def encode(t, dtype):
    np_dtype = {"float32": "<f4", "float64": "<f8"}[dtype]
    arr = t.detach().cpu().contiguous().numpy().astype(np_dtype)
    return {"dtype": dtype, "shape": list(t.shape), "data": base64.b64encode(arr.tobytes()).decode("ascii")}


def f32(t):
    return encode(t.float(), "float32")


def f64(t):
    return encode(t.double(), "float64")


def randomize(module):
    """Every parameter re-drawn as float32 normal * 0.3 (LayerNorm weights around 1), so no bias is zero."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn_like(p) * 0.3)
            if ("norm" in name or name.startswith("ln")) and name.endswith("weight"):
                p.add_(1.0)


def sinusoidal(length, dim):
    """qkv's sinusoidalPositionalEncoding, in float64."""
    pe = torch.zeros(length, dim, dtype=torch.float64)
    for pos in range(length):
        for c in range(dim):
            i2 = c - (c % 2)
            angle = pos / math.pow(10000, i2 / dim)
            pe[pos, c] = math.sin(angle) if c % 2 == 0 else math.cos(angle)
    return pe


def grads_of(named_params):
    return {name: f64(p.grad) for name, p in named_params}


def encoder_layer_case():
    B, N, D, H, Fh = 2, 5, 8, 2, 16
    layer = nn.TransformerEncoderLayer(D, H, dim_feedforward=Fh, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
    randomize(layer)
    state = {k: f32(v) for k, v in layer.state_dict().items()}
    x = torch.randn(B, N, D)
    w = torch.randn(B, N, D)
    padding = torch.zeros(B, N, dtype=torch.bool)
    padding[1, N - 1] = True  # the last key of batch 1 is padding
    causal = torch.triu(torch.ones(N, N, dtype=torch.bool), 1)

    layer = layer.double().train()
    xd = x.double().requires_grad_(True)
    out = layer(xd, src_mask=causal, src_key_padding_mask=padding)
    loss = (out * w.double()).sum()
    loss.backward()
    return {
        "name": "encoder_layer",
        "config": {"dModel": D, "nHead": H, "dimFeedforward": Fh},
        "stateDict": state,
        "inputs": {"x": f32(x), "w": f32(w), "mask": f32((~padding).float().reshape(B, 1, 1, N))},
        "options": {"causal": True},
        "expected": {"loss": loss.item(), "output": f64(out), "grads": grads_of(layer.named_parameters()),
                     "inputGrads": {"x": f64(xd.grad)}},
    }


class MhaStack(nn.Module):
    def __init__(self, D, H, kdim, vdim, V):
        super().__init__()
        self.mha = nn.MultiheadAttention(D, H, batch_first=True, kdim=kdim, vdim=vdim, add_bias_kv=True,
                                         add_zero_attn=True)
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, V)


def mha_stack_case():
    B, N, S, D, H, kdim, vdim, V = 2, 4, 6, 8, 2, 5, 3, 7
    stack = MhaStack(D, H, kdim, vdim, V)
    randomize(stack)
    state = {k: f32(v) for k, v in stack.state_dict().items()}
    q, k, v = torch.randn(B, N, D), torch.randn(B, S, kdim), torch.randn(B, S, vdim)
    padding = torch.zeros(B, S, dtype=torch.bool)
    padding[0, 1] = True
    padding[1, 4:] = True
    targets = torch.randint(0, V, (B, N))
    targets[1, 2] = -100

    stack = stack.double().train()
    qd, kd, vd = (t.double().requires_grad_(True) for t in (q, k, v))
    attn, _ = stack.mha(qd, kd, vd, key_padding_mask=padding, need_weights=False)
    logits = stack.head(F.gelu(stack.norm(attn)))
    loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100, label_smoothing=0.1)
    loss.backward()
    return {
        "name": "mha_ln_gelu_ce",
        "config": {"embedDim": D, "numHeads": H, "kdim": kdim, "vdim": vdim, "vocab": V},
        "stateDict": state,
        "inputs": {"query": f32(q), "key": f32(k), "value": f32(v),
                   "mask": f32((~padding).float().reshape(B, 1, 1, S)), "targets": f32(targets.float())},
        "options": {"ignoreIndex": -100, "labelSmoothing": 0.1},
        "expected": {"loss": loss.item(), "grads": grads_of(stack.named_parameters()),
                     "inputGrads": {"query": f64(qd.grad), "key": f64(kd.grad), "value": f64(vd.grad)}},
    }


class TinyLm(nn.Module):
    def __init__(self, V, D, H, Fh):
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.layer = nn.TransformerEncoderLayer(D, H, dim_feedforward=Fh, dropout=0.0, activation="gelu",
                                                batch_first=True, norm_first=True)
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, V)


def tiny_lm_case():
    B, N, V, D, H, Fh = 2, 6, 11, 8, 2, 16
    lm = TinyLm(V, D, H, Fh)
    randomize(lm)
    state = {k: f32(v) for k, v in lm.state_dict().items()}
    tokens = torch.randint(0, V, (B, N))
    targets = torch.randint(0, V, (B, N))
    causal = torch.triu(torch.ones(N, N, dtype=torch.bool), 1)

    lm = lm.double().train()
    x = lm.embed(tokens) + sinusoidal(N, D)
    h = lm.layer(x, src_mask=causal)
    logits = lm.head(lm.norm(h))
    loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
    loss.backward()
    return {
        "name": "tiny_lm",
        "config": {"vocab": V, "dModel": D, "nHead": H, "dimFeedforward": Fh},
        "stateDict": state,
        "inputs": {"tokens": f32(tokens.float()), "targets": f32(targets.float())},
        "options": {"causal": True},
        "expected": {"loss": loss.item(), "grads": grads_of(lm.named_parameters())},
    }


def adamw_case(name, kwargs, steps):
    shapes = [(3, 4), (5,)]
    params = [torch.randn(*s) for s in shapes]
    grads = [[torch.randn(*s) for s in shapes] for _ in range(steps)]
    ps = [p.double().clone().requires_grad_(True) for p in params]
    opt = torch.optim.AdamW(ps, **kwargs)
    after = []
    for step in range(steps):
        for p, g in zip(ps, grads[step]):
            p.grad = g.double().clone()
        opt.step()
        after.append([f64(p) for p in ps])
    options = {}
    if "lr" in kwargs:
        options["lr"] = kwargs["lr"]
    if "betas" in kwargs:
        options["betas"] = list(kwargs["betas"])
    if "eps" in kwargs:
        options["eps"] = kwargs["eps"]
    if "weight_decay" in kwargs:
        options["weightDecay"] = kwargs["weight_decay"]
    return {"name": name, "options": options, "params": [f32(p) for p in params],
            "grads": [[f32(g) for g in gs] for gs in grads], "expected": after}


def clip_case(name, max_norm, norm_type):
    shapes = [(3, 4), (5,), (2, 2)]
    grads = [torch.randn(*s) for s in shapes]
    ps = [torch.zeros(*s, dtype=torch.float64, requires_grad=True) for s in shapes]
    for p, g in zip(ps, grads):
        p.grad = g.double().clone()
    norm = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    return {"name": name, "maxNorm": max_norm, "normType": "inf" if norm_type == math.inf else norm_type,
            "grads": [f32(g) for g in grads], "expected": {"norm": norm.item(), "grads": [f64(p.grad) for p in ps]}}


def main():
    torch.manual_seed(SEED)
    fixture = {
        "generator": "tools/make_autograd_fixtures.py",
        "torch": torch.__version__,
        "seed": SEED,
        "encoding": "tensors are {dtype, shape, data}: base64 of little-endian elements; inputs float32, expected "
                    "float64 computed by torch in float64 from the float32 inputs",
        "modules": [encoder_layer_case(), mha_stack_case(), tiny_lm_case()],
        "adamw": [
            adamw_case("custom", {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1}, 4),
            adamw_case("defaults", {}, 3),
        ],
        "clip": [clip_case("l2_clips", 0.5, 2.0), clip_case("l2_no_clip", 100.0, 2.0),
                 clip_case("inf_clips", 0.3, math.inf)],
    }
    text = json.dumps(fixture, separators=(",", ":"))
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}: {len(text)} bytes")


if __name__ == "__main__":
    main()
