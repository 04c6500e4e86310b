#!/bin/sh
# Builds rpmdb.sqlite, the test database, with Debian's rpm (4.18,
# sqlite backend): "bigdesc" (Epoch, URL, a 30 KiB description that
# spills into overflow pages) and "many" with 300 subpackages, enough
# rows for interior B-tree pages. The result is checked in compressed
# (rpmdb.sqlite.gz), with the oracle rpm -qa gives (rpmqa.txt);
# rpm_test.go also runs rpm -qa itself when rpm is installed.
# Usage: testdata/mkrpmdb.sh OUTDIR (writes rpmdb.sqlite and rpmqa.txt);
# regenerate the checked-in files with
#   testdata/mkrpmdb.sh /tmp/x && gzip -9n </tmp/x/rpmdb.sqlite >testdata/rpmdb.sqlite.gz &&
#   cp /tmp/x/rpmqa.txt /tmp/x/small.sqlite testdata/
set -eu
mkdir -p "${1:?usage: mkrpmdb.sh OUTDIR}"
out=$(realpath "$1")
top=$(mktemp -d)
trap 'rm -rf "$top"' EXIT
mkdir -p "$top/SPECS"
{
	cat <<'SPEC'
Name: bigdesc
Epoch: 3
Version: 1.2.3
Release: 4.fc40
Summary: A package with a long description
License: MIT
URL: https://example.org/bigdesc
BuildArch: noarch
%description
SPEC
	i=0
	while [ $i -lt 500 ]; do
		echo "Line $i of a description long enough to need SQLite overflow pages."
		i=$((i + 1))
	done
	printf '%%files\n'
} >"$top/SPECS/bigdesc.spec"
{
	cat <<'SPEC'
Name: many
Version: 0.9
Release: 1
Summary: The parent of many subpackages
License: GPL-2.0-or-later
BuildArch: noarch
%description
Parent package.
%files
SPEC
	i=1
	while [ $i -le 300 ]; do
		printf '%%package -n pkg%03d\nSummary: Subpackage number %d\n%%description -n pkg%03d\nSubpackage %d.\n%%files -n pkg%03d\n' $i $i $i $i $i
		i=$((i + 1))
	done
} >"$top/SPECS/many.spec"
for s in bigdesc many; do
	rpmbuild --quiet --define "_topdir $top" --define '_source_date_epoch_from_changelog 0' \
		--define 'use_source_date_epoch_as_buildtime 1' -bb "$top/SPECS/$s.spec" >/dev/null
done
rm -f "$out"/rpmdb.sqlite*
rpm --initdb --dbpath "$out"
rpm -i --justdb --nodeps --ignorearch --ignoreos --dbpath "$out" "$top"/RPMS/noarch/*.rpm
# A signing key, which rpm records as a gpg-pubkey package.
export GNUPGHOME="$top/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'Test Key <test@example.org>' ed25519 sign never 2>/dev/null
gpg --batch --armor --export test@example.org >"$top/key.asc"
rpm --import --dbpath "$out" "$top/key.asc"
rpm -qa --dbpath "$out" --qf '%{NAME}|%{EPOCHNUM}|%{VERSION}|%{RELEASE}|%{ARCH}|%{URL}|%{SUMMARY}|%{SOURCERPM}\n' | sort >"$out/rpmqa.txt"
rm -f "$out/.rpm.lock" "$out/rpmdb.sqlite-shm" "$out/rpmdb.sqlite-wal"
# small.sqlite (the fuzz seed): 12 headers on 512-byte pages, so that
# every row overflows and the tree has interior pages, in few bytes.
rm -f "$out/small.sqlite"
sqlite3 "$out/small.sqlite" "PRAGMA page_size=512; ATTACH '$out/rpmdb.sqlite' AS r;
CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);
INSERT INTO Packages SELECT * FROM r.Packages WHERE hnum <= 12;"
