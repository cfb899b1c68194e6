"""The answer file's schema: good answers load; each bad field is named with its line and problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from appliance.setup.answers import AnswersError, load_answers, parse_answers
from tests.setup.conftest import ADMIN_PASSWORD, SIP_PASSWORD, base_answers


def _text(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def test_good_answers_load_with_defaults() -> None:
    a = parse_answers(_text(base_answers(5060, 5070, 8443)))
    assert a.pbx.mode == "register" and a.pbx.sources() == ["127.0.0.1/32"]
    assert a.staff.on_call == ["202", "203"]
    assert a.data_dir == Path("/var/lib/appliance")
    assert SIP_PASSWORD not in repr(a) and ADMIN_PASSWORD not in repr(a)


def _error(data: dict | str) -> str:
    with pytest.raises(AnswersError) as err:
        parse_answers(data if isinstance(data, str) else _text(data), "answers.yaml")
    return str(err.value)


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_bad_extension_names_field_line_and_problem() -> None:
    data = base_answers(5060, 5070, 8443)
    data["staff"]["np"] = "20a1"
    text = _text(data)
    msg = _error(text)
    assert f"staff.np (line {_line_of(text, 'np:')})" in msg
    assert "is not a phone extension" in msg and "'20a1'" in msg


def test_several_bad_fields_are_all_reported() -> None:
    data = base_answers(5060, 5070, 8443)
    data["clinic"]["time_zone"] = "Mars/Olympus"
    data["pbx"]["mode"] = "peer"
    data["staff"]["on_call"] = ["202", "x"]
    data["clinic"]["colour"] = "teal"
    msg = _error(data)
    assert "clinic.time_zone" in msg and "unknown time zone 'Mars/Olympus'" in msg
    assert "pbx.mode" in msg and "'register' or 'trunk'" in msg
    assert "staff.on_call.1" in msg
    assert "clinic.colour" in msg and "unknown field `colour`" in msg


def test_missing_section_and_bad_hours() -> None:
    data = base_answers(5060, 5070, 8443)
    del data["staff"]
    data["clinic"]["hours"]["mon"] = "18:00-09:00"
    msg = _error(data)
    assert "staff" in msg and "missing: add `staff`" in msg
    assert "clinic.hours" in msg and "closes before it opens" in msg


def test_short_admin_password_is_named_but_never_shown() -> None:
    data = base_answers(5060, 5070, 8443)
    data["admin"]["password"] = "hunter2"
    msg = _error(data)
    assert "admin.password" in msg and "at least 12 characters" in msg
    assert "hunter2" not in msg


def test_register_mode_needs_username_and_trunk_needs_addresses() -> None:
    data = base_answers(5060, 5070, 8443)
    del data["pbx"]["username"]
    assert "needs the username" in _error(data)
    data = base_answers(5060, 5070, 8443)
    data["pbx"] = {"mode": "trunk", "address": "pbx.clinic.lan"}
    msg = _error(data)
    assert "pbx" in msg and "list its IP address(es) in pbx.allowed" in msg
    data["pbx"]["allowed"] = ["10.0.0.5", "10.0.1.0/24"]
    assert parse_answers(_text(data)).pbx.sources() == ["10.0.0.5", "10.0.1.0/24"]


def test_approval_needs_clinician_and_credential() -> None:
    data = base_answers(5060, 5070, 8443)
    data["protocol_pack"] = {"path": "/srv/pack", "approved_by": "Dana Reyes"}
    assert "needs both approved_by" in _error(data)


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    assert "not valid YAML" in _error("clinic: [unclosed\n")
    assert "expected a mapping" in _error("- just\n- a list\n")
    with pytest.raises(AnswersError, match="cannot read the answer file"):
        load_answers(tmp_path / "absent.yaml")


def test_sip_over_tls_answers_default_to_port_5061_and_srtp_required() -> None:
    data = base_answers(5061, 5070, 8443)
    del data["pbx"]["bind_port"]
    data["pbx"] |= {"transport": "tls", "tls_pbx_sha256": "AB:" * 31 + "AB"}
    pbx = parse_answers(_text(data)).pbx
    assert (pbx.transport, pbx.port, pbx.media, pbx.tls_pbx_sha256) == ("tls", 5061, "required", "ab" * 32)
    plain = parse_answers(_text(base_answers(5060, 5070, 8443))).pbx
    assert (plain.transport, plain.port, plain.media) == ("udp", 5070, "off")


def test_tls_answers_that_cannot_work_name_the_field_and_the_fix() -> None:
    data = base_answers(5061, 5070, 8443)
    data["pbx"]["transport"] = "tls"
    msg = _error(data)
    assert "pbx (line" in msg and "set pbx.tls_ca" in msg and "pbx.tls_pbx_sha256" in msg and "openssl x509" in msg
    data = base_answers(5060, 5070, 8443)
    data["pbx"]["srtp"] = "required"
    assert 'srtp "required" needs transport: tls' in _error(data)
    data = base_answers(5060, 5070, 8443)
    data["pbx"]["tls_ca"] = "/root/pbx-ca.pem"
    assert "pbx.tls_ca set but pbx.transport is udp" in _error(data)
    data = base_answers(5061, 5070, 8443)
    data["pbx"] |= {"transport": "tls", "tls_pbx_sha256": "not-a-fingerprint", "srtp": "always"}
    text = _text(data)
    msg = _error(text)
    assert f"pbx.tls_pbx_sha256 (line {_line_of(text, 'tls_pbx_sha256:')})" in msg and "64 hexadecimal" in msg
    assert "pbx.srtp" in msg and "'required', 'optional' or 'off'" in msg
