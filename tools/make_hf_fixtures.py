#!/usr/bin/python3
"""Tiny random Hugging Face checkpoints, in the exact Hub folder layout, with float64 reference outputs.

Run from the repository root with Debian's torch (python3-torch 1.13; `bash tools/install-torch.sh`), no
`transformers` or `safetensors` package needed:

    /usr/bin/python3 tools/make_hf_fixtures.py

It writes tests/models/fixtures/<case>/ for the cases in CASES (gpt2, gpt2-prefixed-f16, bert-mlm, bert-base, llama,
llama-sharded, mistral, qwen2) and tests/models/fixtures/manifest.json. The format is documented in
tests/models/fixtures/README.md; CI has no torch, the files are committed and the TypeScript tests only read them.

Each case folder holds what a Hub folder holds (config.json, model.safetensors or shards + index,
generation_config.json for decoders, tokenizer.json + tokenizer_config.json where the case has a tokenizer) plus
expected.safetensors (float64 reference tensors) and expected.json (inputs, greedy continuation, metadata).

The reference outputs come from tools/hf_reference.py: a float64 re-implementation of the HF modelling code, run on
the weights exactly as stored (F16/BF16 weights rounded first, then upcast to float64).

Deterministic: every case draws from its own torch.Generator seeded with SEED + an offset, all files are written
with fixed key order and formatting, so a rerun reproduces every byte (with the same torch build). Tokenizers are
written by hand in the `tokenizers` library's JSON format; their encodings are computed by small Python encoders
below and checked against the npm package @huggingface/tokenizers (through node) when node_modules has it.
"""

import copy
import hashlib
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys

try:
    import torch
except ImportError:
    sys.exit("make_hf_fixtures.py needs torch: run it with Debian's /usr/bin/python3 (python3-torch)")

sys.dont_write_bytecode = True  # no tools/__pycache__ left behind
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as ref  # noqa: E402

SEED = 1234
OUT_DIR = os.path.join("tests", "models", "fixtures")
TRANSFORMERS_VERSION = "4.51.3"  # the version whose config.json fields these configs mirror
F64 = torch.float64
MIN_MARGIN = 0.05  # required smallest top-1 minus top-2 gap along each greedy path
MAX_NEW_TOKENS = 8

# ----------------------------------------------------------------------------------------------------------------
# safetensors, written by hand: u64 little-endian header length, JSON header (padded with spaces to a multiple of
# 8 bytes, as the safetensors library does), then the raw little-endian tensor bytes back to back.

ST_DTYPES = {torch.float64: ("F64", 8), torch.float32: ("F32", 4), torch.float16: ("F16", 2),
             torch.bfloat16: ("BF16", 2), torch.int64: ("I64", 8), torch.uint8: ("U8", 1), torch.bool: ("BOOL", 1)}


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    if t.dtype == torch.bool:
        return t.to(torch.uint8).numpy().tobytes()
    np_le = {torch.float64: "<f8", torch.float32: "<f4", torch.float16: "<f2", torch.int64: "<i8",
             torch.uint8: "u1"}[t.dtype]
    return t.numpy().astype(np_le).tobytes()


def safetensors_bytes(tensors, metadata=None):
    """tensors: list of (name, tensor). Laid out as the safetensors library does: by element size descending, then
    by name, so every tensor starts at a multiple of its element size (the data starts 8-aligned). Header keys:
    __metadata__ then the tensors by name."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    entries = {}
    for name, t in sorted(tensors, key=lambda nt: (-nt[1].element_size(), nt[0])):
        b = tensor_bytes(t)
        entries[name] = {"dtype": ST_DTYPES[t.dtype][0], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    for name in sorted(entries):
        header[name] = entries[name]
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def read_safetensors(path):
    """Independent reader used for the round-trip self-check. Returns (metadata, {name: tensor})."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", None)
    base = 8 + n
    out, spans = {}, []
    for name, e in header.items():
        s, t = e["data_offsets"]
        spans.append((s, t))
        chunk = bytearray(raw[base + s:base + t])
        dt = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "I64": torch.int64,
              "U8": torch.uint8}.get(e["dtype"])
        if e["dtype"] == "BF16":
            x = torch.frombuffer(chunk, dtype=torch.int16).view(torch.bfloat16) if chunk else torch.empty(0)
        elif e["dtype"] == "BOOL":
            x = torch.frombuffer(chunk, dtype=torch.uint8).to(torch.bool)
        else:
            x = torch.frombuffer(chunk, dtype=dt)
        out[name] = x.reshape(e["shape"]).clone()
    spans.sort()
    pos = 0
    for s, t in spans:  # contiguous, no gaps, no overlaps
        assert s == pos, (path, s, pos)
        pos = t
    assert base % 8 == 0
    for name, e in header.items():  # aligned to the element size
        assert e["data_offsets"][0] % out[name].element_size() == 0, (path, name)
    assert base + pos == len(raw), path
    return meta, out


def write_bytes(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_json(path, obj, sort_keys=True):
    """HF writes config.json / generation_config.json / index json with indent=2, sort_keys=True and a newline."""
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n").encode("utf-8"))


def compact_json(obj, indent=0):
    """indent=2 JSON whose lists of scalars stay on one line (expected.json, manifest.json: readable diffs)."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {compact_json(v, indent + 2)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(x, (dict, list)) for x in obj):
        if all(isinstance(x, list) and not any(isinstance(y, (dict, list)) for y in x) for x in obj):
            return "[" + ", ".join(compact_json(x) for x in obj) + "]"
        return "[\n" + ",\n".join(inner + compact_json(x, indent + 2) for x in obj) + "\n" + pad + "]"
    if isinstance(obj, list):
        return "[" + ", ".join(json.dumps(x, ensure_ascii=False) for x in obj) + "]"
    return json.dumps(obj, ensure_ascii=False)


def write_compact_json(path, obj):
    write_bytes(path, (compact_json(obj) + "\n").encode("utf-8"))


# ----------------------------------------------------------------------------------------------------------------
# Tokenizers (tokenizers-library JSON) and small Python encoders for them


def bytes_to_unicode():
    """GPT-2's byte -> printable unicode map, in its vocabulary order (printable bytes first, then the others
    shifted to 256 + n). Index i of the returned list is vocab id i."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [(b, chr(c)) for b, c in zip(bs, cs)]


BYTE_ORDER = bytes_to_unicode()
BYTE_TO_CHAR = dict(BYTE_ORDER)

