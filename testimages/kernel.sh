# kernel.sh — sourced by boot.sh and winboot.sh: get Debian's kernel package
# (linux-image-amd64's current linux-image-X.Y.Z-N-amd64, downloaded with
# apt-get download into $VIRT_BMAP_CACHE, default ~/.cache/virt-bmap, once;
# KERNEL_DEB=FILE uses a given .deb; offline, any cached one) and unpack it
# into $work/k. Needs $work and a fail function; sets deb, vmlinuz, kver,
# moddir and config.
cache=${VIRT_BMAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/virt-bmap}
mkdir -p "$cache"
deb=${KERNEL_DEB:-}
if [ -z "$deb" ]; then
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }' || true)
	if [ -n "$kpkg" ]; then
		deb=$(ls "$cache/${kpkg}"_*_amd64.deb 2>/dev/null | head -1 || true)
		if [ -z "$deb" ]; then
			(cd "$cache" && apt-get download "$kpkg" >"$work/apt.log" 2>&1) ||
				fail "apt-get download $kpkg failed: $(tail -3 "$work/apt.log")"
			deb=$(ls "$cache/${kpkg}"_*_amd64.deb | head -1)
		fi
	else
		# No package lists (offline): fall back to any cached kernel.
		deb=$(ls "$cache"/linux-image-*-amd64_*_amd64.deb 2>/dev/null | sort | tail -1 || true)
		[ -n "$deb" ] || fail "no kernel: apt-cache does not know linux-image-amd64 (run apt-get update) and $cache holds no linux-image-*-amd64 .deb"
	fi
fi
[ -f "$deb" ] || fail "kernel package $deb not found"
dpkg-deb -x "$deb" "$work/k" || fail "dpkg-deb -x $deb failed"
vmlinuz=$(ls "$work"/k/boot/vmlinuz-* | head -1)
kver=${vmlinuz##*/vmlinuz-}
moddir=$work/k/lib/modules/$kver
[ -d "$moddir" ] || fail "$deb: no /lib/modules/$kver"
config=$work/k/boot/config-$kver
