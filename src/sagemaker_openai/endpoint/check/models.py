"""Rules of the `models` family: OpenAI's model routes, GET /v1/models and /v1/models/{id}.

Only a container reached by URL has them: SageMaker Runtime forwards invocations only, so
through an endpoint these rules are skipped (exchange.Unreachable)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from .probe import Probe, Rule, clip, error_of

UNKNOWN = "no-such-model-7f3a"


def _cards(probe: Probe) -> tuple[list[dict[str, Any]], list[str]]:
    exchange = probe.get("/v1/models")
    if exchange.status != 200:
        return [], [f"GET /v1/models: status {exchange.status}: {clip(exchange.body)}"]
    try:
        listing = json.loads(exchange.body)
    except ValueError:
        return [], [f"GET /v1/models: not JSON: {clip(exchange.body)}"]
    data = listing.get("data") if isinstance(listing, dict) else None
    if listing.get("object") != "list" or not isinstance(data, list) or not data:
        return [], [f"GET /v1/models: not a list of models: {clip(exchange.body)}"]
    return data, []


def _card_problems(card: Any, where: str) -> list[str]:
    if not isinstance(card, dict):
        return [f"{where}: {clip(json.dumps(card))}"]
    found = []
    if card.get("object") != "model" or not isinstance(card.get("id"), str) or not card["id"]:
        found.append(f"{where}: object/id {clip(json.dumps(card))}")
    if not isinstance(card.get("created"), int) or not isinstance(card.get("owned_by"), str):
        found.append(f"{where}: created/owned_by {clip(json.dumps(card))}")
    return found


def _list(probe: Probe) -> list[str]:
    cards, found = _cards(probe)
    for number, card in enumerate(cards):
        found += _card_problems(card, f"data[{number}]")
    return found


def _retrieve(probe: Probe) -> list[str]:
    cards, found = _cards(probe)
    if found:
        return found
    for card in cards:
        model_id = str(card.get("id"))
        exchange = probe.get(f"/v1/models/{quote(model_id, safe='/')}")
        if exchange.status != 200:
            found.append(f"GET /v1/models/{model_id}: status {exchange.status}")
            continue
        try:
            retrieved = json.loads(exchange.body)
        except ValueError:
            found.append(f"GET /v1/models/{model_id}: not JSON: {clip(exchange.body)}")
            continue
        found += _card_problems(retrieved, f"GET /v1/models/{model_id}")
        if isinstance(retrieved, dict) and retrieved.get("id") != model_id:
            found.append(f"GET /v1/models/{model_id} answered id {retrieved.get('id')!r}")
    missing = probe.get(f"/v1/models/{UNKNOWN}")
    error = error_of(missing)
    if missing.status != 404 or error is None:
        found.append(f"GET /v1/models/{UNKNOWN}: status {missing.status}: {clip(missing.body)}")
    return found


RULES = (
    Rule("models.list", _list),
    Rule("models.retrieve", _retrieve),
)
