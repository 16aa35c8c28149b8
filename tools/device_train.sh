#!/usr/bin/env bash
# One prepared run on the lent GPU machine (Keras on JAX there; no TensorFlow): trains the
# bundled model and the comparison runs side by side with the same `malaria-gui train`
# command, then returns their cards, plots and the compact models in $OUT/runs.tar.gz.
# Needs .pack/cells.zip (tools/pack_cells.py) and the keras/namex/optree wheels in .whl/.
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
# The run that produced models/ (2026-11-26, H100, about 4.5 minutes). compact_full_seed2
# was trained before --split-seed existed, so it used patient split 2; the others split 1.
train compact_full --arch compact --augment full --epochs 60 --patience 8 &
train compact_full_seed2 --arch compact --augment full --epochs 60 --patience 8 --seed 2 --split-seed 2 &
train compact_geometric --arch compact --augment geometric --epochs 60 --patience 8 &
train compact_none --arch compact --augment none --epochs 60 --patience 8 &
train seed_none --arch seed --augment none --epochs 15 --patience 4 &
wait
rm -f /tmp/runs/seed_*/malaria_cnn.keras  # 45 MB: too big to bring back or ship; its card has its figures
for f in /tmp/runs/*.log; do echo "== $f"; grep -v "^Epoch" "$f" | tail -24; done
tar -C /tmp -czf "$OUT/runs.tar.gz" runs
ls -la "$OUT"
