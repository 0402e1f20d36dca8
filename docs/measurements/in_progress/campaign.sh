#!/bin/bash
# Issue 23 campaign from 2026-12-05 04:40 UTC on (campaign7.sh): the run root of the earlier
# sittings is gone with its machine (AlexNet weight decay had reached epoch 65 of 100; nothing of
# it survives but the partial numbers in README.md), so every run not committed in
# docs/measurements/ starts again here. Every sitting starts it again with the same command
# (docs/measurements/in_progress/README.md); a completed run is skipped by the sweep, a stopped
# one resumes from its checkpoint.
# END: seconds since the epoch at which every training must have checkpointed.
set -u
: "${END:?set END=<epoch seconds>}"
PINNED=3156457   # 40dbaeb's training code plus progress lines that never round a near-fit up to 100.00%
cd /work/campaign && . /work/campaign-venv/bin/activate
sweep() {
  local left=$(( END - $(date +%s) ))
  if (( left < 300 )); then echo "$(date -u) less than 5 min left: not starting $*"; exit 3; fi
  echo "$(date -u) sweep $* --deadline=${left}s (worktree $(git rev-parse --short HEAD))"
  python experiments/sweep.py --data_dir=/work/shared/tfds --deadline=${left}s "$@"
  local rc=$?
  echo "$(date -u) sweep exit $rc"
  if (( rc != 0 )); then exit $rc; fi   # 3: stopped by the deadline; anything else: look
}
# A run keeps its precision for life: the mixed_bfloat16 runs start and finish on hosts with
# bf16 units (AVX512_BF16 or AMX); elsewhere only the float32 AlexNet runs go on.
BF16=0
grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo && BF16=1
git checkout -q --detach $PINNED
PREC=mixed_bfloat16
SUFFIX=-bf16

# Wave 1 step 3: Inception random labels (bf16; mixed_bfloat16 passed the precision check, see
# docs/report/table1.md; the probes were read and change no default).
if (( BF16 )); then
  sweep --settings=flags/table1/inception_random_labels.flags --logdir=/work/runs/table1$SUFFIX --extra=--precision=$PREC
else
  echo "$(date -u) no bf16 units: Inception random labels not started here"
fi

# Wave 1 steps 4 and 5: AlexNet (fp32, as its committed rows).
sweep --settings=flags/table1/alexnet_wd.flags --logdir=/work/runs/table1
sweep --settings=flags/fig1bc/alexnet_small_p0.2.flags,flags/fig1bc/alexnet_small_p0.4.flags,flags/fig1bc/alexnet_small_p0.6.flags,flags/fig1bc/alexnet_small_p0.8.flags \
      --logdir=/work/runs/fig1bc

# Wave 1 step 6: Figure 1a's pixel conditions with Inception (bf16).
(( BF16 )) || { echo "$(date -u) no bf16 units: Figure 1a's Inception runs not started here"; exit 4; }
sweep --settings=flags/fig1a/shuffled_pixels.flags,flags/fig1a/random_pixels.flags,flags/fig1a/gaussian.flags \
      --logdir=/work/runs/fig1a$SUFFIX --extra=--precision=$PREC
echo "$(date -u) wave 1 done"
