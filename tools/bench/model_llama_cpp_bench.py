#!/usr/bin/env python3
"""llama.cpp's prompt-processing and generation speed on a GGUF, measured like
bench/model/bench_model.cpp measures sysout: one batch of --pp tokens, then --tg
single-token evals; best of --reps. Prints "<pp tok/s> <tg tok/s>".
llama.cpp runs with plain CPU buffers (its AMX/repacked buffer types crash in
this build on this machine) and its default f16 KV cache."""
import argparse, sys, time
try:
    import llama_cpp
    import llama_cpp.llama as _m
except ImportError:
    print("0 0"); sys.exit(0)

_d = llama_cpp.llama_model_default_params
def _plain():
    p = _d(); p.use_extra_bufts = False; return p
_m.llama_cpp.llama_model_default_params = _plain

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--pp", type=int, default=128)
ap.add_argument("--tg", type=int, default=32)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--reps", type=int, default=2)
a = ap.parse_args()
llm = llama_cpp.Llama(a.model, n_ctx=a.pp + a.tg + 8, n_batch=max(a.pp, 8), n_threads=a.threads,
                      n_threads_batch=a.threads, verbose=False)
n_vocab = llm.n_vocab()
prompt = [(i * 7919 + 13) % n_vocab for i in range(a.pp)]
best_pp = best_tg = 0.0
for _ in range(a.reps):
    llm.reset()
    t0 = time.perf_counter(); llm.eval(prompt); t1 = time.perf_counter()
    tok = 1
    for _ in range(a.tg):
        llm.eval([tok]); tok = (tok * 31 + 7) % n_vocab
    t2 = time.perf_counter()
    best_pp = max(best_pp, a.pp / (t1 - t0)); best_tg = max(best_tg, a.tg / (t2 - t1))
print(f"{best_pp:.2f} {best_tg:.2f}")
