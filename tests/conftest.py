"""Shared test set-up: the repository root.

Do not set MPLBACKEND here: the nbval kernels inherit the environment, and a
non-inline backend would drop every stored figure from the notebooks' outputs.
Tests that draw select the Agg backend themselves.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
