"""`python -m bench`: benchmark this runtime (`make bench`, `make bench-quick`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .run import BenchOptions, quick, run_bench
from .systems import REPO, SYSTEMS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="benchmark this runtime against vllm serve, vLLM alone and transformers",
    )
    p.add_argument("--model", default="demo", help="model folder, or 'demo' [demo]")
    p.add_argument("--prompts", default=str(REPO / "bench/prompts.json"), help="prompt set")
    p.add_argument("--results", help="output folder [bench/results of this repository]")
    p.add_argument(
        "--readme",
        help="README whose benchmark section is replaced [this repository's README.md when "
        "--results is left to its default and the run is not --quick; else none]",
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where the models run [auto: cuda when torch sees one]")  # fmt: skip
    p.add_argument("--window", type=float, help="seconds measured per system and level [45]")
    p.add_argument(
        "--systems", help="comma-separated subset of: " + ", ".join(s.key for s in SYSTEMS)
    )
    p.add_argument("--quick", action="store_true", help="smoke run: levels 1,4,16, 8 s windows")
    return p


def options_from(args: argparse.Namespace) -> BenchOptions:
    """Options from the command line; a user's mistake raises ValueError with one line."""
    from .hardware import resolve_device

    known = {s.key for s in SYSTEMS}
    systems = tuple(args.systems.split(",")) if args.systems else tuple(sorted(known))
    unknown = sorted(set(systems) - known)
    if unknown:
        raise ValueError(f"unknown system(s) {', '.join(unknown)}; known: {', '.join(known)}")
    readme = Path(args.readme) if args.readme else None
    if readme is None and args.results is None and not args.quick:
        readme = REPO / "README.md"  # only this repository's own results update its README
    if readme is not None and not readme.is_file():
        raise ValueError(f"--readme {readme}: no such file")
    options = BenchOptions(
        model_dir=_model_dir(args.model),
        prompts=Path(args.prompts),
        results_dir=Path(args.results) if args.results else REPO / "bench/results",
        readme=readme,
        device=resolve_device(args.device),
        systems=systems,
    )
    if args.quick:
        options = quick(options)
    return replace(options, window_s=args.window) if args.window else options


def _model_dir(model: str) -> Path:
    from sagemaker_openai.settings import load_settings

    if model == "demo":
        from sagemaker_openai.demo import ensure_demo_model

        return ensure_demo_model(load_settings({}).cache_dir)
    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        raise ValueError(f"{path} is not a model folder (no config.json)")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level="INFO", format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    try:
        options = options_from(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(run_bench(options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
