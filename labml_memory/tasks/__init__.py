r"""
# Tasks

The synthetic tasks that probe what a memory can do: their text generators and samplers.
(The language-modelling text, Tiny Shakespeare, lives [below the trainer](../data/shakespeare.py);
the studies that train on these tasks and write results pages live in
[studies](../studies/__init__.py).)

* [Passkey retrieval](passkey.py) hides a number at a chosen depth in filler text and asks for
  it back at the end: the test of whether anything survives a long stretch of irrelevant input.
* [Frequency sort](frequency_sort.py), the ∞-former's task: tokens drawn from a distribution
  that drifts along the sequence, to be listed by how often they occurred, which needs a
  summary of the whole past rather than one remembered item.
* Every task hands its batches to one [segment-by-segment loop](../training/synthetic.py),
  which is part of the trainer and knows no task by name; the studies put the two together
  and run a task for any architecture by name, through the same protocol call.
"""
