"""The address the edge advertises (Contact, SDP c=) when it listens on every interface."""

from __future__ import annotations

import pytest

from appliance.config import SipSettings
from appliance.errors import ConfigError
from appliance.telephony.localaddr import advertised_host, source_address_toward


def test_an_advertised_host_or_a_single_bind_address_is_used_as_it_is() -> None:
    assert advertised_host(SipSettings(bind_host="0.0.0.0", advertised_host="192.0.2.10")) == "192.0.2.10"
    assert advertised_host(SipSettings(bind_host="127.0.0.5")) == "127.0.0.5"


def test_a_wildcard_bind_advertises_the_address_the_kernel_routes_to_the_pbx_from() -> None:
    # The PBX is on loopback here: the route to it leaves from 127.0.0.1, never "0.0.0.0".
    s = SipSettings(bind_host="0.0.0.0", allowed_sources=("127.0.0.0/8",))
    assert advertised_host(s) == "127.0.0.1" == source_address_toward("127.0.0.1")
    s = SipSettings(bind_host="0.0.0.0", mode="register", registrar="127.0.0.9:5060", username="2100",
                    allowed_sources=("192.0.2.0/24",))
    # The registrar is asked first: loopback's route leaves from 127.0.0.1 (a route toward the
    # TEST-NET allowed source would leave from the LAN address, or not at all).
    assert advertised_host(s) == source_address_toward("127.0.0.9") == "127.0.0.1"


def test_a_wildcard_bind_with_no_route_to_the_pbx_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    import appliance.telephony.localaddr as localaddr

    monkeypatch.setattr(localaddr, "source_address_toward", lambda ip: None)  # a box with no route at all
    with pytest.raises(ConfigError) as e:
        advertised_host(SipSettings(bind_host="0.0.0.0", allowed_sources=("10.1.2.0/24",)))
    assert "advertised_host" in str(e.value)
