r"""
# Tasks

The data every experiment reads, and the synthetic tasks that probe what a memory can do.

* [Tiny Shakespeare](shakespeare.py) is the language-modelling corpus of every architecture's
  experiment. Its text is read as parallel sequential streams, so a model's memory carries
  over from one batch to the next, exactly as recurrence assumes.
* [Passkey retrieval](passkey.py) hides a number at a chosen depth in filler text and asks for
  it back at the end: the test of whether anything survives a long stretch of irrelevant input.
* [Frequency sort](frequency_sort.py), the ∞-former's task: tokens drawn from a distribution
  that drifts along the sequence, to be listed by how often they occurred, which needs a
  summary of the whole past rather than one remembered item.
* Both synthetic tasks train and score through one [segment-by-segment loop](synthetic.py),
  and run for any architecture by name (`model=<name>`), through the same protocol call.
"""
