"""The raw email reader on hand-made messages (bytes written here), and on the SpamAssassin
corpus when ../shared/data holds it."""

import base64
import random
from collections import Counter
from pathlib import Path

import pytest

from rnnkit.data.email import looks_like_email, split_mbox
from rnnkit.data.html_text import html_to_text
from rnnkit.data.records import LabelledCorpus, read_labelled
from rnnkit.errors import DataError

SPAMASSASSIN = Path(__file__).resolve().parents[3] / "shared" / "data" / "spamassassin"
OTHER = b"From: x@example.com\nSubject: other\n\nthe other label\n"  # the second label's message


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def read_one(tmp_path: Path, message: bytes, **options) -> tuple[str, LabelledCorpus]:
    """The text of ``message`` read from a two-label email folder (the Subject alone unless
    ``email_fields`` says otherwise), and the corpus."""
    options.setdefault("email_fields", ("subject",))
    write(tmp_path / "a" / "1.eml", message)
    write(tmp_path / "b" / "1.eml", OTHER)
    corpus = read_labelled(tmp_path, format="email", **options)
    assert corpus.labels == ["a", "b"]
    return corpus.texts[0], corpus


def test_alternative_takes_the_plain_part(tmp_path):
    message = b"""From: a@example.com
To: b@example.com
Subject: Lunch
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="XX"

--XX
Content-Type: text/plain; charset=us-ascii

Lunch at noon?
--XX
Content-Type: text/html; charset=us-ascii

<html><body><p>Lunch at <b>twelve</b>?</p></body></html>
--XX--
"""
    text, corpus = read_one(tmp_path, message)
    assert text == "Subject: Lunch\n\nLunch at noon?"
    assert corpus.notes["HTML only"] == 0


def test_html_only_becomes_its_visible_text(tmp_path):
    message = b"""Subject: Offer
Content-Type: text/html; charset=utf-8

<html><head><title>Hidden</title><style>p {color: red}</style></head>
<body><script>track("me")</script><p>Save 50&nbsp;% &amp; more</p>
<p>Click   <a href="http://x.example/">here</a>&hellip;</p><!-- a comment --></body></html>
"""
    text, corpus = read_one(tmp_path, message)
    assert text == "Subject: Offer\n\nSave 50 % & more\n\nClick here\u2026"
    assert corpus.notes["HTML only"] == 1
    assert "1 HTML only" in corpus.summary()


def test_html_to_text_blocks_and_broken_markup():
    assert html_to_text("a<br>b<div>c</div>d<table><tr><td>x</td><td>y</td></tr></table>") == (
        "a\nb\nc\nd\n\nx y"
    )
    assert html_to_text("<head><title>t</title>never closed<body>shown</body>") == "shown"
    assert html_to_text("<p>a</p><![bogus <b>x</b>&amp;") == "a x &"  # the parser gives up


def test_base64_and_quoted_printable_parts(tmp_path):
    encoded = base64.encodebytes("Café au lait, s'il vous plaît.\n".encode()).decode()
    message = f"""Subject: Encoded
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=b1

--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

{encoded}
--b1
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Na=EFve soft =
line break, =3D sign
--b1--
""".encode()
    text, corpus = read_one(tmp_path, message)
    assert text == (
        "Subject: Encoded\n\nCafé au lait, s'il vous plaît.\nNaïve soft line break, = sign"
    )
    assert corpus.notes == {
        "HTML only": 0, "unknown charsets": 0, "undecodable parts": 0, "attachments named": 0
    }  # fmt: skip


def test_latin1_charset_and_encoded_subject(tmp_path):
    message = (
        b"Subject: =?iso-8859-1?q?Cr=E8me_br=FBl=E9e?= recipe\n"
        b'Content-Type: text/plain; charset="ISO-8859-1"\n'
        b"Content-Transfer-Encoding: 8bit\n\nCaf\xe9 cr\xe8me\r\n"
    )
    text, corpus = read_one(tmp_path, message)
    assert text == "Subject: Crème brûlée recipe\n\nCafé crème"
    assert corpus.fallback_files == [] and corpus.notes["undecodable parts"] == 0


