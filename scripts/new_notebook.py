#!/usr/bin/python3
"""Writes a tslab notebook (no outputs) from a simple text source, so notebooks can be written and
reviewed as plain text. Cells are separated by lines `# %% [markdown]` or `# %%` (code); markdown
lines are written as comments (`# text`, `#` for a blank line), as in Jupytext's percent format.

Usage: scripts/new_notebook.py SOURCE.txt OUT.ipynb
"""
import hashlib
import sys

import nbformat


def main():
    src, out = sys.argv[1], sys.argv[2]
    cells, kind, buf = [], None, []

    def flush():
        if kind is None:
            return
        lines = buf
        if kind == "md" and all(l.startswith("#") for l in buf if l.strip()):
            # Markdown written as comments (`# text`, jupytext percent style): drop the comment prefix.
            lines = [l[2:] if l.startswith("# ") else l[1:] for l in buf]
        text = "\n".join(lines).strip("\n")
        cid = hashlib.sha1(f"{out}:{len(cells)}".encode()).hexdigest()[:12]
        cell = nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text)
        cell["id"] = cid
        cells.append(cell)

    for line in open(src, encoding="utf8").read().splitlines():
        if line.strip() in ("# %% [markdown]", "# %%"):
            flush()
            kind, buf = ("md" if "markdown" in line else "code"), []
        else:
            buf.append(line)
    flush()
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "tslab", "display_name": "TypeScript (tslab)", "language": "typescript"},
        "language_info": {"name": "typescript", "file_extension": ".ts", "mimetype": "text/typescript", "version": "5.0"},
    })
    nbformat.write(nb, out)


if __name__ == "__main__":
    main()
