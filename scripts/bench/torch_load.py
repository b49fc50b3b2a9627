#!/usr/bin/python3
"""Loading GPT-2 124M in PyTorch, for the benchmark's `load_124m` row: the book's GPTModel with random weights is
saved as safetensors (the book's state_dict names, as rasbt's gpt2-small-124M.safetensors), then loaded the way a
PyTorch user does: the file read (a hand-written safetensors reader: numpy views over the bytes, no copy), the
model constructed (with PyTorch's own random init) and `load_state_dict`. Each is timed `--reps` times in this
process (the file in the page cache, as for ours); the minimum is reported.

Command: /usr/bin/python3 scripts/bench/torch_load.py --weights OUT.safetensors --output OUT.json [--reps 3]
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import GPTModel, save_safetensors  # noqa: E402

CFG = {"vocab_size": 50257, "context_length": 1024, "emb_dim": 768, "n_heads": 12, "n_layers": 12,
       "drop_rate": 0.0, "qkv_bias": True}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        arr = np.frombuffer(data, dtype="<f4", count=(e - b) // 4, offset=8 + n + b).reshape(info["shape"])
        out[name] = torch.from_numpy(arr)  # shares the bytes (read-only numpy view; load_state_dict copies)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(123)
    model = GPTModel(CFG)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith(".att.mask")}
    save_safetensors(args.weights, state, {"format": "pt", "source": "scripts/bench/torch_load.py"})
    del model, state
    times = {"read_s": [], "construct_s": [], "load_state_dict_s": [], "total_s": []}
    import warnings
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    for _ in range(args.reps):
        t0 = time.perf_counter()
        sd = read_safetensors(args.weights)
        t1 = time.perf_counter()
        m = GPTModel(CFG)
        t2 = time.perf_counter()
        m.load_state_dict(sd, strict=False)  # the causal-mask buffers are not in the file
        t3 = time.perf_counter()
        for k, v in (("read_s", t1 - t0), ("construct_s", t2 - t1), ("load_state_dict_s", t3 - t2), ("total_s", t3 - t0)):
            times[k].append(v)
        del sd, m
    result = {k: min(v) for k, v in times.items()}
    result["torch_version"] = torch.__version__
    with open(args.output, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
