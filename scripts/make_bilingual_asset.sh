#!/usr/bin/env bash
# Regenerate tests/data/bilingual_en_es.flac: an English then a Spanish sentence (espeak-ng voices),
# used by the per-segment language detection test. Needs espeak-ng and sox; only maintainers run it.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
espeak-ng -v en-us -s 150 -w "$tmp/en.wav" "Good evening and welcome to the program. Tonight we talk about the weather in the mountains."
espeak-ng -v es -s 140 -w "$tmp/es.wav" "Buenas noches y bienvenidos al programa. Esta noche hablamos del tiempo en las montañas."
sox "$tmp/en.wav" -r 16000 -c 1 "$tmp/en16.wav"
sox "$tmp/es.wav" -r 16000 -c 1 "$tmp/es16.wav"
sox -n -r 16000 -c 1 "$tmp/gap.wav" trim 0 0.5
sox "$tmp/en16.wav" "$tmp/gap.wav" "$tmp/es16.wav" -b 16 tests/data/bilingual_en_es.flac