def test_unknown_charset_falls_back_and_is_counted(tmp_path):
    message = b'Subject: odd\nContent-Type: text/plain; charset="x-no-such"\n\ncaf\xe9 time\n'
    text, corpus = read_one(tmp_path, message)
    assert text == "Subject: odd\n\ncafé time"  # not UTF-8, so the Latin-1 fallback
    assert corpus.notes["unknown charsets"] == 1
    assert "1 unknown charsets" in corpus.summary()
    message = b"Subject: ascii\nContent-Type: text/plain; charset=us-ascii\n\n" + "naïve".encode()
    text, corpus = read_one(tmp_path / "2", message)
    assert text == "Subject: ascii\n\nnaïve"  # wrong charset: UTF-8 tried first
    assert corpus.notes["undecodable parts"] == 1


def test_attachment_is_named_not_read(tmp_path):
    pdf = base64.encodebytes(b"%PDF-1.4 SECRET-CONTENT").decode()
    message = f"""Subject: Invoice
Content-Type: multipart/mixed; boundary="=_b"

--=_b
Content-Type: text/plain

See attached.
--=_b
Content-Type: application/pdf; name="invoice.pdf"
Content-Disposition: attachment; filename="invoice.pdf"
Content-Transfer-Encoding: base64

{pdf}
--=_b
Content-Type: image/png

iVBORw0KGgo=
--=_b--
""".encode()
    text, corpus = read_one(tmp_path, message)
    assert text == (
        "Subject: Invoice\n\nSee attached.\n[attachment: invoice.pdf (application/pdf)]\n"
        "[attachment: image/png]"
    )
    assert "SECRET" not in text and pdf.strip() not in text
    assert corpus.notes["attachments named"] == 2


def test_fields_from_the_header(tmp_path):
    message = b'Subject: Hi\nFrom: "Bob" <bob@example.com>\nX-Mailer: m\n\nbody\n'
    text, _ = read_one(tmp_path, message, email_fields=("subject", "From", "x-mailer", "cc"))
    assert text == 'Subject: Hi\nFrom: "Bob" <bob@example.com>\nX-Mailer: m\n\nbody'
    with pytest.raises(DataError, match=r"email_fields: 'to:' is not a header field name"):
        read_labelled(tmp_path, email_fields=("to:",))
    with pytest.raises(DataError, match=r"email_fields apply to format 'email' only"):
        read_labelled(tmp_path, format="folders", email_fields=("from",))


MBOX = b"""From alice@example.com Thu Aug 22 13:17:22 2002
Subject: one

first body
>From the desk of me

From bob@example.com Thu Aug 22 13:17:23 2002
Subject: two

second body
From here on, a body line (no header follows it)
still two

From carol@example.com Thu Aug 22 13:17:24 2002
Subject: three

third body
"""


def test_mbox_of_three_messages(tmp_path):
    assert len(split_mbox(MBOX)) == 3
    write(tmp_path / "a" / "1.eml", OTHER)
    write(tmp_path / "b" / "inbox", MBOX)
    corpus = read_labelled(tmp_path)
    assert corpus.texts[1:] == [
        "Subject: one\n\nfirst body\nFrom the desk of me",
        "Subject: two\n\nsecond body\nFrom here on, a body line (no header follows it)\nstill two",
        "Subject: three\n\nthird body",
    ]
    assert corpus.labels == ["a", "b", "b", "b"]
    assert corpus.summary() == f"{tmp_path}: 4 messages read, 0 skipped"


def test_broken_mbox_entry_is_a_counted_skip_or_a_strict_error(tmp_path):
    broken = b"From nobody\nthis line is no header\n\n" + MBOX
    write(tmp_path / "a" / "1.eml", OTHER)
    inbox = write(tmp_path / "b" / "inbox", broken)
    corpus = read_labelled(tmp_path)
    assert corpus.labels == ["a", "b", "b", "b"]
    assert corpus.skipped == {"broken mbox entry (no header after its From line)": 1}
    with pytest.raises(DataError, match=rf"^{inbox} \(message 1\): broken mbox entry .*strict"):
        read_labelled(tmp_path, strict=True)


def test_folder_without_a_message_is_one_line(tmp_path):
    write(tmp_path / "a" / "1.eml", b"just some words\n")
    write(tmp_path / "b" / "1.eml", b"From \n")
    write(tmp_path / "b" / "2.eml", b"")
    with pytest.raises(DataError, match="most of it was skipped") as info:
        read_labelled(tmp_path, format="email")
    assert "\n" not in str(info.value)
    assert "skipped (1 broken mbox entry (no header after its From line), 1 empty text, " in str(
        info.value
    )


