"""Helpers for Hands-On Autoencoders: data, plots, metrics and grading.

What a reader must learn (the models) stays in the notebooks; this package
holds the plumbing around it.
"""

from .runtime import import_tensorflow, limit_math_threads, seed_everything

limit_math_threads()

__all__ = ["import_tensorflow", "seed_everything"]
__version__ = "0.1.0"
