#!/usr/bin/python3
"""PyTorch parity fixtures for qkv's scaled dot-product attention and multi-head attention.

Run from the repository root with Debian's torch (python3-torch 1.13):

    /usr/bin/python3 tools/make_fixtures.py

It writes tests/parity/fixtures/{sdpa,mha,manifest}.json. CI has no torch: the fixtures are committed and the tests
in tests/parity/ only read them. The script is deterministic (one torch.manual_seed, cases generated in a fixed
order), so rerunning it reproduces the files byte for byte with the same torch build.

Encoding (also recorded in the manifest):
- every tensor is {"dtype", "shape", "data"}, data being base64 of the little-endian row-major elements;
- inputs (query, key, value, mask, bias, state dicts) are float32, exactly what qkv is fed;
- expected values (outputs, weights, trace scores) are float64, computed from those float32 inputs in float64.

SDPA references. torch 1.13 has no public F.scaled_dot_product_attention, so `sdpa_reference` below writes the math
out in float64 with qkv's documented semantics where qkv deliberately differs from PyTorch (docs/SEMANTICS.md):
- a query row with no allowed key gives output 0 and weights 0 (PyTorch: NaN);
- a blocked key (mask 0 or causal) is never read, so a NaN in its key or value does not reach the row;
- nonzero mask entries mean "may attend".
Wherever those semantics coincide with PyTorch's, the script checks `sdpa_reference` against torch's own private
F._scaled_dot_product_attention (1.13) and, through the MHA cases, against nn.MultiheadAttention, before writing.

MHA references: real torch.nn.MultiheadAttention modules (batch_first=True) with random float32 weights and
non-zero biases; expected values are the module's forward in float64 (`.double()`).
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
    sys.exit("make_fixtures.py needs torch: run it with Debian's /usr/bin/python3 (python3-torch)")

SEED = 1234
OUT_DIR = os.path.join("tests", "parity", "fixtures")
F64 = torch.float64
F32 = torch.float32


# ----------------------------------------------------------------------------------------------------------------
# Encoding


def encode(t, dtype):
    """A tensor as {"dtype", "shape", "data"}: base64 of little-endian float32 or float64 elements."""
    np_dtype = {"float32": "<f4", "float64": "<f8"}[dtype]
    arr = t.detach().cpu().contiguous().numpy().astype(np_dtype)
    return {"dtype": dtype, "shape": list(t.shape), "data": base64.b64encode(arr.tobytes()).decode("ascii")}


def f32(t):
    return encode(t, "float32")


def f64(t):
    return encode(t, "float64")


# ----------------------------------------------------------------------------------------------------------------
# The float64 SDPA reference (qkv semantics)


def expand_kv_heads(q, t):
    """Grouped-query attention: key/value heads Hkv dividing query heads H; query head h reads kv head h // (H/Hkv)."""
    if q.dim() >= 3 and t.dim() >= 3:
        H, Hkv = q.shape[-3], t.shape[-3]
        if Hkv not in (1, H) and H % Hkv == 0:  # otherwise plain broadcasting applies
            return t.repeat_interleave(H // Hkv, dim=-3)
    return t


def causal_allowed(causal, N, S):
    """[N, S] bool: the keys the causal rule allows. top-left: j <= i; bottom-right: j <= i + S - N."""
    i = torch.arange(N).unsqueeze(-1)  # [N, 1]
    j = torch.arange(S).unsqueeze(0)  # [1, S]
    if causal in (True, "top-left"):
        return j <= i
    if causal == "bottom-right":
        return j <= i + S - N
    return torch.ones(N, S, dtype=torch.bool)


def sdpa_reference(q, k, v, mask=None, bias=None, causal=False, scale=None, softcap=0.0):
    """Float64 attention with qkv's semantics. q [..., N, d], k [..., S, d], v [..., S, dv] (float64).

    Returns output [batch, N, dv], weights, raw scores and scaled scores [batch, N, S] over the broadcast batch.
    """
    k = expand_kv_heads(q, k)
    v = expand_kv_heads(q, v)
    N, d = q.shape[-2:]
    S = k.shape[-2]
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    q = q.expand(*batch, N, d)  # [..., N, d]
    k = k.expand(*batch, S, d)  # [..., S, d]
    v = v.expand(*batch, S, v.shape[-1])  # [..., S, dv]

    # Elementwise products summed, not a BLAS matmul, so a NaN reaches exactly the scores it belongs to.
    raw = (q.unsqueeze(-2) * k.unsqueeze(-3)).sum(-1)  # [..., N, S]
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    s = raw * scale
    if softcap > 0:
        s = softcap * torch.tanh(s / softcap)
    if bias is not None:
        s = s + bias.to(F64)
    allowed = causal_allowed(causal, N, S).expand_as(s)  # [..., N, S]
    if mask is not None:
        allowed = allowed & (mask != 0)
    logits = torch.where(allowed, s, torch.tensor(-math.inf, dtype=F64))  # blocked → -inf, never NaN

    # Stable softmax over allowed keys; a NaN among them makes the whole row NaN, as in PyTorch.
    has_nan = (torch.isnan(logits) & allowed).any(-1, keepdim=True)  # [..., N, 1]
    row_max = torch.where(allowed, logits, torch.tensor(-math.inf, dtype=F64)).nan_to_num(nan=-math.inf, posinf=math.inf, neginf=-math.inf)
    row_max = row_max.amax(-1, keepdim=True)  # [..., N, 1]
    empty = (row_max == -math.inf) & ~has_nan  # no key can be attended → the row stays 0
    row_max = torch.where(has_nan, torch.tensor(math.nan, dtype=F64), row_max)
    safe_max = torch.where(empty, torch.zeros_like(row_max), row_max)
    e = torch.where(allowed, torch.exp(logits - safe_max), torch.zeros_like(logits))
    w = e / e.sum(-1, keepdim=True)
    w = torch.where(allowed & ~empty, w, torch.zeros_like(w))  # [..., N, S]

    # Only allowed keys' values are read, so a NaN value behind a blocked key stays out.
    terms = torch.where(allowed.unsqueeze(-1), w.unsqueeze(-1) * v.unsqueeze(-3), torch.zeros((), dtype=F64))
    out = terms.sum(-2)  # [..., N, dv]
    out = torch.where(empty, torch.zeros_like(out), out)
    return out, w, raw, logits


def check_against_torch_sdpa(name, q, k, v, mask, causal, out, w):
    """Compares the reference with torch 1.13's private F._scaled_dot_product_attention where semantics agree."""
    k = expand_kv_heads(q, k)
    v = expand_kv_heads(q, v)
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    N, S = q.shape[-2], k.shape[-2]
    qe = q.expand(*batch, *q.shape[-2:]).reshape(-1, N, q.shape[-1])
    ke = k.expand(*batch, *k.shape[-2:]).reshape(-1, S, k.shape[-1])
    ve = v.expand(*batch, *v.shape[-2:]).reshape(-1, S, v.shape[-1])
    m = None if mask is None else (mask != 0).expand(*batch, N, S).reshape(-1, N, S)
    t_out, t_w = F._scaled_dot_product_attention(qe, ke, ve, m, 0.0, True, causal in (True, "top-left"))
    for what, a, b in (("output", out.reshape(t_out.shape), t_out), ("weights", w.reshape(t_w.shape), t_w)):
        err = (a - b).norm() / b.norm()
        assert err < 1e-12, f"{name}: reference {what} differs from torch's by {err}"


# ----------------------------------------------------------------------------------------------------------------
# SDPA cases


def randn(*shape):
    return torch.randn(*shape, dtype=F32)


def random_mask(shape, p_allow=0.6, keep_rows=True):
    """A 0/1 float32 mask. keep_rows: every row keeps at least one allowed key (column 0 when all were blocked)."""
    m = (torch.rand(*shape) < p_allow).to(F32)
    if keep_rows:
        dead = m.sum(-1, keepdim=True) == 0
        first = torch.zeros_like(m)
        first[..., 0] = 1
        m = torch.where(dead & (first == 1), first, m)
    return m


def sdpa_cases():
    """Each case: name, note, query, key, value (float32) and the qkv options (mask, bias, causal, scale, softcap)."""
    cases = []

    def add(name, note, q, k, v, **opts):
        cases.append({"name": name, "note": note, "q": q, "k": k, "v": v, "opts": opts})

    B, H, N, S, d = 2, 3, 5, 6, 4

    # Plain attention at several ranks and sizes.
    add("plain_4d", "[B, H, N, d] with S != N", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d))
    add("plain_2d", "unbatched [N, d], dv != d", randn(5, 4), randn(7, 4), randn(7, 3))
    add("plain_3d", "[H, N, d]", randn(3, 4, 5), randn(3, 4, 5), randn(3, 4, 5))
    add("single_token", "N = S = 1", randn(2, 1, 4), randn(2, 1, 4), randn(2, 1, 4))

    # Scale.
    add("scale_custom", "scale 0.37", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d), scale=0.37)
    add("scale_zero", "scale 0: uniform weights", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d), scale=0.0)
    add("scale_negative", "scale -0.8", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d), scale=-0.8)

    # Boolean-style masks of broadcast shapes (nonzero = may attend).
    add("mask_ns", "mask [N, S]", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d), mask=random_mask((N, S)))
    add("mask_b11s", "key padding mask [B, 1, 1, S]", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d),
        mask=random_mask((B, 1, 1, S), 0.7))
    add("mask_bhns", "mask [B, H, N, S]", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d),
        mask=random_mask((B, H, N, S)))
    add("mask_1h1s", "mask [H, 1, S]", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d),
        mask=random_mask((H, 1, S), 0.7))
    nonbinary = random_mask((N, S)) * torch.tensor([2.5, -1.0, 0.25, 7.0, -3.0, 1.0])  # [N, S], still 0 = blocked
    add("mask_nonzero_values", "mask entries 2.5, -1, ... mean may attend; only 0 blocks",
        randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d), mask=nonbinary)

    # Additive bias.
    add("bias_bhns", "bias [B, H, N, S]", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d),
        bias=randn(B, H, N, S))
    alibi = -torch.arange(S, dtype=F32).flip(0).view(1, 1, 1, S) * torch.tensor([0.5, 0.25, 0.125]).view(1, H, 1, 1)
    add("bias_alibi", "bias [1, H, 1, S] (ALiBi slopes)", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d),
        bias=alibi)
    neg_inf_bias = randn(N, S)
    neg_inf_bias[0, 1] = neg_inf_bias[2, 0] = neg_inf_bias[2, 4] = neg_inf_bias[4, 5] = -math.inf
    add("bias_neg_inf", "bias [N, S] with some -inf entries", randn(B, H, N, d), randn(B, H, S, d),
        randn(B, H, S, d), bias=neg_inf_bias)

    # Causal alignments.
    add("causal_true_square", "causal: true, N == S", randn(B, H, 5, d), randn(B, H, 5, d), randn(B, H, 5, d),
        causal=True)
    add("causal_top_left_n_lt_s", "top-left, N = 4 < S = 7", randn(B, H, 4, d), randn(B, H, 7, d),
        randn(B, H, 7, d), causal="top-left")
    add("causal_top_left_n_gt_s", "top-left, N = 7 > S = 4", randn(B, H, 7, d), randn(B, H, 4, d),
        randn(B, H, 4, d), causal="top-left")
    add("causal_bottom_right_square", "bottom-right, N == S (same as top-left)", randn(B, H, 5, d),
        randn(B, H, 5, d), randn(B, H, 5, d), causal="bottom-right")
    add("causal_bottom_right_n_lt_s", "bottom-right, N = 4 < S = 7", randn(B, H, 4, d), randn(B, H, 7, d),
        randn(B, H, 7, d), causal="bottom-right")
    add("causal_bottom_right_n_gt_s", "bottom-right, N = 7 > S = 4: rows 0..2 have no key → output 0, weights 0",
        randn(B, H, 7, d), randn(B, H, 4, d), randn(B, H, 4, d), causal="bottom-right")

    # Everything together.
    add("combined_top_left", "mask [B, 1, N, S] + bias [H, N, S] + causal top-left + scale 0.6",
        randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d), mask=random_mask((B, 1, N, S), 0.8),
        bias=randn(H, N, S), causal="top-left", scale=0.6)
    combo_bias = randn(B, H, 4, 7)
    combo_bias[0, 1, 2, 3] = combo_bias[1, 2, 3, 6] = -math.inf
    add("combined_bottom_right", "mask [B, 1, 1, S] + bias with -inf + causal bottom-right (N < S) + softcap 1.5",
        randn(B, H, 4, d), randn(B, H, 7, d), randn(B, H, 7, d), mask=random_mask((B, 1, 1, 7), 0.8),
        bias=combo_bias, causal="bottom-right", softcap=1.5)

    # Grouped-query attention.
    add("gqa_h8_hkv2", "H = 8, Hkv = 2, dv != d", randn(2, 8, 5, 4), randn(2, 2, 6, 4), randn(2, 2, 6, 3))
    add("gqa_h8_hkv1", "H = 8, Hkv = 1 (multi-query)", randn(2, 8, 5, 4), randn(2, 1, 6, 4), randn(2, 1, 6, 4))
    add("gqa_3d", "[H, N, d] with H = 4 and Hkv = 2", randn(4, 5, 4), randn(2, 6, 4), randn(2, 6, 4))
    add("gqa_masked_causal", "H = 8, Hkv = 2, mask [B, H, N, S] over query heads, causal bottom-right",
        randn(2, 8, 4, 4), randn(2, 2, 6, 4), randn(2, 2, 6, 4), mask=random_mask((2, 8, 4, 6), 0.8),
        causal="bottom-right")

    # Broadcasting of batch dims.
    add("broadcast_batch", "query [2, 1, N, d], key/value [1, 3, S, d]", randn(2, 1, N, d), randn(1, 3, S, d),
        randn(1, 3, S, 5))
    add("broadcast_rank", "query [2, 3, N, d], key [S, d], value [3, S, dv]", randn(2, 3, N, d), randn(S, d),
        randn(3, S, 2))
    add("broadcast_query", "query [N, d] against key/value [2, 3, S, d], mask [2, 1, N, S]", randn(N, d),
        randn(2, 3, S, d), randn(2, 3, S, d), mask=random_mask((2, 1, N, S)))

    add("dv_ne_d", "d = 6, dv = 3", randn(B, H, N, 6), randn(B, H, S, 6), randn(B, H, S, 3))

    # Fully masked rows: output 0 and weights 0 (PyTorch would give NaN).
    dead_mask = random_mask((B, 1, N, S))
    dead_mask[0, 0, 1] = 0
    dead_mask[1, 0, 3] = 0
    add("fully_masked_rows_mask", "mask rows of zeros at [0, :, 1] and [1, :, 3]", randn(B, H, N, d),
        randn(B, H, S, d), randn(B, H, S, d), mask=dead_mask)
    dead_bias = randn(N, S)
    dead_bias[2] = -math.inf
    add("fully_masked_rows_bias", "bias row 2 all -inf", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d),
        bias=dead_bias)
    mixed_mask = random_mask((N, S), 0.9)
    mixed_bias = randn(N, S)
    mixed_mask[3, :3] = 0
    mixed_bias[3, 3:] = -math.inf  # row 3: half blocked by the mask, the rest -inf by the bias
    add("fully_masked_rows_mask_and_bias", "row 3 blocked half by mask, half by -inf bias", randn(B, H, N, d),
        randn(B, H, S, d), randn(B, H, S, d), mask=mixed_mask, bias=mixed_bias)
    add("fully_masked_all", "mask all zero", randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d),
        mask=torch.zeros(N, S))

    # Huge logits: scores ~1e4; a stable softmax must not overflow.
    add("huge_logits", "query and key scaled by 60: |scaled scores| up to ~1e4", randn(B, H, N, d) * 60,
        randn(B, H, S, d) * 60, randn(B, H, S, d))
    add("huge_logits_masked_causal", "huge logits with a mask and causal top-left", randn(B, H, N, d) * 60,
        randn(B, H, S, d) * 60, randn(B, H, S, d), mask=random_mask((B, 1, 1, S), 0.8), causal=True)
    add("huge_logits_softcap", "huge logits with softcap 30", randn(B, H, N, d) * 60, randn(B, H, S, d) * 60,
        randn(B, H, S, d), softcap=30.0)

    # NaN inputs.
    q = randn(B, H, N, d)
    q[0, 1, 2, 3] = math.nan
    add("nan_query_row", "NaN in query [0, 1, 2, 3]: only that row is NaN", q, randn(B, H, S, d), randn(B, H, S, d))
    v = randn(B, H, S, d)
    v[1, 0, 3, 2] = math.nan
    add("nan_value_allowed", "NaN in value [1, 0, 3, 2], causal: rows 3.. of that head attend it → NaN",
        randn(B, H, N, d), randn(B, H, S, d), v, causal=True)
    k = randn(B, H, S, d)
    k[0, 2, 4, 1] = math.nan
    kpm = torch.ones(B, 1, 1, S)
    kpm[0, 0, 0, 4] = 0
    add("nan_key_blocked", "NaN in key [0, 2, 4, 1], blocked by the mask: nothing is NaN", randn(B, H, N, d), k,
        randn(B, H, S, d), mask=kpm)
    k = randn(B, H, 5, d)
    k[1, 1, 4, 0] = math.nan
    add("nan_key_causal", "NaN in key 4 of [1, 1], causal: only row 4 reads it → NaN", randn(B, H, 5, d), k,
        randn(B, H, 5, d), causal=True)
    v = randn(B, H, S, d)
    v[0, 0, 2, :] = math.nan
    vmask = torch.ones(N, S)
    vmask[:, 2] = 0
    add("nan_value_blocked", "NaN value row 2, blocked by the mask for all rows: nothing is NaN", randn(B, H, N, d),
        randn(B, H, S, d), v, mask=vmask)

    # Softcap.
    add("softcap", "softcap 2 on scores of order 1..10", randn(B, H, N, d) * 3, randn(B, H, S, d) * 3,
        randn(B, H, S, d), softcap=2.0)
    add("softcap_scale_bias_mask", "softcap 1.2 with scale -0.9, bias [N, S] and mask [B, 1, 1, S]",
        randn(B, H, N, d), randn(B, H, S, d), randn(B, H, S, d), softcap=1.2, scale=-0.9, bias=randn(N, S),
        mask=random_mask((B, 1, 1, S), 0.7))
    return cases


