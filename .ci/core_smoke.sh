#!/usr/bin/env bash
# Run predict, chat and decode-mask from an install with no extras (called by .ci/run).
# Usage: core_smoke.sh REPO WORKDIR
set -euo pipefail
repo="$1"; work="$2"
mkdir -p "$work"
cd "$repo"
# A tiny random model saved as a user's checkpoint would be (no hub access here).
python -c "import sys; from pathlib import Path; from tests.inference._tiny import save_tiny_univlm; save_tiny_univlm(Path(sys.argv[1]))" "$work/model"
set -x
univlm predict --model "$work/model" examples/aerial.png --prompt "[VG] the building" --max-new-tokens 8
printf '[CAP] Describe the image.\n/exit\n' | univlm chat --model "$work/model" examples/aerial.png --max-new-tokens 8
univlm decode-mask examples/answer_seg.txt --size 64x64 -o "$work/mask.png"
set +x
test -s "$work/mask.png" || { echo "decode-mask wrote no mask" >&2; exit 1; }
# Commands of an extra that is not installed stop with one line naming it.
if univlm demo --model "$work/model" 2>"$work/demo.err"; then echo "univlm demo ran without gradio" >&2; exit 1; fi
grep -q 'pip install univlm\[demo\]' "$work/demo.err" || { cat "$work/demo.err" >&2; exit 1; }
echo "core smoke: predict, chat and decode-mask ran with no extras"
