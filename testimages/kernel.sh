# kernel.sh — sourced by boot.sh and winboot.sh: get Debian's kernel package
# (linux-image-amd64's current linux-image-X.Y.Z-N-amd64, downloaded with
# apt-get download into $VIRT_BMAP_CACHE, default ~/.cache/virt-bmap, once;
# KERNEL_DEB=FILE uses a given .deb; offline, any cached one) and unpack it
# into $work/k. Needs $work and a fail function; sets deb, vmlinuz, kver,
# moddir and config, and defines want_modules, install_modules and
# install_binary for the initramfs.
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

# want_modules CONFIG_OPT:module ...: the drivers an initramfs needs. Each
# must be built in (=y) or a module (=m) in this kernel's config; sets
# order to the .ko files of the modules with everything they depend on
# (each .ko's .modinfo "depends="), dependencies first. Names match with
# - and _ alike.
want_modules() {
	local pair opt mod want=()
	for pair in "$@"; do
		opt=${pair%%:*} mod=${pair#*:}
		case $(grep -E "^CONFIG_${opt}=" "$config" | cut -d= -f2) in
		y) ;;
		m) want+=("$mod") ;;
		*) fail "$config: CONFIG_$opt is neither built in nor a module" ;;
		esac
	done
	find "$moddir/kernel" -name '*.ko' | awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko$/, "", n); gsub(/-/, "_", n); print n, $0 }' >"$work/ko.list"
	declare -gA seen=()
	order=()
	for mod in "${want[@]}"; do
		_visit_module "$mod"
	done
}
_visit_module() { # depth first: dependencies before the module
	local p d
	p=$(awk -v n="${1//-/_}" '$1 == n { print $2; exit }' "$work/ko.list")
	[ -n "$p" ] || fail "module $1 not found under $moddir"
	[ -n "${seen[$p]:-}" ] && return
	seen[$p]=1
	for d in $(tr '\0' '\n' <"$p" | sed -n 's/^depends=//p' | tr ',' ' '); do
		_visit_module "$d"
	done
	order+=("$p")
}

# install_modules IRD: copies want_modules' order into IRD/lib/modules,
# with a load-order file /init reads to insmod them in turn.
install_modules() {
	local p
	mkdir -p "$1/lib/modules"
	: >"$1/lib/modules/load-order"
	for p in "${order[@]}"; do
		cp "$p" "$1/lib/modules/"
		echo "${p##*/}" >>"$1/lib/modules/load-order"
	done
}

# install_binary BIN IRD DEST: copies the program BIN to IRD/DEST, and the
# shared libraries it loads (ldd's list) to their paths under IRD.
install_binary() {
	local lib
	mkdir -p "$2$(dirname "$3")"
	cp "$1" "$2$3"
	for lib in $(ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		mkdir -p "$2$(dirname "$lib")"
		cp -L "$lib" "$2$lib"
	done
}
