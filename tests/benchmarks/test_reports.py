"""WER, per-stage breakdown, headline ratios and the report files, on a synthetic result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import stages
from benchmarks.__main__ import parse
from benchmarks.wer import normalise, product_hits, wer


def test_wer_counts_edits_over_reference_words() -> None:
    assert wer(["book botox for tuesday"], ["book buttocks for tuesday"]) == pytest.approx(0.25)
    assert wer(["My number is 555"], ["my number is five hundred and fifty-five"]) == 0.0
    assert normalise("Crow's feet, 2") == ["crows", "feet", "two"]
    assert product_hits("Botox or Xeomin", "botox or zeomin") == (2, 1)


def test_stage_breakdowns_add_up_to_the_wire_time() -> None:
    ours = stages.ours({"endpoint_ms": 680, "asr_after_endpoint_ms": -5, "reply_ms": 4, "tts_first_audio_ms": 300,
                        "voice_to_voice_ms": 1100}, wire_ms=1800.0)
    assert ours["asr_ms"] == 0.0  # an early ASR pass finished before the end of turn
    assert sum(ours[s] for s in stages.STAGES) == pytest.approx(1800.0)
    events = [{"stage": "turn_end", "t": 10.4}, {"stage": "transcript", "t": 10.5}, {"stage": "llm_token", "t": 10.7},
              {"stage": "tts_audio", "t": 11.0}, {"stage": "turn_end", "t": 20.0}]
    base = stages.baseline(events, t_last=10.0, t_reply=11.2)
    assert base is not None
    assert sum(base.values()) == pytest.approx(1200.0)
    assert base["endpointing_ms"] == pytest.approx(400.0)
    assert stages.baseline(events[:1], t_last=10.0, t_reply=11.2) is None  # no LLM token: not a full turn


def synthetic_result() -> dict:
    def turns(values: list[float]) -> list[dict]:
        return [{"turn": i, "v2v_ms": v, "script": "quote"} for i, v in enumerate(values)]

    med = {"endpointing_ms": 680.0, "asr_ms": 200.0, "reply_ms": 5.0, "tts_first_audio_ms": 300.0, "out_ms": 500.0}
    return {
        "machine": {"cpus": 2, "memory_gib": 23.5, "platform": "test", "load_avg_start": [1, 1, 1],
                    "load_avg_end": [1, 1, 1]},
        "command": "python -m benchmarks --quick",
        "latency": {
            "appliance": {"turns": turns([1500, 1700, 2100]), "v2v_p50_ms": 1700.0, "v2v_p90_ms": 2020.0,
                          "stage_medians": med, "cpu_s_per_call": 5.0, "peak_rss_mib": 700.0},
            "baseline": {"turns": turns([1200, 1300, 4000]), "v2v_p50_ms": 1300.0, "v2v_p90_ms": 3460.0,
                         "stage_medians": med, "cpu_s_per_call": 10.0, "peak_rss_mib": 1000.0, "no_reply_turns": 1},
        },
        "barge_in": {"appliance": {"reaction_ms": 1200.0}, "baseline": {"reaction_ms": 600.0}},
        "startup": {"appliance_s": 4.0, "baseline_s": 8.0},
        "floor": {"endpointing_ms": 680.0, "asr_ms": 450.0, "tts_first_audio_ms": 150.0, "packetisation_ms": 40,
                  "floor_ms": 1320.0},
        "concurrency": {"target_ms": 2500.0, "script": "message", "max_calls_within_target": 2,
                        "rows": [{"calls": 1, "turns": 2, "p50_ms": 1100.0, "p95_ms": 1300.0},
                                 {"calls": 2, "turns": 4, "p50_ms": 1500.0, "p95_ms": 2000.0},
                                 {"calls": 4, "turns": 8, "p50_ms": 2600.0, "p95_ms": 3900.0}]},
    }


def test_headline_is_ratios_and_the_report_files_are_written(tmp_path: Path) -> None:
    from benchmarks import report

    result = synthetic_result()
    result["headline"] = report.headline(result)
    assert result["ratios"]["v2v_p50"] == pytest.approx(1700 / 1300, abs=1e-3)
    assert result["ratios"]["v2v_p50_over_floor"] == pytest.approx(1700 / 1320, abs=1e-3)
    assert result["ratios"]["barge_in"] == 2.0
    assert any("without any reply: 1 of 3" in line for line in result["headline"])
    files = report.write(result, tmp_path)
    names = {f.name for f in files}
    assert {"result.json", "latency_cdf.png", "stages.png", "concurrency.png", "summary.md"} <= names
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    summary = (tmp_path / "summary.md").read_text()
    assert "| appliance | 3 | 1700.0 |" in summary and "| floor | 680.0 | 450.0 |" in summary
    assert json.loads((tmp_path / "result.json").read_text())["ratios"]["startup"] == 0.5


def test_command_line_checks_its_options() -> None:
    opts = parse(["--quick", "--out", "x", "--target-ms", "1500"])
    assert opts.calls == [1, 2] and opts.target_ms == 1500 and opts.quick
    assert parse(["--calls", "1,2,4,8"]).calls == [1, 2, 4, 8]
    for bad in (["--calls", "4,2"], ["--calls", "one"], ["--calls", "0"], ["--rounds", "0"]):
        with pytest.raises(SystemExit):
            parse(bad)


def test_plain_against_encrypted_is_reported_as_ratios(tmp_path: Path) -> None:
    from benchmarks import report
    from benchmarks.dialogue import CallResult
    from benchmarks.run import _summarise, encrypted_summary

    result = synthetic_result()
    secure = {"turns": [{"turn": i, "v2v_ms": v} for i, v in enumerate([1600, 1750, 2200])], "v2v_p50_ms": 1750.0,
              "v2v_p95_ms": 2155.0, "call_setup_ms": 12.0}
    result["latency"]["appliance"]["v2v_p95_ms"] = 2060.0
    calls = [CallResult("appliance-srtp", "quote", "c1", 12.0, 60.0, [], 400,
                        {"tls": "TLSv1.3", "srtp_protected": 500, "srtp_unprotected": 400, "srtp_failed": 0}),
             CallResult("appliance-srtp", "quote", "c2", 12.0, 60.0, [], 300,
                        {"tls": "TLSv1.3", "srtp_protected": 450, "srtp_unprotected": 300, "srtp_failed": 0})]
    enc = encrypted_summary(result["latency"]["appliance"], secure, calls, {"protect_us": 1.7, "unprotect_us": 1.8})
    assert enc["ratio_p50"] == pytest.approx(1750 / 1700, abs=1e-3)
    assert enc["ratio_p95"] == pytest.approx(2155 / 2060, abs=1e-3)
    assert (enc["plain_turns"], enc["encrypted_turns"]) == (3, 3)
    assert enc["tls"] == ["TLSv1.3"] and enc["srtp_packets"] == {"protected": 950, "unprotected": 700, "failed": 0}
    assert encrypted_summary({}, _summarise([], []), [])["ratio_p50"] is None  # never a made-up ratio
    result["encrypted"] = enc
    result["headline"] = report.headline(result)
    assert result["ratios"]["encrypted_v2v_p50"] == enc["ratio_p50"]
    assert any("SIP/TLS + SRTP" in line and "ratio 1.029" in line for line in result["headline"])
    report.write(result, tmp_path)
    summary = (tmp_path / "summary.md").read_text()
    assert "## Encrypted calls: SIP over TLS, SRTP required (same run)" in summary
    assert "| voice-to-voice p50 (ms) | 1700.0 | 1750.0 | **1.029** |" in summary
    assert "protect 1.7 µs, unprotect 1.8 µs" in summary
    del result["encrypted"]
    assert "Encrypted calls" not in report.summary(result)


def test_the_encrypted_pass_can_be_skipped() -> None:
    assert parse([]).encrypted and not parse(["--no-encrypted"]).encrypted
    assert "--no-encrypted" in parse(["--quick", "--no-encrypted"]).command


def test_voice_settings_reach_the_appliance_under_test_checked(tmp_path: Path) -> None:
    opts = parse(["--voice", "complete_end_ms=300", "--voice", " early_asr_ms = 100 "])
    assert opts.voice == "complete_end_ms = 300\nearly_asr_ms = 100"
    assert parse([]).voice == ""
    from appliance.config import load_settings

    config = tmp_path / "appliance.toml"
    config.write_text(f"[voice]\n{opts.voice}\n")  # as benchmarks.targets.Appliance appends it
    assert (load_settings(config).voice.complete_end_ms, load_settings(config).voice.early_asr_ms) == (300, 100)
    for bad in (["--voice", "complete_end_ms"], ["--voice", "complete_end_ms=3"], ["--voice", "no_such_setting=1"],
                ["--voice", "silence_ms=fast"]):
        with pytest.raises(SystemExit):
            parse(bad)
