#!/usr/bin/env python3
"""PyTorch reference for `npm run bench` (chapter 6 of "Build a Large Language Model (From Scratch)").

Run by bench/bench.ts as:
    /usr/bin/python3 scripts/bench/torch_reference.py --input IN.json --weights OUT.safetensors --output OUT.json
Tested with Debian python3-torch 1.13.0a0 and numpy 1.24 (no tiktoken, no safetensors package needed).

IN.json (written by bench.ts from our own data pipeline; token ids are already padded to max_length):
  {"config": {"vocab_size", "context_length", "emb_dim", "n_heads", "n_layers", "drop_rate", "qkv_bias"},
   "seed": 123, "init_std": 0.02, "threads": 2, "batch_size": 8,
   "acc_batches": 10, "loss_batches": 5, "step_reps": 5,
   "splits": {"train": {"ids": [[...]], "labels": [...]}, "validation": {...}, "test": {...}}}
Rows of each split are taken in the given order (bench.ts passes the order its loaders produce); an optional
"train_loss" split gives the train rows for the initial losses (the book iterates its shuffled loader again).

What it does (the book's model and loop, ch. 4-6):
  1. builds the book's GPTModel with random N(0, init_std) weights (torch.manual_seed(seed); LayerNorms stay 1/0),
     freezes it, sets torch.manual_seed(123) and swaps in `out_head = Linear(emb_dim, 2)`, unfreezes the last
     block and the final norm (book cells 55-60), and saves the state dict as safetensors (hand-written format:
     u64-LE header length + JSON header + raw little-endian float32 bytes; Linear weights in PyTorch's [out, in]);
  2. computes the initial accuracies (first `acc_batches` batches of each split) and losses (`loss_batches`),
     timing every evaluation forward (batch 8 x 120);
  3. times `step_reps` training steps (zero_grad, loss, backward, AdamW(lr=5e-5, weight_decay=0.1) step) after one
     warm-up step;
  4. estimates the chapter's total from the book's unit counts: 650 training steps and the evaluation forwards of
     the initial accuracies (3 x 10), initial losses (3 x 5), 13 evaluations (5 + 5), 5 per-epoch accuracies (5 + 5)
     and the final full-set accuracies (130 + 19 + 38);
  5. with "all_step_reps" > 0: times that many training steps (after one warm-up step) with EVERY parameter
     trainable (the book's exercise 6.2, the bonus experiments' --trainable_layers all: requires_grad everywhere,
     AdamW over all parameters) on a copy of the model as it was before step 3, on the first train batches; the
     first step's loss lets the bench check that ours computes the same;
  6. with "experiment_configs" (`npm run bench -- --experiments`): for each configuration of the book's
     additional-experiments rows ({"key", "trainable": last-layer | last-block | last-two-blocks | all, "seq_len":
     a padded length, or null for no padding (each text at its own length), "batch_size", "reps"}), on a copy of
     the model as it was before step 3, the times of `reps` training steps (after one warm-up step) and of `reps`
     evaluation forwards. The readout (last, first, flexible, mean), the causal mask and ignore_index do not change
     what PyTorch computes per step, so the rows that differ only in those share a configuration.
"""
import copy
import argparse
import json
import os
import platform
import statistics
import struct
import time

import torch
import torch.nn as nn


# ---------------------------------------------------------------- the book's model (ch. 4)
class MultiHeadAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        assert d_out % num_heads == 0, "d_out must be divisible by num_heads"
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))

    def forward(self, x):
        b, num_tokens, d_in = x.shape
        keys = self.W_key(x)
        queries = self.W_query(x)
        values = self.W_value(x)
        keys = keys.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        queries = queries.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        values = values.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        attn_scores = queries @ keys.transpose(2, 3)
        mask_bool = self.mask.bool()[:num_tokens, :num_tokens]
        attn_scores.masked_fill_(mask_bool, -torch.inf)
        attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)
        attn_weights = self.dropout(attn_weights)
        context_vec = (attn_weights @ values).transpose(1, 2)
        context_vec = context_vec.contiguous().view(b, num_tokens, self.d_out)
        return self.out_proj(context_vec)


class LayerNorm(nn.Module):
    def __init__(self, emb_dim):
        super().__init__()
        self.eps = 1e-5
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        norm_x = (x - mean) / torch.sqrt(var + self.eps)
        return self.scale * norm_x + self.shift