def test_garbage_never_escapes(tmp_path):
    nasty = [
        b"Subject: x\nContent-Type: multipart/mixed; boundary=\n\n--\n--\n",
        b"Subject: =?utf-8?b?!!!?= =?x-no-such?q?a?=\n\nbody\n",
        b"Subject: y\nContent-Type: text/plain; charset=base64\n\nbody\n",
        b"Subject: z\nContent-Type: text/html\n\n<![bogus <p>a</p>\n",
        b"Subject: w\nContent-Transfer-Encoding: base64\n\n!!!not base64!!!\n",
        b"Subject: v\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner body\n",
        b"Subject: u\n" + b"Content-Type: multipart/mixed; boundary=q\n\n--q\n" * 200,
    ]
    for i, message in enumerate(nasty):
        write(tmp_path / "a" / f"{i}.eml", message)
    write(tmp_path / "b" / "1.eml", OTHER)
    corpus = read_labelled(tmp_path)
    assert corpus.read + sum(corpus.skipped.values()) == len(nasty) + 1
    assert "Subject: inner" not in corpus.texts[5] and "inner body" in corpus.texts[5]


def test_mutated_messages_are_read_or_skipped(tmp_path):
    """Messages cut, spliced and garbled at random: each is read or counted, never raised."""
    rng = random.Random(0)
    seeds = [MBOX, OTHER, b"Content-Type: multipart/alternative; boundary=q\n\n--q\n\n<b>x\n--q--"]
    for case in range(60):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.choice([b"\n", b"--q", b"=?x?q?=", b"\xff\xfe", b"From ", b":", b"<"])
            at = rng.randrange(len(data) + 1)
            del data[at : at + rng.randint(0, 3)]
        write(tmp_path / str(case) / "a" / "m.eml", bytes(data))
        write(tmp_path / str(case) / "b" / "m.eml", OTHER)
        try:
            corpus = read_labelled(tmp_path / str(case), format="email")
        except DataError as e:
            assert "\n" not in str(e)
        else:
            assert corpus.read + sum(corpus.skipped.values()) >= 2


def test_format_detection(tmp_path):
    write(tmp_path / "mail" / "ham" / "1.eml", b"Return-Path: <a@x>\nSubject: a\n\nbody\n")
    write(tmp_path / "mail" / "spam" / "2", b"Received: from x\n\tby y\nFrom: a@x\n\nbody\n")
    assert read_labelled(tmp_path / "mail").unit == "messages"
    enron = b"Subject: meeting\nplease come at 3 : 00 pm\n"  # Enron-Spam's files: no header
    write(tmp_path / "plain" / "ham" / "1.txt", enron)
    write(tmp_path / "plain" / "spam" / "1.txt", b"buy now\n")
    corpus = read_labelled(tmp_path / "plain")
    assert corpus.unit == "records" and corpus.texts[0] == enron.decode()
    assert looks_like_email(b"From someone Mon Jan 1 00:00:00 2001\n")
    assert not looks_like_email(b"key: value\nother: value\n\ntext\n")  # no mail field


def test_binary_files_and_stray_control_bytes_in_email(tmp_path):
    write(tmp_path / "a" / "1.eml", b"Subject: nul\n\nends in a NUL byte\n\x00")
    write(tmp_path / "a" / "2.eml", b"Subject: ok\n\nfine\n")
    write(tmp_path / "b" / "1.eml", OTHER)
    write(tmp_path / "b" / "logo.gif", b"GIF89a" + bytes(range(256)))
    corpus = read_labelled(tmp_path)
    assert corpus.texts[0] == "Subject: nul\n\nends in a NUL byte"
    assert corpus.cleaned_files == ["a/1.eml"] and corpus.binary_files == ["b/logo.gif"]
    assert corpus.summary() == (
        f"{tmp_path}: 3 messages read, 1 skipped (1 binary); binary: b/logo.gif; "
        "stray control bytes removed from 1 file"
    )


@pytest.mark.skipif(not SPAMASSASSIN.is_dir(), reason=f"{SPAMASSASSIN} is absent")
def test_spamassassin_corpus():
    corpus = read_labelled(SPAMASSASSIN)
    assert corpus.unit == "messages"  # detected
    assert Counter(corpus.labels) == {"ham": 4150, "spam": 1896}
    assert all(text.strip() for text in corpus.texts)
    assert corpus.skipped == {"file outside a label folder": 1}  # MANIFEST.tsv
    assert corpus.notes["HTML only"] > 500 and corpus.notes["attachments named"] > 100
