"""Speech data: log-mel features against their definition, WAV reading and resampling against
hand-written files and analytic sines, the transcript list and its bad lines, and espeak-ng
synthesis (voices split, seeded, cached; skipped when espeak-ng is not installed)."""

import math
import shutil
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.data import speech
from rnnkit.data.speech import (
    ACCENTS,
    DIGITS,
    INSTALL,
    VARIANTS,
    Listed,
    Spoken,
    Utterances,
    derive_alphabet,
    draw_spoken,
    list_recordings,
    log_mel,
    mel,
    mel_filterbank,
    mel_to_hz,
    read_transcripts,
    split_recordings,
    spoken_digits,
    voices,
    wav_features,
)
from rnnkit.data.wav import _resample_gather, decode_wav, read_wav, resample
from rnnkit.errors import DataError, RnnkitError

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason=f"needs espeak-ng: {INSTALL}"
)


def write_wav(path, frames: bytes, *, channels=1, width=2, rate=16000):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(frames)
    return path


def sine(freq, rate, seconds=1.0, amplitude=0.5):
    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)


def pcm16(x):
    return np.round(np.asarray(x) * 32767).astype("<i2").tobytes()


# -- features ------------------------------------------------------------------------------


def test_mel_scale_at_known_points():
    assert mel(0.0) == 0.0
    assert mel(700.0) == pytest.approx(2595 * math.log10(2))  # 781.17: f = 700 doubles 1 + f/700
    assert mel(1000.0) == pytest.approx(999.986, abs=1e-3)  # the anchor, 1000, to 2595's rounding
    f = np.array([20.0, 440.0, 4000.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz(mel(f)), f, rtol=1e-12)


def test_filterbank_triangles_peak_at_their_edges_and_neighbours_sum_to_one():
    n_mels = 40
    bank = mel_filterbank(n_mels)  # (257, 40)
    freqs = np.arange(257) * 16000 / 512
    # the edges, from the HTK formula written out here
    lo, hi = 2595 * math.log10(1 + 20 / 700), 2595 * math.log10(1 + 8000 / 700)
    edges = [700 * (10 ** ((lo + (hi - lo) * i / (n_mels + 1)) / 2595) - 1) for i in range(42)]
    for m in range(n_mels):
        inside = (freqs > edges[m]) & (freqs < edges[m + 2])
        assert (bank[~inside, m] == 0).all() and (bank[inside, m] > 0).all()
    between = (freqs >= edges[1]) & (freqs <= edges[n_mels])  # from the first peak to the last
    np.testing.assert_allclose(bank[between].sum(axis=1), 1.0, atol=1e-6)


def test_log_mel_is_its_definition_on_one_frame():
    rng = np.random.default_rng(0)
    x = rng.normal(size=400).astype(np.float32)  # exactly one 25 ms window
    got = log_mel(x, n_mels=8, normalise=False)
    assert got.shape == (1, 8) and got.dtype == torch.float32
    # the definition, slowly: Hann window, a 512-point DFT, triangles over the bins' Hz
    n = np.arange(400)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * n / 400)
    edges = mel_to_hz(np.linspace(mel(20.0), mel(8000.0), 10))
    want = []
    for m in range(8):
        energy = 0.0
        for k in range(257):
            f = k * 16000 / 512
            weight = max(0.0, min((f - edges[m]) / (edges[m + 1] - edges[m]),
                                  (edges[m + 2] - f) / (edges[m + 2] - edges[m + 1])))  # fmt: skip
            if weight:
                energy += weight * abs(np.sum(x * w * np.exp(-2j * np.pi * k * n / 512))) ** 2
        want.append(math.log(energy + 1e-6))
    np.testing.assert_allclose(got[0].numpy(), want, rtol=1e-4)


@pytest.mark.parametrize("band", [3, 12, 25, 38])
def test_a_pure_sine_lands_in_the_band_that_peaks_at_its_frequency(band):
    edges = mel_to_hz(np.linspace(mel(20.0), mel(8000.0), 42))
    feats = log_mel(sine(edges[band + 1], 16000), normalise=False)  # (T, 40)
    assert (feats[5:-5].argmax(dim=1) == band).all()


