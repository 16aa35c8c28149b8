#!/usr/bin/env bash
# One prepared run on the lent GPU machine (Keras on JAX there; no TensorFlow): trains the
# bundled model and the comparison runs side by side with the same `malaria-gui train`
# command, then returns their cards, plots and the compact models in $OUT/runs.tar.gz.
# Needs .pack/cells.zip (tools/pack_cells.py) and the keras/namex/optree wheels in .whl/.
# Lossless WebP of all 22,305 cells is 188 MiB, over the 64 MiB that travels: pack with
# --quality 90 (~45 MB) and re-measure on the originals with training.evaluate --write-card.
set -u
REPO=$PWD
OUT=${OUT:-/tmp/out}
MINUTES=${MINUTES:-6}
[ -n "${SKIP_WHEELS:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$REPO KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
mkdir -p /tmp/data /tmp/runs "$OUT"
(cd /tmp/data && python3 -m zipfile -e "$REPO/.pack/cells.zip" .) || exit 1
nvidia-smi -L; nproc; python3 -c "import jax, keras; print(jax.devices(), keras.__version__)"

train() {  # name, then train options
  local name=$1; shift
  python3 -m malaria_gui train /tmp/data --out /tmp/runs/$name --max-minutes "$MINUTES" "$@" ${EXTRA:-} > /tmp/runs/$name.log 2>&1
  echo "$name exit $? after $SECONDS s"
}
# Runs of the "better base model" issue, same split and test patients (split seed 1). On CPU
# (2 cores) compact_norm_wide took ~35 min for 24 epochs; here they run side by side.
# compact_full_lossless is the previous bundled recipe on the lossless cells, for the ablation.
train compact_norm_wide --arch compact_norm --augment wide --epochs 40 --patience 40 &
train compact_wide_aug --arch compact --augment wide --epochs 40 --patience 40 &
train compact_full_lossless --arch compact --augment full --schedule plateau --epochs 60 --patience 8 &
train compact24_wide --arch compact24 --augment wide --epochs 40 --patience 40 &
# 128 px at the 64 px network's cost (one 24-epoch CPU run: validation AUC 0.9910, not better).
train compact128_wide --arch compact128 --augment wide --epochs 40 --patience 40 &
wait
# Then the bundled model's recipe: the compact network distilled from what just trained (the
# same training patients; the student keeps compact's speed). On CPU this took 51 min with the
# three teachers of models/teachers/.
T=/tmp/runs
train compact_distilled --arch compact --augment wide --epochs 40 --patience 40 \
  --teacher $T/compact24_wide/malaria_cnn.keras --teacher $T/compact_norm_wide/malaria_cnn.keras \
  --teacher $T/compact_wide_aug/malaria_cnn.keras
for f in /tmp/runs/*.log; do echo "== $f"; grep -v "^Epoch" "$f" | tail -24; done
tar -C /tmp -czf "$OUT/runs.tar.gz" runs
ls -la "$OUT"
