#!/usr/bin/python3
"""Random-weight models of real shapes for the benchmark's "models" section (bench/models.ts), and their ONNX exports.

Run from the repository root with Debian's torch (python3-torch 1.13; `bash tools/install-torch.sh`); `npm run bench`
runs it when the models are missing or older than this script:

    /usr/bin/python3 tools/make_bench_models.py [--force]

It writes, into bench/models/ (gitignored; about 2.7 GB, never committed):

- gpt2/         GPT-2 small's shape (124M: n_embd 768, 12 heads, 12 layers, vocab 50257, 1024 positions), float32,
- gpt2-bf16/    the same weights rounded to bfloat16 (for the peak-memory rows: what BF16 checkpoints cost),
- llama-135m/   SmolLM2-135M's shape (Llama: hidden 576, 9 heads, 3 key/value heads, 30 layers, MLP 1536, vocab
                49152, rope_theta 100000, tied embeddings), float32,

each in the Hugging Face layout (config.json + model.safetensors, the key names and layouts transformers'
save_pretrained writes: GPT-2's Conv1D weights [in, out], no lm_head for tied heads) and, for the float32 ones,
model.onnx: a decoder with past, as optimum exports one for onnxruntime (the "decoder_with_past" graph):

    inputs   input_ids [B, n] int64, past_key_values.{l}.key / .value [B, Hkv, P, d] float32 (P = 0 for a prompt)
    outputs  logits [B, n, V] float32, present.{l}.key / .value [B, Hkv, P + n, d] float32

Positions are P + 0..n-1, computed in the graph from the past's length, as transformers computes them for an unpadded
batch. The graph is traced from the float32 torch modules below (GPT2WithPast, LlamaWithPast), which mirror
transformers' modeling_gpt2.py and modeling_llama.py step by step: the same math as qkv computes, every token's
logits (no last-token shortcut), the full attention over past and new keys with the causal mask, grouped-query
attention by repeat_kv, the tied output head as a MatMul with the embedding matrix.

Checks, before a model's stamp is written (a model without its stamp is rebuilt on the next run):
1. the torch module's logits equal tools/hf_reference.py's float64 forward (an independent re-implementation of the
   HF modelling code, written for the parity fixtures) on a short prompt: relative L2 error <= 1e-4 (skipped, with
   a message, when tools/hf_reference.py is absent);
2. the module's cached path (a prompt, then two tokens one at a time with the past) equals its full forward;
3. the ONNX graph, run by onnxruntime-node (from node_modules, through `node`), gives the torch module's logits and
   presents for a prompt with an empty past and then one token with that past: relative L2 error <= 1e-4.

Idempotent: each model folder holds bench-model.json with the hash of this script; when it matches, the model is
not rebuilt (and torch is not even imported). Weights are seeded (torch.Generator per model), so a rebuild gives the
same values.
"""

import hashlib
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "bench", "models")
STAMP = "bench-model.json"
SEED = 90210
OPSET = 17  # LayerNormalization is a standard op from opset 17 on
TOLERANCE = 1e-4

GPT2_CONFIG = {
    "activation_function": "gelu_new",
    "architectures": ["GPT2LMHeadModel"],
    "attn_pdrop": 0.1,
    "bos_token_id": 50256,
    "embd_pdrop": 0.1,
    "eos_token_id": 50256,
    "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05,
    "model_type": "gpt2",
    "n_ctx": 1024,
    "n_embd": 768,
    "n_head": 12,
    "n_inner": None,
    "n_layer": 12,
    "n_positions": 1024,
    "reorder_and_upcast_attn": False,
    "resid_pdrop": 0.1,
    "scale_attn_by_inverse_layer_idx": False,
    "scale_attn_weights": True,
    "summary_activation": None,
    "summary_first_dropout": 0.1,
    "summary_proj_to_labels": True,
    "summary_type": "cls_index",
    "summary_use_proj": True,
    "torch_dtype": "float32",
    "transformers_version": "4.51.3",
    "use_cache": True,
    "vocab_size": 50257,
}

