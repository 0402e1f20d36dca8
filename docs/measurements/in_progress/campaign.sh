#!/bin/bash
# Issue 23 campaign from 2026-12-05 23:12 UTC on (campaign22.sh): campaign21.sh's queue with
# Figure 2b's batch-norm run at lr 0.01 at full data (bf16, 60 epochs; flagfile from main's
# e78ed80, copied to /work/runs/flags/probes/) after the random-label row without batch norm,
# before the optional probes. campaign21.sh (from 23:05 UTC): campaign20.sh's queue with the
# Figures 1b/1c Inception flagfiles and Table 1's random-label row without batch norm read from
# /work/runs/flags/ (main's flagfiles at ba999d8, copied there: cheap evaluation, the test set
# at the fit and the end and the whole-train pass from 90% running accuracy on; the training code
# is PINNED's, which has both flags). campaign20.sh (from 21:20 UTC): campaign19.sh's queue with Figure 2b's
# batch-norm run at lr 0.01 on 1,000 images (float32, ~6 min) before the AlexNet weight-decay probe.
# campaign19.sh: campaign18.sh's queue with what the
# no-batch-norm decision (keep the paper's decay) left optional moved to the end: the random-label
# row without batch norm (expected not to fit), the lr 0.001 random-label probe and the n = 4,000
# scaling probe (resumes). campaign18.sh: campaign17.sh's queue with the three
# learning-rate probes below 0.01 (the true-label one first) before the random-label scaling probes
# (n = 4,000 resumes after them). campaign17.sh: campaign16.sh's queue, its one-run
# probes through one function (probe_once). campaign16.sh: campaign15.sh's queue with a true-label
# learning-rate probe at 0.001 (1,000 images) after the random-label ones. campaign15.sh: campaign14.sh's queue with two more
# learning-rate probes below Inception without batch norm's 0.01 (0.003, 0.001; 1,000 random labels)
# after the random-label scaling probes. campaign14.sh: campaign13.sh's queue with the AlexNet
# weight-decay probe at TensorFlow's CIFAR-10 tutorial's weight decay (from PINNED_WD, the first
# commit whose training code has --weight_decay_layers) after the no-batch-norm probes, and on a
# host without bf16 units after the AlexNet appendix row. campaign13.sh: campaign12.sh's queue with two
# learning-rate probes (one run each, a divergence tolerated) between the true- and the
# random-label scaling probes. campaign12.sh: campaign11.sh's queue with the scaling
# probe on true labels too. campaign11.sh: campaign10.sh's queue with a scaling probe
# of Inception without batch norm on random labels (n = 1,000-4,000, flagfiles copied from main's
# flags/probes/ to /work/runs/flags/probes/) after the AlexNet appendix row. campaign10.sh: campaign9.sh's queue without the runs
# committed in docs/measurements/ (Figures 1b/1c AlexNet, Figure 1a, Table 1 Inception crop), which a
# lost run root would otherwise train again, and with the float32 AlexNet appendix row first (it
# completes in one sitting on any host; the bf16 Inception rows need more than one). With the appendix's runs trained from
# PINNED_APPENDIX, whose flagfiles give the Inception random-crop row the paper's schedule for it
# (lr decay 0.999, 150 epochs) and both Inception rows cheap evaluation. Every sitting starts it
# again with the same command (docs/measurements/in_progress/README.md); a completed run is
# skipped by the sweep, a stopped one resumes from its checkpoint. Run roots are campaign8.sh's,
# so its runs carry over. The worktree moves to PINNED_APPENDIX only between sweeps, and every
# appendix run starts and resumes there.
# END: seconds since the epoch at which every training must have checkpointed.
set -u
: "${END:?set END=<epoch seconds>}"
PINNED=3156457   # 40dbaeb's training code plus progress lines that never round a near-fit up to 100.00%
PINNED_APPENDIX=f0978fe  # 3156457's training code (progress lines aside); the appendix flagfiles
PINNED_WD=b04cc5d  # --weight_decay_layers (hidden dense layers only) and its probe flagfile
cd /work/campaign && . /work/campaign-venv/bin/activate
# One training at a time: wait for a sweep an earlier script left running (campaign10.sh's).
while pgrep -f "experiments/sweep.py" > /dev/null; do sleep 30; done
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
PREC=mixed_bfloat16
SUFFIX=-bf16
F=flags

# Wave 2's float32 row first: AlexNet with weight decay on random labels (the appendix).
git checkout -q --detach $PINNED_APPENDIX || { echo "$(date -u) checkout of $PINNED_APPENDIX failed"; exit 5; }
sweep --settings=$F/appendix/alexnet_wd.flags --logdir=/work/runs/appendix
wd_probe() {
  git checkout -q --detach $PINNED_WD || { echo "$(date -u) checkout of $PINNED_WD failed"; exit 5; }
  sweep --settings=$F/probes/alexnet_wd_tutorial.flags --logdir=/work/runs/probes
}
if (( ! BF16 )); then
  wd_probe
  echo "$(date -u) no bf16 units: the Inception runs of wave 2 not started here"; exit 4