def test_frame_count_and_per_utterance_normalisation():
    for samples, frames in [(100, 1), (400, 1), (401, 2), (560, 2), (16000, 99)]:
        assert log_mel(np.zeros(samples, np.float32)).shape == (frames, 40)
    x = sine(440, 16000) * np.linspace(0, 1, 16000)  # a tone getting louder
    feats = log_mel(x, n_mels=80)
    assert feats.shape == (99, 80)
    torch.testing.assert_close(feats.mean(0), torch.zeros(80), atol=1e-4, rtol=0)
    torch.testing.assert_close(feats.std(0, unbiased=False), torch.ones(80), atol=1e-3, rtol=0)
    silence = log_mel(np.zeros(8000, np.float32))  # every band constant: 0, not NaN
    torch.testing.assert_close(silence, torch.zeros_like(silence), atol=1e-9, rtol=0)


# -- WAV files -----------------------------------------------------------------------------


def test_16_bit_mono_reads_as_samples_over_full_scale(tmp_path):
    values = np.array([0, 1, -1, 16384, -32768, 32767], "<i2")
    path = write_wav(tmp_path / "a.wav", values.tobytes())
    np.testing.assert_array_equal(read_wav(path), values / 32768.0)


def test_8_bit_is_unsigned_around_128(tmp_path):
    path = write_wav(tmp_path / "a.wav", bytes([128, 255, 0, 192]), width=1)
    np.testing.assert_array_equal(read_wav(path), [0.0, 127 / 128, -1.0, 0.5])


def test_24_and_32_bit(tmp_path):
    triples = b"\xff\xff\xff" + b"\x00\x00\x40" + b"\x01\x00\x80"  # -1, 2^22, -2^23 + 1
    path = write_wav(tmp_path / "a.wav", triples, width=3)
    np.testing.assert_array_equal(read_wav(path), np.array([-1, 2**22, -(2**23) + 1]) / 2**23)
    path = write_wav(tmp_path / "b.wav", np.array([-(2**31), 2**30], "<i4").tobytes(), width=4)
    np.testing.assert_array_equal(read_wav(path), [-1.0, 0.5])


def test_stereo_is_mixed_down_to_the_mean(tmp_path):
    left, right = np.array([1000, -2000, 300], "<i2"), np.array([3000, 2000, -301], "<i2")
    frames = np.stack([left, right], axis=1).tobytes()  # interleaved L R L R ...
    path = write_wav(tmp_path / "a.wav", frames, channels=2)
    np.testing.assert_allclose(read_wav(path), (left + right.astype(float)) / 2 / 32768, atol=1e-7)


def test_8_khz_file_is_resampled_to_16_khz_keeping_its_tone(tmp_path):
    path = write_wav(tmp_path / "a.wav", pcm16(sine(440, 8000)), rate=8000)
    x = read_wav(path)
    assert len(x) == 16000
    want = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    np.testing.assert_allclose(x[200:-200], want[200:-200], atol=1e-3)  # 16-bit rounding: 3e-5
    assert np.argmax(np.abs(np.fft.rfft(x))) == 440  # 1 s: bin k is k Hz


@pytest.mark.parametrize(("source", "freq"), [(44100, 1000.0), (22050, 3000.0), (48000, 5000.0),
                                               (11025, 2500.0), (16001, 2000.0)])  # fmt: skip
def test_resampling_a_sine_gives_the_same_sine_at_the_new_rate(source, freq):
    y = resample(sine(freq, source), source, 16000)
    assert len(y) == 16000
    want = sine(freq, 16000)
    np.testing.assert_allclose(y[100:-100], want[100:-100], atol=1e-4)


def test_downsampling_removes_what_would_alias():
    # 12 kHz at 44.1 kHz has no place at 16 kHz: kept, it would fold back to 4 kHz
    y = resample(sine(12000, 44100), 44100, 16000)
    assert np.sqrt(np.mean(y[100:-100] ** 2)) < 1e-3  # the sine's own RMS is 0.35


