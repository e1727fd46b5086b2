"""Errors a user can cause and fix: the CLI prints them as one line and exits with status 2."""

from pathlib import Path


class RnnkitError(Exception):
    """Base class of user-facing errors (bad file, bad option, bad checkpoint)."""


class DataError(RnnkitError, ValueError):
    """A data file is missing, empty, binary or not valid UTF-8."""


class CheckpointError(RnnkitError, ValueError):
    """A checkpoint directory is missing, incomplete or corrupt."""


class VocabularyError(RnnkitError, ValueError):
    """Text contains symbols the vocabulary does not know."""


class ConfigError(RnnkitError, ValueError):
    """Settings that do not make a run together (a bad combination of options)."""


class Interrupted(KeyboardInterrupt):
    """Training stopped on SIGINT or SIGTERM once it had saved its resumable state.

    A KeyboardInterrupt, so that code which lets Ctrl-C through lets this through too; the CLI
    reads the fields to say what was kept.

    Attributes:
        signum: the signal received.
        step: the updates done (the state saved is this step's).
        state_dir: the resumable state written, or None (the trainer had no output directory).
        best: whether a best model (a validated one) exists in the output directory.
    """

    def __init__(self, signum: int, step: int, state_dir: Path | None, *, best: bool) -> None:
        super().__init__(f"interrupted at step {step}")
        self.signum, self.step, self.state_dir, self.best = signum, step, state_dir, best
