#!/usr/bin/env bash
# luks.sh TYPE PLAIN CONTAINER [CRYPTSETUP-OPTION...] — encrypt the bytes
# of the file PLAIN into a new LUKS container CONTAINER, with the
# passphrase read from standard input (its first line), and print the
# payload offset (the first byte of ciphertext) in bytes.
#
# The header is cryptsetup's; the ciphertext is written by an
# implementation other than ours:
#   luks1  cryptsetup luksFormat --type luks1 writes the header, qemu's luks
#          block driver the ciphertext (qemu-img convert -n
#          --target-image-opts driver=luks), the passphrase given to qemu
#          in a file (secret,file=), never on a command line
#   luks2  cryptsetup's offline encryption (reencrypt --encrypt
#          --reduce-device-size 16M): PLAIN followed by 16 MiB of room is
#          encrypted in place in userspace and the header put in front, so
#          the payload starts at 16 MiB, as luksFormat's default LUKS2
#          header puts it (qemu 7.2's luks driver reads LUKS1 only)
# The options are given to cryptsetup (cipher, key size, --pbkdf and its
# costs, --uuid, --sector-size...). Nothing is mounted or opened: no root,
# no loop device, no device-mapper.
#
# Used by integration/luks_test.go (luksDisk) and luksguests.sh.
set -euo pipefail

type=${1:?usage: luks.sh luks1|luks2 PLAIN CONTAINER [CRYPTSETUP-OPTION...]}
plain=${2:?usage: luks.sh luks1|luks2 PLAIN CONTAINER [CRYPTSETUP-OPTION...]}
container=${3:?usage: luks.sh luks1|luks2 PLAIN CONTAINER [CRYPTSETUP-OPTION...]}
shift 3
PATH=$PATH:/sbin:/usr/sbin
for t in cryptsetup:cryptsetup-bin qemu-img:qemu-utils; do
	if ! command -v "${t%%:*}" >/dev/null 2>&1; then
		echo "luks.sh: ${t%%:*} not found: install the Debian package '${t#*:}'" >&2
		exit 1
	fi
done

IFS= read -r pass || [ -n "$pass" ]
tmp=$(mktemp -d "${TMPDIR:-/tmp}/virt-bmap-luks.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
key=$tmp/key
(umask 077 && printf '%s' "$pass" >"$key")
size=$(stat -c %s "$plain")

# payload: the data segment's offset in bytes, from luksDump.
payload() {
	cryptsetup luksDump "$container" | awk '
		/^Payload offset:/ { print $3 * 512; exit }        # LUKS1: sectors
		/^Data segments:/ { seg = 1 }
		seg && $1 == "offset:" && $3 == "[bytes]" { print $2; exit }'
}

case $type in
luks1)
	rm -f "$container"
	truncate -s $((size + (16 << 20))) "$container"
	cryptsetup luksFormat --type luks1 --batch-mode --key-file "$key" "$@" "$container"
	off=$(payload)
	truncate -s $((off + size)) "$container"
	qemu-img convert -n --object "secret,id=sec0,file=$key" -f raw "$plain" \
		--target-image-opts "driver=luks,key-secret=sec0,file.filename=$container"
	;;
luks2)
	rm -f "$container"
	cp --sparse=always "$plain" "$container"
	truncate -s $((size + (16 << 20))) "$container"
	cryptsetup reencrypt --encrypt --type luks2 --batch-mode --key-file "$key" \
		--reduce-device-size 16M "$@" "$container" >/dev/null
	off=$(payload)
	;;
*)
	echo "luks.sh: unknown type $type (luks1 or luks2)" >&2
	exit 1
	;;
esac
[ -n "$off" ] || { echo "luks.sh: no payload offset in luksDump of $container" >&2; exit 1; }
echo "$off"
