#!/usr/bin/env bash
# ntfs250k.sh — see bmapscale.sh (the image, the routes, the goals) and README.md.
exec "$(dirname "${BASH_SOURCE[0]}")/bmapscale.sh" ntfs250k "$@"
