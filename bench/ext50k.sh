#!/usr/bin/env bash
# ext50k.sh — see bmapscale.sh (the image, the routes, the goals) and README.md.
exec "$(dirname "${BASH_SOURCE[0]}")/bmapscale.sh" ext50k "$@"
