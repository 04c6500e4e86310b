# lvmlib.sh — sourced by lvm.sh and luksguests.sh: lvm2 on loop devices of
# image files, without the kernel's device-mapper.
#
# pvcreate, vgcreate and lvcreate run with --driverloaded n (activation
# disabled) on loop devices of files or parts of files (losetup -o
# --sizelimit), with a private lvm.conf (no backups, no udev, only our
# devices). Filesystems are made as files and written into the images at
# the offsets lvs reports for each segment (each stripe chunk for a
# striped LV). Needs root (losetup).
#
# The caller sets $work (a private directory), calls lvm_setup, and runs
# lvm_cleanup on exit (trap) to detach every loop device.

loops=()
devs=() # the loop devices lvm may look at (--devices)
declare -A loopdisk loopoff
declare -A IMGS # the image file of each disk number given to loop
L=

lvm_setup() {
	export LVM_SUPPRESS_FD_WARNINGS=1
	mkdir -p "$work/etc" "$work/run"
	cat >"$work/etc/lvm.conf" <<EOC
devices { obtain_device_list_from_udev = 0 external_device_info_source = "none" use_devicesfile = 0 }
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
global { locking_dir = "$work/run" event_activation = 0 }
backup { backup = 0 archive = 0 }
EOC
	export LVM_SYSTEM_DIR=$work/etc
}

lvm_cleanup() {
	local l
	for l in "${loops[@]}"; do
		losetup -d "$l" 2>/dev/null || true
	done
}

lvm_() { # lvm_ CMD ARGS...: an lvm command restricted to our devices
	local cmd=$1 d args=()
	shift
	for d in "${devs[@]}"; do args+=(--devices "$d"); done
	"$cmd" --driverloaded n "${args[@]}" "$@" 2> >(grep -v -e 'Activation disabled' -e 'not zeroed' -e 'NOT backed up' >&2)
}

# loop IMG DISKNO OFFSET SIZE: a loop device over part of an image, in $L
# (not echoed: a $(...) subshell would lose the trap's list); records which
# disk and offset it stands for.
loop() {
	L=$(losetup -f --show -o "$3" --sizelimit "$4" "$1")
	loops+=("$L")
	devs+=("$L")
	loopdisk[$L]=$2
	loopoff[$L]=$3
}

# segments VG LV: "LV_START LEN STRIPES STRIPE_SIZE DEV:PE_FIRST-PE_LAST..." per segment
segments() {
	lvm_ lvs --segments --noheadings --nosuffix --units b --separator ' ' \
		-o seg_start,seg_size,stripes,stripe_size,seg_pe_ranges "$1/$2" | sed 's/^ *//'
}

# record VG LV FSIMG OUT.lvs: write the LV's segments (in disk offsets) to
# the .lvs file and copy the filesystem FSIMG into the disk(s) through them.
# IMGS[disk] is the image file of each disk.
record() {
	local vg=$1 lv=$2 fsimg=$3 lvsfile=$4
	local ext pestart
	ext=$(lvm_ vgs --noheadings --nosuffix --units b -o vg_extent_size "$vg" | tr -d ' ')
	segments "$vg" "$lv" | while read -r start len nstripes ssize ranges; do
		local areas=() r dev first disk off
		for r in ${ranges//,/ }; do
			dev=${r%%:*}
			first=${r#*:}
			first=${first%-*}
			pestart=$(lvm_ pvs --noheadings --nosuffix --units b -o pe_start "$dev" | tr -d ' ')
			disk=${loopdisk[$dev]}
			off=$((loopoff[$dev] + pestart + first * ext))
			areas+=("$disk:$off")
		done
		echo "$vg $lv $start $len $nstripes $ssize $(
			IFS=,
			echo "${areas[*]}"
		)" >>"$lvsfile"
		[ -n "$fsimg" ] || continue
		if [ "$nstripes" = 1 ]; then
			dd if="$fsimg" of="${IMGS[${areas[0]%%:*}]}" iflag=skip_bytes,count_bytes oflag=seek_bytes \
				skip="$start" count="$len" seek="${areas[0]#*:}" bs=1M conv=notrunc status=none
		else
			local k chunks=$((len / ssize)) a row
			for ((k = 0; k < chunks; k++)); do
				a=${areas[k % nstripes]}
				row=$((k / nstripes))
				dd if="$fsimg" of="${IMGS[${a%%:*}]}" iflag=skip_bytes,count_bytes oflag=seek_bytes \
					skip=$((start + k * ssize)) count="$ssize" seek=$((${a#*:} + row * ssize)) bs="$ssize" \
					conv=notrunc status=none
			done
		fi
	done
}

detach() {
	lvm_cleanup
	loops=()
	devs=()
}