fi
# Wave 2 scaling probes (bf16; the worktree is at f0978fe, training code 3156457's): how many
# steps Inception without batch norm needs to fit true labels, then random labels, at n = 1,000,
# 2,000, 4,000 at lr 0.01 decayed by 0.999 per epoch, against the 78 lr-steps its 0.95-decay
# full-data rows can get (the sweep runs its settings in name order: true labels first).
sweep --settings=/work/runs/flags/probes/inception_nobn_n1000.flags,/work/runs/flags/probes/inception_nobn_n2000.flags,/work/runs/flags/probes/inception_nobn_n4000.flags \
      --logdir=/work/runs/probes$SUFFIX --extra=--precision=$PREC
# Learning-rate probes: Inception without batch norm on 1,000 random labels at lr 0.03 and 0.05.
# Either may diverge (its results.json says so): that is a result, so it neither stops the queue
# nor runs again once it has a results.json; only the deadline (exit 3) stops here.
probe_once() {  # one probe flagfile as its own sweep, in a subshell: a divergence is a result
  local name=$1
  if [[ -f /work/runs/probes$SUFFIX/probes-$name/results.json ]] && \
     ! grep -q '"status": "stopped"' /work/runs/probes$SUFFIX/probes-$name/results.json; then
    return 0
  fi
  ( sweep --settings=/work/runs/flags/probes/$name.flags --logdir=/work/runs/probes$SUFFIX \
          --extra=--precision=$PREC )
  if (( $? == 3 )); then exit 3; fi
}
for lr in 0.03 0.05; do probe_once inception_nobn_random_labels_n1000_lr$lr; done
# Learning-rate probes below 0.01: do the steps to fit stay ~1,200-1,600 (as from 0.01 to 0.05)?
for name in inception_nobn_n1000_lr0.001 inception_nobn_random_labels_n1000_lr0.003; do
  probe_once $name
done
# Figure 2b at one learning rate: Inception with batch norm at 0.01 on the n = 1,000 pair's
# schedule (float32, as that pair: no --extra).
sweep --settings=/work/runs/flags/probes/fig2b_inception_bn_lr0.01.flags --logdir=/work/runs/probes
# The appendix's AlexNet with the tutorial's weight decay (float32, stop when fit).
wd_probe
git checkout -q --detach $PINNED || { echo "$(date -u) checkout of $PINNED failed"; exit 5; }
# Table 1: Inception weight decay, crop + weight decay (60 epochs each; crop is committed).
sweep --settings=$F/table1/inception_wd.flags,$F/table1/inception_crop_wd.flags \
      --logdir=/work/runs/table1$SUFFIX --extra=--precision=$PREC
# Table 1 without batch norm (true labels, weight decay, random labels; 100 epochs at lr 0.01,
# docs/measurements/nobn_learning_rate/); the true-label run is Figure 2b's no-batch-norm curve.
# (The random-label row, which the probes expect not to fit, comes last.)
sweep --settings=$F/table1/inception_nobn.flags,$F/table1/inception_nobn_wd.flags \
      --logdir=/work/runs/table1$SUFFIX --extra=--precision=$PREC
# Figures 1b/1c with Inception at full data (p = 0 and 1 are table1's runs).
sweep --settings=/work/runs/flags/fig1bc/inception_small_p0.2.flags,/work/runs/flags/fig1bc/inception_small_p0.4.flags,/work/runs/flags/fig1bc/inception_small_p0.6.flags,/work/runs/flags/fig1bc/inception_small_p0.8.flags \
      --logdir=/work/runs/fig1bc$SUFFIX --extra=--precision=$PREC
# The appendix's conv rows: regularized networks fitting random labels.
git checkout -q --detach $PINNED_APPENDIX || { echo "$(date -u) checkout of $PINNED_APPENDIX failed"; exit 5; }
sweep --settings=$F/appendix/inception_crop.flags,$F/appendix/inception_wd.flags \
      --logdir=/work/runs/appendix$SUFFIX --extra=--precision=$PREC
# Table 1 without batch norm, random labels: the row's measurement at our schedule (the scaling
# probes put its need at ~218,000 steps; 100 epochs are 39,000).
git checkout -q --detach $PINNED || { echo "$(date -u) checkout of $PINNED failed"; exit 5; }
sweep --settings=/work/runs/flags/table1/inception_nobn_random_labels.flags \
      --logdir=/work/runs/table1$SUFFIX --extra=--precision=$PREC
# Figure 2b at one learning rate at full data: batch norm at 0.01, the rate of the row without.
probe_once fig2b_inception_bn_lr0.01_full
# Probes left optional by the decision: random labels at lr 0.001 (below 0.01, as the true-label
# one), and the third point of the random-label scaling law (n = 4,000 resumes at f0978fe).
git checkout -q --detach $PINNED_APPENDIX || { echo "$(date -u) checkout of $PINNED_APPENDIX failed"; exit 5; }
probe_once inception_nobn_random_labels_n1000_lr0.001
sweep --settings=/work/runs/flags/probes/inception_nobn_random_labels_n1000.flags,/work/runs/flags/probes/inception_nobn_random_labels_n2000.flags,/work/runs/flags/probes/inception_nobn_random_labels_n4000.flags \
      --logdir=/work/runs/probes$SUFFIX --extra=--precision=$PREC
echo "$(date -u) wave 2 done"
