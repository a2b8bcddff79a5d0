"""``python -m stance.service --model DIR --max-batch 32 ...``: every setting as a flag."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: a server never reaches the network

from stance.service.app import serve  # noqa: E402
from stance.service.settings import ServiceSettings, add_arguments  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stance.service", description="Run the stance HTTP API and the analyst page.")
    parser.add_argument("--model", dest="model_path", help="model folder (default: STANCE_MODEL_DIR, else the shipped default model)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    add_arguments(parser)
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k not in {"model_path", "host", "port"}}
    try:
        settings = ServiceSettings.from_env(**overrides)
        serve(model_dir=args.model_path, host=args.host, port=args.port, settings=settings)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"python -m stance.service: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
