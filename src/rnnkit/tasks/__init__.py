"""Models for a job, built from rnnkit's layers."""

from rnnkit.tasks.language_model import LanguageModel, LanguageModelConfig

__all__ = ["LanguageModel", "LanguageModelConfig"]
