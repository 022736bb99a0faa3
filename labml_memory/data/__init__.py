r"""
# Data

The text every experiment reads, below the trainer: the [trainer](../training/__init__.py)
imports from here and nothing here imports the trainer, the models or the studies.

* [Tiny Shakespeare](shakespeare.py) is the language-modelling corpus of every architecture's
  experiment. Its text is read as parallel sequential streams, so a model's memory carries
  over from one batch to the next, exactly as recurrence assumes.
* [Echo streams](echo.py) are the same text with passages that recur verbatim a set distance
  later: a natural text in which a memory that reaches far enough must pay.
"""