# Merges of common English pieces, in rank order ("Ġ" is the byte-level space). Each result becomes a vocab entry.
ENGLISH_MERGES = [
    "Ġ t", "h e", "i n", "Ġ a", "r e", "o n", "Ġt he", "e r", "Ġ s", "a t", "Ġ w", "Ġ o", "e n", "Ġ c", "i s",
    "a n", "o r", "e s", "in g", "e d", "Ġ f", "o u", "Ġa n", "Ġan d", "Ġ m", "Ġo f", "Ġ in", "Ġ d", "Ġ h", "Ġt o",
    "l l", "Ġc at", "Ġs at", "Ġ on", "Ġm at", "Ġd o", "Ġdo g", "T he", "Ġ is", "Ġ l", "o w", "Ġh ou", "Ġhou s",
]

GPT2_PRETOKENIZE = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# The same pattern for ASCII text in Python's re (no \p classes): \p{L} -> [A-Za-z], \p{N} -> [0-9].
LLAMA3_PRETOKENIZE = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]{1,3}"
                                r"| ?[^\sA-Za-z0-9]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def bpe_vocab(merges):
    vocab = {ch: i for i, (_, ch) in enumerate(BYTE_ORDER)}
    for m in merges:
        a, b = m.split(" ")
        assert a in vocab and b in vocab, m
        assert a + b not in vocab, m
        vocab[a + b] = len(vocab)
    return vocab


def bpe_word(word, ranks, vocab, ignore_merges):
    """The `tokenizers` BPE on one pre-token (already byte-to-unicode mapped): repeatedly merge the adjacent pair of
    lowest rank. ignore_merges (Llama 3): a pre-token that is itself in the vocab is one token."""
    if ignore_merges and word in vocab:
        return [word]
    parts = list(word)
    while len(parts) > 1:
        best = min(range(len(parts) - 1), key=lambda i: ranks.get((parts[i], parts[i + 1]), math.inf))
        if (parts[best], parts[best + 1]) not in ranks:
            break
        parts[best:best + 2] = [parts[best] + parts[best + 1]]
    return parts


def bytelevel_encode(text, tok, scheme):
    """Python encoder for the byte-level tokenizers written below (ASCII text without added tokens)."""
    assert text.isascii()
    model = tok["model"]
    vocab = model["vocab"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    ranks = {m: i for i, m in enumerate(merges)}
    pat = GPT2_PRETOKENIZE if scheme == "gpt2" else LLAMA3_PRETOKENIZE
    ids = []
    for piece in pat.findall(text):
        mapped = "".join(BYTE_TO_CHAR[b] for b in piece.encode("utf-8"))
        ids += [vocab[p] for p in bpe_word(mapped, ranks, vocab, model.get("ignore_merges", False))]
    if scheme == "llama3":
        ids = [tok["post_processor"]["processors"][1]["special_tokens"]["<|begin_of_text|>"]["ids"][0]] + ids
    return ids


def added_token(id_, content, normalized=False):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": normalized, "special": True}


def gpt2_tokenizer():
    """openai-community/gpt2's tokenizer.json structure: ByteLevel pre-tokenizer / post-processor / decoder, BPE with
    the 256 byte tokens in GPT-2's order, the merges above, and <|endoftext|> as the last id (an added special token
    that is also in model.vocab, as in GPT-2). Merges in the classic "a b" string form."""
    vocab = bpe_vocab(ENGLISH_MERGES)
    eot = len(vocab)
    vocab["<|endoftext|>"] = eot
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added_token(eot, "<|endoftext|>", normalized=True)],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": list(ENGLISH_MERGES)},
    }
    cfg = {
        "add_bos_token": False, "add_prefix_space": False,
        "added_tokens_decoder": {str(eot): {k: v for k, v in added_token(eot, "<|endoftext|>", True).items()
                                            if k != "id"}},
        "bos_token": "<|endoftext|>", "clean_up_tokenization_spaces": False, "eos_token": "<|endoftext|>",
        "errors": "replace", "extra_special_tokens": {}, "model_max_length": 64, "pad_token": None,
        "tokenizer_class": "GPT2Tokenizer", "unk_token": "<|endoftext|>",
    }
    return tok, cfg, eot + 1


def llama3_tokenizer():
    """Meta-Llama-3's tokenizer.json structure: Split(llama3 regex, Isolated) + ByteLevel(use_regex false)
    pre-tokenizer, BPE with ignore_merges, <|begin_of_text|> / <|end_of_text|> as added special tokens after the
    BPE vocab (not in model.vocab), post-processor Sequence[ByteLevel, TemplateProcessing] that prepends BOS.
    Merges in the newer [a, b] pair form."""
    merges = ENGLISH_MERGES[:-1]
    vocab = bpe_vocab(merges)
    bos, eos = len(vocab), len(vocab) + 1
    bos_item = {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added_token(bos, "<|begin_of_text|>"), added_token(eos, "<|end_of_text|>")],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [bos_item, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [bos_item, {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                      {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [bos],
                                                      "tokens": ["<|begin_of_text|>"]}}}]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": [m.split(" ") for m in merges]},
    }
    dec = {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in tok["added_tokens"]}
    cfg = {"added_tokens_decoder": dec, "bos_token": "<|begin_of_text|>", "clean_up_tokenization_spaces": True,
           "eos_token": "<|end_of_text|>", "extra_special_tokens": {},
           "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 64,
           "tokenizer_class": "PreTrainedTokenizerFast"}
    return tok, cfg, eos + 1


BERT_WORDS = (
    "the a an and of to in on is was it he she they we you i that this with for at by from as be are were has had "
    "have not but or so if then there here cat dog mat sat house tree car road man woman child day night time year "
    "way world life hand eye head home water food book door room city sun moon rain play run walk talk read write "
    "see look go come make take give find think know want like love happy sad good bad big small new old red blue "
    "green black white very"
).split()
BERT_PIECES = ["##s", "##ing", "##ed", "##er", "##ly", "##est", "##es", "##y", "##en", "##al"]
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BERT_PUNCT = [".", ",", "!", "?", "'", "-"]


def bert_tokenizer():
    """bert-base-uncased's tokenizer.json structure: BertNormalizer(lowercase), BertPreTokenizer, WordPiece with
    "##" continuation, TemplateProcessing [CLS] $A [SEP] / [CLS] $A [SEP] $B:1 [SEP]:1, WordPiece decoder."""
    tokens = BERT_SPECIALS + BERT_PUNCT + BERT_WORDS + BERT_PIECES
    assert len(set(tokens)) == len(tokens)
    vocab = {t: i for i, t in enumerate(tokens)}
    cls_, sep = vocab["[CLS]"], vocab["[SEP]"]
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added_token(vocab[t], t) for t in BERT_SPECIALS],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [cls_], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [sep], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }
    dec = {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in tok["added_tokens"]}
    cfg = {"added_tokens_decoder": dec, "clean_up_tokenization_spaces": True, "cls_token": "[CLS]",
           "do_lower_case": True, "extra_special_tokens": {}, "mask_token": "[MASK]", "model_max_length": 64,
           "pad_token": "[PAD]", "sep_token": "[SEP]", "strip_accents": None, "tokenize_chinese_chars": True,
           "tokenizer_class": "BertTokenizer", "unk_token": "[UNK]"}
    return tok, cfg, len(vocab)


