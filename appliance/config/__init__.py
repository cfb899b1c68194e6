"""Settings: one TOML file validated into frozen, typed settings.

Where the file comes from, first match wins: `--config PATH`, `$APPLIANCE_CONFIG`,
`/etc/appliance/appliance.toml`, else the embedded development defaults (data under
`./var`, SIP and the console on loopback, the demo protocol pack). Relative paths in a
file are taken relative to that file's folder; in the embedded defaults, to the working
directory. Every error names the file, the line where it can be found, the key, and the fix.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from appliance.config.calendar import CalendarSettings
from appliance.config.messages import MessagesSettings, PaymentsSettings
from appliance.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/appliance/appliance.toml")
ENV_CONFIG = "APPLIANCE_CONFIG"

Role = Literal["vad", "turn", "asr", "relisten", "llm", "tts"]


# Whisper's initial prompt by default: how the clinic's words are spelled (products, areas,
# procedures, the medicines the screen asks about). A site can set [voice] vocabulary.
# Said while the agent talks, these alone do not take the turn: the agent resumes.
DEFAULT_BACKCHANNELS: tuple[str, ...] = (
    "mm-hm", "mm hm", "mm-hmm", "mm hmm", "mmhmm", "mhm", "mm", "hmm", "uh-huh", "uh huh", "okay", "ok", "yeah", "yes", "yep",
    "right", "sure", "got it", "i see", "alright", "all right", "cool", "great", "oh",
    "cure",  # "Sure." as Whisper tiny.en often hears it over 8 kHz audio; alone it means nothing else
)
DEFAULT_VOCABULARY = (
    "Botox, Dysport, Xeomin, Juvederm, Restylane, Sculptra, glabella, nasolabial folds, crow's feet, lips, "
    "filler, microneedling, chemical peel, laser hair removal, IPL, warfarin, blood thinners, "
    "consultation, appointment."
)
# What the second listen adds to the prompt: the red-flag signs as callers say them (docs/voice.md).
DEFAULT_SYMPTOM_WORDS = (
    "Hives, swelling, swollen throat, tongue, trouble breathing, blurry vision, blanching, mottled, dusky, "
    "blisters, pus, fever, fainting, chest pain, numbness."
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathSettings(_Section):
    data_dir: Path = Path("var")


class SipSettings(_Section):
    mode: Literal["trunk", "register"] = "trunk"
    bind_host: str = "127.0.0.1"
    bind_port: int = Field(5070, ge=1, le=65535)
    advertised_host: str | None = None
    allowed_sources: tuple[str, ...] = ("127.0.0.0/8",)
    max_calls: int = Field(10, ge=1, le=500)
    ring_delay_ms: int = Field(0, ge=0, le=30_000)
    rtp_port_min: int = Field(20000, ge=1024, le=65535)
    rtp_port_max: int = Field(20999, ge=1024, le=65535)
    registrar: str | None = None
    username: str | None = None
    password_file: Path | None = None
    extension: str | None = None
    register_expires: int = Field(300, ge=30, le=86_400)
    outbound_proxy: str | None = None  # "host:port" for outbound calls and transfers; default: registrar
    # Lines are freed for callers who vanish: no RTP for rtp_timeout_s (not while on hold), a call
    # longer than max_call_s, an RFC 4028 session timer not refreshed, a 200 never ACKed (64*T1).
    rtp_timeout_s: float = Field(30.0, gt=0, le=3600)
    max_call_s: float = Field(3600.0, gt=0, le=86_400)
    session_min_se_s: int = Field(90, ge=1, le=86_400)  # RFC 4028 Min-SE; below 90 only for tests
    timer_t1_ms: int = Field(500, ge=10, le=5000)  # RFC 3261 T1 (T2 = 8 x T1); 500 on real networks
    # SIP over TLS (RFC 3261 §26, TLS 1.2 minimum) on bind_port instead of UDP; the PBX's certificate
    # is checked against tls_ca (chain and address) and/or pinned by its SHA-256 fingerprint.
    transport: Literal["udp", "tls"] = "udp"
    tls_cert: Path | None = None  # this box's certificate and key (PEM); default: the console's pair
    tls_key: Path | None = None
    tls_ca: Path | None = None
    tls_pbx_sha256: str | None = None  # `openssl x509 -noout -fingerprint -sha256 -in pbx.pem`
    # SRTP (RFC 3711, SDES keys in the TLS-protected SDP): "required" refuses plain RTP with 488.
    srtp: Literal["required", "optional", "off"] = "off"

    @field_validator("bind_host")
    @classmethod
    def _ip(cls, v: str) -> str:
        ipaddress.ip_address(v)
        return v

    @field_validator("allowed_sources")
    @classmethod
    def _networks(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for item in v:
            ipaddress.ip_network(item, strict=False)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> SipSettings:
        if self.rtp_port_min > self.rtp_port_max:
            raise ValueError("rtp_port_min must not exceed rtp_port_max")
        if self.mode == "register" and not (self.registrar and self.username):
            raise ValueError('mode = "register" needs registrar and username (and password_file)')
        if self.transport == "tls" and not (self.tls_ca or self.tls_pbx_sha256):
            raise ValueError('transport = "tls" needs the PBX certificate checked: set tls_ca to the CA file that '
                             "signed it, or tls_pbx_sha256 to its fingerprint "
                             "(openssl x509 -noout -fingerprint -sha256 -in pbx.pem)")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither (the console's certificate is used)")
        if self.srtp != "off" and self.transport != "tls":
            raise ValueError(f'srtp = "{self.srtp}" needs transport = "tls": the SRTP keys travel in the SIP '
                             'messages, which plain UDP would show to anyone on the LAN')
        return self

    @property
    def default_port(self) -> int:
        """The SIP port when an address names none: 5061 for SIP over TLS, else 5060 (RFC 3261 §19.1.2)."""
        return 5061 if self.transport == "tls" else 5060

    @field_validator("tls_pbx_sha256")
    @classmethod
    def _fingerprint(cls, v: str | None) -> str | None:
        if v is None:
            return None
        hexed = v.replace(":", "").lower()
        if not re.fullmatch(r"[0-9a-f]{64}", hexed):
            raise ValueError("tls_pbx_sha256 must be a SHA-256 fingerprint: 64 hexadecimal digits, colons allowed "
                             "(openssl x509 -noout -fingerprint -sha256 -in pbx.pem)")
        return hexed


class ConsoleSettings(_Section):
    bind_host: str = "127.0.0.1"
    port: int = Field(8443, ge=1, le=65535)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    session_idle_minutes: int = Field(15, ge=1, le=720)
    test_calls: bool = True  # browser test calls over WebRTC (shadow mode)
    test_call_max_minutes: int = Field(15, ge=1, le=120)


def _sha256_hex(v: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", v.lower()):
        raise ValueError("sha256 must be 64 hexadecimal characters (run: sha256sum FILE)")
    return v.lower()


class ModelOverride(_Section):
    """A site model: a file with its `sha256`, or a folder with `files` (name -> sha256)."""

    path: Path
    sha256: str | None = None
    files: dict[str, str] | None = None

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        return None if v is None else _sha256_hex(v)

    @field_validator("files")
    @classmethod
    def _hexes(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return None if v is None else {k: _sha256_hex(h) for k, h in v.items()}

    @model_validator(mode="after")
    def _one(self) -> ModelOverride:
        if (self.sha256 is None) == (self.files is None):
            raise ValueError("give sha256 (for a file) or files (for a folder such as a Whisper model), not both")
        return self


class ModelSettings(_Section):
    manifest: Path | None = None
    overrides: dict[Role, ModelOverride] = Field(default_factory=dict)
    asr_threads: int = Field(2, ge=1, le=64)
    llm_threads: int = Field(2, ge=1, le=64)
    llm_context: int = Field(2048, ge=256, le=131_072)
    # Native model code runs in supervised worker processes ("process"), apart from call control;
    # "thread" runs it in the service process (benchmark comparisons and tools only).
    isolation: Literal["process", "thread"] = "process"
    worker_timeout_s: float = Field(20.0, ge=1.0, le=600.0)  # a model call that takes longer: the worker is restarted
    selftest: bool = True  # exercise every model in its worker before reporting ready
    # A site's own engine for a role, instead of the bundled model's: "package.module:factory",
    # a callable taking the Settings and returning an object with the role's methods
    # (appliance.voice.interfaces). Built in the service process; the role's model is not loaded.
    engines: dict[Role, str] = Field(default_factory=dict)

    @field_validator("engines")
    @classmethod
    def _factories(cls, v: dict[Role, str]) -> dict[Role, str]:
        for role, ref in v.items():
            module, _, name = ref.partition(":")
            if not (module and name and all(p.isidentifier() for p in [*module.split("."), *name.split(".")])):
                raise ValueError(f"engines.{role} = {ref!r}: name a factory as \"package.module:function\"")
        return v


class RetentionSettings(_Section):
    """Days each kind of data is kept; 0 keeps it until staff delete it."""

    recordings_days: int = Field(30, ge=0, le=36_500)
    transcripts_days: int = Field(0, ge=0, le=36_500)
    summaries_days: int = Field(0, ge=0, le=36_500)
    outbox_days: int = Field(30, ge=0, le=36_500)  # delivered messages; patients' texts/emails once settled


class DatabaseSettings(_Section):
    path: Path | None = None
    key_file: Path | None = None
    recording: bool = False  # keep call audio (inside the encrypted database)
    retention: RetentionSettings = RetentionSettings()


class ClinicSettings(_Section):
    pack: Path | None = None
    llm_assist: bool = True  # let the local LLM label caller turns that the rules cannot settle


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d")
_EXTENSION = re.compile(r"[0-9*#+]{1,15}")


class SiteSettings(_Section):
    """The clinic this box serves, as entered by `appliance provision`: name, time zone,
    opening hours (weekday -> "HH:MM-HH:MM" or "closed") and the staff extensions."""

    clinic_name: str = Field("Development clinic", min_length=1, max_length=120)
    time_zone: str = "UTC"
    hours: dict[str, str] = Field(default_factory=dict)
    np_extension: str | None = None
    front_desk_extension: str | None = None
    on_call_chain: tuple[str, ...] = ()

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as America/Chicago)") from None
        return v

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: dict[str, str]) -> dict[str, str]:
        for day, span in v.items():
            if day not in _WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r} (use {', '.join(_WEEKDAYS)})")
            if span != "closed":
                if not _HOURS.fullmatch(span):
                    raise ValueError(f"{day}: {span!r} is not HH:MM-HH:MM or closed")
                if span[:5] >= span[6:]:
                    raise ValueError(f"{day}: {span!r} closes before it opens")
        return v

    @field_validator("np_extension", "front_desk_extension")
    @classmethod
    def _ext(cls, v: str | None) -> str | None:
        if v is not None and not _EXTENSION.fullmatch(v):
            raise ValueError(f"{v!r} is not a phone extension (digits, * # +; at most 15)")
        return v

    @field_validator("on_call_chain")
    @classmethod
    def _chain(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for item in v:
            cls._ext(item)
        return v


class WebhookEndpoint(_Section):
    """A LAN endpoint that receives staff-facing events over HTTPS: signed with HMAC-SHA256
    (`secret_file`), sent with a client certificate (mutual TLS: `client_cert_file` and
    `client_key_file`), or both. The client certificate fields come before `secret_file` so that
    its check can see whether mutual TLS is configured."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    url: str = Field(pattern=r"^https://")
    client_cert_file: Path | None = None  # PEM: the certificate (and any intermediates) shown to the receiver
    client_key_file: Path | None = Field(None, validate_default=True)  # PEM, unencrypted
    secret_file: Path | None = Field(None, validate_default=True)
    ca_file: Path | None = None
    topics: tuple[str, ...] = ()

    @field_validator("secret_file", "ca_file", "client_cert_file", "client_key_file")
    @classmethod
    def _absolute(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_absolute():
            raise ValueError("give an absolute path")
        return v

    @field_validator("client_key_file")
    @classmethod
    def _pair(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if "client_cert_file" not in info.data:
            return v  # the certificate path is already reported as invalid
        cert = info.data["client_cert_file"]
        if cert is not None and v is None:
            raise PydanticCustomError("missing", "client_cert_file is set: mutual TLS also needs the certificate's "
                                      "private key in client_key_file")
        if cert is None and v is not None:
            raise ValueError("client_key_file is set without client_cert_file: give both (mutual TLS) or neither")
        return v

    @field_validator("secret_file")
    @classmethod
    def _signed_or_mutual(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if v is None and "client_cert_file" in info.data and info.data["client_cert_file"] is None:
            raise PydanticCustomError("missing", "an endpoint needs secret_file (HMAC signing), or client_cert_file "
                                      "and client_key_file (mutual TLS), or both")
        return v


class WebhookSettings(_Section):
    endpoints: tuple[WebhookEndpoint, ...] = ()
    timeout_s: float = Field(10.0, gt=0, le=120)

    @field_validator("endpoints")
    @classmethod
    def _unique(cls, v: tuple[WebhookEndpoint, ...]) -> tuple[WebhookEndpoint, ...]:
        names = [ep.name for ep in v]
        if len(set(names)) != len(names) or "console" in names:
            raise ValueError("endpoint names must be unique and not `console`")
        return v


class PagingSettings(_Section):
    """Escalation delivery to desk phones: who is called is the site's on-call chain."""

    enabled: bool = True
    ring_seconds: int = Field(30, ge=5, le=300)
    sip_message: bool = True
    max_rounds: int = Field(2, ge=1, le=10)


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class OutboundSettings(_Section):
    """[outbound]: aftercare and recall calls placed by the scheduler (appliance.scheduler)."""

    enabled: bool = False  # place calls (plans are created either way)
    poll_seconds: float = Field(30.0, ge=0.5, le=3600)
    max_outbound: int = Field(2, ge=0, le=100)  # outbound calls at once
    reserve_inbound: int = Field(2, ge=0, le=500)  # lines always left free for inbound callers
    max_attempts: int = Field(3, ge=1, le=10)
    retry_minutes: int = Field(120, ge=5, le=2880)  # after no answer / voicemail
    busy_retry_minutes: int = Field(30, ge=5, le=2880)
    quiet_start: str = Field("20:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")  # patient-local
    quiet_end: str = Field("09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    closing_margin_minutes: int = Field(30, ge=0, le=240)  # no call starts this close to closing
    ring_seconds: int = Field(30, ge=5, le=120)
    lease_seconds: int = Field(120, ge=10, le=3600)  # renewed while the call lasts
    require_consent: bool = True
    call_from: str = Field("10:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")  # clinic-local time a contact is first due
    # The front desk's calls (appliance.scheduler.desk_*; docs/frontdesk.md), placed while `enabled`:
    reminders: bool = True  # appointment reminders at the pack's clinic.yaml reminders.before_hours
    callbacks: bool = True  # call back a caller turned away at capacity or who hung up before speaking
    callback_delay_minutes: int = Field(2, ge=0, le=1440)  # after the missed call
    callback_hours: int = Field(24, ge=1, le=168)  # from its first call time: not placed by then, dropped


class VoiceSettings(_Section):
    """The call's turn-taking and speech engines (see docs/voice.md)."""

    endpointing: Literal["silence", "smart-turn"] = "silence"
    silence_ms: int = Field(650, ge=100, le=3000)  # silence that ends a turn (silence mode; measured: docs/voice.md)
    turn_check_ms: int = Field(200, ge=60, le=2000)  # pause before asking the turn model (smart-turn)
    max_silence_ms: int = Field(1600, ge=200, le=5000)  # smart-turn: end the turn anyway after this
    smart_turn_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    early_asr: bool = True  # start transcribing in the first pause, before the turn has ended
    early_asr_ms: int = Field(100, ge=50, le=2000)  # the pause after which that pass starts
    vad_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    # Caller speech that interrupts without waiting for its transcript (the hold below already silenced the agent).
    barge_in_min_speech_ms: int = Field(1000, ge=100, le=3000)
    # Caller speech that holds the agent's audio at once (nothing dropped; a back-channel resumes it); 0: no hold.
    barge_in_hold_ms: int = Field(120, ge=0, le=3000)
    # The agent's own voice coming back (speakerphones, phones without echo cancellation) is taken
    # out of the caller's audio before the VAD and the transcript (appliance.voice.echo).
    echo_cancel: bool = True
    # End of turn from what was asked and what was heard (appliance.voice.policy.EndOfTurn): a
    # short yes/no or name ends after fast_end_ms, numbers and dates wait parts_end_ms, an early
    # transcript ending on a hold word ("and", "um", "the") waits unfinished_end_ms. false: silence_ms only.
    adaptive_endpointing: bool = True
    fast_end_ms: int = Field(650, ge=100, le=3000)  # 250 splits "No, I don't take any" at its comma
    parts_end_ms: int = Field(900, ge=100, le=3000)
    unfinished_end_ms: int = Field(1200, ge=100, le=5000)
    # An open answer whose early transcript is a finished sentence ends after this much silence
    # (the early pass must have come back first); as long as silence_ms: off (docs/voice.md).
    complete_end_ms: int | None = Field(300, ge=100, le=3000)
    # A pause that reaches its limit while the early pass is still out waits up to this much more
    # for its words (the final transcript waits for that pass anyway); 0: it does not wait.
    early_words_wait_ms: int = Field(500, ge=0, le=2000)
    hold_words: tuple[str, ...] = (  # words a finished sentence does not end on
        "and", "but", "or", "so", "because", "um", "uh", "er", "erm", "the", "a", "an", "my", "to", "with", "of",
        "for", "like", "if", "that", "is", "was", "i'm", "it's", "about", "on", "in", "at")
    # ... except where a sentence does end on one of them: "I don't think so.", "Hold on.".
    finishing_phrases: tuple[str, ...] = (
        "think so", "hope so", "guess so", "believe so", "suppose so", "said so", "do so", "and so on",
        "hold on", "hang on", "going on", "come on", "like that", "love that", "about that", "that's that",
        "calling about", "count me in", "i'm in")
    # An open answer that is only an opening so far, a greeting or a hedge ("Hi.", "It's probably
    # nothing.", "Quick question."), waits unfinished_end_ms: the reason for the call follows it.
    opening_phrases: tuple[str, ...] = (
        "hi", "hello", "hey", "hi there", "hello there", "hey there", "good morning", "good afternoon",
        "good evening", "oh hi", "yes hi", "yeah hi", "hi yes", "hello yes", "um", "uh", "so", "well",
        "okay so", "anyway", "basically", "so basically", "sorry to bother you", "quick question",
        "i have a question", "i have a quick question", "i've got a question", "i've got a quick question",
        "it's probably nothing", "this is probably nothing", "it might be nothing", "this might be nothing",
        "it's probably silly", "this might be silly", "this is probably a silly question",
        "this might be a silly question", "it's probably a silly question", "i'm sure it's fine",
        "i'm sure it's nothing", "i don't want to overreact", "i don't know if this is normal",
        "i'm not sure if this is normal", "i'm not sure who to ask", "the thing is", "here's the thing")
    # A phone number heard with fewer digits than this waits partial_number_ms: callers pause between
    # its groups ("five five five ... oh one oh five ..."). 0: off. digit_words: words for one digit.
    phone_digits: int = Field(10, ge=0, le=15)
    partial_number_ms: int = Field(1600, ge=100, le=5000)
    digit_words: tuple[str, ...] = ("zero", "oh", "o", "one", "two", "three", "four", "five", "six", "seven",
                                    "eight", "nine")
    # A reply slower than this from the end of the caller's speech is preceded by "One moment."
    # (cached audio), when its first line is not there filler_grace_ms after the transcript; 0: never.
    filler_gap_ms: int = Field(700, ge=0, le=5000)
    filler_grace_ms: int = Field(150, ge=0, le=2000)
    backchannels: tuple[str, ...] = DEFAULT_BACKCHANNELS
    vocabulary: str = DEFAULT_VOCABULARY  # Whisper's initial prompt: spellings of the clinic's words
    # The second listen: a turn Whisper heard with less confidence than this is heard again, by
    # Whisper with symptom_words added to the prompt ("" : not) and by the second recogniser
    # (Moonshine; second_recogniser = false: not); its red flags are confirmed with the caller.
    # 0: off (docs/voice.md).
    second_listen_below: float = Field(0.7, ge=0.0, le=1.0)
    symptom_words: str = DEFAULT_SYMPTOM_WORDS
    second_recogniser: bool = True


CallType = Literal["inbound-new", "inbound-aftercare", "outbound-aftercare", "recall"]
CALL_TYPES: tuple[CallType, ...] = ("inbound-new", "inbound-aftercare", "outbound-aftercare", "recall")


class GoLiveSettings(_Section):
    """[golive]: going live safely (appliance.golive). A demo pack answers only test calls; a
    pilot makes some workflows and call types live; a supervised period holds every call's
    booking and staff tasks for staff review (escalations still page at once)."""

    test_sources: tuple[str, ...] = ("127.0.0.0/8", "::1/128")  # SIP sources whose calls are test calls
    test_numbers: tuple[str, ...] = ()  # caller IDs (PBX extensions) of test phones behind the PBX
    approval_max_months: int = Field(12, ge=1, le=120)  # doctor fails on an older clinician approval
    pilot: bool = False  # true: only live_workflows (and those an admin turns on) and live_call_types are live
    live_workflows: tuple[str, ...] = ()
    live_call_types: tuple[CallType, ...] = CALL_TYPES
    supervised: bool = False  # hold every call's summary and outbound actions for staff review
    supervised_days: int = Field(0, ge=0, le=365)  # the period may end after this many days ...
    supervised_calls: int = Field(0, ge=0, le=10_000)  # ... or this many calls per live workflow
    # Accept SIPREC recording sessions (RFC 7866) from the PBX: shadow calls, heard and never answered.
    shadow: bool = False

    @field_validator("test_sources")
    @classmethod
    def _nets(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for item in v:
            ipaddress.ip_network(item, strict=False)
        return v

    @field_validator("test_numbers")
    @classmethod
    def _numbers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for item in v:
            if not _EXTENSION.fullmatch(item):
                raise ValueError(f"{item!r} is not a phone number or extension (digits, * # +; at most 15)")
        return v


class Settings(_Section):
    paths: PathSettings = PathSettings()
    sip: SipSettings = SipSettings()
    console: ConsoleSettings = ConsoleSettings()
    models: ModelSettings = ModelSettings()
    database: DatabaseSettings = DatabaseSettings()
    clinic: ClinicSettings = ClinicSettings()
    logging: LoggingSettings = LoggingSettings()
    webhooks: WebhookSettings = WebhookSettings()
    paging: PagingSettings = PagingSettings()
    site: SiteSettings = SiteSettings()
    voice: VoiceSettings = VoiceSettings()
    outbound: OutboundSettings = OutboundSettings()
    golive: GoLiveSettings = GoLiveSettings()
    messages: MessagesSettings = MessagesSettings()  # SMS and email to patients (appliance.messaging)
    payments: PaymentsSettings = PaymentsSettings()  # deposit links: a staff task, or a provider's API
    calendar: CalendarSettings = CalendarSettings()  # the clinic's calendars, CalDAV (appliance.calsync)
    source: str = Field("embedded defaults", exclude=True)

    @property
    def data_dir(self) -> Path:
        return self.paths.data_dir

    @property
    def db_path(self) -> Path:
        return self.database.path or self.data_dir / "appliance.db"

    @property
    def db_key_file(self) -> Path:
        return self.database.key_file or self.data_dir / "secrets" / "db.key"


_PATH_KEYS = {
    ("paths", "data_dir"),
    ("sip", "password_file"),
    ("sip", "tls_cert"),
    ("sip", "tls_key"),
    ("sip", "tls_ca"),
    ("console", "tls_cert"),
    ("console", "tls_key"),
    ("models", "manifest"),
    ("database", "path"),
    ("database", "key_file"),
    ("clinic", "pack"),
    ("calendar", "password_file"),
    ("calendar", "ca_file"),
}


def _absolutise(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make relative paths absolute against `base` (the config file's folder)."""
    for section, key in _PATH_KEYS:
        table = raw.get(section)
        if isinstance(table, dict) and isinstance(table.get(key), str):
            p = Path(table[key]).expanduser()
            table[key] = str(p if p.is_absolute() else base / p)
    overrides = raw.get("models", {}).get("overrides") if isinstance(raw.get("models"), dict) else None
    if isinstance(overrides, dict):
        for entry in overrides.values():
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                p = Path(entry["path"]).expanduser()
                entry["path"] = str(p if p.is_absolute() else base / p)
    return raw


def locate_key(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Line number (1-based) where the dotted key `loc` is written in TOML `text`, if found."""
    keys = [str(k) for k in loc]
    table: list[str] = []
    best: int | None = None
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\[?\s*([^\]]+?)\s*\]\]?(\s*#.*)?", stripped)
        if header:
            table = [p.strip().strip('"') for p in header.group(1).split(".")]
            if table == keys[: len(table)] and len(table) == len(keys):
                best = best or n
            continue
        m = re.match(r'("?[\w\-]+"?)\s*=', stripped)
        if not m:
            continue
        full = table + [m.group(1).strip('"')]
        if full == keys[: len(full)]:
            return n
        if keys == full[: len(keys)]:
            best = best or n
    return best


def _describe(err: ValidationError, source: str, text: str | None) -> str:
    lines = [f"{source}: invalid configuration"]
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        key = ".".join(str(p) for p in loc) or "(top level)"
        where = ""
        if text is not None:
            line = locate_key(text, loc)
            if line is None and len(loc) > 1:
                line = locate_key(text, loc[:-1])
            where = f" (line {line})" if line else ""
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            fix = f"remove `{loc[-1]}` or check its spelling; see the example config in README.md"
        elif e["type"] == "missing":
            fix = f"add `{loc[-1]}`"
        else:
            fix = f"set `{key}` to a valid value"
        got = e.get("input")
        shown = f" (got {got!r})" if got is not None and not isinstance(got, dict) and e["type"] != "missing" else ""
        lines.append(f"  {key}{where}: {msg}{shown}\n    fix: {fix}")
    return "\n".join(lines)


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env)
    if DEFAULT_CONFIG_PATH.exists():
        return DEFAULT_CONFIG_PATH
    return None


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    """Load and validate the settings; raise ConfigError naming file, line, key and fix."""
    path = find_config(explicit)
    if path is None:
        raw = _absolutise({"paths": {"data_dir": "var"}}, Path.cwd())
        return Settings.model_validate(raw)
    if not path.is_file():
        raise ConfigError(
            f"{path}: configuration file not found",
            fix="pass an existing file with --config, or unset APPLIANCE_CONFIG to use embedded defaults",
        )
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}", fix="correct the syntax at that line") from e
    raw.setdefault("paths", {}).setdefault("data_dir", "var")
    try:
        settings = Settings.model_validate(_absolutise(raw, path.resolve().parent))
    except ValidationError as e:
        raise ConfigError(_describe(e, str(path), text)) from None
    return settings.model_copy(update={"source": str(path)})
