r"""
# Tasks

The data every experiment reads. [Tiny Shakespeare](shakespeare.py) is the language-modelling
corpus of every architecture's experiment; its text is read as parallel sequential streams, so
a model's memory carries over from one batch to the next, exactly as recurrence assumes.
"""
