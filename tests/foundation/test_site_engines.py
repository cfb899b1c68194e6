"""`[models] engines`: a site's own engine for a role, built instead of the bundled model."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from appliance.config import Settings
from appliance.errors import ModelError
from appliance.service import Appliance
from tests.voice.fakes import LevelVad, ToneSynthesizer

ROLES = ("vad", "turn", "asr", "relisten", "tts", "llm")
HERE = "tests.foundation.site_engines"


def test_every_role_from_the_site_loads_no_model_and_starts_no_worker(tmp_path) -> None:  # noqa: ANN001
    s = Settings(paths={"data_dir": tmp_path}, models={"isolation": "process",
                                                      "engines": {r: f"{HERE}:{r}" for r in ROLES}})
    app = Appliance(s)
    engines = asyncio.run(app.load_engines())
    assert isinstance(engines.vad, LevelVad) and isinstance(engines.tts, ToneSynthesizer)
    assert engines.workers == [] and engines.models == {}  # no model verified, loaded or started


def test_a_factory_that_is_not_an_engine_or_not_there_is_named(tmp_path) -> None:  # noqa: ANN001
    for ref, words in ((f"{HERE}:not_an_engine", "lacks its role's methods"),
                       ("tests.foundation.no_such_module:make", "could not be built")):
        engines = {r: f"{HERE}:{r}" for r in ROLES} | {"asr": ref}
        app = Appliance(Settings(paths={"data_dir": tmp_path}, models={"isolation": "thread", "engines": engines}))
        with pytest.raises(ModelError) as e:
            asyncio.run(app.load_engines())
        assert words in str(e.value), e.value
    assert "could not be built" in str(e.value) and "engines.asr" in str(e.value)


def test_a_factory_reference_must_be_module_colon_name() -> None:
    with pytest.raises(ValidationError) as e:
        Settings(models={"engines": {"asr": "not a reference"}})
    assert "package.module:function" in str(e.value)
    with pytest.raises(ValidationError):
        Settings(models={"engines": {"ears": f"{HERE}:asr"}})  # not a role
