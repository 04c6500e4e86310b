#!/bin/sh
# Builds Berkeley DB hash rpm databases (the Packages file of RHEL/CentOS
# 7 and 8, SLES before 15) from the headers of an rpmdb.sqlite, with
# Berkeley DB's own db_load (Debian's db5.3-util), and lists each with
# rpm's read-only BDB backend (bdb_ro), the oracle for bdb.go:
#   Packages        little-endian, 4096-byte pages: most headers are
#                   off-page items in overflow chains of one or two
#                   pages, bigdesc's 35 KiB header in a chain of nine
#   Packages-be512  big-endian (db_lorder=4321, as written on s390x or
#                   ppc64), 512-byte pages: every header in a long chain
#   Packages-16k    16 KiB pages: headers under 4 KiB are stored on the
#                   hash page itself (H_KEYDATA), not in overflow pages
#   small.bdb       the fuzz seed: 12 headers on 512-byte pages, the
#                   signing key (gpg-pubkey, the last) among them
# As rpm does, each file also holds key 0, the header-less counter of
# the next package number, and keys are 4-byte numbers in the
# database's byte order.
# Usage: testdata/mkbdb.sh RPMDB.SQLITE OUTDIR (writes the four files and
# bdbqa.txt, rpm -qa's output on Packages, after checking that rpm lists
# the same for the other two and 12 packages in small.bdb). Regenerate
# the checked-in files with
#   zcat testdata/rpmdb.sqlite.gz >/tmp/r.sqlite && testdata/mkbdb.sh /tmp/r.sqlite /tmp/b &&
#   for f in Packages Packages-be512 Packages-16k; do gzip -9n </tmp/b/$f >testdata/$f.gz; done &&
#   cp /tmp/b/small.bdb /tmp/b/bdbqa.txt testdata/
set -eu
src=$(realpath "${1:?usage: mkbdb.sh RPMDB.SQLITE OUTDIR}")
mkdir -p "${2:?usage: mkbdb.sh RPMDB.SQLITE OUTDIR}"
out=$(realpath "$2")
qf='%{NAME}|%{EPOCHNUM}|%{VERSION}|%{RELEASE}|%{ARCH}|%{URL}|%{SUMMARY}|%{SOURCERPM}\n'

# dump ORDER WHERE: db_load's input (db_dump's bytevalue format) for the
# rows matching WHERE, keys in byte order ORDER (le or be).
dump() {
	printf 'VERSION=3\nformat=bytevalue\ntype=hash\nHEADER=END\n'
	sqlite3 -separator ' ' "$src" "SELECT hnum, hex(blob) FROM Packages WHERE $2 ORDER BY hnum" |
		awk -v order="$1" '
		function key(n) {
			if (order == "le")
				return sprintf("%02x%02x%02x%02x", n % 256, int(n / 256) % 256, int(n / 65536) % 256, int(n / 16777216))
			return sprintf("%02x%02x%02x%02x", int(n / 16777216), int(n / 65536) % 256, int(n / 256) % 256, n % 256)
		}
		{ print " " key($1); print " " tolower($2); if ($1 > max) max = $1 }
		END { print " " key(0); print " " key(max + 1) }'
	printf 'DATA=END\n'
}

# make NAME ORDER PAGESIZE WHERE
make() {
	rm -f "$out/$1"
	lorder=1234
	[ "$2" = be ] && lorder=4321
	dump "$2" "$4" | db_load -c db_lorder=$lorder -c db_pagesize="$3" "$out/$1"
}
make Packages le 4096 "1"
make Packages-be512 be 512 "1"
make Packages-16k le 16384 "1"
make small.bdb le 512 "hnum <= 11 OR hnum = (SELECT max(hnum) FROM Packages)"

# rpm reads the file named Packages in --dbpath.
qa() {
	d=$(mktemp -d)
	cp "$out/$1" "$d/Packages"
	# rpm warns about each missing index file (Name, Basenames...).
	{ rpm --dbpath "$d" --define '_db_backend bdb_ro' -qa --qf "$qf" 2>&1 >&3 |
		grep -v '^warning: could not open ' >&2 || true; } 3>&1 | LC_ALL=C sort
	rm -rf "$d"
}
qa Packages >"$out/bdbqa.txt"
for f in Packages-be512 Packages-16k; do
	qa $f | cmp -s - "$out/bdbqa.txt" || { echo "mkbdb.sh: rpm lists $f differently" >&2; exit 1; }
done
n=$(qa small.bdb | wc -l)
[ "$n" -eq 12 ] || { echo "mkbdb.sh: rpm lists $n packages in small.bdb, want 12" >&2; exit 1; }
want=$(sqlite3 "$src" 'SELECT count(*) FROM Packages')
got=$(wc -l <"$out/bdbqa.txt")
[ "$got" -eq "$want" ] || { echo "mkbdb.sh: rpm lists $got packages, the sqlite has $want" >&2; exit 1; }
