"""python -m devserver.fakellm [--host H] [--port N] [--latency S]: serve the offline demo model until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import threading

from devserver.fakellm.server import FakeLLMServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devserver.fakellm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before every answer")
    args = parser.parse_args(argv)

    server = FakeLLMServer(args.host, args.port, latency_s=args.latency)
    print(f"fake LLM server (offline demo model) on {server.url}", flush=True)
    print(f"  Bedrock:       ANTHROPIC_BEDROCK_BASE_URL={server.url}", flush=True)
    print(f"  Azure OpenAI:  AZURE_OPENAI_ENDPOINT={server.url}", flush=True)
    print(f"  OpenAI-compatible base URL: {server.openai_base_url}", flush=True)
    print("Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
