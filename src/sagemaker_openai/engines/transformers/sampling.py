"""Per-row sampling of a batch's next-token logits, each row with its own request's settings."""

from __future__ import annotations

import torch

from .sequence import Logprobs, Sequence

# Below this a temperature is greedy, as in vLLM: dividing logits by it overflows float32.
GREEDY_TEMPERATURE = 1e-5


def sample(logits: torch.Tensor, seqs: list[Sequence]) -> tuple[list[int], list[Logprobs | None]]:
    """One token per row of `logits` ([rows, vocab]), and its logprobs where the row asks."""
    logits = logits.float()
    asking = [i for i, s in enumerate(seqs) if s.params.logprobs is not None]
    # Logprobs of the model's own distribution, before bias, penalties and temperature (vLLM's
    # default, raw_logprobs), so both engines report the same numbers.
    logp = torch.log_softmax(logits[asking], dim=-1) if asking else None
    adjusted = logits.clone() if asking else logits
    for row, seq in zip(adjusted, seqs, strict=True):
        _adjust(row, seq)
    tokens = torch.argmax(adjusted, dim=-1)
    for i, seq in enumerate(seqs):
        if seq.params.temperature >= GREEDY_TEMPERATURE:
            tokens[i] = _draw(adjusted[i], seq)
    chosen = tokens.tolist()  # one device sync per step
    out: list[Logprobs | None] = [None] * len(seqs)
    if logp is not None:
        top = max(seqs[i].params.logprobs or 0 for i in asking)
        values, ids = logp.topk(max(top, 1), dim=-1)
        picked = logp.gather(1, tokens[asking].unsqueeze(1)).squeeze(1).tolist()
        top_lp, top_id = values.tolist(), ids.tolist()
        for j, i in enumerate(asking):
            k = seqs[i].params.logprobs or 0
            out[i] = (picked[j], list(zip(top_id[j][:k], top_lp[j][:k], strict=True)))
    return chosen, out


def _adjust(row: torch.Tensor, seq: Sequence) -> None:
    """OpenAI's logit_bias, then penalties on completion tokens, then the grammar, in place."""
    p = seq.params
    if p.logit_bias:
        ids = torch.tensor(list(p.logit_bias), device=row.device)
        row[ids] += torch.tensor(list(p.logit_bias.values()), device=row.device)
    if p.presence_penalty or p.frequency_penalty:
        if seq.counts is None:
            seq.counts = torch.zeros_like(row)
            seq.counted = 0
        for token in seq.tokens[seq.counted :]:
            seq.counts[token] += 1
        seq.counted = len(seq.tokens)
        row -= seq.counts * p.frequency_penalty + (seq.counts > 0).float() * p.presence_penalty
    if seq.processor is not None:
        seq.processor.mask(row)


def _draw(row: torch.Tensor, seq: Sequence) -> torch.Tensor:
    """A token drawn with the sequence's own generator: temperature, then nucleus (top_p)."""
    p = seq.params
    probs = torch.softmax(row / p.temperature, dim=-1)
    if p.top_p >= 1.0:
        return torch.multinomial(probs, 1, generator=seq.generator)[0]
    sorted_probs, order = torch.sort(probs, descending=True)
    # keep the smallest prefix whose mass reaches top_p (always at least one token)
    sorted_probs[torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= p.top_p] = 0.0
    return order[torch.multinomial(sorted_probs, 1, generator=seq.generator)[0]]