# SmolLM2-135M's config.json (HuggingFaceTB/SmolLM2-135M), with float32 weights.
LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "eos_token_id": 0,
    "head_dim": 64,
    "hidden_act": "silu",
    "hidden_size": 576,
    "initializer_range": 0.041666666666666664,
    "intermediate_size": 1536,
    "max_position_embeddings": 8192,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 9,
    "num_hidden_layers": 30,
    "num_key_value_heads": 3,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 100000,
    "tie_word_embeddings": True,
    "torch_dtype": "float32",
    "transformers_version": "4.51.3",
    "use_cache": True,
    "vocab_size": 49152,
}


def script_hash():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def up_to_date(name):
    try:
        with open(os.path.join(OUT_DIR, name, STAMP)) as f:
            return json.load(f).get("script") == script_hash()
    except (OSError, ValueError):
        return False


# ----------------------------------------------------------------------------------------------------------------
# safetensors, written by hand (no safetensors package): u64 little-endian header length, the JSON header padded
# with spaces to a multiple of 8 bytes, then the raw little-endian tensors back to back in header order.


def write_safetensors(path, tensors, torch):
    """tensors: list of (name, tensor), float32 or bfloat16, written in that order. Streams tensor by tensor."""
    dtypes = {torch.float32: ("F32", 4), torch.bfloat16: ("BF16", 2)}
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, t in tensors:
        code, size = dtypes[t.dtype]
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + t.numel() * size]}
        offset += t.numel() * size
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".partial", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for _, t in tensors:
            t = t.contiguous()
            raw = t.view(torch.int16) if t.dtype == torch.bfloat16 else t
            f.write(raw.numpy().tobytes())  # little-endian on every machine this runs on
    os.replace(path + ".partial", path)


def write_json(path, obj):
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


# ----------------------------------------------------------------------------------------------------------------
# Weights: transformers' _init_weights scale (normal(0, initializer_range) for every matrix and embedding; GPT-2
# scales its residual projections c_proj by 1/sqrt(2·n_layer)). Biases and norm weights are drawn around their
# usual 0 and 1 (std 0.02) rather than set to exactly 0 and 1, so that a peer that adds a bias in the wrong place or
# drops a norm weight fails validation.


def gpt2_weights(cfg, torch):
    g = torch.Generator().manual_seed(SEED)
    D, L, V, P = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"], cfg["n_positions"]
    F = cfg["n_inner"] or 4 * D
    std = cfg["initializer_range"]
    normal = lambda *shape, s=std: torch.randn(*shape, generator=g) * s  # noqa: E731
    W = [("wte.weight", normal(V, D)), ("wpe.weight", normal(P, D))]
    for i in range(L):
        p = f"h.{i}."
        W += [
            (p + "ln_1.weight", 1 + normal(D, s=0.02)), (p + "ln_1.bias", normal(D, s=0.02)),
            (p + "attn.c_attn.weight", normal(D, 3 * D)), (p + "attn.c_attn.bias", normal(3 * D, s=0.02)),
            (p + "attn.c_proj.weight", normal(D, D, s=std / math.sqrt(2 * L))), (p + "attn.c_proj.bias", normal(D, s=0.02)),
            (p + "ln_2.weight", 1 + normal(D, s=0.02)), (p + "ln_2.bias", normal(D, s=0.02)),
            (p + "mlp.c_fc.weight", normal(D, F)), (p + "mlp.c_fc.bias", normal(F, s=0.02)),
            (p + "mlp.c_proj.weight", normal(F, D, s=std / math.sqrt(2 * L))), (p + "mlp.c_proj.bias", normal(D, s=0.02)),
        ]
    W += [("ln_f.weight", 1 + normal(D, s=0.02)), ("ln_f.bias", normal(D, s=0.02))]
    return W