@pytest.mark.parametrize(("source", "target"), [(22050, 16000), (8000, 16000), (48000, 16000)])
def test_the_block_product_is_the_gathered_sum(source, target):
    x = np.random.default_rng(0).normal(size=150_001)  # several chunks of blocks
    g = math.gcd(source, target)
    fast = resample(x, source, target)
    np.testing.assert_allclose(fast, _resample_gather(x, target // g, source // g, len(fast)),
                               atol=1e-5)  # fmt: skip


def one_line_error(path, match, **kwargs):
    with pytest.raises(DataError) as e:
        read_wav(path, **kwargs)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    assert match in str(e.value)


def test_bad_wav_files_are_one_line_naming_the_file(tmp_path):
    one_line_error(tmp_path / "missing.wav", "no such file")
    one_line_error(tmp_path, "directory")
    (tmp_path / "empty.wav").write_bytes(b"")
    one_line_error(tmp_path / "empty.wav", "empty file")
    (tmp_path / "text.wav").write_text("three one four\n")
    one_line_error(tmp_path / "text.wav", "not a PCM WAV file")
    (tmp_path / "cut.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    one_line_error(tmp_path / "cut.wav", "not a PCM WAV file")
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)  # format 3: 32-bit float
    data = np.zeros(16, "<f4").tobytes()
    riff = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 64) + data
    (tmp_path / "float.wav").write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    one_line_error(tmp_path / "float.wav", "not a PCM WAV file")
    one_line_error(write_wav(tmp_path / "none.wav", b""), "no audio")


def test_a_file_too_long_is_refused_from_its_header(tmp_path):
    path = write_wav(tmp_path / "long.wav", pcm16(np.zeros(32000)))  # 2 s
    one_line_error(path, "2.0 s of audio", max_seconds=1.5)
    assert len(read_wav(path, max_seconds=2.0)) == 32000


def test_a_streamed_header_claiming_every_frame_reads_what_the_file_holds(tmp_path):
    values = np.arange(-50, 50, dtype="<i2")
    data = bytearray(write_wav(tmp_path / "a.wav", values.tobytes()).read_bytes())
    assert data[36:40] == b"data"
    data[40:44] = b"\xff\xff\xff\xff"  # the data size a streaming writer leaves
    (tmp_path / "a.wav").write_bytes(bytes(data))
    np.testing.assert_array_equal(read_wav(tmp_path / "a.wav", max_seconds=1.0), values / 32768)


def test_a_wav_in_memory_reads_as_the_file_does(tmp_path):
    left, right = pcm16(sine(440, 22050, 0.2)), pcm16(sine(700, 22050, 0.2))
    stereo = np.stack([np.frombuffer(left, "<i2"), np.frombuffer(right, "<i2")], 1).tobytes()
    path = write_wav(tmp_path / "a.wav", stereo, channels=2, rate=22050)
    np.testing.assert_array_equal(decode_wav(path.read_bytes()), read_wav(path))
    for data, match in ((b"", "upload: empty file"), (b"RIFFjunk", "upload: not a PCM WAV"),
                        (path.read_bytes(), "upload: 0.2 s of audio")):  # fmt: skip
        with pytest.raises(DataError, match=match):
            decode_wav(data, name="upload", max_seconds=0.1)


# -- a user's recordings -------------------------------------------------------------------


@pytest.fixture
def recordings(tmp_path):
    write_wav(tmp_path / "a.wav", pcm16(sine(300, 16000, 0.5)))
    write_wav(tmp_path / "b.wav", pcm16(sine(900, 8000, 0.3)), rate=8000, width=2)
    return tmp_path


def test_transcript_list_reads_each_file_and_normalises_the_transcript(recordings):
    listing = recordings / "list.tsv"
    listing.write_text("a.wav\t3 1 4\n\nb.wav\tFive oh nine\n")
    got = read_transcripts(listing)
    assert isinstance(got, Utterances) and got.labels == ["314", "509"]
    assert got.sources == [str(recordings / "a.wav"), str(recordings / "b.wav")]
    assert got.label_ids() == [[3, 1, 4], [5, 0, 9]]
    for features, name in zip(got.features, ["a.wav", "b.wav"], strict=True):
        torch.testing.assert_close(features, log_mel(read_wav(recordings / name)))
    assert [tuple(image.shape) for image in got.images] == [(40, 49), (40, 29)]
    assert torch.equal(got.images[1], got.features[1].T) and got.images is got.images
    torch.testing.assert_close(wav_features(recordings / "b.wav", n_mels=8),
                               log_mel(read_wav(recordings / "b.wav"), n_mels=8))  # fmt: skip


