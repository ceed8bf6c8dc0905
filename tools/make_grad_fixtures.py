#!/usr/bin/python3
"""PyTorch autograd fixtures for qkv's scaledDotProductAttentionBackward.

Run from the repository root with Debian's torch (python3-torch 1.13; `bash tools/install-torch.sh`):

    /usr/bin/python3 tools/make_grad_fixtures.py

It writes tests/parity/fixtures/sdpa-grad.json: the cases and, under "manifest", the torch version, the seed and every
case's shapes, options and checks. CI has no torch: the file is committed and tests/parity/sdpa-grad.test.ts only
reads it. The script is deterministic (one torch.manual_seed, cases in a fixed order, one thread).

Encoding: every tensor is {"dtype", "shape", "data"}, data being base64 of the little-endian row-major elements.
Inputs (query, key, value, gradOutput, mask, bias) are float32, exactly what qkv is fed; expected gradients are
float64, computed by autograd in float64 from those float32 inputs.

The math is written out by hand with plain torch ops, the way PyTorch's documentation states SDPA:
grouped-query heads by repeat_interleave, batch broadcasting by expand, Q·Kᵀ by matmul, softcap by tanh, blocked keys
by masked_fill(-inf), softmax, then ·V; `.backward(gradOutput)` gives the gradients, summed by autograd over the
expanded and repeated dims. One deliberate difference: a query row with no allowed key. PyTorch's plain math gives
NaN there (pytorch#41508), and the NaN then reaches dV of every key through Pᵀ·dO (and dQ, dK and dBias when a
-inf bias rather than masked_fill empties the row), so zeroing the dQ row afterwards would not be enough. qkv gives
output 0 and gradient 0 for such a row, and the script computes that with the usual double where: the row's scores
are set to 0 before softmax and its weights to 0 after, so nothing flows back from it. For each such case the script first checks that the plain math does give NaN (emptyRows > 0,
torchPlainGivesNaN); every case is also checked with torch.autograd.gradcheck, and against torch 1.13's private
F._scaled_dot_product_attention where its semantics coincide (checkedAgainstTorchSdpa).
"""

import base64
import json
import math
import os
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit("make_grad_fixtures.py needs torch: run it with Debian's /usr/bin/python3 (python3-torch)")

SEED = 4321
OUT = os.path.join("tests", "parity", "fixtures", "sdpa-grad.json")
F64 = torch.float64
F32 = torch.float32


def encode(t, dtype):
    """A tensor as {"dtype", "shape", "data"}: base64 of little-endian float32 or float64 elements."""
    np_dtype = {"float32": "<f4", "float64": "<f8"}[dtype]
    arr = t.detach().cpu().contiguous().numpy().astype(np_dtype)
    return {"dtype": dtype, "shape": list(t.shape), "data": base64.b64encode(arr.tobytes()).decode("ascii")}


# ----------------------------------------------------------------------------------------------------------------
# The SDPA math, by hand


def allowed_keys(causal, mask, N, S):
    """[..., N, S] bool: which keys each query may attend (causal rule and mask, nonzero = may attend)."""
    i = torch.arange(N).unsqueeze(-1)  # [N, 1]
    j = torch.arange(S).unsqueeze(0)  # [1, S]
    if causal in (True, "top-left"):
        allowed = j <= i
    elif causal == "bottom-right":
        allowed = j <= i + S - N
    else:
        allowed = torch.ones(N, S, dtype=torch.bool)
    if mask is not None:
        allowed = allowed & (mask != 0)
    return allowed