def wordpiece_encode_text(text, tok):
    """BERT: split out the special tokens (normalized: false), lowercase, split on whitespace and punctuation, then
    greedy longest-match WordPiece with "##" ([UNK] for a word that cannot be covered)."""
    assert text.isascii()
    vocab = tok["model"]["vocab"]
    specials = [t["content"] for t in tok["added_tokens"]]
    out = []
    for section in re.split("(" + "|".join(re.escape(s) for s in specials) + ")", text):
        if section in specials:
            out.append(vocab[section])
            continue
        for word in re.findall(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]", section.lower()):
            start, pieces = 0, []
            while start < len(word):
                end = len(word)
                while end > start:
                    cand = ("##" if start > 0 else "") + word[start:end]
                    if cand in vocab:
                        break
                    end -= 1
                if end == start:
                    pieces = [vocab["[UNK]"]]
                    break
                pieces.append(vocab[("##" if start > 0 else "") + word[start:end]])
                start = end
            out += pieces
    return out


def bert_encode(text, tok):
    """text: a string, or [a, b] for a pair. Returns (ids, token_type_ids)."""
    v = tok["model"]["vocab"]
    if isinstance(text, str):
        a = wordpiece_encode_text(text, tok)
        return [v["[CLS]"]] + a + [v["[SEP]"]], [0] * (len(a) + 2)
    a, b = wordpiece_encode_text(text[0], tok), wordpiece_encode_text(text[1], tok)
    return [v["[CLS]"]] + a + [v["[SEP]"]] + b + [v["[SEP]"]], [0] * (len(a) + 2) + [1] * (len(b) + 1)


NODE_ENCODE = r"""
import { Tokenizer } from "@huggingface/tokenizers";
let input = "";
for await (const chunk of process.stdin) input += chunk;
const jobs = JSON.parse(input);
const out = jobs.map(({ tokenizer, config, texts }) => {
  const t = new Tokenizer(tokenizer, config);
  return texts.map((text) => {
    const pair = Array.isArray(text);
    const e = pair ? t.encode(text[0], { text_pair: text[1], return_token_type_ids: true })
                   : t.encode(text, { return_token_type_ids: true });
    return { ids: e.ids, tokens: e.tokens, token_type_ids: e.token_type_ids ?? null,
             decoded: t.decode(e.ids, { skip_special_tokens: true }) };
  });
});
process.stdout.write(JSON.stringify(out));
"""


def node_encode(jobs):
    """Encodes with the npm @huggingface/tokenizers (the package qkv uses) through node; None if unavailable."""
    if not os.path.isdir(os.path.join("node_modules", "@huggingface", "tokenizers")) or shutil.which("node") is None:
        return None
    r = subprocess.run(["node", "--input-type=module", "-e", NODE_ENCODE], input=json.dumps(jobs).encode(),
                       capture_output=True, check=False)
    if r.returncode != 0:
        sys.exit("node @huggingface/tokenizers failed:\n" + r.stderr.decode())
    return json.loads(r.stdout)


# ----------------------------------------------------------------------------------------------------------------
# Random weights (drawn in float32 from a per-case generator, in the order HF's state_dict lists them)


class Draw:
    """Weight draws of O(1) effect: projections N(0, (scale/sqrt(fan_in))^2), biases N(0, bias^2), norm weights
    1 + N(0, 0.15^2), norm biases N(0, 0.1^2)."""

    def __init__(self, seed, scale=1.7, bias=0.2):
        self.g = torch.Generator().manual_seed(seed)
        self.scale, self.bias_std = scale, bias

    def randn(self, *shape):
        return torch.randn(*shape, generator=self.g, dtype=torch.float32)

    def proj(self, out_f, in_f, conv1d=False):
        w = self.randn(out_f, in_f) * (self.scale / math.sqrt(in_f))
        return w.t().contiguous() if conv1d else w  # Conv1D stores [in, out]

    def bias(self, n, std=None):
        return self.randn(n) * (self.bias_std if std is None else std)

    def norm_w(self, n):
        return 1.0 + 0.15 * self.randn(n)

    def norm_b(self, n):
        return 0.1 * self.randn(n)

    def emb(self, n, d, std):
        return self.randn(n, d) * std


def gpt2_checkpoint(cfg, dr, prefixed, wte_std=0.6, wpe_std=0.3):
    """GPT2LMHeadModel state dict. Returns (params: list of (name, float32 tensor), buffers: list of (name, tensor))
    with HF's names; prefixed adds "transformer." and an explicit tied lm_head.weight."""
    D, P, L = cfg["n_embd"], cfg["n_positions"], cfg["n_layer"]
    F = cfg["n_inner"] or 4 * D
    pre = "transformer." if prefixed else ""
    params, buffers = [], []
    wte = dr.emb(cfg["vocab_size"], D, wte_std)
    params += [(pre + "wte.weight", wte), (pre + "wpe.weight", dr.emb(P, D, wpe_std))]
    for i in range(L):
        h = f"{pre}h.{i}."
        params += [(h + "ln_1.weight", dr.norm_w(D)), (h + "ln_1.bias", dr.norm_b(D))]
        if prefixed:  # old-style uint8 causal buffer and an F16 masked_bias, as old half-precision exports have
            buffers += [(h + "attn.bias", torch.tril(torch.ones(P, P, dtype=torch.uint8)).view(1, 1, P, P)),
                        (h + "attn.masked_bias", torch.tensor(-1e4, dtype=torch.float16))]
        else:  # openai-community/gpt2 model.safetensors: F32 tril [1, 1, P, P] and a scalar F32 masked_bias
            buffers += [(h + "attn.bias", torch.tril(torch.ones(P, P)).view(1, 1, P, P)),
                        (h + "attn.masked_bias", torch.tensor(-1e4, dtype=torch.float32))]
        params += [(h + "attn.c_attn.weight", dr.proj(3 * D, D, conv1d=True)), (h + "attn.c_attn.bias", dr.bias(3 * D)),
                   (h + "attn.c_proj.weight", dr.proj(D, D, conv1d=True)), (h + "attn.c_proj.bias", dr.bias(D)),
                   (h + "ln_2.weight", dr.norm_w(D)), (h + "ln_2.bias", dr.norm_b(D)),
                   (h + "mlp.c_fc.weight", dr.proj(F, D, conv1d=True)), (h + "mlp.c_fc.bias", dr.bias(F)),
                   (h + "mlp.c_proj.weight", dr.proj(D, F, conv1d=True)), (h + "mlp.c_proj.bias", dr.bias(D))]
    params += [(pre + "ln_f.weight", dr.norm_w(D)), (pre + "ln_f.bias", dr.norm_b(D))]
    if prefixed:
        params.append(("lm_head.weight", wte))
    return params, buffers


