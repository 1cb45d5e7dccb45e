"""LoRA adapters in the transformers engine, with PEFT: every adapter's layers live in the one
model, and each forward pass names each row's adapter (PEFT's mixed batches), so sequences of
different adapters, and of none, share a batch and its KV cache.

PEFT wraps each target Linear: the base layer's output, then, only for the rows of an adapter,
its low-rank update added. Rows of the base model get the base layer's output untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from ..base import AdapterMissing, AdapterRejected

BASE = "__base__"  # PEFT's name for "no adapter" in a mixed batch

# What the schedulers enter around each forward pass, given each row's adapter (None: the
# base model): LoraAdapters.forward, or nothing where the engine has no adapters.
RowAdapters = Callable[[list[str | None]], AbstractContextManager[None]]


def no_adapters(rows: list[str | None]) -> AbstractContextManager[None]:
    return nullcontext()


class LoraAdapters:
    """The registered adapters. PEFT's layers are edited (add, remove) only under the model
    lock, which a forward pass holds, so the model never changes under a running step; the
    event loop takes only the bookkeeping lock, which nothing holds for long."""

    def __init__(self, model: Any, device: str):
        self._model = model
        self._device = device
        self._model_lock = threading.Lock()
        self._books = threading.Lock()  # the three collections below
        self._registered: set[str] = set()
        self._users: dict[str, int] = {}  # adapter -> sequences generating with it now
        self._doomed: set[str] = set()  # removed, last user gone: unloaded before next step
        self._rows: Sequence[str] = ()  # the running forward's adapter per row
        self._hooked: set[int] = set()  # ids of LoRA layers that read _rows

    @property
    def names(self) -> frozenset[str]:
        with self._books:  # read from the event loop while a worker thread may add
            return frozenset(self._registered)

    async def add(self, name: str, path: Path) -> None:
        await asyncio.to_thread(self._add, name, path)

    async def remove(self, name: str) -> None:
        with self._books:
            self._registered.discard(name)
            if not self._users.get(name):
                self._doomed.add(name)

    @contextlib.contextmanager
    def holding(self, name: str | None) -> Iterator[None]:
        """A sequence's use of `name`: a removed adapter's weights stay until its last user
        ends (vLLM's server lets running requests finish the same way)."""
        if name is None:
            yield
            return
        with self._books:
            if name not in self._registered:
                raise AdapterMissing(name)
            self._users[name] = self._users.get(name, 0) + 1
        try:
            yield
        finally:
            with self._books:
                self._users[name] -= 1
                if not self._users[name] and name not in self._registered:
                    self._doomed.add(name)

    @contextlib.contextmanager
    def forward(self, rows: Sequence[str | None]) -> Iterator[None]:
        """Around one forward pass whose batch rows use these adapters (None: the base)."""
        with self._model_lock:
            with self._books:
                doomed, self._doomed = self._doomed, set()
            for name in doomed:
                self._unload(name)
            self._rows = [BASE if name is None else name for name in rows]
            try:
                yield
            finally:
                self._rows = ()

    def _add(self, name: str, path: Path) -> None:
        from peft import LoraConfig, inject_adapter_in_model, set_peft_model_state_dict
        from peft.utils import load_peft_weights

        config = LoraConfig.from_pretrained(str(path))
        self._check_targets(config)
        try:
            weights = load_peft_weights(str(path), device=self._device)
        except Exception as exc:
            raise AdapterRejected(f"its weights could not be read: {exc}") from exc
        with self._model_lock:
            with self._books:
                if self._users.get(name):  # its old weights still generate for someone
                    raise AdapterRejected(
                        f"an adapter named {name} is still finishing requests; retry when done"
                    )
                self._doomed.discard(name)  # a name re-registered before its old unload
            self._unload(name)
            try:
                with warnings.catch_warnings():  # "multiple adapters in the model": meant
                    warnings.simplefilter("ignore")
                    inject_adapter_in_model(config, self._model, adapter_name=name)
                result: Any = set_peft_model_state_dict(self._model, weights, adapter_name=name)
                missing = [k for k in result.missing_keys if f".{name}." in k]
                if missing:
                    raise AdapterRejected(f"its weights lack {missing[0]}")
            except Exception as exc:
                self._unload(name)
                if isinstance(exc, AdapterRejected):
                    raise
                raise AdapterRejected(f"its weights do not fit the model: {exc}") from exc
            self._hook()
        with self._books:
            self._registered.add(name)

    def _check_targets(self, config: Any) -> None:
        """Each named target module exists in the base model (PEFT alone checks only that one
        does). A regex or "all-linear" is left to PEFT."""
        targets = config.target_modules
        if not isinstance(targets, (list, set, tuple)):
            return
        names = [n for n, _ in self._model.named_modules()]
        lacking = sorted(
            t for t in targets if not any(n == t or n.endswith("." + t) for n in names)
        )
        if lacking:
            raise AdapterRejected(f"its target modules {lacking} are not in the base model")

    def _unload(self, name: str) -> None:
        """Drop the adapter's weights from every layer (under the model lock)."""
        from peft.tuners.lora import LoraLayer

        for module in self._model.modules():
            if isinstance(module, LoraLayer) and name in module.lora_A:
                module.delete_adapter(name)
        getattr(self._model, "peft_config", {}).pop(name, None)

    def _hook(self) -> None:
        """Every LoRA layer reads the running forward's rows as PEFT's `adapter_names`; a layer
        without the hook would apply its active adapter to every row."""
        from peft.tuners.lora import LoraLayer

        def name_rows(module: Any, args: Any, kwargs: dict[str, Any]) -> Any:
            # A packed step (batch/mixed.py) is one batch row of many tokens, one name each:
            # PEFT splits the batch dimension by name, so the tokens become the batch here (a
            # linear layer is the same per token) and go back after (unpack).
            x = args[0]
            module.smoai_packed = x.dim() == 3 and x.shape[0] == 1 < len(self._rows)
            if module.smoai_packed:
                args = (x.transpose(0, 1), *args[1:])
            return args, {**kwargs, "adapter_names": self._rows}

        def unpack(module: Any, args: Any, output: Any) -> Any:
            return output.transpose(0, 1) if module.smoai_packed else output

        layers: list[Any] = [m for m in self._model.modules() if isinstance(m, LoraLayer)]
        for module in layers:
            if id(module) not in self._hooked:
                module.register_forward_pre_hook(name_rows, with_kwargs=True)
                module.register_forward_hook(unpack)
                self._hooked.add(id(module))
