"""The core's HTML: Jinja templates in ``tokenlq/templates/``, autoescaped.

Every HTML string the package produces (the audit report, :func:`tokenlq.format_issues` with
``style='html'``) is rendered here, so user text (tokens, class names, settings) is escaped in
one place. The service renders its own pages with Flask from ``backend/templates/``.
"""

from __future__ import annotations

from functools import cache

import jinja2


@cache
def _environment() -> jinja2.Environment:
    # Built on first use: importing tokenlq should not pay for reading templates.
    return jinja2.Environment(loader=jinja2.PackageLoader("tokenlq"),
                              autoescape=jinja2.select_autoescape(), undefined=jinja2.StrictUndefined)


def render(template_name: str, /, **context) -> str:
    """``templates/<template_name>`` rendered with ``context``.

    Examples
    --------
    >>> render("issues.html", lines=[("<b> & ", [("", "x", True)])])
    '<div class="tokenlq-issues" style="font-family:monospace">&lt;b&gt; &amp; <mark style="background:#ffb3b3">x</mark></div>'
    """
    return _environment().get_template(template_name).render(**context)
