"""
# labml_memory

Annotated implementations of transformers that remember beyond their context window.
"""

__version__ = "0.1.0"
