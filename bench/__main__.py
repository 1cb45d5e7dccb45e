"""`python -m bench`: benchmark this runtime (`make bench`, `make bench-quick`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .measure import SLO, Slo, Windows
from .run import RATES, WINDOWS, BenchOptions, quick, run_bench
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
    p.add_argument(
        "--window",
        help="seconds measured per system and level, and LEVEL=SECONDS for a level's own "
        "[cpu: 45,64=135; cuda: 45]",
    )
    p.add_argument(
        "--systems", help="comma-separated subset of: " + ", ".join(s.key for s in SYSTEMS)
    )
    p.add_argument("--quick", action="store_true", help="smoke run: levels 1,4,16, 8 s windows")
    p.add_argument(
        "--rates",
        help="open-loop request rates, requests/s, comma-separated ('' for none) "
        "[cpu: 1,2,4; cuda: 4,16,64]",
    )
    p.add_argument("--levels", help="concurrency levels, comma-separated [1,4,16,64]")
    p.add_argument(
        "--passes", type=int, default=1,
        help="measure every system this many times, the order reversed every other pass; each "
        "figure is the median over the passes [1]",
    )  # fmt: skip
    p.add_argument(
        "--interleave", action="store_true",
        help="start the servers' systems once, keep them all up together and measure them in "
        "turn, one window each, so that systems next to each other are minutes apart at most "
        "(the offline systems and the emulator's rows run after them, as usual)",
    )  # fmt: skip
    p.add_argument(
        "--slo-ttft-ms", type=float, default=SLO.ttft_ms,
        help=f"goodput: time to first token at most this [{SLO.ttft_ms:g}]",
    )  # fmt: skip
    p.add_argument(
        "--slo-tpot-ms", type=float, default=SLO.tpot_ms,
        help=f"goodput: time per output token at most this [{SLO.tpot_ms:g}]",
    )  # fmt: skip
    return p


def options_from(args: argparse.Namespace) -> BenchOptions:
    """Options from the command line; a user's mistake raises ValueError with one line."""
    from .hardware import resolve_device

    if args.passes < 1:
        raise ValueError(f"--passes {args.passes}: give 1 or more")
    windows = Windows.parse(args.window) if args.window else None
    known = {s.key for s in SYSTEMS}
    defaults = sorted(s.key for s in SYSTEMS if s.default)
    systems = tuple(args.systems.split(",")) if args.systems else tuple(defaults)
    unknown = sorted(set(systems) - known)
    if unknown:
        raise ValueError(f"unknown system(s) {', '.join(unknown)}; known: {', '.join(known)}")
    readme = Path(args.readme) if args.readme else None
    if readme is None and args.results is None and not args.quick:
        readme = REPO / "README.md"  # only this repository's own results update its README
    if readme is not None and not readme.is_file():
        raise ValueError(f"--readme {readme}: no such file")
    device = resolve_device(args.device)
    rates = RATES[device] if args.rates is None else _numbers("--rates", args.rates)
    options = BenchOptions(
        model_dir=_model_dir(args.model),
        prompts=Path(args.prompts),
        results_dir=Path(args.results) if args.results else REPO / "bench/results",
        readme=readme,
        device=device,
        systems=systems,
        rates=tuple(rates),
        slo=Slo(ttft_ms=args.slo_ttft_ms, tpot_ms=args.slo_tpot_ms),
        passes=args.passes,
        interleave=args.interleave,
        windows=WINDOWS[device],
    )
    if args.quick:
        options = quick(options)
    if args.levels:
        options = replace(options, levels=tuple(int(v) for v in _numbers("--levels", args.levels)))
    return replace(options, windows=windows) if windows else options


def _numbers(flag: str, text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{flag} {text!r}: give comma-separated numbers") from None
    if any(v <= 0 for v in values):
        raise ValueError(f"{flag} {text!r}: every value must be above 0")
    return values


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
