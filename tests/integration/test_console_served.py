"""`appliance run` serves the staff console over HTTPS on its configured port, sign-in first."""

from __future__ import annotations

import http.client
import ssl

import pytest

from tests.foundation.helpers import ApplianceProcess


@pytest.mark.models
def test_run_serves_the_console_over_https_and_requires_a_session(write_config) -> None:
    app = ApplianceProcess(write_config())
    try:
        ready = app.wait_event("appliance.ready")
        host, port = ready["console"].removeprefix("https://").rstrip("/").split(":")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the generated self-signed certificate
        conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
        conn.request("GET", "/api/escalations")
        api = conn.getresponse()
        api.read()
        conn.request("GET", "/login")
        page = conn.getresponse()
        body = page.read().decode()
        code, _ = app.stop()
    finally:
        app.kill()
    assert api.status in (401, 403)
    assert page.status == 200 and "password" in body.lower()
    assert code == 0
