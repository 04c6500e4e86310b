#!/bin/bash
# Rebuilds the fuzz seeds of fs/xfs (testdata/v4.seed.gz, v5.seed.gz):
# TestSeeds -update makes small XFS images with mkfs.xfs from a protofile
# (no mount needed), walks them and keeps only the 1 KiB pieces the walk
# and a few io/fs reads touched. Needs xfsprogs.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -count=1 -v . -run '^TestSeeds$' -update | grep -E 'pieces|ok|FAIL'
