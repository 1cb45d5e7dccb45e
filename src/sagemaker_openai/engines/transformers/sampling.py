"""Per-row sampling of a batch's next-token logits, each row with its own request's settings."""

from __future__ import annotations

import torch

from .sequence import Logprobs, Sequence

# Below this a temperature is greedy, as in vLLM: dividing logits by it overflows float32.
GREEDY_TEMPERATURE = 1e-5
_LARGEST = torch.finfo(torch.float32).max


def sample(logits: torch.Tensor, seqs: list[Sequence]) -> tuple[list[int], list[Logprobs | None]]:
    """One token per row of `logits` ([rows, vocab]), and its logprobs where the row asks."""
    logits = logits.float()
    asking = [i for i, s in enumerate(seqs) if s.params.logprobs is not None]
    # Logprobs of the model's own distribution, before bias, penalties and temperature (vLLM's
    # default, raw_logprobs), so both engines report the same numbers.
    logp = torch.log_softmax(logits[asking], dim=-1) if asking else None
    adjusted = logits.clone() if asking else logits
    for row, seq in zip(adjusted, seqs, strict=True):
        try:
            _adjust(row, seq)
        except Exception as exc:  # this sequence's own (its grammar's): it alone ends with it
            seq.error = exc
            row.zero_()  # a harmless draw for a row whose token is never used
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
    """In place, in vLLM's order: min_tokens and logit_bias, then the penalties (repetition on
    prompt and completion tokens, presence and frequency on completion tokens), then the grammar;
    a thinking budget's end marker overrides them all."""
    p = seq.params
    if len(seq.tokens) < p.min_tokens:
        row[list(seq.stop_ids)] = -torch.inf
    if p.logit_bias:
        ids = torch.tensor(list(p.logit_bias), device=row.device)
        row[ids] += torch.tensor(list(p.logit_bias.values()), device=row.device)
    if p.repetition_penalty != 1.0:
        seen = _seen(row, seq)
        penalised = torch.where(row > 0, row / p.repetition_penalty, row * p.repetition_penalty)
        # a penalty near 0 or huge overflows float32: kept finite, the order stays
        penalised.clamp_(-_LARGEST, _LARGEST)
        row.copy_(torch.where(seen, penalised, row))
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
    forced = seq.thinking.forced if seq.thinking is not None else None
    if forced is not None:
        row.fill_(-torch.inf)
        row[forced] = 0.0


def _seen(row: torch.Tensor, seq: Sequence) -> torch.Tensor:
    """Which tokens the prompt or the completion holds so far ([vocab] bool), kept up to date."""
    if seq.seen is None:
        seq.seen = torch.zeros(row.shape, dtype=torch.bool, device=row.device)
        seq.seen[torch.tensor(seq.prompt, device=row.device)] = True
    if len(seq.tokens) > seq.seen_upto:
        seq.seen[torch.tensor(seq.tokens[seq.seen_upto :], device=row.device)] = True
        seq.seen_upto = len(seq.tokens)
    return seq.seen


def _draw(row: torch.Tensor, seq: Sequence) -> torch.Tensor:
    """A token drawn with the sequence's own generator, as vLLM samples: temperature, then
    min_p, then top_k, then nucleus (top_p)."""
    p = seq.params
    # shifted by the largest first: a huge logit (repetition_penalty near 0) over a small
    # temperature would overflow to inf, and the distribution to NaN
    probs = torch.softmax((row - row.max()) / p.temperature, dim=-1)
    if p.min_p > 0.0:
        probs[probs < p.min_p * probs.max()] = 0.0
    if 0 < p.top_k < probs.numel():
        probs[probs < torch.topk(probs, p.top_k).values[-1]] = 0.0
    if p.top_p >= 1.0:
        return torch.multinomial(probs, 1, generator=seq.generator)[0]
    sorted_probs, order = torch.sort(probs / probs.sum(), descending=True)
    # keep the smallest prefix whose mass reaches top_p, and always the likeliest token (as
    # vLLM's apply_top_k_top_p): a top_p below float32's range (1e-300) compares as 0
    beyond = torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= p.top_p
    beyond[0] = False
    sorted_probs[beyond] = 0.0
    return order[torch.multinomial(sorted_probs, 1, generator=seq.generator)[0]]
