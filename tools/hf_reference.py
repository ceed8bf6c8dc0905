#!/usr/bin/python3
"""Float64 reference forwards for the Hugging Face model families qkv loads (used by tools/make_hf_fixtures.py).

Each forward below re-implements, in plain float64 torch operations, what the Hugging Face `transformers` modelling
code computes in eval mode (no dropout, no KV cache, batch 1, no padding), one small function per HF module. It is the
specification the TypeScript loader is tested against, so every function names the HF file and class it follows:

- GPT-2  (src/transformers/models/gpt2/modeling_gpt2.py): GPT2Model / GPT2LMHeadModel, GPT2Block, GPT2Attention
  (eager path), GPT2MLP, Conv1D (src/transformers/pytorch_utils.py), NewGELUActivation (activations.py "gelu_new").
- BERT   (src/transformers/models/bert/modeling_bert.py): BertEmbeddings, BertSelfAttention (absolute positions),
  BertSelfOutput, BertIntermediate, BertOutput, BertPooler, BertPredictionHeadTransform, BertLMPredictionHead.
- Llama  (src/transformers/models/llama/modeling_llama.py): LlamaRMSNorm, LlamaRotaryEmbedding, rotate_half,
  apply_rotary_pos_emb, repeat_kv, eager_attention_forward, LlamaAttention, LlamaMLP, LlamaDecoderLayer, LlamaModel,
  LlamaForCausalLM; RoPE frequencies from src/transformers/modeling_rope_utils.py (_compute_default_rope_parameters,
  _compute_llama3_parameters).
- Mistral (models/mistral/modeling_mistral.py): Llama's blocks plus the sliding-window causal mask of
  src/transformers/masking_utils.py (causal_mask_function AND sliding_window_overlay: key j is visible from query i
  iff j <= i and j > i - sliding_window, i.e. 0 <= i - j < sliding_window); head_dim from the config.
- Qwen2  (models/qwen2/modeling_qwen2.py): Llama's blocks with q/k/v biases (o_proj without), and no sliding window
  when use_sliding_window is false (Qwen2Config sets sliding_window to None then).

Deliberate differences from running HF in float64: none in the math. HF computes the RoPE cos/sin (and the llama3
frequency adjustment) in float32 even for a float64 model, and RMSNorm upcasts half inputs to float32; here everything,
including inv_freq, cos and sin, is float64, i.e. the exact value HF approximates.

Shapes: N tokens, D hidden, H query heads, Hkv key/value heads, d head_dim, F MLP width, V vocab. A sequence is run
alone (batch 1, unpadded), so the batch dimension is dropped everywhere.

`forward(family, config, weights, input_ids, token_type_ids=None)` returns a dict with, per layer l:
q[l] [H, N, d], k[l] [Hkv, N, d] (after RoPE, before repeat_kv), v[l] [Hkv, N, d], attentions[l] [H, N, N],
z[l] [N, H, d], resid_post[l] [N, D], plus hidden_states (list of L+1 [N, D], HF's output_hidden_states),
last_hidden_state [N, D], logits [N, V] (when the model has a head) and pooler_output [D] (BertModel).
`W` maps canonical key names (see CANONICAL NAMES above each family) to float64 tensors: HF's checkpoint names with
the "transformer." / "bert." prefix removed and LayerNorm gamma/beta renamed weight/bias; the generator builds it from
the stored (F16/BF16-rounded) tensors.
"""

import math

import torch

F64 = torch.float64


# ----------------------------------------------------------------------------------------------------------------
# Shared pieces


def linear(x, w, b=None):
    """nn.Linear: x [N, in] @ w[out, in]^T + b[out] -> [N, out]."""
    y = x @ w.t()
    return y if b is None else y + b


def conv1d(x, w, b):
    """GPT-2's Conv1D (pytorch_utils.py): weight stored [in, out]; x [N, in] @ w + b -> [N, out] (torch.addmm)."""
    return x @ w + b


