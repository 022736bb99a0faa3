r"""
Transformer-XL attention: the fused kernel against the explicit softmax, measured side by side.

    python experiments/benchmark_xl_attention.py [--repeats 5] [--out docs/results/transformer_xl]

For each (segment length, memory length) it times one training step (forward and backward) of
the same model, with the same weights and input, through `attention_impl='sdpa'` (the position
terms passed to `F.scaled_dot_product_attention` as an additive mask) and `'explicit'` (scores,
softmax and weighted sum written out). The two are measured in alternation within one run, so a
busy machine slows both alike and the ratio stays meaningful. It prints a table and writes it as
markdown for the results page.
"""
import argparse
import platform
import time
from pathlib import Path

import torch

from labml_memory.transformer_xl import TransformerXL


def step_time(model, tokens, memory, repeats):
    # Median of `repeats` forward+backward passes, after one warm-up pass.
    times = []
    for i in range(repeats + 1):
        started = time.perf_counter()
        logits, _, _ = model(tokens, memory)
        logits.sum().backward()
        if i:
            times.append(time.perf_counter() - started)
        model.zero_grad(set_to_none=True)
    return sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--out', default='docs/results/transformer_xl')
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for seq_len, mem_len in [(64, 64), (128, 128), (256, 256), (128, 512)]:
        fused = TransformerXL(65, d_model=128, heads=4, n_layers=4, d_ff=512, mem_len=mem_len, dropout=0.0)
        explicit = TransformerXL(65, d_model=128, heads=4, n_layers=4, d_ff=512, mem_len=mem_len,
                                 dropout=0.0, attention_impl='explicit')
        explicit.load_state_dict(fused.state_dict())
        tokens = torch.randint(0, 65, (16, seq_len))
        with torch.no_grad():
            _, memory, _ = fused(torch.randint(0, 65, (16, mem_len)))
        t_fused, t_explicit = [], []
        for _ in range(3):  # alternate, so both see the same machine load
            t_fused.append(step_time(fused, tokens, memory, args.repeats))
            t_explicit.append(step_time(explicit, tokens, memory, args.repeats))
        tf, te = min(t_fused), min(t_explicit)
        rows.append((seq_len, mem_len, tf * 1e3, te * 1e3, te / tf))
        print(f"L={seq_len:4d} M={mem_len:4d}  sdpa {tf * 1e3:8.1f} ms  explicit {te * 1e3:8.1f} ms  "
              f"explicit/sdpa {te / tf:5.2f}x", flush=True)
    lines = ["# Transformer-XL: fused against explicit attention", "",
             f"Training step (forward + backward) of a 4-layer, 128-wide Transformer-XL, batch 16, "
             f"on {platform.processor() or platform.machine()} with {torch.get_num_threads()} threads, "
             f"torch {torch.__version__}. Best of 3 alternating medians of {args.repeats} steps.",
             "Command: `python experiments/benchmark_xl_attention.py`", "",
             "| segment L | memory M | sdpa (ms) | explicit (ms) | explicit / sdpa |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {l} | {m} | {a:.1f} | {b:.1f} | {r:.2f}× |" for l, m, a, b, r in rows]
    lines += ["", "Both paths must build the `[L, M + L]` position-score matrix (terms (b) and (d)) "
              "explicitly, so the fused kernel can only save the softmax and the weighted sum; on a "
              "CPU that is a small share of a step, and the ratio moves with it. See the "
              "[Transformer-XL experiment page](../../transformer_xl/experiment.md)."]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'attention_impl.md').write_text('\n'.join(lines) + '\n')
    print(f"written {out / 'attention_impl.md'}")


if __name__ == '__main__':
    main()
