"""The local language model over llama.cpp, in process: the bundled `LanguageModel`
(`appliance.voice.interfaces`), one `LlamaLanguageModel` per loaded model, held by `Engines`.

- All inference runs in a worker thread under one lock per model: the event loop never waits
  on llama.cpp, and two calls never interleave on the same context.
- The prompt is the model's chat template. The fixed part (everything up to the caller's text,
  i.e. the system prompt) is evaluated once per distinct system prompt and its KV state kept:
  a later call restores it (or llama.cpp's prefix match reuses it) and evaluates only the
  caller's text. A few system prompts are kept, least recently used dropped first.
- `complete_json` decodes under a GBNF grammar generated from the JSON schema, so the output
  always parses and has the schema's shape.
- Caller text is tokenised without special tokens: "<|im_end|>" typed by a caller is text,
  never a turn boundary.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from appliance.errors import ApplianceError
from appliance.logs import get_logger
from appliance.voice.metrics import report_llm_first_token

log = get_logger(__name__)

_SENTINEL = "\u2063USER\u2063"
_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class LanguageModelError(ApplianceError):
    code = "llm-failed"


@dataclass
class _Prefix:
    tokens: list[int]
    suffix_text: str  # template text after the user's content (end of turn + assistant header)
    state: Any = None  # llama_cpp.LlamaState after evaluating `tokens`


@dataclass
class CallStats:
    """What the last call cost (read by tests and benchmarks)."""

    kind: str = ""
    prompt_tokens: int = 0
    prefix_tokens: int = 0
    prefix_reused: bool = False
    first_token_s: float | None = None
    total_s: float = 0.0
    completion_tokens: int = 0


class AsyncLanguageModel:
    """The event-loop API over blocking `warm_sync`, `_json_sync` and `_stream_sync` primitives,
    shared by the in-process model and the worker-process proxy (`appliance.inference`)."""

    def warm_sync(self, system: str) -> None:
        raise NotImplementedError

    def _json_sync(self, system: str, user: str, schema: dict[str, Any], max_tokens: int) -> tuple[str, float]:
        raise NotImplementedError

    def _stream_sync(self, system: str, user: str, max_tokens: int, cancel: threading.Event) -> Iterator[str]:
        raise NotImplementedError

    async def warm(self, system: str) -> None:
        await asyncio.to_thread(self.warm_sync, system)

    async def complete_json(self, system: str, user: str, schema: dict[str, Any],
                            max_tokens: int = 128) -> dict[str, Any]:
        t0 = time.monotonic()
        budget = max_tokens
        for _attempt in range(2):
            text, first = await asyncio.to_thread(self._json_sync, system, user, schema, budget)
            report_llm_first_token("json", t0 + first)
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                log.warning("llm.json_truncated", max_tokens=budget, chars=len(text))
                budget *= 2  # the grammar only lets it stop early by running out of tokens
                continue
            if isinstance(value, dict):
                return value
            raise LanguageModelError("the model returned JSON that is not an object",
                                     fix="give the schema a top-level object", code="llm-schema")
        raise LanguageModelError(f"the model's JSON did not finish within {budget} tokens",
                                 fix="raise max_tokens or simplify the schema", code="llm-truncated")

    async def stream(self, system: str, user: str, max_tokens: int = 96) -> AsyncIterator[str]:
        """Tokens as they are decoded. Closing the iterator early stops decoding at the next token."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancel = threading.Event()

        def put(kind: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:  # loop closed while the worker finished
                pass

        def work() -> None:
            try:
                for piece in self._stream_sync(system, user, max_tokens, cancel):
                    put("text", piece)
            except BaseException as e:  # noqa: BLE001 - handed to the consumer
                put("error", e)
            finally:
                put("end", None)

        worker = loop.run_in_executor(None, contextvars.copy_context().run, work)
        first = True
        try:
            while True:
                kind, value = await queue.get()
                if kind == "end":
                    break
                if kind == "error":
                    if isinstance(value, LanguageModelError):
                        raise value
                    raise LanguageModelError(f"generation failed: {value}") from value
                if first:
                    report_llm_first_token("stream", time.monotonic())
                    first = False
                yield value
        finally:
            cancel.set()
            await asyncio.shield(worker)


class LlamaLanguageModel(AsyncLanguageModel):
    """`LanguageModel` over one `llama_cpp.Llama`. Create one per loaded model and share it."""

    def __init__(self, llm: Any, *, max_prefixes: int = 4, temperature: float = 0.0) -> None:
        self._llm = llm
        self._lock = threading.Lock()
        self._prefixes: OrderedDict[str, _Prefix] = OrderedDict()
        self._max_prefixes = max_prefixes
        self._grammars: dict[str, Any] = {}
        self._temperature = temperature
        self._template = llm.metadata.get("tokenizer.chat_template") or _CHATML
        self._eos = self._token_text(llm.token_eos())
        self._bos = self._token_text(llm.token_bos())
        self.stats = CallStats()

    # ---- prompt construction (worker thread, under the lock) ----

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        text: str = self._llm.detokenize([token], special=True).decode("utf-8", errors="ignore")
        return text

    def _render(self, system: str) -> tuple[str, str]:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        fmt = Jinja2ChatFormatter(template=self._template, eos_token=self._eos, bos_token=self._bos)
        rendered = fmt(messages=[{"role": "system", "content": system}, {"role": "user", "content": _SENTINEL}])
        prompt = rendered.prompt
        if prompt.count(_SENTINEL) != 1:
            raise LanguageModelError("the model's chat template does not place the user message once",
                                     fix="use a GGUF with a standard chat template")
        head, tail = prompt.split(_SENTINEL)
        return head, tail

    def _prefix(self, system: str) -> _Prefix:
        hit = self._prefixes.get(system)
        if hit is not None:
            self._prefixes.move_to_end(system)
            return hit
        head, tail = self._render(system)
        tokens = self._llm.tokenize(head.encode("utf-8"), add_bos=True, special=True)
        prefix = _Prefix(tokens=tokens, suffix_text=tail)
        self._llm.reset()
        self._llm.eval(tokens)
        prefix.state = self._llm.save_state()
        self._prefixes[system] = prefix
        while len(self._prefixes) > self._max_prefixes:
            self._prefixes.popitem(last=False)
        return prefix

    def _prompt(self, system: str, user: str) -> tuple[list[int], _Prefix, bool]:
        """Tokens for (system, user) with the system part's KV state in the context."""
        fresh = system not in self._prefixes
        prefix = self._prefix(system)
        n = len(prefix.tokens)
        current = list(self._llm.input_ids[: self._llm.n_tokens])
        reused = not fresh
        if current[:n] != prefix.tokens:
            self._llm.load_state(prefix.state)
        tokens = (
            list(prefix.tokens)
            + self._llm.tokenize(user.encode("utf-8"), add_bos=False, special=False)
            + self._llm.tokenize(prefix.suffix_text.encode("utf-8"), add_bos=False, special=True)
        )
        if len(tokens) + 8 >= self._llm.n_ctx():
            raise LanguageModelError(f"prompt of {len(tokens)} tokens does not fit the context",
                                     fix="shorten the system prompt or raise models.llm_context")
        return tokens, prefix, reused

    def _generate(self, kind: str, system: str, user: str, max_tokens: int, grammar: Any,
                  cancel: threading.Event | None) -> Iterator[str]:
        """Yield text pieces. Must be iterated in a worker thread with the lock held."""
        t0 = time.perf_counter()
        tokens, prefix, reused = self._prompt(system, user)
        self.stats = CallStats(kind=kind, prompt_tokens=len(tokens), prefix_tokens=len(prefix.tokens),
                               prefix_reused=reused)
        stream = self._llm.create_completion(
            prompt=tokens, max_tokens=max_tokens, temperature=self._temperature, top_k=1 if
            self._temperature == 0 else 40, repeat_penalty=1.1 if grammar is None else 1.0,
            grammar=grammar, stream=True, stop=[self._eos] if self._eos else None,
        )
        try:
            for chunk in stream:
                if cancel is not None and cancel.is_set():
                    break
                text = chunk["choices"][0]["text"]
                self.stats.completion_tokens += 1
                if self.stats.first_token_s is None:
                    self.stats.first_token_s = time.perf_counter() - t0
                if text:
                    yield text
        finally:
            stream.close()
            self.stats.total_s = time.perf_counter() - t0

    def _grammar(self, schema: dict[str, Any]) -> Any:
        from llama_cpp.llama_grammar import LlamaGrammar

        key = json.dumps(schema, sort_keys=True)
        grammar = self._grammars.get(key)
        if grammar is None:
            try:
                grammar = LlamaGrammar.from_json_schema(key, verbose=False)
            except Exception as e:  # noqa: BLE001 - llama_cpp raises plain exceptions for bad schemas
                raise LanguageModelError(f"cannot turn the JSON schema into a grammar: {e}",
                                         fix="use JSON-schema features llama.cpp supports", code="llm-schema") from e
            self._grammars[key] = grammar
        return grammar

    # ---- the blocking primitives (worker threads) ----

    def warm_sync(self, system: str) -> None:
        """Evaluate and keep the KV state of `system` (blocking: call from a thread)."""
        with self._lock:
            self._prefix(system)

    def _json_sync(self, system: str, user: str, schema: dict[str, Any], max_tokens: int) -> tuple[str, float]:
        grammar = self._grammar(schema)
        with self._lock:
            text = "".join(self._generate("json", system, user, max_tokens, grammar, None))
            first = self.stats.first_token_s or 0.0
        return text, first

    def _stream_sync(self, system: str, user: str, max_tokens: int, cancel: threading.Event) -> Iterator[str]:
        with self._lock:
            yield from self._generate("stream", system, user, max_tokens, None, cancel)