def gpt2_canonical(ckpt):
    out = {}
    for k, v in ckpt.items():
        if k == "lm_head.weight":
            continue
        out[k[len("transformer."):] if k.startswith("transformer.") else k] = v
    if "lm_head.weight" in ckpt:
        assert torch.equal(ckpt["lm_head.weight"], out["wte.weight"]), "lm_head must equal wte (tied)"
    return out


def bert_checkpoint(cfg, dr, mlm, word_std=0.025, pos_std=0.01, type_std=0.01):
    """BertForMaskedLM as bert-base-uncased ships it (prefix bert., LayerNorm gamma/beta, pooler, cls.predictions.*,
    cls.seq_relationship.*, no cls.predictions.decoder.weight: tied to the word embeddings) when mlm; else
    BertModel with modern names (LayerNorm weight/bias, no prefix) and the legacy embeddings.position_ids buffer."""
    D, F, L, P = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], cfg["max_position_embeddings"]
    pre = "bert." if mlm else ""
    g, b = ("gamma", "beta") if mlm else ("weight", "bias")
    params, buffers = [], []
    if not mlm:
        buffers.append(("embeddings.position_ids", torch.arange(P, dtype=torch.int64).view(1, P)))
    params += [(pre + "embeddings.word_embeddings.weight", dr.emb(cfg["vocab_size"], D, word_std)),
               (pre + "embeddings.position_embeddings.weight", dr.emb(P, D, pos_std)),
               (pre + "embeddings.token_type_embeddings.weight", dr.emb(cfg["type_vocab_size"], D, type_std)),
               (pre + "embeddings.LayerNorm." + g, dr.norm_w(D)), (pre + "embeddings.LayerNorm." + b, dr.norm_b(D))]
    for i in range(L):
        p = f"{pre}encoder.layer.{i}."
        for n in ("query", "key", "value"):
            params += [(p + f"attention.self.{n}.weight", dr.proj(D, D)), (p + f"attention.self.{n}.bias", dr.bias(D))]
        params += [(p + "attention.output.dense.weight", dr.proj(D, D)), (p + "attention.output.dense.bias", dr.bias(D)),
                   (p + "attention.output.LayerNorm." + g, dr.norm_w(D)),
                   (p + "attention.output.LayerNorm." + b, dr.norm_b(D)),
                   (p + "intermediate.dense.weight", dr.proj(F, D)), (p + "intermediate.dense.bias", dr.bias(F)),
                   (p + "output.dense.weight", dr.proj(D, F)), (p + "output.dense.bias", dr.bias(D)),
                   (p + "output.LayerNorm." + g, dr.norm_w(D)), (p + "output.LayerNorm." + b, dr.norm_b(D))]
    params += [(pre + "pooler.dense.weight", dr.proj(D, D)), (pre + "pooler.dense.bias", dr.bias(D))]
    if mlm:
        params += [("cls.predictions.bias", dr.bias(cfg["vocab_size"], 0.1)),
                   ("cls.predictions.transform.dense.weight", dr.proj(D, D)),
                   ("cls.predictions.transform.dense.bias", dr.bias(D)),
                   ("cls.predictions.transform.LayerNorm.gamma", dr.norm_w(D)),
                   ("cls.predictions.transform.LayerNorm.beta", dr.norm_b(D)),
                   ("cls.seq_relationship.weight", dr.proj(2, D)), ("cls.seq_relationship.bias", dr.bias(2))]
    return params, buffers


def bert_canonical(ckpt):
    out = {}
    for k, v in ckpt.items():
        if k.startswith("cls.seq_relationship."):
            continue  # NSP head: not part of BertForMaskedLM
        k = k[len("bert."):] if k.startswith("bert.") else k
        k = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", k)
        k = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", k)
        out[k] = v
    return out


def llama_checkpoint(cfg, dr, family, emb_std, head_std_scale=2.0):
    """LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM state dict (nn.Linear weights [out, in])."""
    D, F, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    H, Hkv, d = cfg["num_attention_heads"], cfg["num_key_value_heads"], ref.llama_head_dim(cfg)
    qkv_bias = family == "qwen2" or cfg.get("attention_bias", False)
    params, buffers = [("model.embed_tokens.weight", dr.emb(cfg["vocab_size"], D, emb_std))], []
    for i in range(L):
        p = f"model.layers.{i}."
        params.append((p + "self_attn.q_proj.weight", dr.proj(H * d, D)))
        if qkv_bias:
            params.append((p + "self_attn.q_proj.bias", dr.bias(H * d, 0.3)))
        params.append((p + "self_attn.k_proj.weight", dr.proj(Hkv * d, D)))
        if qkv_bias:
            params.append((p + "self_attn.k_proj.bias", dr.bias(Hkv * d, 0.3)))
        params.append((p + "self_attn.v_proj.weight", dr.proj(Hkv * d, D)))
        if qkv_bias:
            params.append((p + "self_attn.v_proj.bias", dr.bias(Hkv * d, 0.3)))
        params.append((p + "self_attn.o_proj.weight", dr.proj(D, H * d)))
        if family == "mistral":  # a persisted rotary buffer, as some older exports carry: the loader must ignore it
            inv = (1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d)))
            buffers.append((p + "self_attn.rotary_emb.inv_freq", inv.to(torch.float32)))
        params += [(p + "mlp.gate_proj.weight", dr.proj(F, D)), (p + "mlp.up_proj.weight", dr.proj(F, D)),
                   (p + "mlp.down_proj.weight", dr.proj(D, F)),
                   (p + "input_layernorm.weight", dr.norm_w(D)), (p + "post_attention_layernorm.weight", dr.norm_w(D))]
    params.append(("model.norm.weight", dr.norm_w(D)))
    if not cfg["tie_word_embeddings"]:
        params.append(("lm_head.weight", dr.randn(cfg["vocab_size"], D) * (head_std_scale / math.sqrt(D))))
    return params, buffers


def llama_canonical(ckpt):
    return dict(ckpt)


# ----------------------------------------------------------------------------------------------------------------
# Configs (HF's field names; the fields a save_pretrained of that version writes for these models)