def layer_norm(x, w, b, eps):
    """nn.LayerNorm over the last dim: (x - mean) / sqrt(biased var + eps) * w + b. x [N, D]."""
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    """LlamaRMSNorm: x * rsqrt(mean(x^2) + eps), then weight * that (HF upcasts to float32; here all float64)."""
    variance = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(variance + eps))


def gelu_new(x):
    """activations.py NewGELUActivation ("gelu_new", GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gelu_erf(x):
    """activations.py GELUActivation ("gelu", BERT): x * 0.5 * (1 + erf(x / sqrt(2)))."""
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def silu(x):
    """"silu" (Llama family): x * sigmoid(x)."""
    return x * torch.sigmoid(x)


ACT = {"gelu_new": gelu_new, "gelu": gelu_erf, "silu": silu}


def softmax_rows(scores):
    """Softmax over the last dim in float64. Masked entries carry finfo.min (HF's mask value), so exp() gives exactly
    0 there, as HF's attention weights have."""
    return torch.softmax(scores, dim=-1)


def attend(q, k, v, allowed, scale):
    """eager attention for one sequence.
    q [H, N, d], k, v [H, N, d] (already repeat_kv'd), allowed [N, N] bool or None (None: every key visible).
    scores = q k^T * scale; masked with finfo(float64).min (HF adds/fills its dtype's min); softmax.
    Returns weights [H, N, N] and z [N, H, d] (the per-head output before merging heads, HF's
    attn_output.transpose(1, 2) before reshape)."""
    scores = (q @ k.transpose(-1, -2)) * scale  # [H, N, N]
    if allowed is not None:
        scores = torch.where(allowed, scores, torch.tensor(torch.finfo(F64).min, dtype=F64))
    weights = softmax_rows(scores)
    out = weights @ v  # [H, N, d]
    return weights, out.transpose(0, 1).contiguous()  # z: [N, H, d]


def causal_allowed(n, sliding_window=None):
    """[N, N] bool. masking_utils.causal_mask_function: kv_idx <= q_idx; with a sliding window AND
    sliding_window_overlay: kv_idx > q_idx - sliding_window. So allowed iff 0 <= i - j < sliding_window."""
    i = torch.arange(n).view(n, 1)
    j = torch.arange(n).view(1, n)
    allowed = j <= i
    if sliding_window is not None:
        allowed = allowed & (j > i - sliding_window)
    return allowed


def split_heads(x, heads, head_dim):
    """[N, heads*d] -> [heads, N, d] (HF: view(N, heads, d).transpose(0, 1))."""
    n = x.shape[0]
    return x.view(n, heads, head_dim).transpose(0, 1).contiguous()


# ----------------------------------------------------------------------------------------------------------------
# GPT-2 (modeling_gpt2.py)
# CANONICAL NAMES: wte.weight, wpe.weight, h.{i}.ln_1.{weight,bias}, h.{i}.attn.c_attn.{weight,bias},
# h.{i}.attn.c_proj.{weight,bias}, h.{i}.ln_2.{weight,bias}, h.{i}.mlp.c_fc.{weight,bias},
# h.{i}.mlp.c_proj.{weight,bias}, ln_f.{weight,bias}; lm_head = wte (tied).


def gpt2_attention(cfg, W, i, x, trace):
    """GPT2Attention (eager): c_attn -> split q, k, v along the last dim -> heads -> causal softmax(q k^T / sqrt(d))
    -> merge heads -> c_proj. x [N, D] is ln_1's output."""
    D, H = cfg["n_embd"], cfg["n_head"]
    d = D // H
    p = f"h.{i}.attn."
    qkv = conv1d(x, W[p + "c_attn.weight"], W[p + "c_attn.bias"])  # [N, 3D]
    q, k, v = qkv.split(D, dim=-1)  # each [N, D]
    q, k, v = split_heads(q, H, d), split_heads(k, H, d), split_heads(v, H, d)  # [H, N, d]
    scale = 1.0 / math.sqrt(d) if cfg.get("scale_attn_weights", True) else 1.0
    if cfg.get("scale_attn_by_inverse_layer_idx", False):
        scale /= float(i + 1)
    weights, z = attend(q, k, v, causal_allowed(x.shape[0]), scale)
    trace["q"].append(q), trace["k"].append(k), trace["v"].append(v)
    trace["attentions"].append(weights), trace["z"].append(z)
    merged = z.reshape(x.shape[0], D)  # [N, D]
    return conv1d(merged, W[p + "c_proj.weight"], W[p + "c_proj.bias"])


def gpt2_mlp(cfg, W, i, x):
    """GPT2MLP: c_proj(act(c_fc(x))), act = ACT2FN[activation_function]. x [N, D] -> [N, D] via [N, n_inner]."""
    p = f"h.{i}.mlp."
    h = ACT[cfg["activation_function"]](conv1d(x, W[p + "c_fc.weight"], W[p + "c_fc.bias"]))
    return conv1d(h, W[p + "c_proj.weight"], W[p + "c_proj.bias"])


def gpt2_forward(cfg, W, ids):
    """GPT2Model + GPT2LMHeadModel: h = wte[ids] + wpe[arange(N)]; per block (pre-norm):
    h = h + attn(ln_1(h)); h = h + mlp(ln_2(h)); then ln_f; logits = ln_f(h) @ wte^T (lm_head tied to wte)."""
    eps = cfg["layer_norm_epsilon"]
    n = len(ids)
    trace = new_trace()
    h = W["wte.weight"][ids] + W["wpe.weight"][torch.arange(n)]  # [N, D]
    for i in range(cfg["n_layer"]):
        trace["hidden_states"].append(h)  # HF appends each block's input
        a = gpt2_attention(cfg, W, i, layer_norm(h, W[f"h.{i}.ln_1.weight"], W[f"h.{i}.ln_1.bias"], eps), trace)
        h = a + h
        m = gpt2_mlp(cfg, W, i, layer_norm(h, W[f"h.{i}.ln_2.weight"], W[f"h.{i}.ln_2.bias"], eps))
        h = h + m
        trace["resid_post"].append(h)
    h = layer_norm(h, W["ln_f.weight"], W["ln_f.bias"], eps)
    trace["hidden_states"].append(h)  # HF: the last entry is after ln_f
    trace["last_hidden_state"] = h
    trace["logits"] = h @ W["wte.weight"].t()  # [N, V]
    return trace


# ----------------------------------------------------------------------------------------------------------------
# BERT (modeling_bert.py), post-norm encoder
# CANONICAL NAMES (BertModel, modern LayerNorm names): embeddings.{word,position,token_type}_embeddings.weight,
# embeddings.LayerNorm.{weight,bias}, encoder.layer.{i}.attention.self.{query,key,value}.{weight,bias},
# encoder.layer.{i}.attention.output.dense.{weight,bias}, encoder.layer.{i}.attention.output.LayerNorm.*,
# encoder.layer.{i}.intermediate.dense.*, encoder.layer.{i}.output.dense.*, encoder.layer.{i}.output.LayerNorm.*,
# pooler.dense.* ; MLM head: cls.predictions.transform.dense.*, cls.predictions.transform.LayerNorm.*,
# cls.predictions.bias, decoder weight = embeddings.word_embeddings.weight (tied).


def bert_layer(cfg, W, i, x, trace):
    """BertLayer: BertAttention (BertSelfAttention + BertSelfOutput) then BertIntermediate + BertOutput.
    x [N, D] -> [N, D]. The attention mask of an unpadded sequence is all zeros (additive), so it is omitted."""
    D, H, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    d = D // H
    p = f"encoder.layer.{i}."
    q = split_heads(linear(x, W[p + "attention.self.query.weight"], W[p + "attention.self.query.bias"]), H, d)
    k = split_heads(linear(x, W[p + "attention.self.key.weight"], W[p + "attention.self.key.bias"]), H, d)
    v = split_heads(linear(x, W[p + "attention.self.value.weight"], W[p + "attention.self.value.bias"]), H, d)
    weights, z = attend(q, k, v, None, 1.0 / math.sqrt(d))  # BertSelfAttention: scores / sqrt(d), no causal mask
    trace["q"].append(q), trace["k"].append(k), trace["v"].append(v)
    trace["attentions"].append(weights), trace["z"].append(z)
    context = z.reshape(x.shape[0], D)
    # BertSelfOutput: LayerNorm(dense(context) + input)
    a = linear(context, W[p + "attention.output.dense.weight"], W[p + "attention.output.dense.bias"])
    a = layer_norm(a + x, W[p + "attention.output.LayerNorm.weight"], W[p + "attention.output.LayerNorm.bias"], eps)
    # BertIntermediate: act(dense(a)); BertOutput: LayerNorm(dense(.) + a)
    m = ACT[cfg["hidden_act"]](linear(a, W[p + "intermediate.dense.weight"], W[p + "intermediate.dense.bias"]))
    m = linear(m, W[p + "output.dense.weight"], W[p + "output.dense.bias"])
    return layer_norm(m + a, W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], eps)