def sdpa(q, k, v, mask=None, bias=None, causal=False, scale=None, softcap=0.0, empty_rows_give_zero=True):
    """softmax(softcap(Q·Kᵀ·scale) + bias, masked)·V over the broadcast batch. q [..., N, d], k [..., S, d],
    v [..., S, dv], all float64. Returns output [...batch, N, dv] and the empty-row flags [...batch, N, 1]."""
    if q.dim() >= 3 and k.dim() >= 3:
        H, Hkv = q.shape[-3], k.shape[-3]
        if Hkv not in (1, H) and H % Hkv == 0:  # grouped-query: query head h reads key/value head h // (H / Hkv)
            k = k.repeat_interleave(H // Hkv, dim=-3)  # [..., H, S, d]
            v = v.repeat_interleave(H // Hkv, dim=-3)  # [..., H, S, dv]
    N, d = q.shape[-2:]
    S, dv = v.shape[-2:]
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    q = q.expand(*batch, N, d)  # [...batch, N, d]
    k = k.expand(*batch, S, d)  # [...batch, S, d]
    v = v.expand(*batch, S, dv)  # [...batch, S, dv]

    scale = 1.0 / math.sqrt(d) if scale is None else scale
    s = torch.matmul(q, k.transpose(-2, -1)) * scale  # [...batch, N, S]
    if softcap > 0:
        s = softcap * torch.tanh(s / softcap)
    if bias is not None:
        s = s + bias
    s = s.masked_fill(~allowed_keys(causal, mask, N, S), -math.inf)
    empty = (s == -math.inf).all(-1, keepdim=True)  # [...batch, N, 1]: no key can be attended
    if empty_rows_give_zero:
        s = s.masked_fill(empty, 0.0)  # keeps softmax and its backward finite on those rows ...
    w = torch.softmax(s, dim=-1)  # [...batch, N, S]
    if empty_rows_give_zero:
        w = w.masked_fill(empty, 0.0)  # ... and this makes the row's output 0 and its gradient 0
    return torch.matmul(w, v), empty  # [...batch, N, dv]


def gradients(c, empty_rows_give_zero=True):
    """dL/d(query, key, value, bias) by autograd in float64, for L = Σ gradOutput ⊙ output."""
    leaves = {name: c[name].to(F64).requires_grad_() for name in ("q", "k", "v")}
    o = c["opts"]
    bias = None if o.get("bias") is None else o["bias"].to(F64).requires_grad_()
    out, empty = sdpa(leaves["q"], leaves["k"], leaves["v"], mask=o.get("mask"), bias=bias,
                      causal=o.get("causal", False), scale=o.get("scale"), softcap=o.get("softcap", 0.0),
                      empty_rows_give_zero=empty_rows_give_zero)
    out.backward(c["go"].to(F64))
    grads = {"gradQuery": leaves["q"].grad, "gradKey": leaves["k"].grad, "gradValue": leaves["v"].grad}
    if bias is not None:
        grads["gradBias"] = bias.grad
    return grads, int(empty.sum())


def gradcheck(c):
    """torch.autograd.gradcheck (float64 finite differences) of the math above, with qkv's empty-row rule."""
    o = c["opts"]
    names = ["q", "k", "v"] + (["bias"] if o.get("bias") is not None else [])
    inputs = [(c[n] if n != "bias" else o["bias"]).to(F64).requires_grad_() for n in names]

    def f(q, k, v, bias=None):
        return sdpa(q, k, v, mask=o.get("mask"), bias=bias, causal=o.get("causal", False), scale=o.get("scale"),
                    softcap=o.get("softcap", 0.0))[0]

    return torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


def check_against_torch_sdpa(c, grads, empty_rows):
    """Where torch 1.13's private F._scaled_dot_product_attention means the same (default scale, no bias or softcap,
    top-left causal, no empty row), its autograd gradients must equal the ones written out here."""
    o = c["opts"]
    if empty_rows > 0:
        return False
    if o.get("bias") is not None or o.get("scale") is not None or o.get("softcap", 0) > 0:
        return False
    if o.get("causal") == "bottom-right":
        return False
    q, k, v = (c[n].to(F64).requires_grad_() for n in ("q", "k", "v"))
    kk, vv = k, v
    if q.dim() >= 3 and k.dim() >= 3 and k.shape[-3] not in (1, q.shape[-3]) and q.shape[-3] % k.shape[-3] == 0:
        kk = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)
        vv = v.repeat_interleave(q.shape[-3] // v.shape[-3], dim=-3)
    batch = torch.broadcast_shapes(q.shape[:-2], kk.shape[:-2], vv.shape[:-2])
    N, S = q.shape[-2], k.shape[-2]
    qe = q.expand(*batch, *q.shape[-2:]).reshape(-1, N, q.shape[-1])
    ke = kk.expand(*batch, *k.shape[-2:]).reshape(-1, S, k.shape[-1])
    ve = vv.expand(*batch, *v.shape[-2:]).reshape(-1, S, v.shape[-1])
    m = None if o.get("mask") is None else (o["mask"] != 0).expand(*batch, N, S).reshape(-1, N, S)
    out, _ = F._scaled_dot_product_attention(qe, ke, ve, m, 0.0, False, o.get("causal", False) in (True, "top-left"))
    out.backward(c["go"].to(F64).reshape(out.shape))
    for what, leaf in (("gradQuery", q), ("gradKey", k), ("gradValue", v)):
        err = float((leaf.grad - grads[what]).abs().max())  # some are all 0 (N = S = 1): absolute, not relative
        bound = 1e-12 * max(1.0, float(grads[what].abs().max()))
        assert err < bound, f"{c['name']}: {what} differs from torch's SDPA autograd by {err}"
    return True


# ----------------------------------------------------------------------------------------------------------------
# Cases


def randn(*shape, amplitude=1.0):
    return torch.randn(*shape, dtype=F32) * amplitude


def random_mask(shape, p_allow=0.7):
    """A 0/1 float32 mask where every row keeps key 0, so no row is empty unless a case says so."""
    m = (torch.rand(*shape) < p_allow).to(F32)
    m[..., 0] = 1
    return m


def cases():
    out = []

    def add(name, note, q, k, v, **opts):
        out.append({"name": name, "note": note, "q": q, "k": k, "v": v, "opts": opts})

    B, H, N, S, d = 2, 2, 4, 5, 3

    add("plain_4d", "[B, H, N, d] with S != N", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d))
    add("plain_2d_dv", "unbatched [N, d], dv != d", randn(4, 3), randn(6, 3), randn(6, 2))
    add("single_query", "N = 1", randn(B, H, 1, d), randn(B, H, S, d), randn(B, H, S, d))
    add("single_token", "N = S = 1", randn(B, 1, d), randn(B, 1, d), randn(B, 1, d))
    add("scale_custom", "scale 0.37", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d), scale=0.37)
    add("scale_negative", "scale -0.8", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d), scale=-0.8)

    add("mask_ns", "mask [N, S]", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d),
        mask=random_mask((N, S), 0.6))
    add("mask_b11s", "key padding mask [B, 1, 1, S]", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d),
        mask=random_mask((B, 1, 1, S)))

    neg_inf = randn(B, H, N, S)
    neg_inf[0, 0, 1, 2] = neg_inf[0, 1, 3, 0] = neg_inf[1, 1, 0, 4] = -math.inf
    add("bias_neg_inf", "bias [B, H, N, S] with some -inf entries (gradient 0 there)", randn(B, H, N, d),
        randn(B, H, S, d), randn(B, H, S, d), bias=neg_inf)
    add("bias_1h1s", "bias [1, H, 1, S]: gradBias summed over B and N", randn(B, H, N, d), randn(B, H, S, d),
        randn(B, H, S, d), bias=randn(1, H, 1, S))

    add("causal_true_square", "causal true, N == S", randn(B, H, N, d), randn(B, H, N, d), randn(B, H, N, d),
        causal=True)
    add("causal_top_left_n_lt_s", "top-left, N = 3 < S = 6: keys 3..5 get no gradient", randn(B, H, 3, d),
        randn(B, H, 6, d), randn(B, H, 6, d), causal="top-left")
    add("causal_top_left_n_gt_s", "top-left, N = 6 > S = 3", randn(B, 6, d), randn(B, 3, d), randn(B, 3, d),
        causal="top-left")
    add("causal_bottom_right_n_lt_s", "bottom-right, N = 3 < S = 6", randn(B, H, 3, d), randn(B, H, 6, d),
        randn(B, H, 6, d), causal="bottom-right")
    add("causal_bottom_right_n_gt_s", "bottom-right, N = 6 > S = 3: rows 0..2 have no key → gradient 0",
        randn(B, 6, d), randn(B, 3, d), randn(B, 3, d), causal="bottom-right")

    add("softcap", "softcap 1.5 on scores of order 1..10", randn(B, H, N, d, amplitude=3.0),
        randn(B, H, S, d, amplitude=3.0), randn(B, H, S, d), softcap=1.5)
    add("softcap_scale_bias_mask", "softcap 1.2, scale -0.9, bias [N, S], mask [B, 1, 1, S]",
        randn(B, H, N, d, amplitude=2.0), randn(B, H, S, d, amplitude=2.0), randn(B, H, S, d), softcap=1.2,
        scale=-0.9, bias=randn(N, S), mask=random_mask((B, 1, 1, S)))

    add("gqa_h4_hkv2", "H = 4, Hkv = 2, dv != d", randn(B, 4, N, d), randn(B, 2, S, d), randn(B, 2, S, 2))
    add("gqa_h4_hkv1", "H = 4, Hkv = 1 (multi-query)", randn(B, 4, N, d), randn(B, 1, S, d), randn(B, 1, S, d))

    add("broadcast_batch", "query [2, 1, N, d], key/value [1, 3, S, d]", randn(2, 1, N, d), randn(1, 3, S, d),
        randn(1, 3, S, 2))
    add("broadcast_query", "query [N, d] against key/value [2, 3, S, d], mask [2, 1, N, S]", randn(N, d),
        randn(2, 3, S, d), randn(2, 3, S, d), mask=random_mask((2, 1, N, S)))
    add("broadcast_key", "key [S, d], value [H, S, dv] against query [B, H, N, d]", randn(B, H, N, d), randn(S, d),
        randn(H, S, 2))

    add("dv_ne_d", "d = 5, dv = 2", randn(B, H, N, 5), randn(B, H, S, 5), randn(B, H, S, 2))

    dead = random_mask((B, 1, N, S))
    dead[0, 0, 1] = 0
    dead[1, 0, 3] = 0
    add("fully_masked_rows_mask", "mask rows of zeros at [0, :, 1] and [1, :, 3] → gradient 0 (PyTorch: NaN)",
        randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d), mask=dead)
    dead_bias = randn(N, S)
    dead_bias[2] = -math.inf
    add("fully_masked_row_bias", "bias row 2 all -inf → gradient 0 there (PyTorch: NaN)", randn(B, N, d),
        randn(B, S, d), randn(B, S, d), bias=dead_bias)

    combo_bias = randn(4, 1, 6)
    combo_bias[1, 0, 2] = -math.inf
    add("combined", "H = 4, Hkv = 2, causal bottom-right (N = 3 < S = 6), mask [B, H, N, S], bias [H, 1, S] "
        "with -inf, softcap 2", randn(B, 4, 3, d), randn(B, 2, 6, d), randn(B, 2, 6, 2), causal="bottom-right",
        mask=random_mask((B, 4, 3, 6), 0.8), bias=combo_bias, softcap=2.0)

    return out


