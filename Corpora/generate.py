#!/usr/bin/env python3
"""Generates a synthetic speech corpus in the LibriSpeech + CPC-label layout.

Speech comes from Debian's synthesisers (flite voices kal16, awb, rms, slt; espeak-ng accents x voice variants with
seeded pitch, range and rate), text from Debian's fortunes-min sentences (never committed: only sentence hashes are
written). Each synthesiser reports when its phones start and end (flite -psdur; espeak-ng phoneme events through
tools/espeak_phones.c); phones map to one 40-class inventory (phones/classes.txt) through the committed tables
phones/flite.tsv and phones/espeak.tsv, where an unmapped phone is an error. Realism options (seeded per utterance):
speed change (time and pitch scale together, so labels stay exact), room reverb (synthetic exponential impulse
response), additive white/pink/brown noise at a random SNR, and level changes.

Output (LibriSpeech layout plus CPC labels):
    <out>/<speaker>/<chapter>/<speaker>-<chapter>-<nnnn>.flac   16 kHz mono FLAC
    <out>/phones.txt          one line per utterance: id then one class index per 10 ms frame, floor(samples/160)
    <out>/phone-classes.txt   "index name" per line
    <out>/speakers.tsv        id, synthesiser, voice, pitch, range, rate, speed
    <out>/utterances.tsv      id, speaker, split, sentence hash, seconds, speed, reverb RT60, SNR, noise colour
    <out>/train.txt, test.txt utterance ids, split by sentence (no sentence in both), every speaker in both
    <out>/generation.json     options, counts, dropped utterances, synthesiser versions

Usage:
    python3 Corpora/generate.py --out Corpora/synth-small                     # the bundled corpus
    python3 Corpora/generate.py --out /data/synth-40 --voices 40 --utterances 300   # a larger one
Needs: apt-get install flite espeak-ng libespeak-ng-dev flac fortunes-min gcc; pip numpy.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from concurrent.futures import ProcessPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RATE = 16000
HOP = 160  # one label per 10 ms
FORTUNE_FILES = ["fortunes", "literature", "riddles"]
FORTUNE_DIR = "/usr/share/games/fortunes"
FLITE_VOICES = ["slt", "rms", "awb", "kal16"]
ESPEAK_ACCENTS = ["en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd"]
ESPEAK_VARIANTS = ["m1", "f1", "m2", "f2", "m3", "f3", "m4", "f4", "m5", "f5", "m6", "m7", "m8", "klatt", "klatt2",
                   "klatt3", "adam", "anika", "belinda", "benjamin", "caleb", "david", "edward", "grandma",
                   "grandpa", "john", "linda", "max", "michel", "norbert", "paul", "quincy", "rob", "robert",
                   "steph", "travis", "victor", "zac", "annie", "andy", "alicia"]


class CorpusError(Exception):
    pass


def read_table(name):
    table = {}
    path = os.path.join(HERE, "phones", name)
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 2:
                raise CorpusError(f"{path}:{number}: expected 'phone<TAB>class', found {line!r}")
            table[parts[0]] = parts[1]
    return table


def load_inventory():
    classes = [line.strip() for line in open(os.path.join(HERE, "phones", "classes.txt")) if line.strip()]
    index = {name: i for i, name in enumerate(classes)}
    tables = {"flite": read_table("flite.tsv"), "espeak": read_table("espeak.tsv")}
    for synth, table in tables.items():
        for phone, cls in table.items():
            if cls not in index:
                raise CorpusError(f"phones/{synth}.tsv maps {phone!r} to {cls!r}, which is not in phones/classes.txt")
    return classes, index, tables


def load_sentences():
    sentences = set()
    for name in FORTUNE_FILES:
        path = os.path.join(FORTUNE_DIR, name)
        if not os.path.exists(path):
            raise CorpusError(f"{path} not found: apt-get install fortunes-min")
        with open(path, encoding="utf-8", errors="replace") as f:
            entries = f.read().split("\n%\n")
        for entry in entries:
            for sentence in re.split(r"(?<=[.!?])\s+", " ".join(entry.split())):
                words = sentence.split()
                if 4 <= len(words) <= 14 and re.fullmatch(r"[A-Za-z ,'.;!?-]+", sentence) and sentence[0].isupper():
                    sentences.add(sentence)
    return sorted(sentences)


def sentence_hash(text):
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def make_voices(count, rng, flite=True):
    voices = []
    for i in range(count):
        if not flite:
            i += len(FLITE_VOICES)
        if i < len(FLITE_VOICES):
            voices.append({"synth": "flite", "voice": FLITE_VOICES[i], "pitch": 0, "range": 0, "rate": 0})
            continue
        j = i - len(FLITE_VOICES)
        accent = ESPEAK_ACCENTS[j % len(ESPEAK_ACCENTS)]
        variant = ESPEAK_VARIANTS[(j * 5) % len(ESPEAK_VARIANTS)] if j < len(ESPEAK_VARIANTS) else \
            ESPEAK_VARIANTS[int(rng.integers(len(ESPEAK_VARIANTS)))]
        voices.append({"synth": "espeak", "voice": f"{accent}+{variant}", "pitch": int(rng.integers(25, 76)),
                       "range": int(rng.integers(20, 90)), "rate": int(rng.integers(140, 196))})
    for i, v in enumerate(voices):
        v["id"] = str(100 + i)
        v["speed"] = round(float(rng.uniform(0.94, 1.06)), 3)  # a per-speaker base speed (pitch and tempo)
    return voices


def synthesise(voice, text, workdir, tables, espeak_tool):
    """Returns (samples float64 in [-1, 1], rate, [(phone, start_s, end_s)], problem or None)."""
    if voice["synth"] == "flite":
        wav = os.path.join(workdir, "flite.wav")
        result = subprocess.run(["flite", "-voice", voice["voice"], "-psdur", "-t", text, "-o", wav],
                                capture_output=True, text=True)
        if result.returncode != 0 or "diphone" in result.stderr.lower():
            return None, 0, [], f"flite failed or reported a missing diphone: {result.stderr.strip()[:200]}"
        with wave.open(wav) as w:
            rate = w.getframerate()
            raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        segments, start = [], 0.0
        for token in result.stdout.split():
            phone, end = token.rsplit(":", 1)
            segments.append((phone, start, float(end)))
            start = float(end)
        table = tables["flite"]
    else:
        raw_path = os.path.join(workdir, "espeak.raw")
        result = subprocess.run([espeak_tool, voice["voice"], str(voice["rate"]), str(voice["pitch"]),
                                 str(voice["range"]), raw_path], input=text, capture_output=True, text=True)
        if result.returncode != 0:
            return None, 0, [], f"espeak-ng failed: {result.stderr.strip()[:200]}"
        lines = result.stdout.strip().split("\n")
        rate = int(lines[0])
        raw = np.fromfile(raw_path, dtype="<i2")
        events = []
        for line in lines[1:]:
            phone, ms = line.split("\t")
            events.append((phone, int(ms) / 1000.0))
        total = len(raw) / rate
        segments = []
        if events and events[0][1] > 0:
            segments.append(("_", 0.0, events[0][1]))
        for k, (phone, start) in enumerate(events):
            end = events[k + 1][1] if k + 1 < len(events) else total
            if end > start:
                segments.append((phone, start, min(end, total)))
        if segments and segments[-1][2] < total:
            segments.append(("_", segments[-1][2], total))
        table = tables["espeak"]
    if len(raw) == 0:
        return None, 0, [], "no audio"
    if np.count_nonzero(np.abs(raw.astype(np.int32)) >= 32767) > 3:
        return None, 0, [], "clipped"
    mapped = []
    for phone, start, end in segments:
        if phone not in table:
            raise CorpusError(f"{voice['synth']} phone {phone!r} (voice {voice['voice']}, text {text!r}) has no entry in "
                              f"phones/{voice['synth']}.tsv: add it there")
        mapped.append((table[phone], start, end))
    return raw.astype(np.float64) / 32768.0, rate, mapped, None


def resample(x, source_rate, speed):
    """FFT resampling to RATE with the time axis scaled by 1/speed (pitch and tempo change together)."""
    length = int(round(len(x) * RATE / (source_rate * speed)))
    spectrum = np.fft.rfft(x)
    bins = length // 2 + 1
    if bins <= len(spectrum):
        spectrum = spectrum[:bins]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins - len(spectrum), dtype=complex)])
    return np.fft.irfft(spectrum, length) * (length / len(x))


def coloured_noise(n, colour, rng):
    white = rng.standard_normal(n)
    if colour == "white":
        return white
    spectrum = np.fft.rfft(white)
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1
    spectrum /= np.sqrt(f) if colour == "pink" else f
    return np.fft.irfft(spectrum, n)


def make_utterance(job):
    """Synthesises, distorts and writes one utterance; returns its record, or a drop reason."""
    voice, utt_id, text, seed, options, out_dir, tables, classes, espeak_tool = job
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as workdir:
        x, rate, segments, problem = synthesise(voice, text, workdir, tables, espeak_tool)
        if problem:
            return {"id": utt_id, "dropped": problem}
        speed = voice["speed"] * (float(rng.uniform(0.95, 1.05)) if options["speed"] else 1.0)
        y = resample(x, rate, speed)
        rt60, snr, colour = 0.0, None, "none"
        if options["reverb"] and rng.random() < options["reverb_probability"]:
            rt60 = float(rng.uniform(0.15, 0.5))
            t = np.arange(int(rt60 * RATE)) / RATE
            tail = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
            response = np.concatenate([[1.0], 0.25 * tail / np.sqrt(np.sum(tail ** 2) + 1e-12)])
            size = len(y) + len(response) - 1
            y = np.fft.irfft(np.fft.rfft(y, size) * np.fft.rfft(response, size), size)[:len(y)]
        if options["noise"] and rng.random() < options["noise_probability"]:
            snr = float(rng.uniform(options["snr_min"], options["snr_max"]))
            colour = ["white", "pink", "brown"][int(rng.integers(3))]
            noise = coloured_noise(len(y), colour, rng)
            speech_power = np.mean(y ** 2) + 1e-12
            noise *= np.sqrt(speech_power / (np.mean(noise ** 2) * 10 ** (snr / 10)))
            y = y + noise
        peak = np.max(np.abs(y)) + 1e-12
        y = y / peak * float(rng.uniform(0.3, 0.9))
        samples = np.clip(np.round(y * 32767), -32767, 32767).astype("<i2")
        frames = len(samples) // HOP
        index = {name: i for i, name in enumerate(classes)}
        labels = np.zeros(frames, dtype=np.int64)
        boundaries = np.array([end / speed for _, _, end in segments])
        names = [index[cls] for cls, _, _ in segments]
        centres = (np.arange(frames) * HOP + HOP / 2) / RATE
        positions = np.minimum(np.searchsorted(boundaries, centres, side="right"), len(names) - 1)
        labels[:] = np.array(names)[positions]
        speaker, chapter, _ = utt_id.split("-")
        folder = os.path.join(out_dir, speaker, chapter)
        os.makedirs(folder, exist_ok=True)
        wav_path = os.path.join(workdir, "out.wav")
        with wave.open(wav_path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(samples.tobytes())
        subprocess.run(["flac", "--silent", "--force", "--best", "-o", os.path.join(folder, utt_id + ".flac"), wav_path],
                       check=True)
    return {"id": utt_id, "speaker": voice["id"], "labels": labels.tolist(), "seconds": len(samples) / RATE,
            "speed": round(speed, 4), "rt60": round(rt60, 3), "snr": None if snr is None else round(snr, 2),
            "noise": colour}


def build_espeak_tool(workdir):
    tool = os.path.join(workdir, "espeak_phones")
    source = os.path.join(HERE, "tools", "espeak_phones.c")
    result = subprocess.run(["cc", "-O2", "-o", tool, source, "-lespeak-ng"], capture_output=True, text=True)
    if result.returncode != 0:
        raise CorpusError(f"cannot build {source} (apt-get install libespeak-ng-dev gcc): {result.stderr.strip()}")
    return tool


def tool_version(command):
    try:
        out = subprocess.run(command, capture_output=True, text=True)
        return (out.stdout + out.stderr).strip().split("\n")[0]
    except OSError:
        return "missing"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder (created; must be empty or absent)")
    parser.add_argument("--voices", type=int, default=16, help="number of voices (speakers), at least 2")
    parser.add_argument("--utterances", type=int, default=32, help="utterances per voice")
    parser.add_argument("--test-fraction", type=float, default=0.25, help="fraction of sentences (and of each "
                        "voice's utterances) in the test split")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-noise", dest="noise", action="store_false")
    parser.add_argument("--no-reverb", dest="reverb", action="store_false")
    parser.add_argument("--no-speed", dest="speed", action="store_false")
    parser.add_argument("--snr-min", type=float, default=8.0)
    parser.add_argument("--snr-max", type=float, default=30.0)
    parser.add_argument("--reverb-probability", type=float, default=0.5)
    parser.add_argument("--noise-probability", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-flite", dest="flite", action="store_false",
                        help="espeak-ng voices only (for a held-out corpus whose voices other corpora lack)")
    parser.add_argument("--exclude-sentences", nargs="*", default=[], metavar="UTTERANCES_TSV",
                        help="leave out the sentences of these corpora (their utterances.tsv sentence hashes)")
    args = parser.parse_args(argv)
    if args.voices < 2 or args.utterances < 2:
        parser.error("--voices and --utterances must be at least 2")
    if not 0 < args.test_fraction < 1:
        parser.error("--test-fraction must lie strictly between 0 and 1")
    if os.path.exists(args.out) and os.listdir(args.out):
        parser.error(f"{args.out} exists and is not empty; choose a new folder")

    classes, _, tables = load_inventory()
    sentences = load_sentences()
    excluded = set()
    for path in args.exclude_sentences:
        with open(path) as f:
            rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
        column = rows[0].index("sentence") if rows and "sentence" in rows[0] else 3
        excluded.update(row[column] for row in rows[1:] if len(row) > column)
    if excluded:
        sentences = [s for s in sentences if sentence_hash(s) not in excluded]
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(sentences))
    test_count = max(1, int(round(len(sentences) * args.test_fraction)))
    pools = {"test": [sentences[i] for i in order[:test_count]], "train": [sentences[i] for i in order[test_count:]]}
    voices = make_voices(args.voices, rng, flite=args.flite)
    per_test = max(1, int(round(args.utterances * args.test_fraction)))
    per_train = args.utterances - per_test

    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as toolsdir:
        tool = build_espeak_tool(toolsdir)
        for voice in voices:  # an unknown voice is an error, not a run of dropped utterances
            if voice["synth"] == "espeak":
                check = subprocess.run([tool, voice["voice"], "170", "50", "50", os.devnull], input="test",
                                       capture_output=True, text=True)
            else:
                check = subprocess.run(["flite", "-voice", voice["voice"], "-t", "test", "-o", os.devnull],
                                       capture_output=True, text=True)
            if check.returncode != 0:
                raise CorpusError(f"voice {voice['voice']} ({voice['synth']}) does not synthesise: {check.stderr.strip()}")
        jobs, splits, hashes = [], {}, {}
        for v_index, voice in enumerate(voices):
            chosen = []
            for split, count in (("train", per_train), ("test", per_test)):
                picks = rng.choice(len(pools[split]), size=min(count, len(pools[split])), replace=False)
                chosen += [(split, pools[split][p]) for p in sorted(picks)]
            for u_index, (split, text) in enumerate(chosen):
                utt_id = f"{voice['id']}-1-{u_index:04d}"
                splits[utt_id], hashes[utt_id] = split, sentence_hash(text)
                seed = [args.seed, v_index, u_index]
                jobs.append((voice, utt_id, text, seed, vars(args), args.out, tables, classes, tool))
        with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
            results = list(pool.map(make_utterance, jobs, chunksize=4))

    kept = [r for r in results if "dropped" not in r]
    dropped = [r for r in results if "dropped" in r]
    with open(os.path.join(args.out, "phones.txt"), "w") as f:
        for r in kept:
            f.write(r["id"] + " " + " ".join(map(str, r["labels"])) + "\n")
    with open(os.path.join(args.out, "phone-classes.txt"), "w") as f:
        for i, name in enumerate(classes):
            f.write(f"{i} {name}\n")
    with open(os.path.join(args.out, "speakers.tsv"), "w") as f:
        f.write("id\tsynthesiser\tvoice\tpitch\trange\trate\tspeed\n")
        for v in voices:
            f.write(f"{v['id']}\t{v['synth']}\t{v['voice']}\t{v['pitch']}\t{v['range']}\t{v['rate']}\t{v['speed']}\n")
    with open(os.path.join(args.out, "utterances.tsv"), "w") as f:
        f.write("id\tspeaker\tsplit\tsentence\tseconds\tspeed\treverb_rt60\tsnr_db\tnoise\n")
        for r in kept:
            f.write(f"{r['id']}\t{r['speaker']}\t{splits[r['id']]}\t{hashes[r['id']]}\t{r['seconds']:.4f}\t{r['speed']}\t"
                    f"{r['rt60']}\t{'' if r['snr'] is None else r['snr']}\t{r['noise']}\n")
    for split in ("train", "test"):
        with open(os.path.join(args.out, f"{split}.txt"), "w") as f:
            for r in kept:
                if splits[r["id"]] == split:
                    f.write(r["id"] + "\n")
    histogram = np.bincount(np.concatenate([np.array(r["labels"]) for r in kept]), minlength=len(classes))
    summary = {
        "command": "python3 Corpora/generate.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "options": {k: v for k, v in vars(args).items() if k not in ("out", "workers")},
        "voices": len(voices), "utterances": len(kept), "dropped": {r["id"]: r["dropped"] for r in dropped},
        "hours": round(sum(r["seconds"] for r in kept) / 3600, 4),
        "phone_histogram": {classes[i]: int(c) for i, c in enumerate(histogram)},
        "sentences": {"train": len(pools["train"]), "test": len(pools["test"])},
        "synthesisers": {"flite": tool_version(["flite", "--version"]), "espeak-ng": tool_version(["espeak-ng", "--version"])},
    }
    with open(os.path.join(args.out, "generation.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    print(f"{args.out}: {len(voices)} voices, {len(kept)} utterances ({summary['hours'] * 60:.1f} min), "
          f"{len(dropped)} dropped")


if __name__ == "__main__":
    try:
        main()
    except CorpusError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
