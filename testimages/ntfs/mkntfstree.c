/*
 * mkntfstree: populate an unmounted NTFS volume (a file made by mkntfs)
 * from a manifest, through libntfs-3g, without FUSE or loop devices.
 *
 * Usage: mkntfstree VOLUME < MANIFEST
 *
 * One command a line, fields separated by TABs (so names may hold spaces);
 * blank lines and lines starting with '#' are ignored. Paths are absolute,
 * UTF-8. File contents are a pseudo-random stream from SEED (xorshift), so
 * they do not compress, except for "compressed", whose contents repeat.
 *
 *   dir       PATH                      a directory
 *   cdir      PATH                      a directory with the compressed flag:
 *                                       files created in it are compressed
 *   file      PATH SIZE SEED            a file of SIZE bytes
 *   compressed PATH SIZE SEED           a file of SIZE compressible bytes
 *                                       (compressed when made in a cdir)
 *   ads       PATH STREAM SIZE SEED     a named $DATA stream on an existing file
 *   sparse    PATH OFF SIZE SEED        a file with SIZE bytes written at OFF,
 *                                       and nothing before (a hole)
 *   link      TARGET NEWPATH            a hard link
 *   frag      PATH PIECES SEED          a file of PIECES clusters, each in its
 *                                       own run: after writing each cluster
 *                                       the one after it is reserved, and the
 *                                       reserved clusters are freed at the end;
 *                                       compressible contents
 *                                       (a few hundred pieces need an
 *                                       $ATTRIBUTE_LIST)
 *   junction  PATH TARGET               a directory with a mount-point reparse
 *                                       point (IO_REPARSE_TAG_MOUNT_POINT) to
 *                                       TARGET, an absolute path in the volume
 *                                       ("\??\C:\TARGET"); TARGET must exist
 *   symlink   PATH TARGET               a directory symbolic link
 *                                       (IO_REPARSE_TAG_SYMLINK, absolute) to
 *                                       the existing directory TARGET
 *   copy      PATH HOSTFILE             a file holding a copy of the host
 *                                       file HOSTFILE
 *   dosname   PATH SHORT                give the file PATH the DOS 8.3 name
 *                                       SHORT (its name becomes a Win32 and
 *                                       a DOS $FILE_NAME, as Windows makes)
 *   wof       PATH SIZE CSIZE SEED      a system-compressed file as Windows'
 *                                       "compact /exe" makes it: a WOF
 *                                       reparse point (tag 0x80000017,
 *                                       XPRESS4K), an unnamed $DATA of SIZE
 *                                       bytes that is all hole, and the
 *                                       named stream WofCompressedData of
 *                                       CSIZE bytes (random here: the map
 *                                       is tested, reading the file fails;
 *                                       mkwof.c makes real ones)
 *
 * The volume is opened with compression allowed (as ntfs-3g's
 * "-o compression" option does).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ntfs-3g/types.h>
#include <ntfs-3g/attrib.h>
#include <ntfs-3g/dir.h>
#include <ntfs-3g/inode.h>
#include <ntfs-3g/lcnalloc.h>
#include <ntfs-3g/reparse.h>
#include <ntfs-3g/unistr.h>
#include <ntfs-3g/volume.h>

static ntfs_volume *vol;
static int lineno;

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "mkntfstree: line %d: %s %s: %s\n", lineno, what,
		arg ? arg : "", strerror(errno));
	if (vol)
		ntfs_umount(vol, 0);
	exit(1);
}

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fill(unsigned char *b, size_t n, int compressible)
{
	size_t i;
	for (i = 0; i < n; i += 8) {
		uint64_t v = next();
		size_t j;
		for (j = 0; j < 8 && i + j < n; j++) {
			if (!compressible)
				b[i + j] = (unsigned char)(v >> (8 * j));
			else if ((i + j) % 64 == 0)
				b[i + j] = 'a' + (v % 26); /* one varying byte in 64 */
			else
				b[i + j] = "NTFS test data. "[(i + j) % 16];
		}
	}
}

/* split PATH into parent inode and the last component (as UTF-16). */
static ntfs_inode *parent_of(const char *path, ntfschar **uname, int *ulen)
{
	char *p = strdup(path), *slash = strrchr(p, '/');
	ntfs_inode *dir;
	if (!slash || slash[1] == 0) {
		errno = EINVAL;
		die("bad path", path);
	}
	*slash = 0;
	dir = ntfs_pathname_to_inode(vol, NULL, *p ? p : "/");
	if (!dir)
		die("parent of", path);
	*uname = NULL;
	*ulen = ntfs_mbstoucs(slash + 1, uname);
	if (*ulen <= 0)
		die("name", path);
	free(p);
	return dir;
}