def build_sdpa():
    fixtures, manifest = [], []
    for c in sdpa_cases():
        q, k, v, opts = c["q"], c["k"], c["v"], c["opts"]
        mask, bias = opts.get("mask"), opts.get("bias")
        causal = opts.get("causal", False)
        out, w, raw, logits = sdpa_reference(q.to(F64), k.to(F64), v.to(F64), mask=mask, bias=bias, causal=causal,
                                             scale=opts.get("scale"), softcap=opts.get("softcap", 0.0))
        nan_free = not any(torch.isnan(t).any() for t in (q, k, v))
        comparable = (nan_free and bias is None and "scale" not in opts and "softcap" not in opts
                      and causal in (False, True, "top-left") and not (causal and mask is not None)
                      and not (w.sum(-1) == 0).any())
        if comparable:
            check_against_torch_sdpa(c["name"], q.to(F64), k.to(F64), v.to(F64), mask, causal, out, w)

        options = {}
        for key in ("scale", "softcap", "causal"):
            if key in opts:
                options[key] = opts[key]
        if mask is not None:
            options["mask"] = f32(mask)
        if bias is not None:
            options["bias"] = f32(bias)
        fixtures.append({
            "name": c["name"],
            "inputs": {"query": f32(q), "key": f32(k), "value": f32(v)},
            "options": options,
            "expected": {"output": f64(out), "weights": f64(w), "scores": f64(raw), "scaledScores": f64(logits)},
        })
        finite = logits[torch.isfinite(logits)]
        manifest.append({
            "name": c["name"],
            "note": c["note"],
            "query": list(q.shape), "key": list(k.shape), "value": list(v.shape),
            "options": {key: (list(val.shape) if torch.is_tensor(val) else val) for key, val in opts.items()},
            "output": list(out.shape), "weights": list(w.shape),
            "emptyRows": int((w.sum(-1) == 0).sum()),
            "nanRows": int(torch.isnan(out).any(-1).sum()),
            "maxAbsScaledScore": float(finite.abs().max()) if finite.numel() else 0.0,
            "checkedAgainstTorchSdpa": comparable,
        })
    return fixtures, manifest


