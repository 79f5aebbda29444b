#!/usr/bin/env python3
"""PyTorch eager reference for `cargo bench -p moj-trainer --bench model`: the same decoder
(Hugging Face Llama/Qwen2 semantics, written out in plain torch ops as transformers' "eager"
attention does), on the CPU with the same thread count, timing the same two things:

- batched generation with a KV cache: 16-token prompts, N new tokens sampled at temperature 1,
  batch 1/8/32 -> sampled tokens per second of the whole run (prompt processing included, as
  the Rust bench and its llama.cpp figure count);
- forward+backward of summed response log-probs over BATCHxLEN tokens (half prompt, half
  response), twice (the first step, then one with memory already obtained) -> seconds each.

Weights are random (timing does not depend on their values). Usage:
  python3 torch_reference.py CONFIG_JSON --threads 2 --new-tokens 32 --batch 16 --len 256
Prints one JSON object on stdout.
"""
import argparse
import json
import warnings
import math
import time

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402
import torch.nn.functional as F


class Decoder(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        h, nh = c["hidden_size"], c["num_attention_heads"]
        nkv = c.get("num_key_value_heads") or nh
        hd = c.get("head_dim") or h // nh
        ff, v = c["intermediate_size"], c["vocab_size"]
        bias = c.get("model_type") == "qwen2" or bool(c.get("attention_bias"))
        self.nh, self.nkv, self.hd, self.eps = nh, nkv, hd, c.get("rms_norm_eps", 1e-6)
        self.embed = torch.nn.Embedding(v, h)
        self.layers = torch.nn.ModuleList()
        for _ in range(c["num_hidden_layers"]):
            layer = torch.nn.Module()
            layer.norm1 = torch.nn.Parameter(torch.ones(h))
            layer.norm2 = torch.nn.Parameter(torch.ones(h))
            layer.q = torch.nn.Linear(h, nh * hd, bias=bias)
            layer.k = torch.nn.Linear(h, nkv * hd, bias=bias)
            layer.v = torch.nn.Linear(h, nkv * hd, bias=bias)
            layer.o = torch.nn.Linear(nh * hd, h, bias=False)
            layer.gate = torch.nn.Linear(h, ff, bias=False)
            layer.up = torch.nn.Linear(h, ff, bias=False)
            layer.down = torch.nn.Linear(ff, h, bias=False)
            self.layers.append(layer)
        self.norm = torch.nn.Parameter(torch.ones(h))
        self.lm_head = None if c.get("tie_word_embeddings") else torch.nn.Linear(h, v, bias=False)
        theta = c.get("rope_theta", 10000.0)
        self.register_buffer(
            "inv_freq", 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd),
            persistent=False)

    def rms(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def rope(self, x, positions):
        freqs = positions[:, None].float() * self.inv_freq[None, :]
        emb = torch.cat([freqs, freqs], dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated * sin

    def forward(self, tokens, cache=None, start=0):
        """tokens [B, T]; cache: list of (k, v) per layer or None; returns logits, new cache."""
        b, t = tokens.shape
        x = self.embed(tokens)
        positions = torch.arange(start, start + t)
        new_cache = []
        for i, layer in enumerate(self.layers):
            y = self.rms(x, layer.norm1)
            q = layer.q(y).view(b, t, self.nh, self.hd).transpose(1, 2)
            k = layer.k(y).view(b, t, self.nkv, self.hd).transpose(1, 2)
            v = layer.v(y).view(b, t, self.nkv, self.hd).transpose(1, 2)
            q, k = self.rope(q, positions), self.rope(k, positions)
            if cache is not None:
                k = torch.cat([cache[i][0], k], dim=2)
                v = torch.cat([cache[i][1], v], dim=2)
            new_cache.append((k, v))
            groups = self.nh // self.nkv
            kk = k.repeat_interleave(groups, dim=1)
            vv = v.repeat_interleave(groups, dim=1)
            scores = q @ kk.transpose(-1, -2) / math.sqrt(self.hd)
            total = kk.shape[2]
            mask = torch.full((t, total), float("-inf")).triu(total - t + 1)
            attn = F.softmax(scores + mask, dim=-1) @ vv
            x = x + layer.o(attn.transpose(1, 2).reshape(b, t, self.nh * self.hd))
            y = self.rms(x, layer.norm2)
            x = x + layer.down(F.silu(layer.gate(y)) * layer.up(y))
        x = self.rms(x, self.norm)
        logits = x @ self.embed.weight.T if self.lm_head is None else self.lm_head(x)
        return logits, new_cache


def generation(model, batch, new_tokens):
    v = model.c["vocab_size"]
    prompt = torch.tensor([[(i * 7 + 3) % v for i in range(16)]] * batch)
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    with torch.inference_mode():
        logits, cache = model(prompt)
        produced = 0
        for step in range(new_tokens):
            probs = F.softmax(logits[:, -1, :], dim=-1)
            token = torch.multinomial(probs, 1, generator=generator)
            produced += batch
            if step + 1 < new_tokens:
                logits, cache = model(token, cache, start=16 + step)
    elapsed = time.perf_counter() - started
    return produced / elapsed


def train_step(model, batch, length):
    v = model.c["vocab_size"]
    half = length // 2
    tokens = torch.tensor([[(i * 31 + b * 7) % v for i in range(half)]
                           + [(i * 17 + b * 3 + 1) % v for i in range(half)] for b in range(batch)])
    started = time.perf_counter()
    logits, _ = model(tokens)
    logprobs = F.log_softmax(logits[:, :-1, :], dim=-1)
    picked = logprobs.gather(-1, tokens[:, 1:, None]).squeeze(-1)
    mask = torch.zeros_like(picked)
    mask[:, half - 1:] = 1.0  # response tokens only
    (picked * mask).sum().backward()
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--len", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(args.config) as f:
        config = json.load(f)
    model = Decoder(config)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.02)
    generation(model, 2, 2)  # warm-up: first-call allocations and kernel selection
    rates = {str(b): generation(model, b, args.new_tokens) for b in (1, 8, 32)}
    # The first step, then a second one (memory already obtained once, as in a training run).
    steps = [train_step(model, args.batch, args.len) for _ in range(2)]
    print(json.dumps({"torch": torch.__version__, "threads": args.threads,
                      "generation_tokens_per_s": rates, "train_step_s": steps}))


if __name__ == "__main__":
    main()
