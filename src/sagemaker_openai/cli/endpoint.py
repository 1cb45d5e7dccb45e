"""invoke, chat, check and token: build a client for an endpoint (or a container) and run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .aws import add_endpoint_name, add_region, aws_session
from .usage import UsageError, fail

if TYPE_CHECKING:  # imported where used, so `--help` and the AWS commands start fast
    from ..endpoint.client import EndpointClient
    from .usage import Commands


def add_commands(commands: Commands) -> None:
    _add_invoke(commands)
    _add_chat(commands)
    _add_check(commands)
    _add_token(commands)


def _add_endpoint_flags(p: argparse.ArgumentParser) -> None:
    add_endpoint_name(p, metavar="NAME", help="SageMaker endpoint name")
    p.add_argument(
        "--endpoint-url",
        help="SageMaker Runtime URL, e.g. the emulator's http://127.0.0.1:8081 "
        "[env AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME]",
    )
    add_region(p)


def _add_request_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-tokens", type=int, default=256, help="completion token limit [256]")
    p.add_argument("--temperature", type=float, help="sampling temperature [the model's]")
    p.add_argument("--system", help="a system message")


def _endpoint_client(args: argparse.Namespace) -> EndpointClient:
    from ..endpoint.client import EndpointClient, ensure_reachable

    if not args.endpoint_name:
        raise UsageError("name the endpoint: --endpoint-name NAME")
    if args.endpoint_url:  # a local emulator that is not running: say so before anything else
        ensure_reachable(args.endpoint_url, "--endpoint-url")
    return EndpointClient(args.endpoint_name, region=args.region, endpoint_url=args.endpoint_url)


def _sampling(args: argparse.Namespace) -> dict[str, Any]:
    values = {"max_tokens": args.max_tokens, "temperature": args.temperature}
    return {k: v for k, v in values.items() if v is not None}


def _add_invoke(commands: Commands) -> None:
    p = commands.add_parser("invoke", help="send one chat request to an endpoint")
    _add_endpoint_flags(p)
    _add_request_flags(p)
    p.add_argument("message", help="the user message ('-' reads standard input)")
    p.add_argument("--stream", action="store_true", help="stream the answer as it is generated")
    p.add_argument("--raw", action="store_true", help="print the JSON (one line per chunk)")
    p.set_defaults(func=_invoke)


def _invoke(args: argparse.Namespace) -> int:
    from ..endpoint.console import invoke

    message = sys.stdin.read() if args.message == "-" else args.message
    system = [{"role": "system", "content": args.system}] if args.system else []
    request = {**_sampling(args), "messages": [*system, {"role": "user", "content": message}]}
    return _one_line_errors(
        lambda: invoke(
            _endpoint_client(args), request, stream=args.stream, raw=args.raw, out=sys.stdout
        )
    )


def _add_chat(commands: Commands) -> None:
    p = commands.add_parser(
        "chat",
        help="chat with an endpoint in the terminal",
        description="Chat with an endpoint; it keeps the conversation. Lines edit as in a shell "
        "(arrow keys, history). Ctrl-C stops an answer; /system TEXT, /reset, /history; "
        "/exit or Ctrl-D quits.",
    )
    _add_endpoint_flags(p)
    _add_request_flags(p)
    p.set_defaults(func=_chat)


def _chat(args: argparse.Namespace) -> int:
    from ..endpoint.console import chat, line_editing

    def run() -> int:
        client = _endpoint_client(args)
        line_editing()
        return chat(client, _sampling(args), system=args.system, read=input, out=sys.stdout)

    return _one_line_errors(run)


def _add_check(commands: Commands) -> None:
    p = commands.add_parser(
        "check", help="check an endpoint (or a container by --url) against the wire contract"
    )
    _add_endpoint_flags(p)
    p.add_argument("--url", help="a container's base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--rule", action="append", help="run only rules starting with this (e.g. stream.)"
    )
    p.add_argument(
        "--openai-route",
        action="store_true",
        help="check the endpoint's OpenAI-compatible route (bearer token, SSE) instead",
    )
    p.add_argument("--inference-component", help="with --openai-route: one component's route")
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from ..endpoint.check.report import format_report, run_check
    from ..endpoint.client import ensure_reachable
    from ..endpoint.exchange import ContainerTarget, EndpointTarget, OpenAIRouteTarget, Target

    if bool(args.url) == bool(args.endpoint_name):
        print("error: give exactly one of --endpoint-name NAME or --url URL", file=sys.stderr)
        return 2

    def run() -> int:
        target: Target
        if args.url:  # checked first: otherwise every rule fails with the same error
            ensure_reachable(args.url, "--url")
            target = ContainerTarget(args.url)
        elif args.openai_route:
            route = _openai_route(args, args.endpoint_name, args.inference_component)
            if isinstance(route, str):
                raise UsageError(route)
            target = OpenAIRouteTarget(route[1], route[0])
        else:
            target = EndpointTarget(_endpoint_client(args))
        results = run_check(target, args.rule or ())
        print(format_report(results, target, args.json))
        return 0 if all(r.passed for r in results) else 1

    return _one_line_errors(run)


def _add_token(commands: Commands) -> None:
    p = commands.add_parser(
        "token", help="a bearer token and base_url for SageMaker's OpenAI-compatible route"
    )
    p.add_argument("--endpoint-name", required=True)
    p.add_argument("--inference-component", help="address one inference component")
    p.add_argument(
        "--expires", type=int, default=43200, help="lifetime in seconds, at most 43200 [43200]"
    )
    p.add_argument(
        "--endpoint-url",
        help="SageMaker Runtime URL, e.g. the emulator's http://127.0.0.1:8081 "
        "[AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME or the region's]",
    )
    add_region(p)
    p.set_defaults(func=_token)


def _token(args: argparse.Namespace) -> int:
    route = _openai_route(args, args.endpoint_name, args.inference_component, args.expires)
    if isinstance(route, str):
        print(f"error: {route}", file=sys.stderr)
        return 1
    print(f"export OPENAI_API_KEY={route[0]}")
    print(f"export OPENAI_BASE_URL={route[1]}")
    return 0


def _openai_route(
    args: argparse.Namespace, endpoint: str, component: str | None, expires: int = 3600
) -> tuple[str, str] | str:
    """(bearer token, base_url) for the endpoint's OpenAI route, or what is missing."""
    from ..bearer import generate_token, openai_base_url

    aws = aws_session(args.region)
    credentials = aws.get_credentials()
    if credentials is None or not aws.region_name:
        missing = "credentials" if credentials is None else "a region (--region or AWS_REGION)"
        return f"no AWS {missing} found; the bearer token is signed with them"
    try:
        token = generate_token(credentials, aws.region_name, expires)
    except ValueError as e:
        return f"--expires: {e}"
    runtime = args.endpoint_url or aws.client("sagemaker-runtime").meta.endpoint_url
    return token, openai_base_url(runtime, endpoint, component)


def _one_line_errors(run: Callable[[], int]) -> int:
    """Mistakes in how the endpoint is reached (region, credentials, URL): one line, status 1."""
    from ..endpoint.client import SetupError

    try:
        return run()
    except (SetupError, UsageError) as e:
        return fail(e, status=1)