static ntfs_inode *create(const char *path, mode_t type)
{
	ntfschar *uname;
	int ulen;
	ntfs_inode *dir = parent_of(path, &uname, &ulen);
	ntfs_inode *ni = ntfs_create(dir, const_cpu_to_le32(0), uname, ulen, type);
	if (!ni)
		die("create", path);
	free(uname);
	ntfs_inode_close(dir);
	return ni;
}

static ntfs_inode *open_path(const char *path)
{
	ntfs_inode *ni = ntfs_pathname_to_inode(vol, NULL, path);
	if (!ni)
		die("open", path);
	return ni;
}

static unsigned char buf[1 << 20];

static void write_attr(ntfs_inode *ni, ntfschar *name, int nlen, int64_t off,
		       int64_t size, int compressible, const char *path)
{
	ntfs_attr *na = ntfs_attr_open(ni, AT_DATA, name, nlen);
	if (!na)
		die("open $DATA of", path);
	while (size > 0) {
		int64_t n = size < (int64_t)sizeof(buf) ? size : (int64_t)sizeof(buf);
		fill(buf, n, compressible);
		if (ntfs_attr_pwrite(na, off, n, buf) != n)
			die("write", path);
		off += n;
		size -= n;
	}
	ntfs_attr_close(na);
}

/* put16 stores a little-endian 16-bit value. */
static void put16(unsigned char *b, unsigned v)
{
	b[0] = v & 0xff;
	b[1] = v >> 8;
}

/*
 * reparse makes PATH a directory whose reparse point (tag 0xA0000003 mount
 * point or 0xA000000C symbolic link) names the directory TARGET: the
 * substitute name "\??\C:\DIR\SUB" and the print name "C:\DIR\SUB" for
 * TARGET /DIR/SUB.
 */
static void reparse(const char *path, const char *target, int symlink)
{
	char sub[4200], print[4096];
	ntfschar *usub = NULL, *uprint = NULL;
	int ls, lp, i;
	unsigned char rp[16384];
	size_t hdr = symlink ? 20 : 16, n;
	ntfs_inode *ni = open_path(target);
	ntfs_inode_close(ni); /* TARGET must exist */
	snprintf(print, sizeof(print), "C:%s", target);
	for (i = 0; print[i]; i++)
		if (print[i] == '/')
			print[i] = '\\';
	snprintf(sub, sizeof(sub), "\\??\\%s", print);
	ls = ntfs_mbstoucs(sub, &usub);
	lp = ntfs_mbstoucs(print, &uprint);
	if (ls <= 0 || lp <= 0)
		die("reparse target", target);
	ls *= 2;
	lp *= 2;
	memset(rp, 0, sizeof(rp));
	if (hdr + ls + lp + 4 > sizeof(rp)) {
		errno = ENAMETOOLONG;
		die("reparse target", target);
	}
	put16(rp, symlink ? 0x000C : 0x0003); /* ReparseTag */
	put16(rp + 2, 0xA000);
	if (symlink) {
		/* Print name first, then the substitute name; no NULs; Flags 0. */
		put16(rp + 8, lp);      /* SubstituteNameOffset */
		put16(rp + 10, ls);     /* SubstituteNameLength */
		put16(rp + 12, 0);      /* PrintNameOffset */
		put16(rp + 14, lp);     /* PrintNameLength */
		memcpy(rp + hdr, uprint, lp);
		memcpy(rp + hdr + lp, usub, ls);
		n = hdr + lp + ls;
	} else {
		/* Substitute name, NUL, print name, NUL. */
		put16(rp + 8, 0);
		put16(rp + 10, ls);
		put16(rp + 12, ls + 2);
		put16(rp + 14, lp);
		memcpy(rp + hdr, usub, ls);
		memcpy(rp + hdr + ls + 2, uprint, lp);
		n = hdr + ls + 2 + lp + 2;
	}
	put16(rp + 4, n - 8); /* ReparseDataLength */
	ni = create(path, S_IFDIR);
	if (ntfs_set_ntfs_reparse_data(ni, (char *)rp, n, 0))
		die("set reparse point on", path);
	ntfs_inode_close(ni);
	free(usub);
	free(uprint);
}