def gpt2_config(vocab, n_inner, dtype, eot):
    return {
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
        "bos_token_id": eot, "embd_pdrop": 0.1, "eos_token_id": eot, "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 64, "n_embd": 32, "n_head": 4,
        "n_inner": n_inner, "n_layer": 2, "n_positions": 64, "reorder_and_upcast_attn": False, "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True, "summary_activation": None,
        "summary_first_dropout": 0.1, "summary_proj_to_labels": True, "summary_type": "cls_index",
        "summary_use_proj": True, "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
        "torch_dtype": dtype, "transformers_version": TRANSFORMERS_VERSION, "use_cache": True, "vocab_size": vocab,
    }


def bert_config(vocab, layers, arch):
    return {
        "architectures": [arch], "attention_probs_dropout_prob": 0.1, "classifier_dropout": None,
        "gradient_checkpointing": False, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 32,
        "initializer_range": 0.02, "intermediate_size": 64, "layer_norm_eps": 1e-12, "max_position_embeddings": 64,
        "model_type": "bert", "num_attention_heads": 4, "num_hidden_layers": layers, "pad_token_id": 0,
        "position_embedding_type": "absolute", "torch_dtype": "float32", "transformers_version": TRANSFORMERS_VERSION,
        "type_vocab_size": 2, "use_cache": True, "vocab_size": vocab,
    }


def llama_config(vocab, bos, eos, dtype, tie, rope_scaling=None, max_pos=64):
    return {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": bos, "eos_token_id": eos, "head_dim": 8, "hidden_act": "silu", "hidden_size": 32,
        "initializer_range": 0.02, "intermediate_size": 64, "max_position_embeddings": max_pos, "mlp_bias": False,
        "model_type": "llama", "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
        "pretraining_tp": 1, "rms_norm_eps": 1e-06, "rope_scaling": rope_scaling, "rope_theta": 10000.0,
        "tie_word_embeddings": tie, "torch_dtype": dtype, "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True, "vocab_size": vocab,
    }


def mistral_config():
    return {
        "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
        "head_dim": 16, "hidden_act": "silu", "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64,
        "max_position_embeddings": 64, "model_type": "mistral", "num_attention_heads": 4, "num_hidden_layers": 2,
        "num_key_value_heads": 2, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4,
        "tie_word_embeddings": False, "torch_dtype": "float32", "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True, "vocab_size": 256,
    }


def qwen2_config():
    return {
        "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 254, "eos_token_id": 255,
        "hidden_act": "silu", "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64,
        "max_position_embeddings": 64, "max_window_layers": 1, "model_type": "qwen2", "num_attention_heads": 4,
        "num_hidden_layers": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-06, "rope_scaling": None,
        "rope_theta": 1000000.0, "sliding_window": 4, "tie_word_embeddings": True, "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_VERSION, "use_cache": True, "use_sliding_window": False,
        "vocab_size": 256,
    }


def generation_config(bos, eos, pad=None):
    g = {"_from_model_config": True, "bos_token_id": bos, "eos_token_id": eos,
         "transformers_version": TRANSFORMERS_VERSION}
    if pad is not None:
        g["pad_token_id"] = pad
    return g


# ----------------------------------------------------------------------------------------------------------------
# Cases

STORE = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
TORCH_DTYPE_NAME = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}

CASES = [
    {"case": "gpt2", "family": "gpt2", "dtype": "F32", "offset": 0, "tokenizer": "gpt2",
     "text": ["The cat sat on the mat and the dog", "A dog is on the mat"]},
    {"case": "gpt2-prefixed-f16", "family": "gpt2", "dtype": "F16", "offset": 100, "lengths": [9, 6]},
    {"case": "bert-mlm", "family": "bert", "dtype": "F32", "offset": 200, "tokenizer": "bert",
     "text": [["The cat sat on the [MASK].", "It was very happy!"], "A dog is playing with zzz"]},
    {"case": "bert-base", "family": "bert", "dtype": "F32", "offset": 300, "lengths": [10, 7]},
    {"case": "llama", "family": "llama", "dtype": "BF16", "offset": 400, "tokenizer": "llama3",
     "text": ["The dog sat on the mat and the cat", "A cat is in the house"]},
    {"case": "llama-sharded", "family": "llama", "dtype": "F32", "offset": 500, "lengths": [9, 6], "shards": 2},
    {"case": "mistral", "family": "mistral", "dtype": "F32", "offset": 600, "lengths": [12, 9]},
    {"case": "qwen2", "family": "qwen2", "dtype": "F32", "offset": 700, "lengths": [10, 7]},
]

LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 128}


def build_case(spec, seed, tokenizers):
    """Returns (config, params, buffers, extra) for one seed; params/buffers are (name, float32 tensor) lists."""
    c, fam = spec["case"], spec["family"]
    dr = Draw(seed)
    if c == "gpt2":
        cfg = gpt2_config(tokenizers["gpt2"][2], None, "float32", tokenizers["gpt2"][2] - 1)
        params, buffers = gpt2_checkpoint(cfg, dr, prefixed=False)
    elif c == "gpt2-prefixed-f16":
        cfg = gpt2_config(300, 128, "float16", 299)
        params, buffers = gpt2_checkpoint(cfg, dr, prefixed=True)
    elif c == "bert-mlm":
        cfg = bert_config(tokenizers["bert"][2], 2, "BertForMaskedLM")
        params, buffers = bert_checkpoint(cfg, dr, mlm=True)
    elif c == "bert-base":
        cfg = bert_config(128, 3, "BertModel")
        params, buffers = bert_checkpoint(cfg, dr, mlm=False)
    elif c == "llama":
        v = tokenizers["llama3"][2]
        cfg = llama_config(v, v - 2, v - 1, "bfloat16", tie=False)
        params, buffers = llama_checkpoint(cfg, dr, fam, emb_std=0.02)
    elif c == "llama-sharded":
        cfg = llama_config(300, 298, 299, "float32", tie=True, rope_scaling=dict(LLAMA3_SCALING), max_pos=256)
        params, buffers = llama_checkpoint(cfg, dr, fam, emb_std=0.6)
    elif c == "mistral":
        cfg = mistral_config()
        params, buffers = llama_checkpoint(cfg, dr, fam, emb_std=0.02)
    elif c == "qwen2":
        cfg = qwen2_config()
        params, buffers = llama_checkpoint(cfg, dr, fam, emb_std=0.6)
    else:
        raise ValueError(c)
    return cfg, params, buffers


def canonical(fam, stored):
    """float64 reference weights under hf_reference's canonical names, from the stored (rounded) tensors."""
    f64 = {k: v.to(F64) for k, v in stored.items()}
    return {"gpt2": gpt2_canonical, "bert": bert_canonical}.get(fam, llama_canonical)(f64)


