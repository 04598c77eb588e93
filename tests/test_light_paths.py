"""The health and authorizer paths must not load the LLM SDKs, libcst or tree-sitter (cold start, see BENCHMARKS.md)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("anthropic", "openai", "libcst", "tree_sitter")


@pytest.mark.parametrize("function", ["healthcheck", "authorizer"])
def test_handler_import_loads_no_llm_sdk_or_libcst(function):
    probe = (
        "import importlib.util, json, sys\n"
        f"sys.path[:0] = [{str(ROOT / 'layers/common')!r}]\n"
        f"spec = importlib.util.spec_from_file_location('app', {str(ROOT / 'functions' / function / 'app.py')!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "assert callable(module.handler)\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert not loaded & set(HEAVY), f"{function} imported {sorted(loaded & set(HEAVY))}"
