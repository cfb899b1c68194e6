"""[calendar]: local by default (nothing changes without it); a bad section stops the start with the
file, the line, the key and the fix."""

from __future__ import annotations

import pytest

from appliance.calsync import setup
from appliance.clinic.pack import load_pack
from appliance.clinic.service import DEMO_PACK
from appliance.config import load_settings
from appliance.errors import ConfigError


def error_of(write_config, body: str) -> str:  # noqa: ANN001
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(body))
    return str(info.value)


def test_local_is_the_default(write_config) -> None:  # noqa: ANN001
    cal = load_settings(write_config("")).calendar
    assert (cal.backend, cal.verify_tls, cal.include_patient_details, cal.providers) == ("local", True, False, {})


def test_caldav_needs_a_server_and_providers(write_config) -> None:  # noqa: ANN001
    text = error_of(write_config, '[calendar]\nbackend = "caldav"\n')
    assert "calendar.url (line 4)" in text and "fix: add `url`" in text
    assert "calendar.providers (line 4)" in text and "fix: add `providers`" in text


def test_plain_http_only_to_this_machine_and_no_credentials_in_the_url(write_config) -> None:  # noqa: ANN001
    text = error_of(write_config, '[calendar]\nbackend = "caldav"\nurl = "http://192.0.2.5/dav/"\n'
                                  'providers = { "np-rivera" = "np-rivera/" }\n')
    assert "calendar.url (line 6): use https://" in text and "fix: set `calendar.url` to a valid value" in text
    text = error_of(write_config, '[calendar]\nbackend = "caldav"\nurl = "https://front:desk@cal.clinic.lan/"\n'
                                  'providers = { "np-rivera" = "np-rivera/" }\n')
    assert "put no credentials in the URL" in text
    ok = load_settings(write_config('[calendar]\nbackend = "caldav"\nurl = "http://127.0.0.1:5232/clinic/"\n'
                                    'providers = { "np-rivera" = "np-rivera/" }\n'))
    assert ok.calendar.url == "http://127.0.0.1:5232/clinic/"


def test_a_password_needs_a_user_and_tls_checks_stay_coherent(write_config, tmp_path) -> None:  # noqa: ANN001
    text = error_of(write_config, f'[calendar]\npassword_file = "{tmp_path / "pw"}"\n')
    assert "calendar.password_file (line 5): password_file is set without username" in text
    text = error_of(write_config, f'[calendar]\nverify_tls = false\nca_file = "{tmp_path / "ca.pem"}"\n')
    assert "calendar.ca_file (line 6): ca_file is set while verify_tls = false" in text


def test_unknown_providers_and_missing_files_are_named_at_start(write_config, tmp_path) -> None:  # noqa: ANN001
    pack = load_pack(DEMO_PACK)
    settings = load_settings(write_config(
        '[calendar]\nbackend = "caldav"\nurl = "https://cal.clinic.lan/dav/"\n\n[calendar.providers]\n'
        'np-rivera = "np-rivera/"\nnp-nobody = "nobody/"\n'))
    with pytest.raises(ConfigError) as info:
        setup.check(settings, pack)
    text = str(info.value)
    assert text.startswith(f"{tmp_path / 'appliance.toml'}: invalid configuration")
    assert "calendar.providers.np-nobody (line 10): no provider 'np-nobody' in the clinic pack" in text
    assert "fix: use a provider id from the pack's clinic.yaml" in text

    settings = load_settings(write_config(
        '[calendar]\nbackend = "caldav"\nurl = "https://cal.clinic.lan/dav/"\nusername = "clinic"\n'
        'password_file = "secrets/calendar.password"\nproviders = { "np-rivera" = "np-rivera/" }\n'))
    assert settings.calendar.password_file == tmp_path / "secrets" / "calendar.password"  # relative to the file
    with pytest.raises(ConfigError) as info:
        setup.check(settings, pack)
    assert "calendar.password_file (line 8):" in str(info.value) and "does not exist" in str(info.value)


def test_the_appliance_refuses_to_start_before_loading_models(write_config) -> None:  # noqa: ANN001
    from tests.foundation.helpers import ApplianceProcess

    app = ApplianceProcess(write_config('[calendar]\nbackend = "caldav"\nurl = "http://127.0.0.1:9/dav/"\n'
                                        'providers = { "np-nobody" = "x/" }\n'))
    code = app.proc.wait(timeout=60)
    app._reader.join(timeout=5)
    out = "".join(app.raw)
    assert code == 2, out
    assert "calendar.providers.np-nobody (line 7)" in out and "fix:" in out
    assert not any(e.get("event") == "model.loaded" for e in app.events)
