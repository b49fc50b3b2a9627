#!/usr/bin/python3
"""PyTorch's side of bench/peftStep.ts: one training step of appendix E's LoRA (r 16, alpha 16, every Linear
wrapped, head frozen) or prompt tuning (20 virtual tokens prepended, everything else frozen) on 124M random
weights, batch 8 x 120, AdamW, on the CPU.
Usage: /usr/bin/python3 scripts/bench/peft_step_torch.py [lora|prompt-tuning] [reps]
"""
import math
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import GPTModel  # noqa: E402


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


def main():
    method = sys.argv[1] if len(sys.argv) > 1 else "lora"
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    torch.manual_seed(123)
    cfg = {"vocab_size": 50257, "context_length": 1024, "emb_dim": 768, "n_heads": 12, "n_layers": 12, "drop_rate": 0.0, "qkv_bias": True}
    model = GPTModel(cfg)
    model.out_head = torch.nn.Linear(768, 2)
    for p in model.parameters():
        p.requires_grad = False
    if method == "lora":
        replace_linear_with_lora(model, 16, 16)
    else:
        model = PromptTuningGPT(model, 20)
    params = [p for p in model.parameters() if p.requires_grad]
    print(f"  trainable: {sum(p.numel() for p in params):,}; threads {torch.get_num_threads()}")
    opt = torch.optim.AdamW(params, lr=8e-4, weight_decay=0.1)
    x, y = torch.randint(0, 50257, (8, 120)), torch.randint(0, 2, (8,))
    times = []
    for rep in range(reps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x)[:, -1, :], y)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        print(f"  {method} step {rep}: {times[-1]:.2f} s, loss {loss.item():.6f}")
    print(f"{method}: median step {statistics.median(times[1:]):.2f} s (torch {torch.__version__})")


if __name__ == "__main__":
    main()