def llama_weights(cfg, torch):
    g = torch.Generator().manual_seed(SEED + 1)
    D, L, V, F = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"], cfg["intermediate_size"]
    H, Hkv, d = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    std = cfg["initializer_range"]
    normal = lambda *shape, s=std: torch.randn(*shape, generator=g) * s  # noqa: E731
    W = [("model.embed_tokens.weight", normal(V, D))]
    for i in range(L):
        p = f"model.layers.{i}."
        W += [
            (p + "input_layernorm.weight", 1 + normal(D, s=0.02)),
            (p + "self_attn.q_proj.weight", normal(H * d, D)),
            (p + "self_attn.k_proj.weight", normal(Hkv * d, D)),
            (p + "self_attn.v_proj.weight", normal(Hkv * d, D)),
            (p + "self_attn.o_proj.weight", normal(D, H * d)),
            (p + "post_attention_layernorm.weight", 1 + normal(D, s=0.02)),
            (p + "mlp.gate_proj.weight", normal(F, D)),
            (p + "mlp.up_proj.weight", normal(F, D)),
            (p + "mlp.down_proj.weight", normal(D, F)),
        ]
    W += [("model.norm.weight", 1 + normal(D, s=0.02))]
    return W


# ----------------------------------------------------------------------------------------------------------------
# The float32 torch modules that are exported. Each mirrors transformers' forward with a past (use_cache=True,
# eval mode, no padding); comments name the HF class. Shapes: B batch, n new tokens, P past tokens, S = P + n keys.


