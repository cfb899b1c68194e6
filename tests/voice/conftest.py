"""Voice fixtures: the real bundled models, loaded once per test session."""

from __future__ import annotations

import pytest

from appliance.config import Settings
from appliance.models.resolver import resolve_all
from appliance.voice.engines import LOADERS, Engines


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def engines(settings: Settings) -> Engines:
    models = resolve_all(settings)
    return Engines(models=models, loaded={role: LOADERS[role](m, settings) for role, m in models.items()})
