"""Screenshots of each view of ``rnnkit serve`` for the docs (``docs/images/serve_*.png``).

Usage::

    python benchmarks/serve_screenshots.py --runs runs     # runs/{quick,spam,pos,g2p}

The checkpoints are the README's: ``rnnkit train lm --preset quick --out runs/quick``,
``rnnkit train classify --preset sms-spam ... --out runs/spam``, ``rnnkit train tag --preset
ud-ewt ... --out runs/pos`` and ``rnnkit train seq2seq --preset cmudict --out runs/g2p``; a
missing one is trained first with that command (``--minutes M`` caps each training). The page
is driven in the system Chromium (``/usr/bin/chromium``) with Playwright, as the browser tests
do, with the inputs the README uses.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from serve_load import start_server  # the same start-up as the load check

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
EWT = DATA / "ud-en-ewt"
#: run name -> the README's training command (after ``rnnkit train``)
COMMANDS = {
    "quick": ["lm", "--preset", "quick"],
    "spam": ["classify", "--preset", "sms-spam", "--data",
             str(DATA / "sms-spam" / "SMSSpamCollection")],
    "pos": ["tag", "--preset", "ud-ewt", "--train", str(EWT / "en_ewt-ud-train.conllu"),
            "--dev", str(EWT / "en_ewt-ud-dev.conllu")],
    "g2p": ["seq2seq", "--preset", "cmudict"],
}  # fmt: skip


def ensure_trained(runs: Path, minutes: float | None) -> list[Path]:
    """The four run directories, training the missing ones with the README's commands."""
    for name, command in COMMANDS.items():
        if (runs / name / "config.json").exists():
            continue
        budget = ["--max-minutes", str(minutes)] if minutes else []
        argv = [sys.executable, "-m", "rnnkit.cli", "train", *command, *budget,
                "--out", str(runs / name), "--no-progress"]  # fmt: skip
        print("training:", " ".join(argv[2:]), file=sys.stderr)
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return [runs / name for name in COMMANDS]


def shoot(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 720})
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        page.click("#tab-language_model")
        page.fill("#lm-form textarea[name=prime]", "ROMEO:")
        page.fill("#lm-form input[name=length]", "400")
        page.fill("#lm-form input[name=seed]", "1")
        page.click("#lm-form button[type=submit]")
        page.wait_for_selector("#lm-output.coloured span[data-value]", timeout=120000)
        page.screenshot(path=out / "serve_language_model.png", full_page=True)
        page.click("#tab-classifier")
        page.fill("#classify-form textarea[name=text]",
                  "WINNER!! Claim your prize, call 09061701461")  # fmt: skip
        page.click("#classify-form button[type=submit]")
        page.wait_for_selector("#classify-result:not([hidden])")
        page.screenshot(path=out / "serve_classifier.png", full_page=True)
        page.click("#tab-tagger")
        page.click("#tag-form button[type=submit]")
        page.wait_for_selector("#tag-result .tagged-word")
        page.screenshot(path=out / "serve_tagger.png", full_page=True)
        page.click("#tab-seq2seq")
        page.fill("#translate-form input[name=text]", "rnnkit")
        page.click("#translate-form button[type=submit]")
        page.wait_for_selector("#attention rect.cell", timeout=60000)
        page.screenshot(path=out / "serve_seq2seq.png", full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="the README's runs")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--minutes", type=float, help="cap each missing training (minutes)")
    args = parser.parse_args()
    models = ensure_trained(args.runs, args.minutes)
    args.out.mkdir(parents=True, exist_ok=True)
    process, url = start_server(models)
    try:
        shoot(url, args.out)
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"screenshots in {args.out}: serve_{{language_model,classifier,tagger,seq2seq}}.png")


if __name__ == "__main__":
    main()
