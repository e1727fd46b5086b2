"""Jobs: one module per job, each the story of one command from files to a report.

``rnnkit train X`` parses its options (:mod:`rnnkit.cli`), builds the configs from the job's
presets and the options given, and calls the job in ``apps/X``: read the files, build the task
model and the :class:`~rnnkit.training.Trainer`, train, save the best checkpoint and report.

- :mod:`rnnkit.apps.language_model`: ``rnnkit train lm``, a character-level language model on
  one text (presets ``LM_PRESETS``, resumable runs, samples).
- :mod:`rnnkit.apps.classify`: ``rnnkit train classify``, a sequence classifier on labelled texts.
- :mod:`rnnkit.apps.runs`: the run lifecycle every job shares: start, resume, ``run.json``.

A job reads like a recipe and returns its report as data (a dataclass the tests read); printing
it is the command line's part. Nothing here parses arguments.
"""