def make_modules(torch):
    nn = torch.nn
    F = torch.nn.functional

    class Params(nn.Module):
        """The checkpoint's tensors under their HF names ('.' is not allowed in a parameter name: '__' instead)."""

        def __init__(self, weights):
            super().__init__()
            for name, t in weights:
                self.register_parameter(name.replace(".", "__"), nn.Parameter(t, requires_grad=False))

        def __getitem__(self, name):
            return getattr(self, name.replace(".", "__"))

    def causal_allowed(P, n, S):
        """[n, S] bool: the query at absolute position P + i sees key j iff j <= P + i (masking_utils.causal_mask_function)."""
        return torch.arange(S).view(1, S) <= (torch.arange(n) + P).view(n, 1)

    def attend(q, k, v, P, scale):
        """eager_attention_forward: q [B, H, n, d], k, v [B, H, S, d] -> [B, n, H·d]. Masked scores take
        finfo(float32).min, as HF's causal mask does, so softmax gives them exactly 0."""
        B, H, n, d = q.shape
        S = k.shape[2]
        scores = torch.matmul(q, k.transpose(2, 3)) * scale  # [B, H, n, S]
        scores = scores.masked_fill(~causal_allowed(P, n, S), torch.finfo(torch.float32).min)
        weights = torch.softmax(scores, dim=-1)  # [B, H, n, S]
        out = torch.matmul(weights, v)  # [B, H, n, d]
        return out.transpose(1, 2).reshape(B, n, H * d)  # [B, n, H·d]

    def heads(x, count):
        """[B, n, count·d] -> [B, count, n, d]"""
        B, n, width = x.shape
        return x.view(B, n, count, width // count).transpose(1, 2)

    class GPT2WithPast(nn.Module):
        """GPT2LMHeadModel.forward(input_ids, past_key_values, use_cache=True) -> logits, presents."""

        def __init__(self, cfg, weights):
            super().__init__()
            self.cfg = cfg
            self.W = Params(weights)

        def forward(self, input_ids, *past):
            cfg, W = self.cfg, self.W
            D, H, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
            n = input_ids.shape[1]
            P = past[0].shape[2]
            positions = torch.arange(n) + P  # GPT2Model: position_ids = arange(past_length, past_length + n)
            h = F.embedding(input_ids, W["wte.weight"]) + F.embedding(positions, W["wpe.weight"]).unsqueeze(0)  # [B, n, D]
            presents = []
            for i in range(cfg["n_layer"]):
                p = f"h.{i}."
                x = F.layer_norm(h, (D,), W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
                qkv = torch.matmul(x, W[p + "attn.c_attn.weight"]) + W[p + "attn.c_attn.bias"]  # Conv1D: [B, n, 3D]
                q, k, v = qkv.split(D, dim=2)
                q, k, v = heads(q, H), heads(k, H), heads(v, H)  # [B, H, n, d]
                k = torch.cat([past[2 * i], k], dim=2)  # GPT2Attention: layer_past concatenated, [B, H, S, d]
                v = torch.cat([past[2 * i + 1], v], dim=2)
                presents += [k, v]
                z = attend(q, k, v, P, 1.0 / math.sqrt(D // H))
                h = h + torch.matmul(z, W[p + "attn.c_proj.weight"]) + W[p + "attn.c_proj.bias"]
                y = F.layer_norm(h, (D,), W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
                u = torch.matmul(y, W[p + "mlp.c_fc.weight"]) + W[p + "mlp.c_fc.bias"]  # [B, n, F]
                u = 0.5 * u * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (u + 0.044715 * torch.pow(u, 3.0))))  # gelu_new
                h = h + torch.matmul(u, W[p + "mlp.c_proj.weight"]) + W[p + "mlp.c_proj.bias"]
            h = F.layer_norm(h, (D,), W["ln_f.weight"], W["ln_f.bias"], eps)
            logits = torch.matmul(h, W["wte.weight"].t())  # lm_head tied to wte: [B, n, V]
            return (logits, *presents)

    class LlamaWithPast(nn.Module):
        """LlamaForCausalLM.forward(input_ids, past_key_values, use_cache=True) -> logits, presents."""

        def __init__(self, cfg, weights):
            super().__init__()
            self.cfg = cfg
            self.W = Params(weights)
            d = cfg["head_dim"]
            # LlamaRotaryEmbedding (default rope): inv_freq = 1 / theta^(arange(0, d, 2) / d), in float32 as HF.
            inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
            self.register_buffer("inv_freq", inv_freq, persistent=False)

        def forward(self, input_ids, *past):
            cfg, W = self.cfg, self.W
            H, Hkv, d, eps = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"], cfg["rms_norm_eps"]
            n = input_ids.shape[1]
            P = past[0].shape[2]
            positions = (torch.arange(n) + P).float()  # cache_position
            freqs = positions.view(n, 1) * self.inv_freq.view(1, -1)  # [n, d/2]
            emb = torch.cat([freqs, freqs], dim=-1)  # [n, d]
            cos, sin = emb.cos(), emb.sin()

            def rms_norm(x, w):  # LlamaRMSNorm
                return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

            def rope(x):  # apply_rotary_pos_emb: x * cos + rotate_half(x) * sin
                half = d // 2
                return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin

            def repeat_kv(x):  # [B, Hkv, S, d] -> [B, H, S, d]
                B, _, S, _ = x.shape
                return x[:, :, None, :, :].expand(B, Hkv, H // Hkv, S, d).reshape(B, H, S, d)

            h = F.embedding(input_ids, W["model.embed_tokens.weight"])  # [B, n, D]
            presents = []
            for i in range(cfg["num_hidden_layers"]):
                p = f"model.layers.{i}."
                x = rms_norm(h, W[p + "input_layernorm.weight"])
                q = rope(heads(F.linear(x, W[p + "self_attn.q_proj.weight"]), H))  # [B, H, n, d]
                k = rope(heads(F.linear(x, W[p + "self_attn.k_proj.weight"]), Hkv))  # [B, Hkv, n, d]
                v = heads(F.linear(x, W[p + "self_attn.v_proj.weight"]), Hkv)
                k = torch.cat([past[2 * i], k], dim=2)  # DynamicCache.update: [B, Hkv, S, d]
                v = torch.cat([past[2 * i + 1], v], dim=2)
                presents += [k, v]
                z = attend(q, repeat_kv(k), repeat_kv(v), P, d ** -0.5)  # [B, n, H·d]
                h = h + F.linear(z, W[p + "self_attn.o_proj.weight"])
                y = rms_norm(h, W[p + "post_attention_layernorm.weight"])
                gated = F.silu(F.linear(y, W[p + "mlp.gate_proj.weight"])) * F.linear(y, W[p + "mlp.up_proj.weight"])
                h = h + F.linear(gated, W[p + "mlp.down_proj.weight"])
            h = rms_norm(h, W["model.norm.weight"])
            logits = torch.matmul(h, W["model.embed_tokens.weight"].t())  # tied lm_head: [B, n, V]
            return (logits, *presents)

    return GPT2WithPast, LlamaWithPast


# ----------------------------------------------------------------------------------------------------------------
# Checks


def rel_err(a, b):
    a, b = a.double().flatten(), b.double().flatten()
    return float((a - b).norm() / b.norm())


def check(label, err, tol=TOLERANCE):
    print(f"  {label}: relative L2 error {err:.2e} (tolerance {tol:.0e})")
    if not err <= tol:
        sys.exit(f"make_bench_models.py: {label} failed: {err:.3e} > {tol:.0e}")


def empty_past(layers, heads, d, torch):
    return [torch.zeros(1, heads, 0, d) for _ in range(2 * layers)]


def check_reference(family, cfg, weights, module, torch):
    """Check 1: the module against tools/hf_reference.py's float64 forward on a short prompt."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        import hf_reference as ref
    except ImportError:
        print("  (tools/hf_reference.py is absent: the float64 reference check is skipped)")
        return
    ids = [3, 1000, 17, 42, 9999, 5]
    W64 = {name: t.double() for name, t in weights}
    want = ref.forward(family, cfg, W64, ids)["logits"]  # [n, V]
    del W64
    with torch.no_grad():
        got = module(torch.tensor([ids]), *module.empty_past)[0][0]
    check("torch module vs tools/hf_reference.py (float64), 6 tokens", rel_err(got, want))


def check_cache(module, torch):
    """Check 2: a prompt, then two tokens one at a time with the past, equals the full forward of all of them."""
    ids = [7, 300, 2, 41, 11, 4000, 23, 8]
    with torch.no_grad():
        full = module(torch.tensor([ids]), *module.empty_past)[0]
        out = module(torch.tensor([ids[:6]]), *module.empty_past)
        parts = [out[0]]
        for t in ids[6:]:
            out = module(torch.tensor([[t]]), *out[1:])
            parts.append(out[0])
    check("cached path (6 + 1 + 1 tokens) vs one forward of 8", rel_err(torch.cat(parts, dim=1), full), 1e-5)


NODE_CHECK = r"""
import { readFileSync, writeFileSync } from 'node:fs';
const [model, idsJson, layers, heads, d, out] = process.argv.slice(1);
const mod = await import('onnxruntime-node');
const ort = mod.default ?? mod;
const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
const { prompt, next } = JSON.parse(idsJson);
const ids = (xs) => new ort.Tensor('int64', BigInt64Array.from(xs.map(BigInt)), [1, xs.length]);
const feeds = { input_ids: ids(prompt) };
for (let l = 0; l < +layers; l++) for (const kv of ['key', 'value'])
  feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, +heads, 0, +d]);
const first = await session.run(feeds);
const second = { input_ids: ids([next]) };
for (let l = 0; l < +layers; l++) for (const kv of ['key', 'value'])
  second[`past_key_values.${l}.${kv}`] = first[`present.${l}.${kv}`];
const after = await session.run(second);
const chunks = [first.logits.data, first['present.0.key'].data, first[`present.${+layers - 1}.value`].data, after.logits.data];
writeFileSync(out, Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))));
"""


def check_onnx(path, module, layers, heads, d, torch):
    """Check 3: the ONNX graph in onnxruntime-node against the torch module: a prompt with an empty past, then one
    token with the returned past (logits of both calls, and the first and last presents of the prompt)."""
    prompt, nxt = [5, 77, 1234, 8, 901], 33
    with torch.no_grad():
        first = module(torch.tensor([prompt]), *module.empty_past)
        after = module(torch.tensor([[nxt]]), *first[1:])
    expected = [first[0], first[1], first[-1], after[0]]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "onnx-out.bin")
        cmd = ["node", "--input-type=module", "-e", NODE_CHECK, path, json.dumps({"prompt": prompt, "next": nxt}),
               str(layers), str(heads), str(d), out]
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"make_bench_models.py: running {path} in onnxruntime-node failed (is node_modules installed?):\n"
                     f"{run.stderr.strip()[-2000:]}")
        got = torch.frombuffer(bytearray(open(out, "rb").read()), dtype=torch.float32)
    at = 0
    for label, want in zip(["logits (prompt)", "present.0.key", "present.last.value", "logits (next token)"], expected):
        part = got[at:at + want.numel()]
        at += want.numel()
        check(f"ONNX in onnxruntime-node vs torch module, {label}", rel_err(part, want))
    assert at == got.numel(), (at, got.numel())


# ----------------------------------------------------------------------------------------------------------------
# Building


def export_onnx(module, path, layers, torch):
    names = [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    presents = [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    axes.update({n: {0: "batch", 2: "past_sequence"} for n in names})
    axes.update({n: {0: "batch", 2: "past_sequence + sequence"} for n in presents})
    # Traced with a non-empty past and two new tokens, so that nothing of either length is frozen into the graph.
    past = [torch.randn(1, t.shape[1], 3, t.shape[3]) for t in module.empty_past]
    with torch.no_grad():
        torch.onnx.export(module, (torch.tensor([[1, 2]]), *past), path + ".partial", input_names=["input_ids", *names],
                          output_names=["logits", *presents], dynamic_axes=axes, opset_version=OPSET,
                          do_constant_folding=True)
    os.replace(path + ".partial", path)


def build(name, family, cfg, torch, with_onnx=True, bf16_of=None):
    folder = os.path.join(OUT_DIR, name)
    os.makedirs(folder, exist_ok=True)
    stamp = os.path.join(folder, STAMP)
    if os.path.exists(stamp):
        os.remove(stamp)
    print(f"{name}: weights")
    weights = gpt2_weights(cfg, torch) if family == "gpt2" else llama_weights(cfg, torch)
    params = sum(t.numel() for _, t in weights)
    if bf16_of is not None:
        cfg = {**cfg, "torch_dtype": "bfloat16"}
        stored = [(n, t.to(torch.bfloat16)) for n, t in weights]
    else:
        stored = weights
    write_json(os.path.join(folder, "config.json"), cfg)
    write_json(os.path.join(folder, "generation_config.json"),
               {"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"],
                "transformers_version": cfg["transformers_version"]})
    write_safetensors(os.path.join(folder, "model.safetensors"), stored, torch)
    info = {"script": script_hash(), "family": family, "parameters": params, "seed": SEED,
            "dtype": "BF16" if bf16_of is not None else "F32", "fp32_weight_bytes": 4 * params}
    if with_onnx:
        GPT2WithPast, LlamaWithPast = make_modules(torch)
        module = (GPT2WithPast if family == "gpt2" else LlamaWithPast)(cfg, weights).eval()
        layers = cfg["n_layer"] if family == "gpt2" else cfg["num_hidden_layers"]
        kv_heads = cfg["n_head"] if family == "gpt2" else cfg["num_key_value_heads"]
        d = cfg["n_embd"] // cfg["n_head"] if family == "gpt2" else cfg["head_dim"]
        module.empty_past = empty_past(layers, kv_heads, d, torch)
        check_reference(family, cfg, weights, module, torch)
        check_cache(module, torch)
        print(f"{name}: ONNX export (opset {OPSET})")
        export_onnx(module, os.path.join(folder, "model.onnx"), layers, torch)
        check_onnx(os.path.join(folder, "model.onnx"), module, layers, kv_heads, d, torch)
        info["onnx"] = {"opset": OPSET, "torch": torch.__version__}
    write_json(stamp, info)
    print(f"{name}: done ({params / 1e6:.1f}M parameters)")


MODELS = [
    ("gpt2", "gpt2", GPT2_CONFIG, {}),
    ("gpt2-bf16", "gpt2", GPT2_CONFIG, {"with_onnx": False, "bf16_of": "gpt2"}),
    ("llama-135m", "llama", LLAMA_CONFIG, {}),
]


def main():
    force = "--force" in sys.argv[1:]
    todo = [m for m in MODELS if force or not up_to_date(m[0])]
    if not todo:
        print(f"make_bench_models.py: {', '.join(m[0] for m in MODELS)} in {os.path.relpath(OUT_DIR, ROOT)} are up to date")
        return
    try:
        import torch
    except ImportError:
        sys.exit("make_bench_models.py needs torch: run `npm run fixtures` or `bash tools/install-torch.sh` "
                 "(Debian's python3-torch), then run it with /usr/bin/python3")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for name, family, cfg, options in todo:
        build(name, family, cfg, torch, **options)


if __name__ == "__main__":
    main()