/* copy_in makes PATH a file with the contents of the host file HOSTFILE. */
static void copy_in(const char *path, const char *hostfile)
{
	FILE *in = fopen(hostfile, "rb");
	ntfs_inode *ni;
	ntfs_attr *na;
	int64_t off = 0;
	size_t n;
	if (!in)
		die("open host file", hostfile);
	ni = create(path, S_IFREG);
	na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	if (!na)
		die("open $DATA of", path);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
		if (ntfs_attr_pwrite(na, off, n, buf) != (s64)n)
			die("write", path);
		off += n;
	}
	if (ferror(in))
		die("read host file", hostfile);
	fclose(in);
	ntfs_attr_close(na);
	ntfs_inode_close(ni);
}

/* wof makes PATH a system-compressed file (see the usage above). */
static void wof(const char *path, int64_t size, int64_t csize)
{
	static ntfschar wofname[] = {
		const_cpu_to_le16('W'), const_cpu_to_le16('o'), const_cpu_to_le16('f'),
		const_cpu_to_le16('C'), const_cpu_to_le16('o'), const_cpu_to_le16('m'),
		const_cpu_to_le16('p'), const_cpu_to_le16('r'), const_cpu_to_le16('e'),
		const_cpu_to_le16('s'), const_cpu_to_le16('s'), const_cpu_to_le16('e'),
		const_cpu_to_le16('d'), const_cpu_to_le16('D'), const_cpu_to_le16('a'),
		const_cpu_to_le16('t'), const_cpu_to_le16('a'),
	};
	unsigned char rp[24];
	ntfs_attr *na;
	ntfs_inode *ni = create(path, S_IFREG);
	if (ntfs_attr_add(ni, AT_DATA, wofname, 17, NULL, 0))
		die("add WofCompressedData to", path);
	write_attr(ni, wofname, 17, 0, csize, 0, path);
	na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	if (!na || ntfs_attr_truncate(na, size))
		die("size the unnamed $DATA of", path);
	ntfs_attr_close(na);
	memset(rp, 0, sizeof(rp));
	put16(rp, 0x0017);      /* ReparseTag 0x80000017: IO_REPARSE_TAG_WOF */
	put16(rp + 2, 0x8000);
	put16(rp + 4, 16);      /* ReparseDataLength */
	rp[8] = 1;              /* WOF_EXTERNAL_INFO.Version */
	rp[12] = 2;             /* .Provider: WOF_PROVIDER_FILE */
	rp[16] = 1;             /* FILE_PROVIDER_EXTERNAL_INFO_V1.Version */
	rp[20] = 0;             /* .Algorithm: XPRESS4K */
	if (ntfs_set_ntfs_reparse_data(ni, (char *)rp, sizeof(rp), 0))
		die("set WOF reparse point on", path);
	ntfs_inode_close(ni);
}

static int64_t num(const char *s)
{
	char *end;
	long long v;
	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || *end || v < 0) {
		errno = EINVAL;
		die("bad number", s);
	}
	return v;
}

