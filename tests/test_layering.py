"""The one rule: vit/ never imports flows/ or prefect."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import vit

VIT = Path(vit.__file__).parent


def test_no_vit_module_imports_flows_or_prefect_in_source():
    offenders = []
    for path in VIT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path}: {n}" for n in names if n.split(".")[0] in ("flows", "prefect")]
    assert offenders == []


def test_importing_every_vit_module_loads_no_prefect():
    mods = [m.name for m in pkgutil.walk_packages(vit.__path__, "vit.")]
    code = f"import sys, importlib\nfor m in {mods!r}: importlib.import_module(m)\nprint('prefect' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