class GELU(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1 + torch.tanh(torch.sqrt(torch.tensor(2.0 / torch.pi)) * (x + 0.044715 * torch.pow(x, 3))))


class FeedForward(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(cfg["emb_dim"], 4 * cfg["emb_dim"]), GELU(), nn.Linear(4 * cfg["emb_dim"], cfg["emb_dim"]))

    def forward(self, x):
        return self.layers(x)


class TransformerBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.att = MultiHeadAttention(cfg["emb_dim"], cfg["emb_dim"], cfg["context_length"], cfg["drop_rate"], cfg["n_heads"], cfg["qkv_bias"])
        self.ff = FeedForward(cfg)
        self.norm1 = LayerNorm(cfg["emb_dim"])
        self.norm2 = LayerNorm(cfg["emb_dim"])
        self.drop_shortcut = nn.Dropout(cfg["drop_rate"])

    def forward(self, x):
        shortcut = x
        x = self.norm1(x)
        x = self.att(x)
        x = self.drop_shortcut(x)
        x = x + shortcut
        shortcut = x
        x = self.norm2(x)
        x = self.ff(x)
        x = self.drop_shortcut(x)
        return x + shortcut


class GPTModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])
        self.drop_emb = nn.Dropout(cfg["drop_rate"])
        self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg) for _ in range(cfg["n_layers"])])
        self.final_norm = LayerNorm(cfg["emb_dim"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)

    def forward(self, in_idx):
        batch_size, seq_len = in_idx.shape
        tok_embeds = self.tok_emb(in_idx)
        pos_embeds = self.pos_emb(torch.arange(seq_len, device=in_idx.device))
        x = self.drop_emb(tok_embeds + pos_embeds)
        x = self.trf_blocks(x)
        x = self.final_norm(x)
        return self.out_head(x)


def make_classifier(model, cfg, num_classes=2):
    """The book's 6.5: freeze everything, torch.manual_seed(123), new Linear(emb_dim, 2) head,
    unfreeze the last transformer block and the final LayerNorm."""
    for p in model.parameters():
        p.requires_grad = False
    torch.manual_seed(123)
    model.out_head = torch.nn.Linear(in_features=cfg["emb_dim"], out_features=num_classes)
    for p in model.trf_blocks[-1].parameters():
        p.requires_grad = True
    for p in model.final_norm.parameters():
        p.requires_grad = True
    return model


# ---------------------------------------------------------------- the book's loss/accuracy (ch. 6)
def calc_loss_batch(input_batch, target_batch, model):
    logits = model(input_batch)[:, -1, :]  # logits of the last output token
    return torch.nn.functional.cross_entropy(logits, target_batch)


def batches(split, batch_size, n):
    ids, labels = split["ids"], split["labels"]
    out = []
    for b in range(0, len(ids), batch_size):
        if len(out) == n:
            break
        out.append((torch.tensor(ids[b:b + batch_size], dtype=torch.long), torch.tensor(labels[b:b + batch_size], dtype=torch.long)))
    return out


PAD_TOKEN_ID = 50256


def set_trainable(model, trainable):
    """The bonus script's --trainable_layers: the new head always trains; last_layer is the head alone."""
    for p in model.parameters():
        p.requires_grad = False
    modules = {"last-layer": [], "last-block": [model.trf_blocks[-1], model.final_norm],
               "last-two-blocks": [model.trf_blocks[-2], model.trf_blocks[-1], model.final_norm], "all": [model]}[trainable]
    for m in modules + [model.out_head]:
        for p in m.parameters():
            p.requires_grad = True


def experiment_batches(split, seq_len, batch_size, n):
    """The first n batches of a split, each text cut to its real tokens (trailing pads removed), then padded to
    seq_len (or left at its own length when seq_len is None, which needs batch size 1)."""
    out = []
    for b in range(0, len(split["ids"]), batch_size):
        if len(out) == n:
            break
        rows = []
        for ids in split["ids"][b:b + batch_size]:
            real = list(ids)
            while len(real) > 1 and real[-1] == PAD_TOKEN_ID:
                real.pop()
            rows.append(real if seq_len is None else (real + [PAD_TOKEN_ID] * seq_len)[:seq_len])
        out.append((torch.tensor(rows, dtype=torch.long), torch.tensor(split["labels"][b:b + batch_size], dtype=torch.long)))
    return out


def time_experiment_config(base_model, c, splits, threads):
    """Step and forward times of one configuration (see 6. in the module docstring)."""
    model = copy.deepcopy(base_model)
    set_trainable(model, c["trainable"])
    torch.manual_seed(123)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.1)
    reps, bs = int(c["reps"]), int(c["batch_size"])
    model.train()
    steps = []
    for i, (x, y) in enumerate(experiment_batches(splits["train"], c["seq_len"], bs, reps + 1)):
        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss = calc_loss_batch(x, y, model)
        loss.backward()
        optimizer.step()
        if i > 0:
            steps.append(time.perf_counter() - t0)
    model.eval()
    forwards = []
    with torch.no_grad():
        for x, y in experiment_batches(splits["validation"], c["seq_len"], bs, reps):
            t0 = time.perf_counter()
            calc_loss_batch(x, y, model)
            forwards.append(time.perf_counter() - t0)
    del model, optimizer
    return {"step_median_s": statistics.median(steps), "step_mean_s": statistics.fmean(steps), "steps": len(steps),
            "forward_median_s": statistics.median(forwards), "forward_mean_s": statistics.fmean(forwards),
            "forwards": len(forwards), "threads": threads}


