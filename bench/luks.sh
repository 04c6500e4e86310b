#!/usr/bin/env bash
# bench/luks.sh [BUILD_DIR] — volume/luks's full sequential decryption of a
# LUKS1 payload side by side with qemu's luks driver (qemu-img convert to
# null-co), on the same images: aes-xts-plain64 (512-bit key) and
# aes-cbc-essiv:sha256. See bench/README.md.
#
#   RUNS=3        runs per route and image (best wall time kept)
#   SIZE_MIB=256  payload size
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$root/build/bench}
RUNS=${RUNS:-3}
SIZE_MIB=${SIZE_MIB:-256}
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

need() { # need TOOL DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || { echo "luks.sh: $1 not found (Debian package $2)" >&2; exit 1; }
}
need qemu-img qemu-utils
need cryptsetup cryptsetup-bin
need cmp diffutils
need go golang
[ -x /usr/bin/time ] || { echo "luks.sh: /usr/bin/time not found (Debian package time)" >&2; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

reader=$out/luksread
(cd "$root" && go build -trimpath -o "$reader" ./bench/luksread)

pass=bench-passphrase
printf %s "$pass" >"$work/pass"
secret=(--object "secret,id=sec0,data=$pass")
size=$((SIZE_MIB << 20))
head -c "$size" /dev/urandom >"$work/plain.raw"

# --- the images: cryptsetup formats, qemu writes the plaintext --------------
declare -A cipher=([xts512]="-c aes-xts-plain64 -s 512" [essiv256]="-c aes-cbc-essiv:sha256 -s 256")
for kind in xts512 essiv256; do
	img=$work/$kind.img
	truncate -s $((size + (4 << 20))) "$img"
	# shellcheck disable=SC2086
	cryptsetup luksFormat --batch-mode --type luks1 --pbkdf-force-iterations 1000 \
		--align-payload 8192 ${cipher[$kind]} --key-file "$work/pass" "$img"
	qemu-img convert -n "${secret[@]}" -f raw "$work/plain.raw" \
		--target-image-opts "driver=luks,key-secret=sec0,file.filename=$img"
	"$reader" "$work/pass" "$img" | cmp - "$work/plain.raw" ||
		{ echo "luks.sh: $kind reads differently from the plaintext" >&2; exit 1; }
done
echo "check: both images decrypt to the plaintext qemu wrote (cmp)"

timed() { # timed FILE CMD...: FILE gets "wall user sys maxrss_kb"
	local f=$1 t0 t1 u s m
	shift
	t0=$(date +%s%N)
	/usr/bin/time -f '%U %S %M' -o "$f.t" "$@" >/dev/null
	t1=$(date +%s%N)
	read -r u s m <"$f.t"
	echo "$(awk "BEGIN{printf \"%.3f\", ($t1 - $t0) / 1e9}") $u $s $m" >"$f"
}

routes=(ours qemu-img)
declare -A best
for kind in xts512 essiv256; do
	img=$work/$kind.img
	for run in $(seq "$RUNS"); do
		for route in "${routes[@]}"; do
			f=$work/$kind.$route.$run
			case $route in
			ours) timed "$f" "$reader" -null "$work/pass" "$img" ;;
			qemu-img) timed "$f" qemu-img convert -n "${secret[@]}" --image-opts \
				"driver=luks,key-secret=sec0,file.filename=$img" \
				--target-image-opts "driver=null-co,size=$size" ;;
			esac
			read -r w u s _ <"$f"
			k=$kind.$route
			if [ -z "${best[$k]:-}" ] || (($(echo "$w < ${best[$k]%% *}" | bc))); then
				best[$k]="$w $u $s"
			fi
		done
	done
done

echo
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); ${SIZE_MIB} MiB payload (page cache warm); best of $RUNS runs"
printf '%-9s %-34s %8s %8s %8s %10s %10s\n' cipher route "wall s" "cpu s" "MB/s" "wall/ours" "cpu/ours"
for kind in xts512 essiv256; do
	read -r ow ou os <<<"${best[$kind.ours]}"
	ocpu=$(echo "$ou + $os" | bc)
	for route in "${routes[@]}"; do
		read -r w u s <<<"${best[$kind.$route]}"
		case $route in
		ours) name="volume/luks (luksread -null)" ;;
		qemu-img) name="qemu-img convert luks -> null-co" ;;
		esac
		cpu=$(echo "$u + $s" | bc)
		printf '%-9s %-34s %8.3f %8.2f %8.0f %10s %10s\n' "$kind" "$name" "$w" "$cpu" \
			"$(awk "BEGIN{print $size / $w / 1e6}")" "$(awk "BEGIN{printf \"%.2fx\", $w / $ow}")" \
			"$(awk "BEGIN{printf \"%.2fx\", $cpu / ($ocpu + 0.005)}")"
	done
done