def bert_forward(cfg, W, ids, token_type_ids, with_mlm_head, with_pooler):
    """BertModel (+ BertForMaskedLM's BertOnlyMLMHead).
    BertEmbeddings: LayerNorm(word[ids] + token_type[tt] + position[arange(N)]) (position_embedding_type absolute).
    Encoder layers as bert_layer. Pooler: tanh(dense(h[0])). MLM: decoder(LayerNorm(act(dense(h)))) + bias."""
    eps = cfg["layer_norm_eps"]
    n = len(ids)
    trace = new_trace()
    e = (W["embeddings.word_embeddings.weight"][ids]
         + W["embeddings.token_type_embeddings.weight"][token_type_ids]
         + W["embeddings.position_embeddings.weight"][torch.arange(n)])
    h = layer_norm(e, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    trace["hidden_states"].append(h)  # HF: entry 0 is the embeddings output
    for i in range(cfg["num_hidden_layers"]):
        h = bert_layer(cfg, W, i, h, trace)
        trace["resid_post"].append(h)
        trace["hidden_states"].append(h)
    trace["last_hidden_state"] = h
    if with_pooler:
        trace["pooler_output"] = torch.tanh(linear(h[0:1], W["pooler.dense.weight"], W["pooler.dense.bias"]))[0]
    if with_mlm_head:
        t = linear(h, W["cls.predictions.transform.dense.weight"], W["cls.predictions.transform.dense.bias"])
        t = ACT[cfg["hidden_act"]](t)  # BertPredictionHeadTransform: transform_act_fn = ACT2FN[hidden_act]
        t = layer_norm(t, W["cls.predictions.transform.LayerNorm.weight"],
                       W["cls.predictions.transform.LayerNorm.bias"], eps)
        trace["logits"] = t @ W["embeddings.word_embeddings.weight"].t() + W["cls.predictions.bias"]  # [N, V]
    return trace


# ----------------------------------------------------------------------------------------------------------------
# Llama family (modeling_llama.py, modeling_mistral.py, modeling_qwen2.py, modeling_rope_utils.py)
# CANONICAL NAMES: model.embed_tokens.weight, model.layers.{i}.input_layernorm.weight,
# model.layers.{i}.self_attn.{q,k,v,o}_proj.weight (+ q/k/v .bias for qwen2), model.layers.{i}.post_attention_layernorm.weight,
# model.layers.{i}.mlp.{gate,up,down}_proj.weight, model.norm.weight, lm_head.weight (= embed_tokens when tied).


def llama_head_dim(cfg):
    """LlamaAttention/MistralAttention: getattr(config, "head_dim", None) or hidden_size // num_attention_heads."""
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def rope_inv_freq(cfg):
    """modeling_rope_utils.py. Default: inv_freq = 1 / theta^(arange(0, dim, 2) / dim) with dim = head_dim
    (partial_rotary_factor 1). rope_type "llama3" (_compute_llama3_parameters): with wavelen = 2 pi / inv_freq,
    low_freq_wavelen = old_context_len / low_freq_factor and high_freq_wavelen = old_context_len / high_freq_factor,
    wavelen > low_freq_wavelen -> inv_freq / factor; wavelen < high_freq_wavelen -> unchanged; otherwise
    smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor) and
    (1 - smooth) * inv_freq / factor + smooth * inv_freq. Returns (inv_freq [dim/2], attention_scaling)."""
    dim = llama_head_dim(cfg)
    base = cfg["rope_theta"]
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(F64) / dim))
    rs = cfg.get("rope_scaling")
    rope_type = None if rs is None else rs.get("rope_type", rs.get("type", "default"))
    if rope_type in (None, "default"):
        return inv_freq, 1.0
    if rope_type != "llama3":
        raise ValueError(f"rope_type {rope_type} is not covered by this reference")
    factor = rs["factor"]
    low_freq_factor = rs["low_freq_factor"]
    high_freq_factor = rs["high_freq_factor"]
    old_context_len = rs["original_max_position_embeddings"]
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, inv_freq_llama), 1.0  # llama3: attention_factor 1


