#!/usr/bin/python3
"""PyTorch's side of `npm run bench`'s rows lora_step and prompt_step (bench/peftStep.ts is ours): the training
step of appendix E's LoRA (r 16, alpha 16, every Linear of the 12 blocks and out_head wrapped, head frozen) or of
prompt tuning (20 virtual tokens prepended, everything else frozen) on 124M random weights, batch 8 x 120,
AdamW(lr 8e-4, weight decay 0.1), on the CPU; and the evaluation forward (no_grad, last-token logits) of the same
model, for the LoRA chapter's estimate.
Usage: /usr/bin/python3 scripts/bench/peft_step_torch.py --input SPEC.json --output OUT.json
         SPEC: {"methods": ["lora", "prompt-tuning"], "reps": 3, "forward_reps": 3, "threads": 2, "seed": 123,
                "batch_size": 8, "seq_len": 120}
       /usr/bin/python3 scripts/bench/peft_step_torch.py [lora|prompt-tuning] [reps]   (a quick look, printed)
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import GPTModel, blas_info, matmul_gflops  # noqa: E402


class LoRALayer(torch.nn.Module):
    def __init__(self, in_dim, out_dim, rank, alpha):
        super().__init__()
        self.A = torch.nn.Parameter(torch.empty(in_dim, rank))
        torch.nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = torch.nn.Parameter(torch.zeros(rank, out_dim))
        self.alpha = alpha
        self.rank = rank

    def forward(self, x):
        return (self.alpha / self.rank) * (x @ self.A @ self.B)


class LinearWithLoRA(torch.nn.Module):
    def __init__(self, linear, rank, alpha):
        super().__init__()
        self.linear = linear
        self.lora = LoRALayer(linear.in_features, linear.out_features, rank, alpha)

    def forward(self, x):
        return self.linear(x) + self.lora(x)


def replace_linear_with_lora(model, rank, alpha):
    for name, module in model.named_children():
        if isinstance(module, torch.nn.Linear):
            setattr(model, name, LinearWithLoRA(module, rank, alpha))
        else:
            replace_linear_with_lora(module, rank, alpha)


class PromptTuningGPT(torch.nn.Module):
    def __init__(self, gpt, n):
        super().__init__()
        self.gpt = gpt
        ids = torch.randint(0, gpt.tok_emb.weight.shape[0], (n,))
        self.prompt_embeddings = torch.nn.Parameter(gpt.tok_emb.weight[ids].detach().clone().unsqueeze(0))

    def forward(self, idx):
        b, t = idx.shape
        n = self.prompt_embeddings.shape[1]
        x = torch.cat([self.prompt_embeddings.expand(b, -1, -1), self.gpt.tok_emb(idx)], dim=1)
        x = self.gpt.drop_emb(x + self.gpt.pos_emb(torch.arange(n + t)))
        return self.gpt.out_head(self.gpt.final_norm(self.gpt.trf_blocks(x)))


def peft_model(method, seed):
    """The book's GPTModel (124M, random weights), a 2-class head, everything frozen, then LoRA or the prompt."""
    torch.manual_seed(seed)
    cfg = {"vocab_size": 50257, "context_length": 1024, "emb_dim": 768, "n_heads": 12, "n_layers": 12,
           "drop_rate": 0.0, "qkv_bias": True}
    model = GPTModel(cfg)
    model.out_head = torch.nn.Linear(768, 2)
    for p in model.parameters():
        p.requires_grad = False
    if method == "lora":
        replace_linear_with_lora(model, 16, 16)
    else:
        model = PromptTuningGPT(model, 20)
    return model


def time_method(method, reps, forward_reps, seed, batch_size, seq_len):
    """Training steps (after one warm-up step) and evaluation forwards (after one warm-up) on one random batch."""
    model = peft_model(method, seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=8e-4, weight_decay=0.1)
    x, y = torch.randint(0, 50257, (batch_size, seq_len)), torch.randint(0, 2, (batch_size,))
    model.train()  # a no-op with dropout 0, as in the book
    step_times, first_loss = [], None
    for rep in range(reps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x)[:, -1, :], y)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if rep == 0:
            first_loss = loss.item()
        else:
            step_times.append(dt)
        print(f"  torch {method} step {rep}: {dt:.2f} s, loss {loss.item():.6f}", flush=True)
    model.eval()
    forward_times = []
    with torch.no_grad():  # as calc_accuracy_loader
        for rep in range(forward_reps + 1):
            t0 = time.perf_counter()
            model(x)[:, -1, :].argmax(dim=-1)
            if rep > 0:
                forward_times.append(time.perf_counter() - t0)
    return {
        "step_times_s": step_times, "step_median_s": statistics.median(step_times),
        "forward_times_s": forward_times, "forward_median_s": statistics.median(forward_times),
        "first_loss": first_loss, "trainable_params": sum(p.numel() for p in params),
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
        spec = {"methods": [sys.argv[1] if len(sys.argv) > 1 else "lora"],
                "reps": int(sys.argv[2]) if len(sys.argv) > 2 else 3, "forward_reps": 3}
    torch.set_num_threads(int(spec.get("threads", 2)))
    # The same BLAS check as torch_reference.py's: a reference BLAS (~4 GFLOP/s) would flatter ours.
    mm = matmul_gflops()
    out = {"torch_version": torch.__version__, "threads": torch.get_num_threads(), "blas_info": blas_info(),
           "matmul_gflops": mm, "methods": {}}
    print(f"  torch BLAS {out['blas_info']}: matmul 960x768 @ 768x3072 {mm:.1f} GFLOP/s", flush=True)
    for method in spec["methods"]:
        r = time_method(method, int(spec["reps"]), int(spec.get("forward_reps", 3)), int(spec.get("seed", 123)),
                        int(spec.get("batch_size", 8)), int(spec.get("seq_len", 120)))
        out["methods"][method] = r
        print(f"torch {method}: {r['trainable_params']:,} trainable; median step {r['step_median_s']:.3f} s, "
              f"forward {r['forward_median_s']:.3f} s (torch {torch.__version__}, {torch.get_num_threads()} threads)",
              flush=True)
    if args is not None:
        with open(args.output, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
