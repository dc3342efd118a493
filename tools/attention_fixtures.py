#!/usr/bin/env python3
"""Writes tests/fixtures/attention/numpy_variants.txt: an independent numpy
(float64) implementation of the attention variants, for the scalar reference
test. Inputs are stored in the file, so the C++ side needs no RNG agreement.

Format: one tensor per line, `t NAME RANK DIMS... VALUES...`, and `meta KEY VALUE`.
Run: python3 tools/attention_fixtures.py
"""
import os
import numpy as np

rng = np.random.default_rng(20250208)
HQ, HKV, TQ, TK, D, DV, QPOS0 = 4, 2, 7, 10, 8, 6, 3
ZETA, GAMMA = 1.05, -0.02

q = rng.standard_normal((HQ, TQ, D))
k = rng.standard_normal((HKV, TK, D))
k[:, 0, :] *= 3.0
v = rng.standard_normal((HKV, TK, DV))
ek = rng.standard_normal((HKV, D))
ev = rng.standard_normal((HKV, DV))
sink = rng.standard_normal(HQ) + 1.0
scale = 1.0 / np.sqrt(D)


def run(variant, causal):
    g = HQ // HKV
    kk = np.repeat(k, g, axis=0)  # [HQ, TK, D]
    vv = np.repeat(v, g, axis=0)
    s = np.einsum("hid,hjd->hij", q, kk) * scale
    pos = QPOS0 + np.arange(TQ)[:, None]
    vis = (np.arange(TK)[None, :] <= pos) if causal else np.ones((TQ, TK), bool)
    vis = np.broadcast_to(vis, s.shape)
    s = np.where(vis, s, -np.inf)
    s0 = np.einsum("hid,hd->hi", q, np.repeat(ek, g, axis=0)) * scale  # [HQ, TQ]
    evh = np.repeat(ev, g, axis=0)
    if variant == "sigmoid":
        p = np.where(vis, 1.0 / (1.0 + np.exp(-(s - np.log(TK)))), 0.0)
        return np.einsum("hij,hjd->hid", p, vv), p
    extra = {"softmax1": np.zeros((HQ, TQ)), "kv_bias": s0,
             "sink_logit": np.repeat(sink[:, None], TQ, axis=1)}.get(variant)
    allv = s if extra is None else np.concatenate([extra[..., None], s], axis=-1)
    m = allv.max(axis=-1, keepdims=True)
    e = np.exp(allv - m)
    pall = e / e.sum(axis=-1, keepdims=True)
    p = pall if extra is None else pall[..., 1:]
    out = np.einsum("hij,hjd->hid", p, vv)
    if variant == "kv_bias":
        out += pall[..., :1] * evh[:, None, :]
    if variant == "value_bias_context":
        a = np.concatenate([s0[..., None], s], axis=-1)
        ea = np.exp(a - a.max(axis=-1, keepdims=True))
        w = ea[..., :1] / ea.sum(axis=-1, keepdims=True)
        out += w * evh[:, None, :]
    if variant == "clipped_softmax":
        p = np.where(vis, np.clip((ZETA - GAMMA) * p + GAMMA, 0.0, 1.0), 0.0)
        out = np.einsum("hij,hjd->hid", p, vv)
    return out, p


def line(name, a):
    a = np.asarray(a, dtype=np.float64)
    return "t %s %d %s %s\n" % (name, a.ndim, " ".join(map(str, a.shape)),
                                " ".join("%.17g" % x for x in a.ravel()))


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    path = os.path.join(root, "tests/fixtures/attention/numpy_variants.txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    parts = ["# made by tools/attention_fixtures.py (numpy %s, float64)\n" % np.__version__,
             "meta q_pos0 %d\n" % QPOS0, "meta clip_zeta %r\n" % ZETA, "meta clip_gamma %r\n" % GAMMA]
    parts += [line("q", q), line("k", k), line("v", v), line("extra_key", ek),
              line("extra_value", ev), line("sink_logit", sink)]
    for variant in ["softmax", "softmax1", "kv_bias", "sink_logit", "sigmoid",
                    "clipped_softmax", "value_bias_context"]:
        for causal in (True, False):
            out, p = run(variant, causal)
            key = variant + ("_causal" if causal else "_full")
            parts += [line("out_" + key, out), line("cols_" + key, p.sum(axis=1))]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.writelines(parts)
    os.replace(tmp, path)
    print("wrote", path)


if __name__ == "__main__":
    main()