def rope_cos_sin(cfg, n):
    """LlamaRotaryEmbedding.forward: freqs = positions (outer) inv_freq [N, d/2]; emb = cat(freqs, freqs) [N, d];
    cos = cos(emb) * attention_scaling, sin likewise. Positions are arange(N) (one unpadded sequence)."""
    inv_freq, scaling = rope_inv_freq(cfg)
    freqs = torch.arange(n, dtype=F64).view(n, 1) * inv_freq.view(1, -1)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos() * scaling, emb.sin() * scaling


def rotate_half(x):
    """rotate_half: cat(-x2, x1) with x1 = x[..., :d/2], x2 = x[..., d/2:]."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x, cos, sin):
    """apply_rotary_pos_emb for one of q/k: x [heads, N, d], cos/sin [N, d] broadcast over heads:
    x * cos + rotate_half(x) * sin."""
    return x * cos + rotate_half(x) * sin


def repeat_kv(x, n_rep):
    """repeat_kv: [Hkv, N, d] -> [Hkv * n_rep, N, d]; query head h reads kv head h // n_rep."""
    if n_rep == 1:
        return x
    hkv, n, d = x.shape
    return x[:, None, :, :].expand(hkv, n_rep, n, d).reshape(hkv * n_rep, n, d)


def llama_attention(cfg, family, W, i, x, cos, sin, trace):
    """LlamaAttention (also Mistral/Qwen2): q/k/v projections (biases for qwen2; attention_bias for llama) ->
    heads -> RoPE on q and k -> repeat_kv -> eager attention with scaling head_dim^-0.5 and the causal (or
    sliding-window causal) mask -> merge heads -> o_proj. x [N, D] is input_layernorm's output."""
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = llama_head_dim(cfg)
    p = f"model.layers.{i}.self_attn."
    q = split_heads(linear(x, W[p + "q_proj.weight"], W.get(p + "q_proj.bias")), H, d)  # [H, N, d]
    k = split_heads(linear(x, W[p + "k_proj.weight"], W.get(p + "k_proj.bias")), Hkv, d)  # [Hkv, N, d]
    v = split_heads(linear(x, W[p + "v_proj.weight"], W.get(p + "v_proj.bias")), Hkv, d)  # [Hkv, N, d]
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    trace["q"].append(q), trace["k"].append(k), trace["v"].append(v)
    window = attention_window(cfg, family, i)
    weights, z = attend(q, repeat_kv(k, H // Hkv), repeat_kv(v, H // Hkv), causal_allowed(x.shape[0], window),
                        d ** -0.5)
    trace["attentions"].append(weights), trace["z"].append(z)
    return linear(z.reshape(x.shape[0], H * d), W[p + "o_proj.weight"], W.get(p + "o_proj.bias"))


def attention_window(cfg, family, i):
    """The sliding window layer i uses, or None. Mistral: config.sliding_window (None means full causal).
    Qwen2: only when use_sliding_window is true (Qwen2Config otherwise sets sliding_window to None), and then for
    layers i >= max_window_layers (Qwen2Config.layer_types). Llama: never."""
    if family == "mistral":
        return cfg.get("sliding_window")
    if family == "qwen2":
        if cfg.get("use_sliding_window") and cfg.get("sliding_window") is not None \
                and i >= cfg.get("max_window_layers", 0):
            return cfg["sliding_window"]
        return None
    return None


def llama_mlp(cfg, W, i, x):
    """LlamaMLP: down_proj(act(gate_proj(x)) * up_proj(x)), act = silu. x [N, D] -> [N, F] -> [N, D]."""
    p = f"model.layers.{i}.mlp."
    act = ACT[cfg["hidden_act"]]
    return linear(act(linear(x, W[p + "gate_proj.weight"])) * linear(x, W[p + "up_proj.weight"]),
                  W[p + "down_proj.weight"])


def llama_forward(cfg, family, W, ids):
    """LlamaModel + LlamaForCausalLM (Mistral, Qwen2 identical in structure): h = embed_tokens[ids]; per layer
    (pre-norm): h = h + attn(input_layernorm(h)); h = h + mlp(post_attention_layernorm(h)); norm; logits =
    lm_head(norm(h)) with lm_head.weight = embed_tokens.weight when tie_word_embeddings."""
    eps = cfg["rms_norm_eps"]
    n = len(ids)
    trace = new_trace()
    cos, sin = rope_cos_sin(cfg, n)  # [N, d]
    h = W["model.embed_tokens.weight"][ids]  # [N, D]
    for i in range(cfg["num_hidden_layers"]):
        trace["hidden_states"].append(h)
        p = f"model.layers.{i}."
        h = h + llama_attention(cfg, family, W, i, rms_norm(h, W[p + "input_layernorm.weight"], eps), cos, sin, trace)
        h = h + llama_mlp(cfg, W, i, rms_norm(h, W[p + "post_attention_layernorm.weight"], eps))
        trace["resid_post"].append(h)
    h = rms_norm(h, W["model.norm.weight"], eps)
    trace["hidden_states"].append(h)  # HF: the last entry is after the final norm
    trace["last_hidden_state"] = h
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    trace["logits"] = linear(h, head)  # [N, V]
    return trace


# ----------------------------------------------------------------------------------------------------------------
# Entry points


def new_trace():
    return {"hidden_states": [], "q": [], "k": [], "v": [], "attentions": [], "z": [], "resid_post": []}


def forward(family, cfg, W, ids, token_type_ids=None, bert_head=False, bert_pooler=False):
    """One unpadded sequence through the family's model. W: canonical names -> float64 tensors."""
    ids = torch.tensor(ids, dtype=torch.int64)
    if family == "gpt2":
        return gpt2_forward(cfg, W, ids)
    if family == "bert":
        tt = torch.tensor(token_type_ids, dtype=torch.int64)
        return bert_forward(cfg, W, ids, tt, bert_head, bert_pooler)
    if family in ("llama", "mistral", "qwen2"):
        return llama_forward(cfg, family, W, ids)
    raise ValueError(family)


def greedy(family, cfg, W, prompt, max_new_tokens):
    """Float64 greedy decoding with full recomputation each step (no cache, no EOS stop).
    Returns (new token ids, smallest top-1 minus top-2 logit gap over the steps)."""
    ids = list(prompt)
    new, margin = [], float("inf")
    for _ in range(max_new_tokens):
        logits = forward(family, cfg, W, ids)["logits"][-1]
        top = torch.topk(logits, 2)
        margin = min(margin, float(top.values[0] - top.values[1]))
        nxt = int(top.indices[0])
        new.append(nxt)
        ids.append(nxt)
    return new, margin