# ----------------------------------------------------------------------------------------------------------------
# MHA cases


def make_mha(D, H, bias=True, add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None):
    """A float32 nn.MultiheadAttention whose biases are re-drawn non-zero so that a dropped bias shows."""
    m = torch.nn.MultiheadAttention(D, H, bias=bias, add_bias_kv=add_bias_kv, add_zero_attn=add_zero_attn,
                                    kdim=kdim, vdim=vdim, batch_first=True, dtype=F32)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "bias" in name:
                p.uniform_(-0.5, 0.5)
    return m.eval()


def mha_reference_check(name, m, q, k, v, kpm, attn_mask, causal, out, w_heads):
    """Re-derives an MHA forward with sdpa_reference (projections by hand) and checks it against torch's module."""
    D, H = m.embed_dim, m.num_heads
    sd = {key: val.to(F64) for key, val in m.state_dict().items()}
    if "in_proj_weight" in sd:
        wq, wk, wv = sd["in_proj_weight"].chunk(3)
    else:
        wq, wk, wv = sd["q_proj_weight"], sd["k_proj_weight"], sd["v_proj_weight"]
    bq, bk, bv = sd["in_proj_bias"].chunk(3) if "in_proj_bias" in sd else (0, 0, 0)
    unbatched = q.dim() == 2
    if unbatched:
        q, k, v = q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0)
    B, N, S = q.shape[0], q.shape[1], k.shape[1]
    qp, kp, vp = q @ wq.T + bq, k @ wk.T + bk, v @ wv.T + bv  # [B, N, D], [B, S, D], [B, S, D]
    allow = torch.ones(B, 1, N, S, dtype=F64)  # [B, 1, N, S], 1 = may attend
    if kpm is not None:
        allow = allow * (~kpm).to(F64).view(B, 1, 1, S)
    if attn_mask is not None:
        allow = allow * (~attn_mask).to(F64)
    if causal:  # over the original keys only: PyTorch pads its attn_mask with allowed columns
        allow = allow * causal_allowed(True, N, S).to(F64)
    extra = []
    if "bias_k" in sd:
        kp = torch.cat([kp, sd["bias_k"].expand(B, 1, D)], 1)
        vp = torch.cat([vp, sd["bias_v"].expand(B, 1, D)], 1)
        extra.append(1)
    if m.add_zero_attn:
        kp = torch.cat([kp, torch.zeros(B, 1, D, dtype=F64)], 1)
        vp = torch.cat([vp, torch.zeros(B, 1, D, dtype=F64)], 1)
        extra.append(1)
    if extra:  # the appended keys are always allowed
        allow = torch.cat([allow.expand(B, 1, N, S), torch.ones(B, 1, N, len(extra), dtype=F64)], -1)
    Se = kp.shape[1]
    heads = lambda t, L: t.view(B, L, H, D // H).transpose(1, 2)  # [B, H, L, d]
    o, w, _, _ = sdpa_reference(heads(qp, N), heads(kp, Se), heads(vp, Se), mask=allow)
    o = o.transpose(1, 2).reshape(B, N, D) @ sd["out_proj.weight"].T  # [B, N, D]
    if "out_proj.bias" in sd:
        o = o + sd["out_proj.bias"]
    if unbatched:
        o, w = o[0], w[0]
    err = (o - out).norm() / out.norm()
    assert err < 1e-12, f"{name}: hand-made MHA differs from torch's by {err}"
    err = (w - w_heads).norm() / w_heads.norm()
    assert err < 1e-12, f"{name}: hand-made MHA weights differ from torch's by {err}"


def mha_cases():
    B, N, S, D, H = 2, 5, 6, 8, 2
    cases = []

    def add(name, note, module, q, k=None, v=None, kpm=None, attn_mask=None, causal=False, average=True):
        cases.append({"name": name, "note": note, "m": module, "q": q, "k": k, "v": v, "kpm": kpm,
                      "attn_mask": attn_mask, "causal": causal, "average": average})

    def kpm_of(B, S, padded):
        """Key padding mask, PyTorch style: True = padded. `padded` lists (b, s) positions."""
        m = torch.zeros(B, S, dtype=torch.bool)
        for b, s in padded:
            m[b, s] = True
        return m

    add("self_attention", "query = key = value; key and value omitted in qkv", make_mha(D, H), randn(B, N, D))
    add("cross_attention", "S = 7 != N = 4, key != value", make_mha(D, H), randn(B, 4, D), randn(B, 7, D),
        randn(B, 7, D))
    add("kdim_vdim", "kdim 6, vdim 5: separate q/k/v_proj_weight", make_mha(D, H, kdim=6, vdim=5),
        randn(B, N, D), randn(B, S, 6), randn(B, S, 5))
    add("no_bias", "bias=False: no in_proj_bias, no out_proj.bias", make_mha(D, H, bias=False), randn(B, N, D),
        randn(B, S, D), randn(B, S, D))
    add("add_bias_kv", "add_bias_kv=True: S + 1 keys", make_mha(D, H, add_bias_kv=True), randn(B, N, D),
        randn(B, S, D), randn(B, S, D))
    add("add_zero_attn", "add_zero_attn=True: S + 1 keys", make_mha(D, H, add_zero_attn=True), randn(B, N, D),
        randn(B, S, D), randn(B, S, D))
    add("bias_kv_and_zero_attn", "add_bias_kv and add_zero_attn: S + 2 keys",
        make_mha(D, H, add_bias_kv=True, add_zero_attn=True), randn(B, N, D), randn(B, S, D), randn(B, S, D))
    add("key_padding_mask", "key_padding_mask [B, S] → qkv mask [B, 1, 1, S] = 1 - kpm", make_mha(D, H),
        randn(B, N, D), randn(B, S, D), randn(B, S, D), kpm=kpm_of(B, S, [(0, 5), (0, 2), (1, 0)]))
    am = torch.rand(N, S) < 0.3
    am[:, 0] = False  # no fully masked row
    add("attn_mask", "attn_mask bool [N, S] → qkv mask [N, S] = 1 - attn_mask", make_mha(D, H), randn(B, N, D),
        randn(B, S, D), randn(B, S, D), attn_mask=am)
    add("causal", "attn_mask = triu(ones(N, N), 1) → qkv causal: true", make_mha(D, H), randn(B, N, D),
        causal=True)
    am = torch.rand(N, S) < 0.3
    am[:, 1] = False
    add("key_padding_and_attn_mask", "both masks → qkv mask [B, 1, N, S]", make_mha(D, H), randn(B, N, D),
        randn(B, S, D), randn(B, S, D), kpm=kpm_of(B, S, [(0, 0), (1, 4), (1, 5)]), attn_mask=am)
    add("per_head_weights", "average_attn_weights=False → weights [B, H, N, S]", make_mha(D, H), randn(B, N, D),
        randn(B, S, D), randn(B, S, D), average=False)
    add("unbatched", "query [N, D], key/value [S, D]", make_mha(D, H), randn(N, D), randn(S, D), randn(S, D))
    add("add_bias_kv_key_padding", "add_bias_kv with key_padding_mask: the bias key stays allowed",
        make_mha(D, H, add_bias_kv=True), randn(B, N, D), randn(B, S, D), randn(B, S, D),
        kpm=kpm_of(B, S, [(0, 1), (1, 3)]))
    am = torch.rand(N, S) < 0.4
    am[:, 2] = False
    add("add_zero_attn_attn_mask", "add_zero_attn with attn_mask [N, S], per-head weights",
        make_mha(D, H, add_zero_attn=True), randn(B, N, D), randn(B, S, D), randn(B, S, D), attn_mask=am,
        average=False)
    add("four_heads_kdim_vdim_bias_kv", "D = 12, H = 4, kdim 7, vdim 3, add_bias_kv, key padding, per-head weights",
        make_mha(12, 4, add_bias_kv=True, kdim=7, vdim=3), randn(B, N, 12), randn(B, S, 7), randn(B, S, 3),
        kpm=kpm_of(B, S, [(1, 0), (1, 1)]), average=False)
    add("add_bias_kv_causal", "add_bias_kv + add_zero_attn with causal: the appended keys stay allowed",
        make_mha(D, H, add_bias_kv=True, add_zero_attn=True), randn(B, N, D), causal=True, average=False)
    add("self_attention_causal_padding", "self-attention, causal, key padding, H = 4",
        make_mha(D, 4), randn(B, N, D), kpm=kpm_of(B, N, [(0, 4), (1, 3), (1, 4)]), causal=True)
    return cases


def build_mha():
    fixtures, manifest = [], []
    for c in mha_cases():
        m, q = c["m"], c["q"]
        self_attn = c["k"] is None
        k = q if self_attn else c["k"]
        v = q if self_attn else c["v"]
        state = m.state_dict()  # float32, PyTorch's key names and order
        N, S = q.shape[-2], k.shape[-2]
        attn_mask = c["attn_mask"]
        if c["causal"]:
            attn_mask = torch.triu(torch.ones(N, S, dtype=torch.bool), 1)
        m64 = make_double(m)
        with torch.no_grad():
            out, w_heads = m64(q.to(F64), k.to(F64), v.to(F64), key_padding_mask=c["kpm"], attn_mask=attn_mask,
                               need_weights=True, average_attn_weights=False)
            _, w_avg = m64(q.to(F64), k.to(F64), v.to(F64), key_padding_mask=c["kpm"], attn_mask=attn_mask,
                           need_weights=True, average_attn_weights=True)
        assert not torch.isnan(out).any(), c["name"]
        mha_reference_check(c["name"], m, q.to(F64), k.to(F64), v.to(F64), c["kpm"], c["attn_mask"], c["causal"],
                            out, w_heads)
        weights = w_avg if c["average"] else w_heads

        # The qkv options: nonzero = may attend, so PyTorch's True-means-blocked masks become 1 - mask.
        options = {"averageWeights": c["average"]}
        if c["causal"]:
            options["causal"] = True
        qkv_mask = None
        if c["kpm"] is not None:
            qkv_mask = (~c["kpm"]).to(F32).view(q.shape[0], 1, 1, S)  # [B, 1, 1, S]
        if c["attn_mask"] is not None:
            am = (~c["attn_mask"]).to(F32)  # [N, S]
            qkv_mask = am if qkv_mask is None else qkv_mask * am  # [B, 1, N, S]
        if qkv_mask is not None:
            options["mask"] = f32(qkv_mask)

        config = {"embedDim": m.embed_dim, "numHeads": m.num_heads, "bias": m.in_proj_bias is not None,
                  "addBiasKv": m.bias_k is not None, "addZeroAttn": m.add_zero_attn}
        if m.kdim != m.embed_dim:
            config["kdim"] = m.kdim
        if m.vdim != m.embed_dim:
            config["vdim"] = m.vdim
        inputs = {"query": f32(q)}
        if not self_attn:
            inputs["key"] = f32(k)
            inputs["value"] = f32(v)
        fixtures.append({
            "name": c["name"],
            "config": config,
            "stateDict": {key: f32(val) for key, val in state.items()},
            "inputs": inputs,
            "options": options,
            "expected": {"output": f64(out), "weights": f64(weights)},
        })
        manifest.append({
            "name": c["name"],
            "note": c["note"],
            "config": config,
            "stateDict": {key: list(val.shape) for key, val in state.items()},
            "query": list(q.shape),
            "key": None if self_attn else list(k.shape),
            "value": None if self_attn else list(v.shape),
            "selfAttention": self_attn,
            "torch": {
                "key_padding_mask": None if c["kpm"] is None else list(c["kpm"].shape),
                "attn_mask": None if attn_mask is None else list(attn_mask.shape),
                "is_causal_mask": c["causal"],
                "average_attn_weights": c["average"],
            },
            "qkvOptions": {key: (val["shape"] if isinstance(val, dict) else val) for key, val in options.items()},
            "output": list(out.shape),
            "weights": list(weights.shape),
        })
    return fixtures, manifest


def make_double(m):
    """A float64 copy of a module, leaving the float32 original (and its state dict) untouched."""
    m64 = torch.nn.MultiheadAttention(m.embed_dim, m.num_heads, bias=m.in_proj_bias is not None,
                                      add_bias_kv=m.bias_k is not None, add_zero_attn=m.add_zero_attn,
                                      kdim=m.kdim, vdim=m.vdim, batch_first=True)
    m64.load_state_dict(m.state_dict())
    return m64.double().eval()


# ----------------------------------------------------------------------------------------------------------------


def write_json(name, obj):
    path = os.path.join(OUT_DIR, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    return path, os.path.getsize(path)


def main():
    if not os.path.isdir("tests") or not os.path.isdir("tools"):
        sys.exit("make_fixtures.py: run it from the repository root")
    os.makedirs(OUT_DIR, exist_ok=True)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # one reduction order, whatever the machine
    sdpa, sdpa_manifest = build_sdpa()
    mha, mha_manifest = build_mha()
    sizes = {}
    for name, obj in (("sdpa.json", {"cases": sdpa}), ("mha.json", {"cases": mha})):
        path, size = write_json(name, obj)
        sizes[name] = size
    manifest = {
        "generator": "tools/make_fixtures.py",
        "torch": torch.__version__,
        "seed": SEED,
        "encoding": {
            "tensor": '{"dtype", "shape", "data"}: data is base64 of the little-endian row-major elements',
            "inputs": "float32 (query, key, value, mask, bias, stateDict)",
            "expected": "float64, computed in float64 from the float32 inputs",
        },
        "references": {
            "sdpa": "sdpa_reference in tools/make_fixtures.py: float64, qkv semantics (empty rows give 0; blocked "
                    "keys are never read); checked against torch's F._scaled_dot_product_attention where the "
                    "semantics agree (checkedAgainstTorchSdpa)",
            "mha": "torch.nn.MultiheadAttention(batch_first=True) forward in float64 (.double()); every case also "
                   "re-derived by hand with sdpa_reference",
        },
        "files": {
            "sdpa.json": {"bytes": sizes["sdpa.json"], "cases": sdpa_manifest},
            "mha.json": {"bytes": sizes["mha.json"], "cases": mha_manifest},
        },
    }
    write_json("manifest.json", manifest)
    for name, size in sizes.items():
        print(f"{os.path.join(OUT_DIR, name)}: {size} bytes")
    print(f"{len(sdpa)} SDPA cases, {len(mha)} MHA cases, torch {torch.__version__}, seed {SEED}")


if __name__ == "__main__":
    main()
