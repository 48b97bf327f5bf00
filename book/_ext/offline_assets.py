"""Sphinx extension for the pidlib book: keep every page free of CDN references.

Jupyter Book 1 always loads ``sphinx_thebe``, which puts an inline script with the thebe
library's unpkg.com URL (and ``sphinx-thebe.js``) on every page even when thebe is off.
Nothing is fetched unless a launch button is pressed, but the book promises no CDN asset
at all, so with thebe disabled both scripts are dropped from each page.
"""
from __future__ import annotations


def _drop_thebe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    keep = []
    for js in scripts:
        name = str(getattr(js, "filename", js) or "")
        body = str(getattr(js, "attributes", {}).get("body", "") or "")
        if "sphinx-thebe.js" in name or "THEBE_JS_URL" in body:
            continue
        keep.append(js)
    context["script_files"] = keep


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
