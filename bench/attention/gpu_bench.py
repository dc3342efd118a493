#!/usr/bin/env python3
"""GPU benchmark of sysout's CUDA attention variants, in one run:
  ours (bench_attention_cuda) vs torch SDPA (flash backend, standard softmax)
  and vs a PyTorch eager implementation of the same variant; bf16, causal,
  [1, H, T, d] (H = 16), T = 512..8192, d = 64 / 128, and decode (one query
  against T keys) next to SDPA flash on the same shapes. Prints ratios
  (>1 = ours faster) and the cost of the fused column sums.
Usage: python3 bench/attention/gpu_bench.py BUILD_DIR [--heads 16] [--T 512 1024 ...]
"""
import argparse
import math
import subprocess
import sys

import torch
import torch.nn.functional as F


def timed(fn, iters):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(iters):
        fn()
    b.record()
    torch.cuda.synchronize()
    return a.elapsed_time(b) / iters


def eager(var, q, k, v, P):
    T, d = q.shape[-2], q.shape[-1]
    s = (q @ k.transpose(-1, -2)).float() * (1.0 / math.sqrt(d))
    causal = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    s = s.masked_fill(~causal, float("-inf"))
    vf = v.float()
    if var == "sigmoid":
        p = torch.sigmoid(s - math.log(T))
        return (p.to(v.dtype) @ v)
    if var in ("softmax1", "sink_logit", "kv_bias"):
        if var == "softmax1":
            e = torch.zeros(s.shape[:-1] + (1,), device=s.device)
        elif var == "sink_logit":
            e = P["sink"].view(1, -1, 1, 1).expand(s.shape[:-1] + (1,))
        else:
            e = (q.float() @ P["ek"].view(1, -1, d, 1)) * (1.0 / math.sqrt(d))
        pa = torch.softmax(torch.cat([e, s], dim=-1), dim=-1)
        out = pa[..., 1:].to(v.dtype) @ v
        if var == "kv_bias":
            out = out + (pa[..., :1] * P["ev"].view(1, -1, 1, d)).to(v.dtype)
        return out
    p = torch.softmax(s, dim=-1)
    if var == "clipped_softmax":
        p = torch.clamp((1.0 + 0.03) * p - 0.03, 0, 1)
    out = (p.to(v.dtype) @ v).float()
    if var == "value_bias_fixed":
        out = out + P["vb"].view(1, -1, 1, d)
    if var == "value_bias_context":
        s0 = (q.float() @ P["ek"].view(1, -1, d, 1)) * (1.0 / math.sqrt(d))
        w = torch.sigmoid(s0 - torch.logsumexp(s, dim=-1, keepdim=True))
        out = out + w * P["ev"].view(1, -1, 1, d)
    if var == "scaling_factor":
        out = out * P["sf"].view(1, -1, T, 1)
    if var == "gated":
        out = out * torch.sigmoid(P["gate"].view(1, -1, T, 1))
    return out.to(v.dtype)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--T", type=int, nargs="*", default=[512, 1024, 2048, 4096, 8192])
    a = ap.parse_args()
    exe = a.build + "/bench/attention/bench_attention_cuda"
    res = subprocess.run([exe, str(a.heads)] + [str(t) for t in a.T], capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stdout, res.stderr)
        sys.exit(res.returncode)
    ours, decode = {}, {}
    for line in res.stdout.splitlines():
        if line.startswith("RESULT") or line.startswith("DECODE"):
            kind, var, T, d, H, ms, mss = line.split()
            (ours if kind == "RESULT" else decode)[(var, int(T), int(d))] = (float(ms), float(mss))
        else:
            print(line)
    print("torch", torch.__version__, "| device", torch.cuda.get_device_name(0))
    from torch.nn.attention import SDPBackend, sdpa_kernel
    H = a.heads
    variants = []
    for key in ours:
        if key[0] not in variants:
            variants.append(key[0])
    print("%-19s %5s %4s %9s %9s %9s %8s %9s %8s %8s" % ("variant", "T", "d", "ours ms", "+stats", "sdpa ms",
          "sdpa/us", "eager ms", "eager/us", "stats+%"))
    for d in (64, 128):
        for T in a.T:
            g = torch.Generator(device="cuda").manual_seed(0)
            q, k, v = (torch.randn(1, H, T, d, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(3))
            P = {"ek": torch.randn(H, d, device="cuda"), "ev": torch.randn(H, d, device="cuda"),
                 "sink": torch.randn(H, device="cuda"), "vb": torch.randn(H, d, device="cuda"),
                 "sf": torch.rand(H, T, device="cuda") * 2, "gate": torch.randn(H, T, device="cuda")}
            iters = 10 if T >= 4096 else 30
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                sdpa = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), iters)
            flops = 4.0 * H * d * T * (T + 1) / 2
            print("-- T=%d d=%d: SDPA flash %.4f ms = %.1f TFLOP/s (causal FLOPs)" % (T, d, sdpa, flops / sdpa / 1e9))
            for var in variants:
                if (var, T, d) not in ours:
                    continue
                ms, mss = ours[(var, T, d)]
                try:
                    em = timed(lambda: eager(var, q, k, v, P), max(3, iters // 3))
                except torch.cuda.OutOfMemoryError:
                    em = float("nan")
                torch.cuda.empty_cache()
                print("%-19s %5d %4d %9.4f %9.4f %9.4f %7.2fx %9.4f %7.2fx %7.1f%%" % (
                    var, T, d, ms, mss, sdpa, sdpa / ms, em, em / ms, 100 * (mss / ms - 1)))
            # Decode: one query (the last) against the T keys, next to SDPA flash on the same shapes.
            q1 = q[:, :, -1:, :].contiguous()
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                sd1 = timed(lambda: F.scaled_dot_product_attention(q1, k, v), 50)
            for var in ("softmax", "sink_logit"):
                if (var, T, d) in decode:
                    ms, mss = decode[(var, T, d)]
                    print("decode %-12s %5d %4d %9.4f %9.4f %9.4f %7.2fx %7.1f%%" % (
                        var, T, d, ms, mss, sd1, sd1 / ms, 100 * (mss / ms - 1)))


if __name__ == "__main__":
    main()
