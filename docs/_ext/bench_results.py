"""The ``bench-result`` directive: a file of ``bench/results/`` rendered in place at build time.

Each figure of the benchmark pages has one source, the results file its bench script wrote
(``bench/<name>.py`` prints it; the file starts with a line ``# bench/<name>.py, <date>,
<machine>``). The directive reads the file when the docs are built and renders it as Markdown:
the first line becomes a "Recorded by" note, tables and code blocks stay as they are, other
headings become bold lines (a directive cannot open sections), and runs of plain lines stay
verbatim in a text block (they are aligned console output).

Usage in a MyST page::

    ```{bench-result} service.md
    ```
"""

from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def to_markdown(text: str, name: str) -> list[str]:
    """The MyST lines that render one results file."""
    lines = text.splitlines()
    out = []
    if lines and lines[0].startswith("# "):
        out += [f"*Recorded by* `{lines[0][2:].strip()}` *(file `bench/results/{name}`)*", ""]
        lines = lines[1:]
    block: list[str] = []

    def flush():
        if not block:
            return
        if all(line.startswith("|") for line in block) or len(block) == 1:
            out.extend(block)
        else:  # console output: keep its alignment
            out.extend(["```text", *block, "```"])
        out.append("")
        block.clear()

    fence = None
    for line in lines:
        if fence is not None:
            out.append(line)
            if line.startswith(fence):
                fence = None
                out.append("")
        elif line.startswith("```"):
            flush()
            fence = "```"
            out.append(line)
        elif line.startswith("#"):
            flush()
            out += [f"**{line.lstrip('#').strip()}**", ""]
        elif not line.strip():
            flush()
        else:
            if block and block[-1].startswith("|") != line.startswith("|"):
                flush()  # a caption line right above or below a table
            block.append(line)
    flush()
    return out


class BenchResult(SphinxDirective):
    """Render ``bench/results/<argument>``."""

    required_arguments = 1
    has_content = False

    def run(self):
        path = RESULTS / self.arguments[0]
        if not path.is_file():
            raise self.error(f"bench-result: no results file {path}")
        self.env.note_dependency(str(path))
        container = nodes.container(classes=["bench-result"])
        content = StringList(to_markdown(path.read_text(encoding="utf-8"), path.name), source=str(path))
        self.state.nested_parse(content, self.content_offset, container)
        return [container]


def setup(app):
    app.add_directive("bench-result", BenchResult)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
