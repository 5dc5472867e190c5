"""The settings as a pydantic-settings model: RECTIFY_* variables and `.env`, validated.

Its fields are rectify.settings.SettingFields (the one list of names and defaults); this module
adds what needs pydantic: the secret, the validation and the data-folder rule. Kept apart so
that importing rectify.settings does not load pydantic (0.2 s of a read command's start-up).
"""

from __future__ import annotations

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rectify.settings import SettingFields, home_paths


class Settings(BaseSettings, SettingFields):
    model_config = SettingsConfigDict(env_prefix="RECTIFY_", env_file=".env", extra="ignore")

    smtp_password: SecretStr | None = None
    # RECTIFY_CODE_SECRET: the key 验证码 are derived with (rectify.code_key); unset: the file
    # code.key in the data folder. Never in the ledger, never logged.
    code_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _defaults_under_home(self) -> "Settings":
        for name, value in home_paths(self.home, self.model_fields_set).items():
            setattr(self, name, value)
        return self
