"""The common layer as Lambda sees it, for this machine: its pinned requirements alone in a folder, without the
dev tools of the project venv (sam, cfn-lint and moto bring awscrt, cryptography and more that Lambda lacks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER_SOURCE = ROOT / "layers/common"
NATIVE_LAYER = ROOT / "build/bench-layer"


def native_layer() -> Path:
    """Install layers/common/requirements.txt for this platform into build/bench-layer (once)."""
    stamp = NATIVE_LAYER / ".requirements"
    wanted = (LAYER_SOURCE / "requirements.txt").read_text()
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--upgrade",
             "--target", str(NATIVE_LAYER), "-r", str(LAYER_SOURCE / "requirements.txt")],
            check=True,
        )
        stamp.write_text(wanted)
    return NATIVE_LAYER
