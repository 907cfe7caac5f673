"""Sphinx extension: two fixes for JavaScript errors the browser test found.

1. Each inline script goes on a page only once. sphinx-thebe 0.3.1 registers its
   configuration script every time Sphinx fires ``env-before-read-docs``, which
   Jupyter Book 1.0 makes happen twice, so every page declared
   ``const THEBE_JS_URL`` twice and the browser reported a JavaScript error.
   Identical scripts are dropped here, keeping the first.
2. The colour mode defaults to "light" (our figures have white backgrounds).
   Jupyter Book leaves pydata-sphinx-theme's ``default_mode`` empty, and the
   theme then logs "Got invalid theme mode" on a reader's first visit.
"""


def _fix_page(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # The same script may arrive once with filename None and once with "".
        filename = getattr(script, "filename", None) or ""
        attributes = getattr(script, "attributes", {})
        key = (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    if "script_files" in context:
        context["script_files"][:] = unique
    if not context.get("default_mode"):
        context["default_mode"] = "light"


def setup(app):
    app.connect("html-page-context", _fix_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
