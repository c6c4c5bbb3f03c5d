#!/bin/bash
# train -> compress (array) -> verify, as one dependency chain:
#   PHCOMP_SRC=/data/runs PHCOMP_DST=/data/runs.phc PHCOMP_MODEL=/data/runs.phcm jobs/submit_chain.sh
# compress starts only if training succeeded (afterok); verify runs after compress whatever its
# exit code (afterany: a task whose only failures are bad inputs exits 1, and verify reports).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${PHCOMP_SRC:?set PHCOMP_SRC}" "${PHCOMP_DST:?set PHCOMP_DST}" "${PHCOMP_MODEL:?set PHCOMP_MODEL}"
export PHCOMP_SRC PHCOMP_DST PHCOMP_MODEL
train=$(sbatch --parsable --export=ALL "$here/train.sbatch")
compress=$(sbatch --parsable --export=ALL --dependency=afterok:"$train" "$here/compress_archive.sbatch")
verify=$(sbatch --parsable --export=ALL --dependency=afterany:"$compress" "$here/verify_archive.sbatch")
echo "train $train -> compress $compress -> verify $verify"