def random_ids(seed, lengths, vocab, lo, hi, bos=None):
    g = torch.Generator().manual_seed(seed + 7)
    out = []
    for n in lengths:
        ids = torch.randint(lo, hi, (n,), generator=g).tolist()
        if bos is not None:
            ids[0] = bos
        out.append(ids)
    return out


def run_reference(spec, cfg, W, input_ids, token_type_ids):
    fam = spec["family"]
    traces = []
    for b, ids in enumerate(input_ids):
        tt = token_type_ids[b] if token_type_ids is not None else None
        traces.append(ref.forward(fam, cfg, W, ids, tt, bert_head=spec["case"] == "bert-mlm",
                                  bert_pooler=spec["case"] == "bert-base"))
    return traces


def check_trace(spec, cfg, tr, n):
    """Self-checks: attention rows sum to 1, masked (future / out-of-window) weights are exactly 0, shapes."""
    fam = spec["family"]
    for l, a in enumerate(tr["attentions"]):
        assert torch.allclose(a.sum(-1), torch.ones_like(a.sum(-1)), atol=1e-12, rtol=0), (spec["case"], l)
        if fam != "bert":
            window = ref.attention_window(cfg, fam, l)
            allowed = ref.causal_allowed(n, window)
            assert bool((a[:, ~allowed] == 0).all()), (spec["case"], l, "masked weight not 0")
            assert bool((a[:, allowed] > 0).all()), (spec["case"], l, "allowed weight is 0")
    L = len(tr["attentions"])
    assert len(tr["hidden_states"]) == L + 1 and len(tr["resid_post"]) == L
    for name in ("logits", "last_hidden_state"):
        if name in tr:
            assert bool(torch.isfinite(tr[name]).all()), (spec["case"], name)


def mean_max_attention(traces):
    vals = [a.max(-1).values.flatten() for tr in traces for a in tr["attentions"]]
    return float(torch.cat(vals).mean())


def expected_tensors(spec, traces):
    """The float64 tensors of expected.safetensors, by the names of the contract (README.md)."""
    out = []
    for b, tr in enumerate(traces):
        s = f"seq{b}."
        if "logits" in tr:
            out.append((s + "logits", tr["logits"]))
        out.append((s + "last_hidden_state", tr["last_hidden_state"]))
        if "pooler_output" in tr:
            out.append((s + "pooler_output", tr["pooler_output"]))
        for l, h in enumerate(tr["hidden_states"]):
            out.append((s + f"hidden_states.{l}", h))
        for key in ("attentions", "q", "k", "v", "z", "resid_post"):
            for l, t in enumerate(tr[key]):
                out.append((s + f"{key}.{l}", t))
    return [(k, v.to(F64).contiguous()) for k, v in out]


# ----------------------------------------------------------------------------------------------------------------
# Sensitivity: how far the reference moves under the loader bugs the fixtures must catch (weight/config edits that
# are equivalent to each bug). Reported as max |delta| / max |reference| over logits (or last_hidden_state).


def interleave_perm(d):
    """Row permutation within a head so that HF's rotate_half RoPE on the permuted weights equals the interleaved
    (GPT-J / Meta) RoPE convention on the original weights."""
    return list(range(0, d, 2)) + list(range(1, d, 2))


def perturbations(spec, cfg, W):
    fam, out = spec["family"], []

    def edit(label, cfg_edit=None, w_edit=None, expect_visible=True):
        c2, w2 = copy.deepcopy(cfg), dict(W)
        if cfg_edit:
            cfg_edit(c2)
        if w_edit:
            w_edit(w2)
        out.append((label, c2, w2, expect_visible))

    def zero(name):
        return lambda w: w.__setitem__(name, torch.zeros_like(w[name]))

    def transpose(name):
        return lambda w: w.__setitem__(name, w[name].t().contiguous())

    if fam == "gpt2":
        D = cfg["n_embd"]
        edit("c_attn bias dropped (layer 0)", w_edit=zero("h.0.attn.c_attn.bias"))
        edit("k part of c_attn bias dropped (softmax-invariant; shows only in k)",
             w_edit=lambda w: w.__setitem__("h.0.attn.c_attn.bias",
                                            torch.cat([w["h.0.attn.c_attn.bias"][:D], torch.zeros(D, dtype=F64),
                                                       w["h.0.attn.c_attn.bias"][2 * D:]])), expect_visible=False)
        edit("mlp.c_fc bias dropped (layer 1)", w_edit=zero("h.1.mlp.c_fc.bias"))
        edit("attn.c_proj transposed (layer 0)", w_edit=transpose("h.0.attn.c_proj.weight"))
        edit("gelu (erf) instead of gelu_new", cfg_edit=lambda c: c.__setitem__("activation_function", "gelu"),
             expect_visible=False)
        edit("no 1/sqrt(d) scaling", cfg_edit=lambda c: c.__setitem__("scale_attn_weights", False))
        edit("layer_norm_epsilon 1e-12 instead of 1e-5",
             cfg_edit=lambda c: c.__setitem__("layer_norm_epsilon", 1e-12), expect_visible=False)
    elif fam == "bert":
        edit("layer_norm_eps 1e-5 instead of 1e-12", cfg_edit=lambda c: c.__setitem__("layer_norm_eps", 1e-5))
        edit("gelu_new (tanh) instead of gelu (erf)", cfg_edit=lambda c: c.__setitem__("hidden_act", "gelu_new"),
             expect_visible=False)
        edit("value bias dropped (layer 0)", w_edit=zero("encoder.layer.0.attention.self.value.bias"))
        edit("attention.output.dense transposed (layer 0)",
             w_edit=transpose("encoder.layer.0.attention.output.dense.weight"))
        edit("token_type embeddings ignored", w_edit=lambda w: w.__setitem__(
            "embeddings.token_type_embeddings.weight",
            w["embeddings.token_type_embeddings.weight"][0:1].expand(2, -1).contiguous()))
    else:
        H, Hkv, d = cfg["num_attention_heads"], cfg["num_key_value_heads"], ref.llama_head_dim(cfg)
        perm = interleave_perm(d)

        def interleaved(w):
            for i in range(cfg["num_hidden_layers"]):
                for proj, heads in (("q_proj", H), ("k_proj", Hkv)):
                    for suffix in ("weight", "bias"):
                        k = f"model.layers.{i}.self_attn.{proj}.{suffix}"
                        if k in w:
                            t = w[k].reshape(heads, d, -1)[:, perm].reshape(w[k].shape)
                            w[k] = t
        edit("interleaved RoPE instead of rotate_half", w_edit=interleaved)
        edit("rms_norm_eps 1e-5 <-> 1e-6", cfg_edit=lambda c: c.__setitem__(
            "rms_norm_eps", 1e-6 if c["rms_norm_eps"] == 1e-5 else 1e-5),
            expect_visible=spec["case"] in ("llama", "mistral"))
        if H * d == cfg["hidden_size"]:  # square only then
            edit("o_proj transposed (layer 0)", w_edit=transpose("model.layers.0.self_attn.o_proj.weight"))
        edit("rope_theta x 50", cfg_edit=lambda c: c.__setitem__("rope_theta", c["rope_theta"] * 50))
        if cfg.get("rope_scaling"):
            edit("llama3 rope_scaling ignored", cfg_edit=lambda c: c.__setitem__("rope_scaling", None))
        if fam == "mistral":
            edit("sliding window ignored", cfg_edit=lambda c: c.__setitem__("sliding_window", None))
        if fam == "qwen2":
            for n in ("q", "k", "v"):
                edit(f"{n}_proj bias dropped (layer 0)", w_edit=zero(f"model.layers.0.self_attn.{n}_proj.bias"))
            edit("sliding_window applied although use_sliding_window is false",
                 cfg_edit=lambda c: c.__setitem__("use_sliding_window", True))
    return out


