"""Voice fixtures: the real bundled models, loaded once per test session."""

from __future__ import annotations

import pytest

from appliance.config import Settings
from appliance.models.resolver import resolve_all
from appliance.voice.engines import Engines, load_engines


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def engines(settings: Settings) -> Engines:
    return load_engines(resolve_all(settings), settings)
