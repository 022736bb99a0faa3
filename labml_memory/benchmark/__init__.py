r"""
# The cross-architecture benchmark

A reader choosing a memory architecture wants one table: the same data, the same sizes, the
same machine, and every model measured the same way. This package is the harness that makes
it, run as the [benchmark study](../studies/benchmark.py):

```
python -m labml_memory.studies run benchmark                    # every architecture and installed peer
python -m labml_memory.studies run benchmark size=tiny only=transformer_xl,xtransformers_xl
python -m labml_memory.studies report benchmark                 # the page, from the record alone
```

It finds our architectures by the project's registry convention, builds each at one shared
configuration, and does the same for the public implementations of the same papers wrapped
in [peers](peers.py), and for a plain transformer with no memory and the same attention span.
For every entry it measures

* **training throughput**: tokens per second of the trainer's own training steps (forward,
  auxiliary losses, backward, clipping, AdamW), the memory carried from segment to segment;
* the **share of the machine's matmul throughput** that training achieves;
* **peak resident memory** of the process that trained it;
* the **memory state**: bytes one stream carries between segments, after a long text;
* **generation time per token as the context grows**: one token at a time with memory, at
  batch 1 and at batch 16, after reading $64$, $256$, $1024$, $4096$ and $16384$ characters;
* a **profile** of one training step and one generated token of each of ours: the
  operations that take the time.

Every entry is measured in five rounds, interleaved: each round first measures the
[matmul yardstick](matmul_yardstick.py) in a process of its own, then every entry once, and
every ratio on the page is taken within a round and then summarised over rounds (the
median, with the paired interval), so entries are compared on the same minutes of the
same machine.

The study's record holds every row; its [page](../results/benchmark.md) gives each entry's
throughput as a ratio to the fastest peer implementing the same paper, and a verdict on each
of ours against that peer, round by round. An architecture that does not import or build,
and a peer that is not installed or cannot express the configuration, gets a row that says why.

The shared configuration is the CPU preset of the [Transformer-XL experiment](../transformer_xl/experiment.py):
4 layers, $d = 128$, 4 heads, feed-forward width 512, segments of $L = 64$ characters, a
memory of $M = 64$ per layer (and for the Compressive Transformer $M_c = 32$ slots at
rate $c = 2$), 16 streams, dropout off.

## Where each piece lives

| module | its job |
|---|---|
| [ours](ours.py) | finds our architectures (a package with an `experiment` exposing `Config`, `PRESETS`, `build_model`) and builds one at the shared sizes |
| [baseline](baseline.py) | the plain transformer with the same span, which re-reads its window for every token |
| [peers](peers.py) | the public implementations, each wrapped to answer our protocol; the shared `Sizes` |
| [entries](entries.py) | every entry by name: which kind it is, what it implements, how to build it |
| [timing plan](timing_plan.py) | how long each entry is looked at: steps, contexts, rounds, threads; the full and tiny plans |
| [training timing](training_timing.py) | timing the trainer's training step, after the memories are full |
| [FLOP count](flop_count.py) | the counted matrix-product work of one step |
| [matmul yardstick](matmul_yardstick.py) | the machine's matmul rate, and each entry's share of it |
| [generation timing](generation_timing.py) | seconds per generated token as the context grows, at each batch |
| [profile](profile.py) | the operations that take the time of one training step and one generated token |
| [worker](worker.py) | one entry in one fresh process: build, train, generate, peak memory; a missing package simulated |
| [rounds](rounds.py) | every entry round after round, the round's yardstick first; medians, per-round ratios and shares; the record |
| [page](../studies/benchmark_page.py) | the page, its plots and its round-by-round verdicts, from the record (with the studies, which draw every results page) |

## Adding an entry

A new architecture needs nothing here: once its folder has an `experiment.py` with
`Config`, `PRESETS` and `build_model`, the next run finds it and gives it a row. A new peer
is a class in [peers](peers.py) that builds the peer at the shared sizes and translates
its call; add it to `PEERS` with the architecture it `implements`, and its row and ratio
follow. The test suite calls every registered peer that is installed through the same
protocol, so an adapter that mistranslates (a memory of the wrong size, a wrong layout)
fails there before it distorts a table.

## Deviations from the papers

* This is not from a paper; it measures the implementations, not the ideas. Architectures
  with no public peer (∞-former, the memory-depth study) are measured but have no ratio.
* Peers keep their authors' choices of positional scheme, normalisation and feed-forward
  gating; the [peers](peers.py) page lists them. Equal configuration means equal widths,
  depths, lengths and batch, not identical arithmetic.
"""