def test_transcript_list_with_another_folder_and_alphabet(recordings, tmp_path_factory):
    listing = tmp_path_factory.mktemp("lists") / "list.tsv"
    listing.write_text("a.wav\tyes no\n")
    got = read_transcripts(listing, folder=recordings, alphabet="yesno ", n_mels=80)
    assert got.labels == ["yes no"] and got.features[0].shape == (49, 80)


@pytest.mark.parametrize(("lines", "match"), [
    ("a.wav\t3 1 4\nc.wav\t5\n", "list.tsv:2: {dir}/c.wav: no such file"),
    ("a.wav\t3 x 4\n", "list.tsv:1: symbol 'x' in '3 x 4' is not in the alphabet '0123456789'"),
    ("a.wav\t3 1 4\nb.wav 5\n", "list.tsv:2: expected file<TAB>transcript"),
    ("a.wav\t  \n", "list.tsv:1: empty transcript"),
    ("\n\n", "list.tsv: no recordings listed"),
    ("bad.wav\t1\n", "list.tsv:1: {dir}/bad.wav: not a PCM WAV file"),
    # every line is checked before any audio is read: the bad WAV on line 1 is never opened
    ("bad.wav\t1\nc.wav\t2\n", "list.tsv:2: {dir}/c.wav: no such file"),
])  # fmt: skip
def test_transcript_list_errors_name_the_line(recordings, lines, match):
    (recordings / "bad.wav").write_text("not audio")
    listing = recordings / "list.tsv"
    listing.write_text(lines)
    with pytest.raises(DataError) as e:
        read_transcripts(listing)
    assert match.format(dir=recordings) in str(e.value) and "\n" not in str(e.value)


def test_missing_transcript_list(tmp_path):
    with pytest.raises(DataError, match="nope.tsv: no such file"):
        read_transcripts(tmp_path / "nope.tsv")


# -- synthesis -----------------------------------------------------------------------------


def test_test_voices_share_neither_accent_nor_variant_with_training():
    assert not set(ACCENTS["test"]) & set(ACCENTS["train"])
    for held_out in ("valid", "test"):
        assert not set(VARIANTS[held_out]) & set(VARIANTS["train"])
    assert not set(VARIANTS["valid"]) & set(VARIANTS["test"])
    train, valid, test = (set(voices(s)) for s in ("train", "valid", "test"))
    assert len(train) == 6 * 21 and not (train & valid or train & test or valid & test)
    assert "en-us+m3" in train and "en-gb-scotland+m8" in test
    with pytest.raises(ValueError, match="split must be one of"):
        voices("dev")


def test_drawing_is_seeded_and_stays_in_its_split():
    drawn = draw_spoken("test", 300, seed=4, min_digits=3, max_digits=8)
    assert drawn == draw_spoken("test", 300, seed=4, min_digits=3, max_digits=8)
    assert drawn != draw_spoken("test", 300, seed=5, min_digits=3, max_digits=8)
    assert {s.voice for s in drawn} == set(voices("test"))  # 300 draws reach all 10 voices
    assert {len(s.digits) for s in drawn} == set(range(3, 9))
    assert all(set(s.digits) <= set(DIGITS) for s in drawn)
    assert all(140 <= s.speed <= 210 and 25 <= s.pitch <= 75 for s in drawn)
    assert Spoken("3140", "en-us+m1", 175, 50).text == "three one four zero"


