#!/usr/bin/env bash
# Regenerate genmedia/assets/sample_speech.flac, the spoken sentence mixed into the demo/test clip.
#
# Needs espeak-ng and sox (apt-get install espeak-ng sox). Only maintainers run this: the FLAC and its
# exact text (sample_speech.txt) are committed, so users and CI never need espeak-ng or sox.
# The speech is 16 kHz mono 16-bit FLAC with leading and trailing silence trimmed, so the sentence
# starts at the file's first sample and ends at its last (genmedia.media.synthetic relies on that).
set -euo pipefail

cd "$(dirname "$0")/.."
assets=genmedia/assets
text="Welcome to the genmedia demo. This clip has music, motion and hard cuts."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

espeak-ng -v en-us -s 150 -w "$tmp/raw.wav" "$text"
# Resample to 16 kHz mono, trim silence at both ends (threshold 0.5% for 20 ms), drop sox's comment tag.
sox "$tmp/raw.wav" --comment "" -r 16000 -c 1 -b 16 "$assets/sample_speech.flac" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse
printf '%s\n' "$text" > "$assets/sample_speech.txt"
soxi -D "$assets/sample_speech.flac"
ls -l "$assets/sample_speech.flac"
