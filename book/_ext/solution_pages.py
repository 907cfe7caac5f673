"""Sphinx extension: the instructor edition shows each master notebook as a solution page.

The masters in ``solutions/`` are otter-assign sources: raw configuration cells,
``# BEGIN SOLUTION`` markers, test configuration. When Sphinx reads one, the
notebook is replaced by :func:`aecourse.assign.solution_page` of it: titled
"Solution: ...", each question with its points, no Otter markers, the tests
folded away and labelled public or hidden. The master on disk is not changed;
its download link still gives the otter-assign source.
"""

import json


def _solution_page(app, docname, source):
    if not docname.startswith("solutions/"):
        return
    from aecourse.assign import solution_page

    nb = json.loads(source[0])
    source[0] = json.dumps(solution_page(nb), ensure_ascii=False)


def setup(app):
    app.connect("source-read", _solution_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