def test_bad_options_are_refused_before_synthesis(tmp_path):
    for options, match in [({"n_mels": 0}, "n_mels must be a positive integer"),
                           ({"workers": 0}, "workers must be"),
                           ({"min_digits": 5, "max_digits": 4}, "max_digits must be"),
                           ({"count": -1}, "count must be")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            spoken_digits("train", **{"count": 2, **options}, seed=0, cache_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_missing_espeak_is_one_line_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on it
    speech.espeak_version.cache_clear()
    try:
        with pytest.raises(RnnkitError, match="apt-get install espeak-ng"):
            spoken_digits("train", 2, seed=0, cache_dir=tmp_path)
    finally:
        speech.espeak_version.cache_clear()


@needs_espeak
def test_synthesis_is_deterministic_and_cached(monkeypatch, tmp_path):
    first = spoken_digits("test", 4, seed=0, cache_dir=tmp_path / "a", workers=2)
    assert len(first) == 4 and len(list((tmp_path / "a").glob("*.wav"))) == 4
    drawn = draw_spoken("test", 4, seed=0)
    assert first.labels == [s.digits for s in drawn]
    assert first.sources == [s.describe() for s in drawn]
    for features, spoken in zip(first.features, drawn, strict=True):
        # a spoken digit lasts a few hundred ms: well over 10 frames of 10 ms each
        assert features.shape[1] == 40 and features.shape[0] > 10 * len(spoken.digits)
    again = spoken_digits("test", 4, seed=0, cache_dir=tmp_path / "b", workers=2)
    for a, b in zip(first.features, again.features, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # synthesised afresh: the same sound

    def no_synthesis(*args, **kwargs):
        raise AssertionError(f"espeak-ng ran although the WAV was cached: {args}")

    monkeypatch.setattr(speech.subprocess, "run", no_synthesis)
    cached = spoken_digits("test", 4, seed=0, cache_dir=tmp_path / "a", workers=2)
    assert cached.labels == first.labels
    for a, b in zip(first.features, cached.features, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@needs_espeak  # the cache's file names hold espeak-ng's version
def test_a_cache_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("in the way")
    with pytest.raises(RnnkitError, match="file/speech: cannot hold the speech cache"):
        speech.synthesise([Spoken("12", "en-us+m1", 175, 50)], tmp_path / "file" / "speech")


@needs_espeak
def test_an_unknown_voice_is_one_line(tmp_path):
    with pytest.raises(RnnkitError, match="espeak-ng failed for voice xx-nowhere"):
        speech.synthesise([Spoken("12", "xx-nowhere", 175, 50)], tmp_path)
    assert not list(tmp_path.iterdir())  # no half-written cache file


def listed(*lines: tuple[str, str]) -> list[Listed]:
    return [Listed(f"list.tsv:{k}", Path(name), said) for k, (name, said) in enumerate(lines, 1)]


@pytest.mark.parametrize(("said", "alphabet"), [
    (["3 1 4", "three oh nine", "27"], DIGITS),  # figures or words: all ten digits
    (["yes no", "no"], " enosy"),  # two words in a line: the space is a label
    (["abc", "cab"], "abc"),
    (["3 1 4", "four x"], " 134forux"),  # one word that is not a digit: characters
])  # fmt: skip
def test_the_alphabet_comes_from_the_transcripts(said, alphabet):
    assert derive_alphabet(listed(*((f"{k}.wav", t) for k, t in enumerate(said)))) == alphabet


def test_recordings_split_by_file_seeded_and_whole():
    names = [f"{k}.wav" for k in range(20)]
    lines = listed(*((n, "1") for n in names), ("3.wav", "2"), ("7.wav", "3"))  # 3, 7 twice
    train, valid, test = split_recordings(lines, valid_fraction=0.1, test_fraction=0.2, seed=4)
    files = [{str(e.path) for e in part} for part in (train, valid, test)]
    assert (len(files[1]), len(files[2])) == (2, 4) and len(files[0]) == 14  # of 20 files
    assert not (files[0] & files[1] or files[0] & files[2] or files[1] & files[2])
    assert sorted(e.where for e in train + valid + test) == sorted(e.where for e in lines)
    for part in (train, valid, test):  # each keeps the list's order
        assert part == [e for e in lines if e in part]
    again = split_recordings(lines, valid_fraction=0.1, test_fraction=0.2, seed=4)
    assert again == (train, valid, test)
    other = split_recordings(lines, valid_fraction=0.1, test_fraction=0.2, seed=5)
    assert other != (train, valid, test)
    tiny = split_recordings(lines[:3], valid_fraction=0.1, test_fraction=0.0, seed=0)
    assert [len(p) for p in tiny] == [2, 1, 0]  # at least one file when the fraction is > 0


def test_listing_recordings_checks_files_not_transcripts(recordings):
    (recordings / "list.tsv").write_text("a.wav\tanything at all\n\nb.wav\t?\n")
    got = list_recordings(recordings / "list.tsv")
    assert [(e.where.rsplit("/", 1)[1], e.path.name, e.said) for e in got] == [
        ("list.tsv:1", "a.wav", "anything at all"), ("list.tsv:3", "b.wav", "?")]  # fmt: skip