def output_shape(c):
    out, _ = sdpa(c["q"].to(F64), c["k"].to(F64), c["v"].to(F64), mask=c["opts"].get("mask"),
                  bias=None if c["opts"].get("bias") is None else c["opts"]["bias"].to(F64),
                  causal=c["opts"].get("causal", False), scale=c["opts"].get("scale"),
                  softcap=c["opts"].get("softcap", 0.0))
    return tuple(out.shape)


def build():
    fixtures, manifest = [], []
    all_cases = cases()
    for c in all_cases:  # gradOutput [...batch, N, dv], drawn after every case's inputs
        c["go"] = randn(*output_shape(c))
        assert c["go"].numel() > 0, f"{c['name']}: empty output {tuple(c['go'].shape)}"
    for c in all_cases:
        grads, empty_rows = gradients(c)
        for what, g in grads.items():
            assert torch.isfinite(g).all(), f"{c['name']}: {what} is not finite"
        plain_nan = False
        if empty_rows > 0:
            plain, _ = gradients(c, empty_rows_give_zero=False)
            plain_nan = any(bool(torch.isnan(g).any()) for g in plain.values())
            assert plain_nan, f"{c['name']}: PyTorch's plain math was expected to give NaN (pytorch#41508)"
        assert gradcheck(c), f"{c['name']}: gradcheck failed"
        checked = check_against_torch_sdpa(c, grads, empty_rows)

        o = c["opts"]
        options = {}
        for key in ("mask", "bias"):
            if o.get(key) is not None:
                options[key] = encode(o[key], "float32")
        for key in ("causal", "scale", "softcap"):
            if key in o:
                options[key] = o[key]
        fixtures.append({
            "name": c["name"],
            "inputs": {"query": encode(c["q"], "float32"), "key": encode(c["k"], "float32"),
                       "value": encode(c["v"], "float32"), "gradOutput": encode(c["go"], "float32")},
            "options": options,
            "expected": {what: encode(g, "float64") for what, g in grads.items()},
        })
        manifest.append({
            "name": c["name"],
            "note": c["note"],
            "query": list(c["q"].shape),
            "key": list(c["k"].shape),
            "value": list(c["v"].shape),
            "gradOutput": list(c["go"].shape),
            "options": {key: (val["shape"] if isinstance(val, dict) else val) for key, val in options.items()},
            "emptyRows": empty_rows,
            "torchPlainGivesNaN": plain_nan,
            "gradcheck": True,
            "checkedAgainstTorchSdpa": checked,
        })
    return fixtures, manifest


