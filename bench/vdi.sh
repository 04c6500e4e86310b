#!/usr/bin/env bash
# vdi.sh — VDI images served by our NBD server (bench/nbdserve -image, so
# image.Open and image/vdi) side by side with qemu-nbd -r -f vdi, in one
# run, with the same clients: nbdcopy to /dev/null with 1 and 4
# connections (MB/s of the virtual disk; both servers report the free
# blocks through base:allocation, so nbdcopy skips them alike), and fio
# --ioengine=nbd 4 KiB random reads at QD1 and QD16 (IOPS). The images, a
# dynamic and a static VDI made by qemu-img from a SIZE_MIB source disk
# (bench/qcow2read -gen: data, zeros and holes as a used disk has them),
# are cached in BUILD_DIR and checked (cmp against qemu-img's raw) first.
#
# Usage: bench/vdi.sh [BUILD_DIR]   Env: RUNTIME=5 REPS=2 SIZE_MIB=512 REBUILD=1
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
bdir=${1:-$root/build/bench}
mkdir -p "$bdir"
bdir=$(cd "$bdir" && pwd)
PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
export LC_ALL=C
runtime=${RUNTIME:-5}
reps=${REPS:-2}
size_mib=${SIZE_MIB:-512}

need() { # need TOOL DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || { echo "vdi.sh: $1 not found: install the Debian package '$2'" >&2; exit 1; }
}
need qemu-img qemu-utils
need qemu-nbd qemu-utils
need nbdcopy libnbd-bin
need fio fio
need go golang
fio --enghelp=nbd >/dev/null 2>&1 || { echo "vdi.sh: this fio has no nbd engine" >&2; exit 1; }

(cd "$root" && go build -o "$bdir/nbdserve" ./bench/nbdserve && go build -o "$bdir/qcow2read" ./bench/qcow2read)

src=$bdir/vdi-src.raw
stamp=$bdir/vdi.stamp
want_stamp="size=$size_mib qemu=$(qemu-img --version | head -1)"
if [ -n "${REBUILD:-}" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want_stamp" ]; then
	echo "making a $size_mib MiB source disk and its VDI images..." >&2
	rm -f "$stamp"
	"$bdir/qcow2read" -gen "$size_mib" "$src"
	qemu-img convert -f raw -O vdi "$src" "$bdir/vdi-dynamic.vdi"
	qemu-img convert -f raw -O vdi -o static=on "$src" "$bdir/vdi-static.vdi"
	echo "$want_stamp" >"$stamp"
fi
for kind in dynamic static; do
	"$bdir/nbdserve" -image --run 'nbdcopy "$uri" -' "$bdir/vdi-$kind.vdi" | cmp - "$src" ||
		{ echo "vdi.sh: vdi-$kind.vdi served differently from the source" >&2; exit 1; }
	cat "$bdir/vdi-$kind.vdi" >/dev/null # warm the page cache for both servers alike
done
echo "check: both images served equal to the source (cmp)" >&2

ct=$bdir/vdi.client.time
sock=$bdir/vdi-qemu-nbd.sock
pidf=$bdir/vdi-qemu-nbd.pid

serve() { # serve SERVER IMAGE CMD
	case $1 in
	ours) "$bdir/nbdserve" -image --run "$3" "$2" ;;
	qemu-nbd)
		rm -f "$sock" "$pidf"
		qemu-nbd -r -t -e 16 -f vdi -k "$sock" --pid-file="$pidf" "$2" &
		local qpid=$! rc=0
		for _ in $(seq 200); do [ -S "$sock" ] && [ -s "$pidf" ] && break; sleep 0.05; done
		uri="nbd+unix:///?socket=$sock" sh -c "$3" || rc=$?
		kill -TERM "$qpid"
		wait "$qpid" || true
		return $rc
		;;
	esac
}

declare -A rate
tests=("nbdcopy 1 conn" "nbdcopy 4 conns" "fio QD1" "fio QD16")
servers=(ours qemu-nbd)
fio_args="--name=r --ioengine=nbd --rw=randread --bs=4k --time_based --runtime=$runtime --randrepeat=1 --output-format=json"
for kind in dynamic static; do
	img=$bdir/vdi-$kind.vdi
	for t in "${tests[@]}"; do
		for s in "${servers[@]}"; do rate[$kind,$t,$s]=0; done
		for _ in $(seq "$reps"); do
			for s in "${servers[@]}"; do
				case $t in
				"nbdcopy 1 conn") cmd="t0=\$(date +%s%N); nbdcopy \"\$uri\" - >/dev/null; echo \$((\$(date +%s%N) - t0)) >$ct" ;;
				"nbdcopy 4 conns") cmd="t0=\$(date +%s%N); nbdcopy --connections=4 \"\$uri\" - >/dev/null; echo \$((\$(date +%s%N) - t0)) >$ct" ;;
				"fio QD1") cmd="fio $fio_args --iodepth=1 --uri=\"\$uri\" --output=$bdir/vdi-fio.json" ;;
				"fio QD16") cmd="fio $fio_args --iodepth=16 --uri=\"\$uri\" --output=$bdir/vdi-fio.json" ;;
				esac
				serve "$s" "$img" "$cmd" >"$bdir/vdi.out" 2>&1 || { echo "vdi.sh: $s, $kind, $t failed:" >&2; cat "$bdir/vdi.out" >&2; exit 1; }
				case $t in
				nbdcopy*) r=$(awk -v m="$size_mib" 'NR==1 { printf "%.0f", m * 1.048576 / ($1 / 1e9) }' "$ct") ;;
				fio*) r=$(python3 -c 'import json,sys; print("%.0f" % sum(j["read"]["iops"] for j in json.load(open(sys.argv[1]))["jobs"]))' "$bdir/vdi-fio.json") ;;
				esac
				[ "$r" -gt "${rate[$kind,$t,$s]}" ] && rate[$kind,$t,$s]=$r
			done
		done
		echo "$kind, $t: ours ${rate[$kind,$t,ours]}, qemu-nbd ${rate[$kind,$t,qemu-nbd]}" >&2
	done
done

echo
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $size_mib MiB disk; best of $reps"
printf '%-8s %-16s %12s %12s %10s\n' image test "ours" "qemu-nbd" "ours/qemu"
for kind in dynamic static; do
	for t in "${tests[@]}"; do
		printf '%-8s %-16s %12s %12s %10s\n' "$kind" "$t" "${rate[$kind,$t,ours]}" "${rate[$kind,$t,qemu-nbd]}" \
			"$(awk -v a="${rate[$kind,$t,ours]}" -v b="${rate[$kind,$t,qemu-nbd]}" 'BEGIN { printf "%.2fx", a / b }')"
	done
done
echo "(nbdcopy: MB/s of the virtual disk; fio: IOPS)"