def sensitivity(spec, cfg, W, input_ids, token_type_ids, base):
    res = {}
    for label, c2, w2, expect_visible in perturbations(spec, cfg, W):
        tr = run_reference(spec, c2, w2, input_ids, token_type_ids)
        key = "logits" if "logits" in base[0] else "last_hidden_state"
        rel = max(float((t[key] - b[key]).abs().max() / b[key].abs().max()) for t, b in zip(tr, base))
        res[label] = rel
        if expect_visible:
            assert rel > 1e-3, f"{spec['case']}: '{label}' changes {key} by only {rel:.2e}"
    return res


# ----------------------------------------------------------------------------------------------------------------
# Writing a case


def shard_split(params, shards):
    """HF's save_pretrained shards by walking the state dict in order; here the first shard gets the embeddings and
    the first half of the layers, the second the rest (and the final norm)."""
    assert shards == 2
    names = [n for n, _ in params]
    cut = next(i for i, n in enumerate(names) if n.startswith("model.layers.1."))
    return [params[:cut], params[cut:]]


def write_weights(case_dir, params, buffers, spec):
    store = STORE[spec["dtype"]]
    stored = [(n, t.to(store)) for n, t in params] + list(buffers)
    meta = {"format": "pt"}
    if spec.get("shards"):
        groups = shard_split(stored, spec["shards"])
        total = len(groups)
        weight_map, total_size = {}, 0
        for i, grp in enumerate(groups):
            fname = f"model-{i + 1:05d}-of-{total:05d}.safetensors"
            write_bytes(os.path.join(case_dir, fname), safetensors_bytes(grp, meta))
            for n, t in grp:
                weight_map[n] = fname
                total_size += t.numel() * t.element_size()
        write_json(os.path.join(case_dir, "model.safetensors.index.json"),
                   {"metadata": {"total_size": total_size}, "weight_map": weight_map})
        files = [f"model-{i + 1:05d}-of-{total:05d}.safetensors" for i in range(total)]
    else:
        write_bytes(os.path.join(case_dir, "model.safetensors"), safetensors_bytes(stored, meta))
        files = ["model.safetensors"]
    # round trip through the independent reader
    back = {}
    for f in files:
        m, t = read_safetensors(os.path.join(case_dir, f))
        assert m == meta
        back.update(t)
    for n, t in stored:
        assert back[n].dtype == t.dtype and list(back[n].shape) == list(t.shape) and torch.equal(back[n], t), n
    return {n: t for n, t in stored}


