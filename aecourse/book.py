"""What a chapter needs of the book's toolchain, working where that toolchain is missing.

The chapters *glue* their key numbers into the book's prose with myst-nb's ``glue``
(the ``{glue:text}`` roles of the built pages). myst-nb belongs to the book's build, not
to a student's machine: on Colab or in a plain JupyterLab it is not installed, and a
chapter that imported it stopped in its second cell. :func:`glue` is myst-nb's where
myst-nb is installed, so the stored outputs and the built book are the same; elsewhere
it shows the value as the cell's output (nothing with ``display=False``), as a reader
would expect, and the chapter runs on.
"""

__all__ = ["glue"]


def glue(name, variable, display=True):
    """Glue ``variable`` under ``name`` for the book (``myst_nb.glue``), or just show it without myst-nb."""
    try:
        from myst_nb import glue as book_glue
    except ImportError:
        if display:
            from IPython.display import display as show

            show(variable)
        return
    book_glue(name, variable, display)
