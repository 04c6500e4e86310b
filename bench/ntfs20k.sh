#!/usr/bin/env bash
# ntfs20k.sh — see bmapscale.sh (the image, the routes, the goals) and README.md.
exec "$(dirname "${BASH_SOURCE[0]}")/bmapscale.sh" ntfs20k "$@"