def make_case(spec, tokenizers, node_ids):
    c, fam = spec["case"], spec["family"]
    case_dir = os.path.join(OUT_DIR, c)
    if os.path.isdir(case_dir):
        shutil.rmtree(case_dir)
    os.makedirs(case_dir)

    token_type_ids = None
    text = spec.get("text")
    for attempt in range(40):
        seed = SEED + spec["offset"] + attempt
        cfg, params, buffers = build_case(spec, seed, tokenizers)
        if text is not None:
            input_ids = [e["ids"] for e in node_ids[c]]
            if fam == "bert":
                token_type_ids = [e["token_type_ids"] for e in node_ids[c]]
        elif fam == "bert":
            v = cfg["vocab_size"]
            input_ids = random_ids(seed, spec["lengths"], v, 5, v)
            input_ids = [[2] + ids[1:-1] + [3] for ids in input_ids]  # [CLS] ... [SEP] shape, like real inputs
            n0 = spec["lengths"][0]
            token_type_ids = [[0] * (n0 // 2) + [1] * (n0 - n0 // 2), [0] * spec["lengths"][1]]
        else:
            v = cfg["vocab_size"]
            bos = cfg["bos_token_id"] if fam in ("llama", "mistral") else None  # these prepend BOS; GPT-2, Qwen2 don't
            input_ids = random_ids(seed, spec["lengths"], v, 3, v - 3, bos=bos)
        store = STORE[spec["dtype"]]
        stored = {n: t.to(store) for n, t in params}
        W = canonical(fam, stored)
        traces = run_reference(spec, cfg, W, input_ids, token_type_ids)
        mma = mean_max_attention(traces)
        ok = 0.3 <= mma <= 0.9
        greedy = None
        if fam != "bert" and ok:
            toks, margin = ref.greedy(fam, cfg, W, input_ids[0], MAX_NEW_TOKENS)
            greedy = {"prompt": input_ids[0], "max_new_tokens": MAX_NEW_TOKENS, "tokens": toks}
            ok = margin > MIN_MARGIN
        if ok:
            break
    else:
        sys.exit(f"{c}: no seed within 40 tries meets the attention / greedy-margin targets")

    for b, tr in enumerate(traces):
        check_trace(spec, cfg, tr, len(input_ids[b]))
    assert len(input_ids[0]) != len(input_ids[1])
    assert all(0 <= i < cfg["vocab_size"] for ids in input_ids for i in ids)
    if greedy is not None:  # the greedy path must also be reproducible step by step from the stored logits
        assert int(traces[0]["logits"][-1].argmax()) == greedy["tokens"][0]
        assert margin > MIN_MARGIN

    write_json(os.path.join(case_dir, "config.json"), cfg)
    if fam != "bert":
        pad = None
        eos = cfg["eos_token_id"]
        if fam == "qwen2":  # Qwen2.5-style generation_config: a list of EOS ids and a pad id
            eos, pad = [cfg["eos_token_id"], cfg["bos_token_id"]], cfg["bos_token_id"]
        write_json(os.path.join(case_dir, "generation_config.json"), generation_config(cfg["bos_token_id"], eos, pad))
    if spec.get("tokenizer"):
        tok, tok_cfg, _ = tokenizers[spec["tokenizer"]]
        write_json(os.path.join(case_dir, "tokenizer.json"), tok, sort_keys=False)
        write_json(os.path.join(case_dir, "tokenizer_config.json"), tok_cfg)
    stored_all = write_weights(case_dir, params, buffers, spec)
    if spec["case"] == "gpt2-prefixed-f16":
        assert torch.equal(stored_all["lm_head.weight"], stored_all["transformer.wte.weight"])

    exp = expected_tensors(spec, traces)
    write_bytes(os.path.join(case_dir, "expected.safetensors"),
                safetensors_bytes(exp, {"format": "pt", "generator": "tools/make_hf_fixtures.py"}))
    _, back = read_safetensors(os.path.join(case_dir, "expected.safetensors"))
    for n, t in exp:
        assert torch.equal(back[n], t), n

    sens = sensitivity(spec, cfg, W, input_ids, token_type_ids, traces)
    info = {"case": c, "family": fam, "weights_dtype": spec["dtype"]}
    if text is not None:
        info["text"] = text
    info["input_ids"] = input_ids
    if token_type_ids is not None:
        info["token_type_ids"] = token_type_ids
    if greedy is not None:
        info["greedy"] = greedy
        info["min_greedy_margin"] = margin
    info["mean_max_attention"] = mma
    info["torch_version"] = torch.__version__
    info["seed"] = seed
    info["expected_tensors"] = {n: list(t.shape) for n, t in exp}
    info["sensitivity"] = sens
    if fam == "mistral":
        info["sliding_window_rule"] = "key j visible from query i iff 0 <= i - j < sliding_window"
    if cfg.get("rope_scaling"):
        info["inv_freq"] = {"default": rope_freqs(dict(cfg, rope_scaling=None)), "llama3": rope_freqs(cfg)}
    write_compact_json(os.path.join(case_dir, "expected.json"), info)

    size = sum(os.path.getsize(os.path.join(case_dir, f)) for f in os.listdir(case_dir))
    print(f"{c:18s} seed {seed}  mean max attention {mma:.3f}"
          + (f"  greedy margin {margin:.3f}" if greedy is not None else "")
          + f"  {size} bytes  lengths {[len(i) for i in input_ids]}")
    for label, rel in sens.items():
        print(f"    sensitivity  {rel:9.2e}  {label}")
    return {"case": c, "family": fam, "weights_dtype": spec["dtype"], "bytes": size,
            "files": sorted(os.listdir(case_dir))}


def rope_freqs(cfg):
    return [float(x) for x in ref.rope_inv_freq(cfg)[0]]


def report_llama3():
    """Print inv_freq before/after the llama3 adjustment and assert that it leaves some frequencies alone and
    changes others (both the divided and the smoothed regimes)."""
    cfg = llama_config(300, 298, 299, "float32", True, dict(LLAMA3_SCALING), 256)
    before = ref.rope_inv_freq(dict(cfg, rope_scaling=None))[0]
    after = ref.rope_inv_freq(cfg)[0]
    rs = LLAMA3_SCALING
    wl = 2 * math.pi / before
    print("llama3 rope scaling (head_dim 8, theta 10000, original_max_position_embeddings "
          f"{rs['original_max_position_embeddings']}):")
    regimes = []
    for b, a, w in zip(before.tolist(), after.tolist(), wl.tolist()):
        r = ("unchanged" if w < rs["original_max_position_embeddings"] / rs["high_freq_factor"] else
             "divided by factor" if w > rs["original_max_position_embeddings"] / rs["low_freq_factor"] else "smoothed")
        regimes.append(r)
        print(f"    inv_freq {b:.6g} -> {a:.6g}  (wavelength {w:.4g}: {r})")
    assert set(regimes) == {"unchanged", "divided by factor", "smoothed"}, regimes
    assert after[0] == before[0] and after[-1] == before[-1] / rs["factor"]


def main():
    if not os.path.isdir("tools") or not os.path.isfile("package.json"):
        sys.exit("run from the repository root")
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    tokenizers = {"gpt2": gpt2_tokenizer(), "llama3": llama3_tokenizer(), "bert": bert_tokenizer()}

    # input ids for the cases with a tokenizer: Python encoders, checked against @huggingface/tokenizers
    node_ids, jobs = {}, []
    tok_cases = [s for s in CASES if s.get("tokenizer")]
    for s in tok_cases:
        tok, tok_cfg, _ = tokenizers[s["tokenizer"]]
        jobs.append({"tokenizer": tok, "config": tok_cfg, "texts": s["text"]})
        py = []
        for t in s["text"]:
            if s["tokenizer"] == "bert":
                ids, tt = bert_encode(t, tok)
            else:
                ids, tt = bytelevel_encode(t, tok, s["tokenizer"]), None
            py.append({"ids": ids, "token_type_ids": tt})
        node_ids[s["case"]] = py
    js = node_encode(jobs)
    if js is None:
        print("warning: node or node_modules/@huggingface/tokenizers missing: ids from the Python encoders only")
    else:
        for s, res in zip(tok_cases, js):
            for t, py, e in zip(s["text"], node_ids[s["case"]], res):
                assert py["ids"] == e["ids"], (s["case"], t, py["ids"], e["ids"], e["tokens"])
                if s["tokenizer"] == "bert":
                    assert py["token_type_ids"] == e["token_type_ids"], (s["case"], t)
                    print(f"  {s['case']}: {t!r} -> {e['tokens']} (decoded {e['decoded']!r})")
                else:
                    assert e["decoded"] == t, (s["case"], t, e["decoded"])
                    print(f"  {s['case']}: {t!r} -> {e['tokens']}")

    report_llama3()
    manifest = {"generator": "tools/make_hf_fixtures.py", "reference": "tools/hf_reference.py",
                "torch_version": torch.__version__, "seed": SEED, "transformers_version_mirrored":
                TRANSFORMERS_VERSION, "cases": []}
    for spec in CASES:
        manifest["cases"].append(make_case(spec, tokenizers, node_ids))
    manifest["total_bytes"] = sum(c["bytes"] for c in manifest["cases"])
    write_compact_json(os.path.join(OUT_DIR, "manifest.json"), manifest)
    print(f"total {manifest['total_bytes']} bytes in {len(CASES)} cases")


if __name__ == "__main__":
    main()
