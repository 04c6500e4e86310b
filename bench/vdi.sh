#!/usr/bin/env bash
# vdi.sh — VDI images (dynamic and static) served by our NBD server against
# qemu-nbd -r -f vdi with the same clients: formats.sh for the two VDI
# formats (see there and bench/README.md).
#
# Usage: bench/vdi.sh [BUILD_DIR]   Env: RUNTIME=5 REPS=2 SIZE_MIB=512 REBUILD=1
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FORMATS="vdi-dynamic vdi-static" exec "$here/formats.sh" "$@"
