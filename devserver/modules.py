"""Importing a function's handler module by path. Every function's module is called `app`, so tests and
benchmarks that hold several in one process import each under a name of its own."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from devserver.template import FunctionSpec


def handler_file(spec: FunctionSpec) -> Path:
    """`Handler: app.handler` with `CodeUri: functions/x/` -> functions/x/app.py."""
    module_name, _, _ = spec.handler.rpartition(".")
    return spec.code_uri / f"{module_name.replace('.', '/')}.py"


def import_file(module_name: str, path: Path) -> ModuleType:
    """Import `path` as `module_name`, registered in sys.modules (pydantic resolves a module's annotations there)."""
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    loader_spec.loader.exec_module(module)
    return module