def save_safetensors(path, tensors, metadata):
    """Writes the safetensors format by hand: u64-LE header size, JSON header, raw data (float32, C order)."""
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * ((8 - len(head) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def blas_info():
    """The BLAS library loaded in this process (torch's BLAS_INFO says "generic" for Debian's build whichever
    libblas.so.3 the alternatives system provides: the reference one, ~4 GFLOP/s, or OpenBLAS)."""
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if "blas" in line.rsplit("/", 1)[-1]})
        if libs:
            return ", ".join(os.path.realpath(p) for p in libs)
    except OSError:
        pass
    return "unknown"


def matmul_gflops(reps=5):
    """Median GFLOP/s of PyTorch's 960x768 @ 768x3072 float32 matmul (the shape of the model's first MLP layer)."""
    a, b = torch.randn(960, 768), torch.randn(768, 3072)
    times = []
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * 960 * 768 * 3072 / statistics.median(times[1:]) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--output", required=True)
    args = ap.parse_args()
    with open(args.input) as f:
        spec = json.load(f)
    torch.set_num_threads(int(spec.get("threads", 2)))
    cfg = spec["config"]
    bs = int(spec.get("batch_size", 8))

    # 0. A PyTorch on Debian's reference BLAS (libblas3, "BLAS_INFO=generic" without libopenblas0) multiplies at
    #    ~4 GFLOP/s: a reference that slow would flatter any comparison, so refuse it.
    mm_gflops, blas = matmul_gflops(), blas_info()
    min_gflops = float(spec.get("min_matmul_gflops", 0))
    if mm_gflops < min_gflops:
        raise SystemExit(f"PyTorch's matmul runs at {mm_gflops:.1f} GFLOP/s (BLAS_INFO={blas}), under the {min_gflops:.0f} GFLOP/s "
                         "this benchmark requires of a fair reference. On Debian/Ubuntu the fix is an optimised BLAS: "
                         "sudo apt-get install libopenblas0-pthread")

    # 1. Random model, the book's freezing and head swap.
    torch.manual_seed(int(spec.get("seed", 123)))
    model = GPTModel(cfg)
    std = float(spec.get("init_std", 0.02))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".scale") or name.endswith(".shift"):
                continue  # LayerNorm stays at scale 1, shift 0
            p.normal_(0.0, std)
    model.eval()
    make_classifier(model, cfg)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith(".att.mask")}
    save_safetensors(args.weights, state, {"format": "pt", "source": "scripts/bench/torch_reference.py", "seed": str(spec.get("seed", 123))})

    # 2. Initial accuracies and losses (timing every evaluation forward).
    fwd_times, result = [], {}
    acc_n, loss_n = int(spec.get("acc_batches", 10)), int(spec.get("loss_batches", 5))
    first_logits = None
    with torch.no_grad():
        for split in ("train", "validation", "test"):
            correct = total = 0
            for i, (x, y) in enumerate(batches(spec["splits"][split], bs, acc_n)):
                t0 = time.perf_counter()
                logits = model(x)[:, -1, :]
                fwd_times.append(time.perf_counter() - t0)
                if split == "train" and i == 0:
                    first_logits = logits.tolist()
                correct += (torch.argmax(logits, dim=-1) == y).sum().item()
                total += y.shape[0]
            result[f"{split}_accuracy"] = correct / total
        for split in ("train", "validation", "test"):
            losses = []
            rows = spec["splits"].get("train_loss", spec["splits"]["train"]) if split == "train" else spec["splits"][split]
            for x, y in batches(rows, bs, loss_n):
                t0 = time.perf_counter()
                losses.append(calc_loss_batch(x, y, model).item())
                fwd_times.append(time.perf_counter() - t0)
            result[f"{split}_loss"] = sum(losses) / len(losses)

    all_model = copy.deepcopy(model) if int(spec.get("all_step_reps", 0)) > 0 else None
    base_model = copy.deepcopy(model) if spec.get("experiment_configs") else None

    # 3. Training steps (book: AdamW lr 5e-5, weight decay 0.1; model.train() is a no-op with dropout 0).
    torch.manual_seed(123)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.1)
    model.train()
    train_batches = batches(spec["splits"]["train"], bs, 10**9)
    step_times = []
    reps = int(spec.get("step_reps", 5))
    for i in range(reps + 1):
        x, y = train_batches[i % len(train_batches)]
        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss = calc_loss_batch(x, y, model)
        loss.backward()
        optimizer.step()
        if i > 0:
            step_times.append(time.perf_counter() - t0)

    # 5. Every parameter trainable (on the model as it was before the steps above).
    all_step = {}
    if all_model is not None:
        for p in all_model.parameters():
            p.requires_grad = True
        all_opt = torch.optim.AdamW(all_model.parameters(), lr=5e-5, weight_decay=0.1)
        all_model.train()
        times, first_loss = [], None
        for i in range(int(spec["all_step_reps"]) + 1):
            x, y = train_batches[0]  # the same batch as ours (timing does not depend on the values)
            t0 = time.perf_counter()
            all_opt.zero_grad()
            loss = calc_loss_batch(x, y, all_model)
            loss.backward()
            all_opt.step()
            if i == 0:
                first_loss = loss.item()
            else:
                times.append(time.perf_counter() - t0)
        all_step = {"all_step_times_s": times, "all_step_median_s": statistics.median(times),
                    "all_step_first_loss": first_loss,
                    "all_step_trainable_params": sum(p.numel() for p in all_model.parameters())}
        del all_model, all_opt

    # 6. The configurations of the additional experiments.
    experiment_times = {}
    for c in spec.get("experiment_configs") or []:
        experiment_times[c["key"]] = time_experiment_config(base_model, c, spec["splits"], threads=torch.get_num_threads())
        print(f"experiment config {c['key']}: step {experiment_times[c['key']]['step_median_s']:.3f} s, "
              f"forward {experiment_times[c['key']]['forward_median_s']:.3f} s", flush=True)
    del base_model

    step_s, fwd_s = statistics.median(step_times), statistics.median(fwd_times)
    units = {"training_steps": 650, "initial_accuracy_forwards": 30, "initial_loss_forwards": 15,
             "evaluation_forwards": 13 * 10, "epoch_accuracy_forwards": 5 * 10, "final_accuracy_forwards": 130 + 19 + 38}
    forwards = sum(v for k, v in units.items() if k != "training_steps")
    out = {
        "torch_version": torch.__version__, "threads": torch.get_num_threads(), "cpu": cpu_name(),
        "blas_info": blas, "matmul_gflops": mm_gflops,
        "config": cfg, "batch_size": bs, "seq_len": len(spec["splits"]["train"]["ids"][0]),
        "initial": result, "first_train_batch_logits": first_logits,
        "step_times_s": step_times, "forward_times_s": fwd_times,
        "step_median_s": step_s, "forward_median_s": fwd_s,
        "units": units, "chapter_estimate_s": 650 * step_s + forwards * fwd_s,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "total_params": sum(p.numel() for p in model.parameters()),
        **all_step,
        **({"experiment_configs": experiment_times} if experiment_times else {}),
    }
    with open(args.output, "w") as f:
        json.dump(out, f, indent=1)
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads): step {step_s:.3f} s, forward {fwd_s:.3f} s, "
          f"chapter estimate {out['chapter_estimate_s']:.0f} s; initial {json.dumps(result)}")


if __name__ == "__main__":
    main()
