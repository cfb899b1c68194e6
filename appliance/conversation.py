"""The seam between the voice pipeline and the clinic's conversation engine.

The voice pipeline turns caller audio into text turns and speaks the replies; the
conversation engine (appliance.clinic) decides what to say from the approved protocol pack.
Both sides code against these types only. A clinical sentence is spoken verbatim from the
pack and carries its provenance; the language model may only phrase non-clinical small talk.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Severity = Literal["emergency", "urgent", "routine"]


@dataclass(frozen=True)
class Say:
    text: str
    provenance: str | None = None  # "PACK@VERSION#ITEM" for approved content; None for small talk
    interruptible: bool = True  # False for protected lines (e.g. the emergency instruction)
    cacheable: bool = False  # known before the call (greetings, approved lines): synthesise once


@dataclass(frozen=True)
class Action:
    kind: Literal["hangup", "transfer", "escalate", "send_dtmf"]
    target: str | None = None  # extension for transfers
    attended: bool = False
    severity: Severity | None = None
    category: str | None = None


@dataclass(frozen=True)
class Reply:
    says: tuple[Say, ...] = ()
    actions: tuple[Action, ...] = ()
    end_call: bool = False


@dataclass
class Escalation:
    severity: Severity
    category: str
    turn: int  # index into the turns list of the turn that raised it
    detail: str = ""  # the red-flag id (the pager and call flow look the flag up by it)
    evidence: str = ""  # why: the matched pack phrase and the method ("exact", "lexicon", "fuzzy", ...)


@dataclass
class Turn:
    speaker: Literal["agent", "caller"]
    text: str
    provenance: str | None = None
    heard_fraction: float = 1.0  # agent turns cut by barge-in record how much was heard


@dataclass
class ConversationOutcome:
    """What a call produced: the `converse --json` document and the input to the summary."""

    turns: list[Turn] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    screen: dict[str, Any] = field(default_factory=lambda: {"complete": False, "flags": []})
    booking: dict[str, Any] | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    outcome: str = "in-progress"
    pack: str | None = None  # "PACK@VERSION"


class Conversation(Protocol):
    """One call's dialogue. Pure of clocks and audio; the LLM is reached through LanguageModel."""

    def start(self) -> Reply:
        """The opening (greeting); no caller input yet."""
        ...

    async def caller_said(self, text: str) -> Reply: ...

    async def caller_pressed(self, digit: str) -> Reply: ...

    def agent_heard(self, fraction: float) -> None:
        """The last spoken reply was cut by barge-in after `fraction` of it was heard."""
        ...

    def ended(self, reason: str) -> ConversationOutcome: ...


class StreamingConversation(Conversation, Protocol):
    """Optional: a conversation that can hand over its reply while it is still being produced.

    `caller_said_stream` yields each `Say` as soon as it exists (so speech starts on the first
    line, not after the whole reply), and may end with one `Reply` whose `actions` and
    `end_call` apply to the turn (its `says`, if any, are spoken too). After a barge-in the
    voice pipeline keeps reading the stream to its end, so the actions are still carried
    out, but speaks no further interruptible line of that reply; `agent_heard` says how much
    was heard. Conversations without it are used through `caller_said` (see `reply_items`).
    """

    def caller_said_stream(self, text: str) -> AsyncIterator[Say | Reply]: ...


class TransferAwareConversation(Conversation, Protocol):
    """Optional: told when a transfer it asked for failed (target unreachable, busy, no answer).

    The call stays up; the returned Reply is spoken at once, so that nobody is left in silence:
    the caller hears what happens next, and the conversation records what staff must follow up.
    """

    def transfer_failed(self, target: str, detail: str) -> Reply | Awaitable[Reply]: ...


# The operational line a caller hears when a model fails under the call (it says nothing
# clinical): synthesised at start-up, so it plays even when the speech worker is the one that died.
FALLBACK_LINE = "I'm sorry, I'm having trouble on my end. Please hold while I get someone from the clinic for you."
FALLBACK_PROVENANCE = "system#model_failed"


class ModelFailureAware(Conversation, Protocol):
    """Optional: told when a model failed under the call (its worker died or hung).

    The returned Reply is spoken at once (an approved, protected line the appliance has
    already synthesised) and its actions carried out: an escalation and a transfer to a person.
    """

    def model_failed(self, role: str) -> Reply | Awaitable[Reply]: ...


def heard_kwargs(method: Any, confidence: float | None, also_heard: str | None = None) -> dict[str, Any]:
    """`confidence=` and `also_heard=` for a conversation method that takes them (optional extensions):
    the ASR's confidence in the words, and the second listen's words (the same audio heard again,
    for symptoms, when the first hearing was unsure)."""
    given = {k: v for k, v in (("confidence", confidence), ("also_heard", also_heard)) if v is not None}
    if not given:
        return {}
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return {}
    return {k: v for k, v in given.items() if k in params}


async def reply_items(conversation: Conversation, text: str, confidence: float | None = None,
                      also_heard: str | None = None) -> AsyncIterator[Say | Reply]:
    """The reply to `text` as a stream: `caller_said_stream` when the conversation has it,
    otherwise the says of `caller_said`'s whole Reply, then the Reply (for its actions).
    `confidence` (the ASR's, 0..1) and `also_heard` are passed on to a conversation whose method accepts them."""
    stream = getattr(conversation, "caller_said_stream", None)
    if stream is not None:
        async for item in stream(text, **heard_kwargs(stream, confidence, also_heard)):
            yield item
        return
    said = conversation.caller_said
    reply = await said(text, **heard_kwargs(said, confidence, also_heard))
    for say in reply.says:
        yield say
    yield Reply(actions=reply.actions, end_call=reply.end_call)


class LanguageModel(Protocol):
    """The local LLM as the conversation engine sees it (implemented over llama.cpp)."""

    async def complete_json(self, system: str, user: str, schema: dict[str, Any], max_tokens: int = 128) -> dict[str, Any]:
        """Constrained decoding: the result always parses and matches `schema`."""
        ...

    def stream(self, system: str, user: str, max_tokens: int = 96) -> AsyncIterator[str]:
        """Token stream for free text (non-clinical phrasing only)."""
        ...
