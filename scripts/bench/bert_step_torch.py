#!/usr/bin/python3
"""PyTorch's side of `npm run bench -- --bert` (bench/bertStep.ts is ours): bert-base-uncased for sequence
classification (scripts/bench/torch_bert.py, Hugging Face's layout) with random weights, batch 8 x 256 (rows
right-padded to 256, 232, ..., 88 tokens, with their attention mask), every parameter trained as the fine-tuning
chapter's Trainer does (AdamW lr 2e-5, weight decay 0.01); dropout 0 on both sides (our native graphs have none).
Times the training step (zero_grad, forward, cross-entropy, backward, step) and the evaluation forward (no_grad).
Usage: /usr/bin/python3 scripts/bench/bert_step_torch.py --input SPEC.json --output OUT.json
         SPEC: {"reps": 3, "forward_reps": 3, "threads": 2, "seed": 123, "batch_size": 8, "seq_len": 256}
       /usr/bin/python3 scripts/bench/bert_step_torch.py [reps]   (a quick look, printed)
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_bert import BERT_BASE, BertForSequenceClassification, attention_mask_of  # noqa: E402
from torch_reference import blas_info, matmul_gflops  # noqa: E402


def padded_batch(batch_size, seq_len, vocab):
    """Random word ids between [CLS] and [SEP], row r right-padded from seq_len - 24 r tokens on."""
    ids = torch.zeros(batch_size, seq_len, dtype=torch.long)
    for r in range(batch_size):
        n = max(2, seq_len - 24 * r)
        ids[r, 0], ids[r, 1:n - 1], ids[r, n - 1] = 101, torch.randint(1000, vocab, (n - 2,)), 102
    return ids


def time_bert(reps, forward_reps, seed, batch_size, seq_len):
    torch.manual_seed(seed)
    cfg = {**BERT_BASE, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    model = BertForSequenceClassification(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)
    x = padded_batch(batch_size, seq_len, cfg["vocab_size"])
    mask, y = attention_mask_of(x), torch.randint(0, 2, (batch_size,))
    model.train()
    step_times, first_loss = [], None
    for rep in range(reps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x, mask), y)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if rep == 0:
            first_loss = loss.item()
        else:
            step_times.append(dt)
        print(f"  torch bert step {rep}: {dt:.2f} s, loss {loss.item():.6f}", flush=True)
    model.eval()
    forward_times = []
    with torch.no_grad():
        for rep in range(forward_reps + 1):
            t0 = time.perf_counter()
            model(x, mask).argmax(dim=-1)
            if rep > 0:
                forward_times.append(time.perf_counter() - t0)
    return {
        "step_times_s": step_times, "step_median_s": statistics.median(step_times),
        "forward_times_s": forward_times, "forward_median_s": statistics.median(forward_times),
        "first_loss": first_loss, "trainable_params": sum(p.numel() for p in model.parameters()),
    }


def main():
    if len(sys.argv) > 1 and sys.argv[1].startswith("--"):
        ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
        ap.add_argument("--input", required=True)
        ap.add_argument("--output", required=True)
        args = ap.parse_args()
        with open(args.input) as f:
            spec = json.load(f)
    else:
        args = None
        spec = {"reps": int(sys.argv[1]) if len(sys.argv) > 1 else 2, "forward_reps": 2}
    torch.set_num_threads(int(spec.get("threads", 2)))
    mm = matmul_gflops()
    out = {"torch_version": torch.__version__, "threads": torch.get_num_threads(), "blas_info": blas_info(),
           "matmul_gflops": mm}
    print(f"  torch BLAS {out['blas_info']}: matmul 960x768 @ 768x3072 {mm:.1f} GFLOP/s", flush=True)
    out.update(time_bert(int(spec["reps"]), int(spec.get("forward_reps", 3)), int(spec.get("seed", 123)),
                         int(spec.get("batch_size", 8)), int(spec.get("seq_len", 256))))
    print(f"torch bert: {out['trainable_params']:,} trainable; median step {out['step_median_s']:.3f} s, "
          f"forward {out['forward_median_s']:.3f} s (torch {torch.__version__}, {torch.get_num_threads()} threads)",
          flush=True)
    if args is not None:
        with open(args.output, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