int main(int argc, char **argv)
{
	char line[8192];
	char *f[8];
	if (argc != 2) {
		fprintf(stderr, "usage: mkntfstree VOLUME < MANIFEST\n");
		return 2;
	}
	setlocale(LC_ALL, "C.UTF-8");
	vol = ntfs_mount(argv[1], NTFS_MNT_NONE);
	if (!vol)
		die("mount", argv[1]);
	set_nvol_flag(vol, Compression);
	while (fgets(line, sizeof(line), stdin)) {
		int n = 0;
		char *s = line, *tok;
		ntfs_inode *ni;
		lineno++;
		line[strcspn(line, "\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		while (n < 8 && (tok = strsep(&s, "\t")) != NULL)
			f[n++] = tok;
		errno = EINVAL;
#define NEED(k) do { if (n != (k)) die("wrong field count for", f[0]); } while (0)
		if (!strcmp(f[0], "dir") || !strcmp(f[0], "cdir")) {
			NEED(2);
			ni = create(f[1], S_IFDIR);
			if (f[0][0] == 'c') {
				ni->flags |= FILE_ATTR_COMPRESSED;
				NInoFileNameSetDirty(ni);
				ntfs_inode_mark_dirty(ni);
			}
			ntfs_inode_close(ni);
		} else if (!strcmp(f[0], "file") || !strcmp(f[0], "compressed")) {
			NEED(4);
			ni = create(f[1], S_IFREG);
			rng = num(f[3]) * 2654435761ULL + 1;
			write_attr(ni, AT_UNNAMED, 0, 0, num(f[2]), f[0][0] == 'c', f[1]);
			ntfs_inode_close(ni);
		} else if (!strcmp(f[0], "sparse")) {
			NEED(5);
			ni = create(f[1], S_IFREG);
			rng = num(f[4]) * 2654435761ULL + 1;
			write_attr(ni, AT_UNNAMED, 0, num(f[2]), num(f[3]), 0, f[1]);
			ntfs_inode_close(ni);
		} else if (!strcmp(f[0], "ads")) {
			ntfschar *uname = NULL;
			int ulen;
			NEED(5);
			ni = open_path(f[1]);
			ulen = ntfs_mbstoucs(f[2], &uname);
			if (ulen <= 0)
				die("stream name", f[2]);
			if (ntfs_attr_add(ni, AT_DATA, uname, ulen, NULL, 0))
				die("add stream to", f[1]);
			rng = num(f[4]) * 2654435761ULL + 1;
			write_attr(ni, uname, ulen, 0, num(f[3]), 0, f[1]);
			free(uname);
			ntfs_inode_close(ni);
		} else if (!strcmp(f[0], "link")) {
			ntfschar *uname;
			int ulen;
			ntfs_inode *dir;
			NEED(3);
			ni = open_path(f[1]);
			dir = parent_of(f[2], &uname, &ulen);
			if (ntfs_link(ni, dir, uname, ulen))
				die("link", f[2]);
			free(uname);
			ntfs_inode_close(dir);
			ntfs_inode_close(ni);
		} else if (!strcmp(f[0], "frag")) {
			ntfs_attr *na;
			int64_t pieces, cl = vol->cluster_size, i;
			runlist **held;
			NEED(4);
			pieces = num(f[2]);
			rng = num(f[3]) * 2654435761ULL + 1;
			held = calloc(pieces, sizeof(*held));
			ni = create(f[1], S_IFREG);
			na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
			if (!na || !held)
				die("open $DATA of", f[1]);
			for (i = 0; i < pieces; i++) {
				LCN lcn;
				fill(buf, cl, 1);
				if (ntfs_attr_pwrite(na, i * cl, cl, buf) != cl)
					die("write", f[1]);
				lcn = ntfs_attr_vcn_to_lcn(na, i);
				if (lcn < 0)
					die("vcn to lcn", f[1]);
				/* Hold the next cluster so that the next piece goes elsewhere. */
				held[i] = ntfs_cluster_alloc(vol, 0, 1, lcn + 1, DATA_ZONE);
				if (!held[i])
					die("reserve cluster after piece of", f[1]);
			}
			ntfs_attr_close(na);
			ntfs_inode_close(ni);
			for (i = 0; i < pieces; i++) {
				if (ntfs_cluster_free_from_rl(vol, held[i]))
					die("free reserved cluster", f[1]);
				free(held[i]);
			}
			free(held);
		} else if (!strcmp(f[0], "copy")) {
			NEED(3);
			copy_in(f[1], f[2]);
		} else if (!strcmp(f[0], "dosname")) {
			ntfschar *uname;
			int ulen;
			ntfs_inode *dir;
			NEED(3);
			ni = open_path(f[1]);
			dir = parent_of(f[1], &uname, &ulen);
			free(uname);
			/* Closes ni, not dir. */
			if (ntfs_set_ntfs_dos_name(ni, dir, f[2], strlen(f[2]), 0))
				die("set DOS name of", f[1]);
			ntfs_inode_close(dir);
		} else if (!strcmp(f[0], "wof")) {
			NEED(5);
			rng = num(f[4]) * 2654435761ULL + 1;
			wof(f[1], num(f[2]), num(f[3]));
		} else if (!strcmp(f[0], "junction") || !strcmp(f[0], "symlink")) {
			NEED(3);
			reparse(f[1], f[2], f[0][0] == 's');
		} else {
			errno = EINVAL;
			die("unknown command", f[0]);
		}
	}
	if (ntfs_umount(vol, 0))
		die("umount", argv[1]);
	return 0;
}
