#!/bin/bash
# Queues N shards as a job array and the merge after them: deploy/slurm/submit.sh [N]
# Paths come from BLENDSET, PIPELINE, CACHE (exported to the jobs); extra build options from BLENDSET_ARGS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-4}
array=$(sbatch --parsable --export=ALL --array=0-$((n - 1)) "$here/shards.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable --export=ALL --dependency=afterok:"$array" "$here/merge.sbatch")
echo "shards: job array $array (0-$((n - 1))); merge: job ${merge%%;*} (after the array succeeds)"
