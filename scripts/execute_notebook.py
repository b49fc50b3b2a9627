#!/usr/bin/python3
"""Executes one notebook through the real tslab kernel (nbclient) and reports the failing cell clearly.

tslab reports errors without ename/evalue (nbconvert then prints only "<Error>: "), so this prints the
failing cell's source and its stderr output instead. Background errors (UncaughtException,
UnhandledPromiseRejection) don't fail a tslab cell; we fail on them too.

Usage: execute_notebook.py IN.ipynb OUT.ipynb [TIMEOUT_SECONDS]
Needs Debian's python3-nbclient (apt-get install -y jupyter-nbconvert python3-nbclient).
"""
import os
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

BACKGROUND_ERRORS = ("UncaughtException", "UnhandledPromiseRejection", "Unhandled promise rejection")


def stderr_of(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == "stderr")


def report(cell, index, why):
    src = cell.get("source", "")
    lines = src.splitlines()
    shown = "\n".join("    " + l for l in lines[:15]) + ("\n    ..." if len(lines) > 15 else "")
    print(f"  cell {index} failed ({why}):\n{shown}\n  stderr:\n" + "\n".join("    " + l for l in stderr_of(cell).splitlines()[-40:]), flush=True)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    timeout = int(sys.argv[3]) if len(sys.argv) > 3 else 1800
    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(nb, kernel_name="tslab", timeout=timeout, allow_errors=False,
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(src))}})
    failed = None
    client.reset_execution_trackers()
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            try:
                client.execute_cell(cell, i)
            except CellExecutionError:
                failed = (i, cell)
                report(cell, i, "error")
                break
    if failed is None:
        for i, cell in enumerate(nb.cells):
            err = stderr_of(cell)
            if cell.get("cell_type") == "code" and any(m in err for m in BACKGROUND_ERRORS):
                failed = (i, cell)
                report(cell, i, "background error")
                break
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    nbformat.write(nb, dst)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
