#!/usr/bin/env bash
# vmdk.sh — see seqread.sh (the images, the routes, the table) and README.md.
exec "$(dirname "${BASH_SOURCE[0]}")/seqread.sh" vmdk "$@"
