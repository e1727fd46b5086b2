"""Command lines the fuzz suite starts from: the tiny trainings behind the scene's checkpoints,
and for each command one that runs quickly (the fuzzed options are added to it)."""

QUICK = ["--no-progress", "--max-steps", "2", "--eval-every", "1"]
#: `rnnkit train ...` of each model kind the suite loads, as small and short as it goes
TRAININGS = {
    "lm": ["lm", "--text", "{text}", "--preset", "tiny", "--sample-length", "0"],
    "classifier": ["classify", "--data", "{tsv}", "--no-header", "--preset", "tiny",
                   "--no-baseline"],
    "tagger": ["tag", "--train", "{conllu}", "--dev", "{conllu}", "--preset", "tiny"],
    "seq2seq": ["seq2seq", "--data", "{pairs}", "--valid-fraction", "0.2", "--test-fraction",
                "0.2", "--preset", "tiny", "--beam", "1"],
    "sorter": ["sort", "--models", "pointer", "--high", "9", "--max-length", "3",
               "--train-examples", "16", "--valid-examples", "4", "--report-length", "2",
               "--report-examples", "1", "--preset", "tiny"],
    "digits": ["digits", "--train-images", "8", "--valid-images", "4", "--test-images", "4",
               "--preset", "tiny", "--batch-size", "4"],
    "longrange": ["longrange", "--task", "adding", "--T", "4", "--hidden-size", "4",
                  "--batch-size", "2", "--valid-sequences", "10"],
}  # fmt: skip

TRAIN_QUICK = ["--no-progress", "--max-steps", "1", "--eval-every", "1", "--out", "out"]
#: a command line that runs (quickly) for each command; {name}: a scene file or checkpoint
RECIPES = {
    ("train", "lm"): ["--text", "{text}", "--preset", "tiny", "--sample-length", "0",
                      *TRAIN_QUICK],
    ("train", "classify"): ["--data", "{tsv}", "--no-header", "--preset", "tiny",
                            "--no-baseline", *TRAIN_QUICK],
    ("train", "tag"): ["--train", "{conllu}", "--dev", "{conllu}", "--preset", "tiny",
                       *TRAIN_QUICK],
    ("train", "seq2seq"): ["--data", "{pairs}", "--valid-fraction", "0.2", "--test-fraction",
                           "0.2", "--preset", "tiny", "--beam", "1", *TRAIN_QUICK],
    ("train", "sort"): ["--models", "pointer", "--high", "9", "--max-length", "3",
                        "--train-examples", "8", "--valid-examples", "2", "--report-length", "2",
                        "--report-examples", "1", "--preset", "tiny", *TRAIN_QUICK],
    ("train", "digits"): ["--train-images", "4", "--valid-images", "2", "--test-images", "2",
                          "--preset", "tiny", "--batch-size", "2", *TRAIN_QUICK],
    ("train", "longrange"): ["--task", "adding", "--T", "3", "--hidden-size", "2",
                             "--batch-size", "2", "--valid-sequences", "10", *TRAIN_QUICK],
    ("train", "ctc"): ["--preset", "tiny", "--train-lines", "4", "--valid-lines", "2",
                       "--test-lines", "2", "--compare-minutes", "0", "--batch-size", "2",
                       *TRAIN_QUICK],
    ("train", "frames"): ["--preset", "tiny", "--models", "convgru", "--valid-sequences", "2",
                          "--test-sequences", "2", "--batch-size", "2", *TRAIN_QUICK],
    ("sample",): ["--checkpoint", "{lm}", "--length", "3"],
    ("classify",): ["--checkpoint", "{classifier}", "free cash"],
    ("tag",): ["--checkpoint", "{tagger}", "the dog"],
    ("translate",): ["--checkpoint", "{seq2seq}", "--beam", "2", "cat"],
    ("sort",): ["--checkpoint", "{sorter}", "3", "1"],
    ("evaluate",): ["--checkpoint", "{classifier}", "--data", "{tsv}", "--no-header"],
    ("export",): ["--checkpoint", "{lm}", "--out", "lm.onnx"],
    ("inspect",): ["--checkpoint", "{lm}", "--text", "{text}", "--out", "page.html"],
    ("serve",): ["--checkpoint", "{classifier}", "{lm}", "--port", "48123"],  # the loop: a no-op
    ("plot", "curves"): ["{lm}", "{classifier}", "--out", "curves.png"],
    ("plot", "eigenvalues"): ["--out", "e.png", "--steps", "2", "--size", "2"],
    ("plot", "gradients"): ["--out", "g", "--T", "2", "--steps", "0", "--hidden-size", "2",
                            "--batch-size", "2", "--cells", "tanh"],
    ("plot", "state-gradients"): ["{lm}", "--out", "s.png"],  # no records: a one-line error
}  # fmt: skip
