"""Typed settings: config/default.toml < mode or --config file < .env < environment < flags.

``schema`` says what the settings are (sections, each field's ``rule``, the venue rules); ``load``
layers, coerces and cross-checks them. Import from here: ``from hft_console.settings import Settings``.
"""

from hft_console.settings.load import config_dir, load_settings, read_dotenv, read_toml
from hft_console.settings.schema import (
    CLOCKS,
    INFERENCE_BACKENDS,
    LOG_LEVELS,
    MODES,
    POSTING_RULES,
    STRATEGIES,
    THEMES,
    AlertSettings,
    BacktestSettings,
    DataSettings,
    EngineSettings,
    MarketSettings,
    NormalizerSettings,
    RiskSettings,
    Rule,
    SessionSettings,
    Settings,
    SettingsError,
    StrategySettings,
    rule,
)

__all__ = [
    "CLOCKS",
    "INFERENCE_BACKENDS",
    "LOG_LEVELS",
    "MODES",
    "POSTING_RULES",
    "STRATEGIES",
    "THEMES",
    "AlertSettings",
    "BacktestSettings",
    "DataSettings",
    "EngineSettings",
    "MarketSettings",
    "NormalizerSettings",
    "RiskSettings",
    "Rule",
    "SessionSettings",
    "Settings",
    "SettingsError",
    "StrategySettings",
    "config_dir",
    "load_settings",
    "read_dotenv",
    "read_toml",
    "rule",
]
