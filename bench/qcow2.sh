#!/usr/bin/env bash
# qcow2.sh — see seqread.sh (the images, the routes, the table) and README.md.
exec "$(dirname "${BASH_SOURCE[0]}")/seqread.sh" qcow2 "$@"
