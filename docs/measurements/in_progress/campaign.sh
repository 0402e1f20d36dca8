#!/bin/bash
# Issue 23 campaign, the whole queue from 2026-12-05 on (campaign5.sh without the completed
# Inception true-label runs and their precision gate); every sitting starts it again with the
# same command (docs/measurements/in_progress/README.md). A completed run is skipped by the
# sweep, a stopped one resumes from its checkpoint.
# END: seconds since the epoch at which every training must have checkpointed.
set -u
: "${END:?set END=<epoch seconds>}"
PINNED_NEW=40dbaeb   # every later run: 60-epoch default, JPEG RMSE records, the probes' flagfiles (no whole-train pass below 90% running accuracy), the EMA probe averaging batch-norm statistics too
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
grep -qw avx512f /proc/cpuinfo || { echo "$(date -u) no AVX-512: Inception not run here (issue 23: AlexNet part only)"; exit 4; }
grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo || { echo "$(date -u) no bf16 units: the mixed_bfloat16 runs cannot continue here"; exit 4; }

# Wave 1 step 2 is done and committed (docs/measurements/table1/table1-inception{,_bf16}/): the
# precision check agreed (docs/report/table1.md), mixed_bfloat16 is in cells.SCHEDULE_PRECISIONS,
# so the remaining Inception runs train in bf16. The worktree stays at 40dbaeb, the code the
# probes started with (move it forward only between runs).
git checkout -q --detach $PINNED_NEW
PREC=mixed_bfloat16
SUFFIX=-bf16

# Issue 23 fidelity probes (Inception 3.2-3.6 points under the paper at true labels), stopped at
# the fit, compared with the true-label run of the same precision.
# One sweep each, in the order (a sweep runs its settings sorted by name).
for probe in inception_jpeg_q50 inception_jpeg_q30 inception_ema inception_batch64; do
  sweep --settings=flags/probes/$probe.flags --logdir=/work/runs/probes$SUFFIX --extra=--precision=$PREC
done

# Wave 1 steps 4 and 5: AlexNet (fp32, as its committed rows).
sweep --settings=flags/table1/alexnet_crop.flags,flags/table1/alexnet_wd.flags,flags/table1/alexnet_crop_wd.flags \
      --logdir=/work/runs/table1
sweep --settings=flags/fig1bc/alexnet_small_p0.2.flags,flags/fig1bc/alexnet_small_p0.4.flags,flags/fig1bc/alexnet_small_p0.6.flags,flags/fig1bc/alexnet_small_p0.8.flags \
      --logdir=/work/runs/fig1bc

# The other Inception rows wait until a developer has read the probes (a changed default would
# re-run them): `touch /work/runs/inception_rows_ok` once docs/report/table1.md's probes say no
# default changes.
[ -e /work/runs/inception_rows_ok ] || { echo "$(date -u) waiting for /work/runs/inception_rows_ok (read the probes first)"; exit 6; }
# Wave 1 steps 3 and 6: Inception random labels; Figure 1a's pixel conditions.
sweep --settings=flags/table1/inception_random_labels.flags --logdir=/work/runs/table1$SUFFIX --extra=--precision=$PREC
sweep --settings=flags/fig1a/shuffled_pixels.flags,flags/fig1a/random_pixels.flags,flags/fig1a/gaussian.flags \
      --logdir=/work/runs/fig1a$SUFFIX --extra=--precision=$PREC
echo "$(date -u) wave 1 done"
