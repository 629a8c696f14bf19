#!/usr/bin/env python3
"""Hugging Face transformers on the same shapes as bench_engine_cuda (OPT-6.7B, fp16, batch 1, random
weights built from OPTConfig, no download): 1024-token prefill and decode steps at contexts 128 and 1024.
Prints "HF key value" lines; with --engine-results FILE (bench_engine_cuda's output) also the ratios."""
import argparse
import statistics
import sys
import time

import torch
from transformers import OPTConfig, OPTForCausalLM


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine-results", help="bench_engine_cuda output with RESULT lines")
    args = ap.parse_args()
    cfg = OPTConfig(hidden_size=4096, num_attention_heads=32, num_hidden_layers=32, ffn_dim=16384, vocab_size=50272,
                    max_position_embeddings=2048, word_embed_proj_dim=4096, do_layer_norm_before=True)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float16)
    with torch.device("cuda"):
        model = OPTForCausalLM(cfg)
    model.eval()
    print("HF transformers", __import__("transformers").__version__, "torch", torch.__version__,
          "attention", getattr(model.config, "_attn_implementation", "?"), flush=True)
    ids = torch.randint(0, cfg.vocab_size, (1, 1024), device="cuda")

    @torch.no_grad()
    def prefill(n):
        return model(ids[:, :n], use_cache=True)

    @torch.no_grad()
    def decode_median(context, steps=32):
        out = prefill(context)
        past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
        times = []
        for _ in range(steps):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = model(nxt, past_key_values=past, use_cache=True)
            past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
            nxt.item()  # the engine also returns the token to the host every step
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    prefill(1024)
    hf = {"prefill1024_seconds": timed(lambda: prefill(1024), 5), "decode128_seconds": decode_median(128),
          "decode1024_seconds": decode_median(1024)}
    for k, v in hf.items():
        print(f"HF {k} {v:.6g}")
    if args.engine_results:
        ours = {}
        for line in open(args.engine_results):
            parts = line.split()
            if len(parts) == 3 and parts[0] == "RESULT":
                ours[parts[1]] = float(parts[2])
        print("\nsllmsim engine vs Hugging Face transformers (same shapes, fp16, batch 1; ratio < 1: sllmsim faster)")
        for k in hf:
            if k in ours:
                print(f"  {k:24s} sllmsim {ours[k]*1e3:9.3f} ms   HF {hf[k]*1e3:9.3f} ms   ratio {ours[k]/hf[k]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