def main():
    if not os.path.isdir("tests") or not os.path.isdir("tools"):
        sys.exit("make_grad_fixtures.py: run it from the repository root")
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # one reduction order, whatever the machine
    fixtures, manifest = build()
    doc = {
        "manifest": {
            "generator": "tools/make_grad_fixtures.py",
            "torch": torch.__version__,
            "seed": SEED,
            "encoding": {
                "tensor": '{"dtype", "shape", "data"}: data is base64 of the little-endian row-major elements',
                "inputs": "float32 (query, key, value, gradOutput, mask, bias)",
                "expected": "float64 autograd gradients (gradQuery, gradKey, gradValue, gradBias when a bias is "
                            "given), computed in float64 from the float32 inputs, each of its input's shape",
            },
            "reference": "the SDPA math by hand in torch float64 (repeat_interleave, expand, matmul, tanh, "
                         "masked_fill -inf, softmax, matmul) and .backward(gradOutput); checked with "
                         "torch.autograd.gradcheck, and against F._scaled_dot_product_attention where it applies",
            "emptyRows": "a query row with no allowed key: PyTorch's plain math gives NaN (pytorch#41508), which also "
                         "reaches dV of every key through P^T dO (and dQ, dK, dBias when a -inf bias empties the "
                         "row), so zeroing the row's dQ is not enough; the expected gradients instead give such a "
                         "row gradient 0 (qkv's semantics), computed with a double where: the row's scores are set "
                         "to 0 before softmax and its weights to 0 after",
            "cases": manifest,
        },
        "cases": fixtures,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(f"{OUT}: {os.path.getsize(OUT)} bytes, {len(fixtures)} cases, torch {torch.__version__}, seed {SEED}")


if __name__ == "__main__":
    main()
