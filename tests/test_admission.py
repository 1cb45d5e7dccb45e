"""Admission: a shared token budget, a bounded FIFO queue, 400 for what can never fit and a fast
429 with Retry-After when the queue is full; end to end on the real demo model."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from sagemaker_openai.admission import Admission
from sagemaker_openai.errors import Busy, InvalidRequest


def test_the_queue_admits_in_order_and_refuses_beyond_its_length() -> None:
    async def scenario() -> list[str]:
        admission = Admission(capacity=100, max_waiting=2)
        order: list[str] = []
        release = asyncio.Event()

        async def run(name: str, tokens: int) -> None:
            async with admission.admit(tokens):
                order.append(name)
                await release.wait()

        first = asyncio.create_task(run("a", 80))
        await asyncio.sleep(0)
        waiting = [asyncio.create_task(run(n, 50)) for n in ("b", "c")]
        await asyncio.sleep(0)
        assert admission.waiting == 2 and order == ["a"]
        with pytest.raises(Busy) as busy:
            async with admission.admit(10):  # would fit, but may not jump the queue
                pass
        assert busy.value.status == 429 and busy.value.headers["Retry-After"]
        with pytest.raises(InvalidRequest):
            admission.check(101)  # at planning: never admitted, whatever runs
        release.set()
        await asyncio.gather(first, *waiting)
        assert admission.in_use == 0 and admission.running == 0
        return order

    assert asyncio.run(scenario()) == ["a", "b", "c"]


def test_a_waiter_that_leaves_gives_its_place_back() -> None:
    async def scenario() -> None:
        admission = Admission(capacity=10, max_waiting=1)
        async with admission.admit(10):
            waiter = asyncio.create_task(admission.admit(5).__aenter__())
            await asyncio.sleep(0)
            assert admission.waiting == 1
            waiter.cancel()
            await asyncio.sleep(0)
            assert admission.waiting == 0
        assert admission.in_use == 0

    asyncio.run(scenario())


def test_a_growing_hold_holds_newcomers_back_until_it_ends() -> None:
    """A running request outgrowing its reservation takes more without waiting, even past the
    budget; a newcomer then waits until room is given back (vLLM's scheduler, likewise, never
    stops a running sequence for a newcomer)."""

    async def scenario() -> None:
        admission = Admission(capacity=100)
        async with admission.admit(60) as hold:
            hold.grow(50)  # 110 of 100: over, never waiting
            assert admission.in_use == 110
            newcomer = asyncio.create_task(admission.admit(30).__aenter__())
            await asyncio.sleep(0)
            assert admission.waiting == 1 and not newcomer.done()
        await asyncio.sleep(0)
        assert newcomer.done() and admission.in_use == 30

    asyncio.run(scenario())


def test_over_budget_requests_wait_then_get_429_and_never_fit_gets_400(serve_demo) -> None:
    # 0.01 GiB is about 116 tokens of the demo model's fp32 cache: one short request at a time
    # (fp32 named: the default dtype follows the CPU, and bf16 would fit twice as many)
    server = serve_demo(
        "transformers", "--kv-cache-gib", "0.01", "--max-waiting", "1", "--dtype", "float32"
    )
    url = server.url
    count = [{"role": "user", "content": "Count from 1 to 300, separated by commas."}]
    long = {"messages": count, "max_tokens": 60, "temperature": 0}  # runs all 60 tokens
    # the context auto-fits to the budget: one sequence of full context always fits ...
    ping = httpx.get(f"{url}/ping").json()
    assert 0 < ping["max_model_len"] < 8192  # the demo model's own context, cut to ~116
    longer = httpx.post(f"{url}/invocations", json={**long, "max_tokens": 500}, timeout=60)
    assert longer.status_code == 400
    assert longer.json()["error"]["code"] == "context_length_exceeded"
    # ... and a request whose sequences could never be admitted together is a 400 naming n
    never = httpx.post(f"{url}/invocations", json={**long, "n": 8}, timeout=60)
    assert never.status_code == 400 and never.json()["error"]["param"] == "n"
    answers: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(
                httpx.post(f"{url}/invocations", json=long, timeout=300).status_code
            )
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
        time.sleep(1.0)  # the first runs, the second waits in the queue
    ping = httpx.get(f"{url}/ping").json()
    busy = httpx.post(f"{url}/invocations", json={**long, "stream": True}, timeout=60)
    for thread in threads:
        thread.join()
    assert busy.status_code == 429, busy.text
    assert busy.headers["retry-after"] == "1"
    assert busy.json()["error"]["code"] == "rate_limit_exceeded"
    assert ping["admitted"] == 1 and ping["waiting"] == 1
    assert answers == [200, 200]
