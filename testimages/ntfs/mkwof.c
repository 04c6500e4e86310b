/*
 * mkwof: make Windows system-compressed (WOF, "compact /exe") files with
 * wimlib's XPRESS and LZX compressors, the reference for fs/ntfs/wof.
 *
 * Usage:
 *   mkwof stream FORMAT LEVEL IN OUT
 *       write to OUT the WofCompressedData stream of the host file IN:
 *       the chunk offset table then the chunks
 *   mkwof image VOLUME < MANIFEST
 *       add to an unmounted NTFS volume (made by mkntfs), through
 *       libntfs-3g, the files of MANIFEST, one a line, TAB-separated:
 *         dir PATH
 *         wof PATH FORMAT LEVEL HOSTFILE
 *       a wof file has the contents of HOSTFILE, compressed as Windows
 *       stores it: the reparse point (tag 0x80000017, WOF_EXTERNAL_INFO
 *       version 1 provider 2, FILE_PROVIDER_EXTERNAL_INFO_V1 version 1
 *       and FORMAT), an unnamed $DATA of the file's size that is all
 *       hole, and the named $DATA "WofCompressedData" holding the stream
 *   mkwof cat VOLUME OUTDIR PATH...
 *       read each PATH's WofCompressedData and reparse point with
 *       libntfs-3g, decompress each chunk with wimlib, write the
 *       contents to OUTDIR/N, N counting the PATHs from 0
 *   mkwof decompress FORMAT < RECORDS > RESULTS
 *       decompress single chunks with wimlib: each record is the
 *       chunk's size and its compressed size (32-bit little-endian)
 *       then the compressed bytes; each result is a status byte (1 ok,
 *       0 wimlib failed) then the chunk's size of bytes (zeros on
 *       failure)
 *   mkwof bench FORMAT IN ROUNDS
 *       compress IN into chunks, then decompress them all ROUNDS times
 *       with wimlib and print "MB/s N" (uncompressed bytes, 10^6 per
 *       second of the process's CPU time, so that a loaded machine
 *       does not skew it)
 *
 * FORMAT is xpress4k, lzx, xpress8k or xpress16k (WOF's formats 0-3);
 * LEVEL is wimlib's compression level (50 its default; LZX uses its
 * near-optimal parser from 35 up, with aligned offset blocks).
 * A chunk that does not compress to fewer bytes is stored as is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <wimlib.h>

#include <ntfs-3g/types.h>
#include <ntfs-3g/attrib.h>
#include <ntfs-3g/dir.h>
#include <ntfs-3g/inode.h>
#include <ntfs-3g/reparse.h>
#include <ntfs-3g/unistr.h>
#include <ntfs-3g/volume.h>

static ntfs_volume *vol;

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "mkwof: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
	if (vol)
		ntfs_umount(vol, 0);
	exit(1);
}

struct format {
	const char *name;
	int id;         /* WOF compression format */
	int ctype;      /* wimlib compression type */
	size_t chunk;
};

static const struct format formats[] = {
	{"xpress4k", 0, WIMLIB_COMPRESSION_TYPE_XPRESS, 4096},
	{"lzx", 1, WIMLIB_COMPRESSION_TYPE_LZX, 32768},
	{"xpress8k", 2, WIMLIB_COMPRESSION_TYPE_XPRESS, 8192},
	{"xpress16k", 3, WIMLIB_COMPRESSION_TYPE_XPRESS, 16384},
};

static const struct format *format_of(const char *name)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcmp(formats[i].name, name))
			return &formats[i];
	errno = EINVAL;
	die("unknown format", name);
	return NULL;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b = NULL;
	size_t n = 0, cap = 0, k;
	if (!f)
		die("open", path);
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 1 << 16;
			b = realloc(b, cap);
			if (!b)
				die("memory for", path);
		}
		k = fread(b + n, 1, cap - n, f);
		if (k == 0)
			break;
		n += k;
	}
	if (ferror(f))
		die("read", path);
	fclose(f);
	*len = n;
	return b;
}

static void put(unsigned char *b, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		b[i] = v >> (8 * i);
}

/* compress returns the WofCompressedData stream of data[0:len]. */
static unsigned char *compress(const struct format *fmt, unsigned level,
			       const unsigned char *data, size_t len, size_t *outlen)
{
	struct wimlib_compressor *c;
	size_t nchunks = (len + fmt->chunk - 1) / fmt->chunk;
	int entry = len > 0xFFFFFFFFull ? 8 : 4;
	size_t table = nchunks ? (nchunks - 1) * entry : 0;
	unsigned char *out = malloc(table + len + 1);
	size_t pos = table;
	if (!out)
		die("memory", NULL);
	if (wimlib_create_compressor(fmt->ctype, fmt->chunk, level, &c)) {
		errno = EINVAL;
		die("wimlib_create_compressor", fmt->name);
	}
	for (size_t i = 0; i < nchunks; i++) {
		size_t off = i * fmt->chunk;
		size_t n = len - off < fmt->chunk ? len - off : fmt->chunk;
		size_t k;
		if (i > 0)
			put(out + (i - 1) * entry, pos - table, entry);
		k = n > 1 ? wimlib_compress(data + off, n, out + pos, n - 1, c) : 0;
		if (k == 0) {
			memcpy(out + pos, data + off, n);
			k = n;
		}
		pos += k;
	}
	wimlib_free_compressor(c);
	*outlen = pos;
	return out;
}

static void write_file(const char *path, const unsigned char *b, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n || fclose(f))
		die("write", path);
}

static ntfschar wofname[] = {
	const_cpu_to_le16('W'), const_cpu_to_le16('o'), const_cpu_to_le16('f'),
	const_cpu_to_le16('C'), const_cpu_to_le16('o'), const_cpu_to_le16('m'),
	const_cpu_to_le16('p'), const_cpu_to_le16('r'), const_cpu_to_le16('e'),
	const_cpu_to_le16('s'), const_cpu_to_le16('s'), const_cpu_to_le16('e'),
	const_cpu_to_le16('d'), const_cpu_to_le16('D'), const_cpu_to_le16('a'),
	const_cpu_to_le16('t'), const_cpu_to_le16('a'),
};

static ntfs_inode *create(const char *path, mode_t type)
{
	char *p = strdup(path), *slash = strrchr(p, '/');
	ntfschar *uname = NULL;
	int ulen;
	ntfs_inode *dir, *ni;
	if (!slash || !slash[1]) {
		errno = EINVAL;
		die("bad path", path);
	}
	*slash = 0;
	dir = ntfs_pathname_to_inode(vol, NULL, *p ? p : "/");
	if (!dir)
		die("parent of", path);
	ulen = ntfs_mbstoucs(slash + 1, &uname);
	if (ulen <= 0)
		die("name", path);
	ni = ntfs_create(dir, const_cpu_to_le32(0), uname, ulen, type);
	if (!ni)
		die("create", path);
	free(uname);
	free(p);
	ntfs_inode_close(dir);
	return ni;
}

static void wof_file(const char *path, const struct format *fmt, unsigned level, const char *host)
{
	size_t len, clen;
	unsigned char *data = slurp(host, &len);
	unsigned char *stream = compress(fmt, level, data, len, &clen);
	unsigned char rp[24];
	ntfs_inode *ni = create(path, S_IFREG);
	ntfs_attr *na;
	if (ntfs_attr_add(ni, AT_DATA, wofname, 17, NULL, 0))
		die("add WofCompressedData to", path);
	na = ntfs_attr_open(ni, AT_DATA, wofname, 17);
	if (!na || (clen && ntfs_attr_pwrite(na, 0, clen, stream) != (s64)clen))
		die("write WofCompressedData of", path);
	ntfs_attr_close(na);
	na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	if (!na || ntfs_attr_truncate(na, len))
		die("size the unnamed $DATA of", path);
	ntfs_attr_close(na);
	memset(rp, 0, sizeof(rp));
	put(rp, 0x80000017, 4); /* IO_REPARSE_TAG_WOF */
	put(rp + 4, 16, 2);     /* ReparseDataLength */
	put(rp + 8, 1, 4);      /* WOF_EXTERNAL_INFO.Version */
	put(rp + 12, 2, 4);     /* .Provider: WOF_PROVIDER_FILE */
	put(rp + 16, 1, 4);     /* FILE_PROVIDER_EXTERNAL_INFO_V1.Version */
	put(rp + 20, fmt->id, 4); /* .Algorithm */
	if (ntfs_set_ntfs_reparse_data(ni, (char *)rp, sizeof(rp), 0))
		die("set WOF reparse point on", path);
	ntfs_inode_close(ni);
	free(data);
	free(stream);
}

static void image(const char *volume)
{
	char line[8192];
	char *f[8];
	vol = ntfs_mount(volume, NTFS_MNT_NONE);
	if (!vol)
		die("mount", volume);
	while (fgets(line, sizeof(line), stdin)) {
		int n = 0;
		char *s = line, *tok;
		line[strcspn(line, "\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		while (n < 8 && (tok = strsep(&s, "\t")) != NULL)
			f[n++] = tok;
		errno = EINVAL;
		if (!strcmp(f[0], "dir") && n == 2) {
			ntfs_inode_close(create(f[1], S_IFDIR));
		} else if (!strcmp(f[0], "wof") && n == 5) {
			wof_file(f[1], format_of(f[2]), atoi(f[3]), f[4]);
		} else {
			die("bad manifest line", f[0]);
		}
	}
	if (ntfs_umount(vol, 0))
		die("umount", volume);
	vol = NULL;
}

static uint64_t get(const unsigned char *b, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/* cat decompresses PATH's chunks with wimlib, reading them with libntfs-3g. */
static void cat(const char *path, const char *outpath)
{
	ntfs_inode *ni;
	s64 rplen, size, csize;
	unsigned char *rp, *stream, *out;
	const struct format *fmt = NULL;
	struct wimlib_decompressor *d;
	size_t nchunks, table;
	int entry;
	ni = ntfs_pathname_to_inode(vol, NULL, path);
	if (!ni)
		die("open", path);
	rp = ntfs_attr_readall(ni, AT_REPARSE_POINT, AT_UNNAMED, 0, &rplen);
	if (!rp || rplen < 24 || get(rp, 4) != 0x80000017 || get(rp + 12, 4) != 2) {
		errno = EINVAL;
		die("not a WOF file", path);
	}
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if ((uint64_t)formats[i].id == get(rp + 20, 4))
			fmt = &formats[i];
	if (!fmt) {
		errno = EINVAL;
		die("unknown WOF format in", path);
	}
	size = ni->data_size;
	stream = ntfs_attr_readall(ni, AT_DATA, wofname, 17, &csize);
	if (!stream && csize != 0)
		die("read WofCompressedData of", path);
	nchunks = (size + fmt->chunk - 1) / fmt->chunk;
	entry = size > 0xFFFFFFFFll ? 8 : 4;
	table = nchunks ? (nchunks - 1) * entry : 0;
	out = malloc(size + 1);
	if (!out || wimlib_create_decompressor(fmt->ctype, fmt->chunk, &d))
		die("decompressor for", path);
	for (size_t i = 0; i < nchunks; i++) {
		size_t start = i ? get(stream + (i - 1) * entry, entry) : 0;
		size_t end = i + 1 < nchunks ? get(stream + i * entry, entry) : (size_t)csize - table;
		size_t n = (size_t)size - i * fmt->chunk < fmt->chunk ? (size_t)size - i * fmt->chunk : fmt->chunk;
		if (end - start == n)
			memcpy(out + i * fmt->chunk, stream + table + start, n);
		else if (wimlib_decompress(stream + table + start, end - start, out + i * fmt->chunk, n, d)) {
			errno = EINVAL;
			die("wimlib_decompress of a chunk of", path);
		}
	}
	write_file(outpath, out, size);
	wimlib_free_decompressor(d);
	ntfs_inode_close(ni);
	free(rp);
	free(stream);
	free(out);
}

static void bench(const struct format *fmt, const char *in, int rounds)
{
	size_t len, clen;
	unsigned char *data = slurp(in, &len);
	unsigned char *stream = compress(fmt, 50, data, len, &clen);
	unsigned char *out = malloc(len + 1);
	size_t nchunks = (len + fmt->chunk - 1) / fmt->chunk;
	size_t table = nchunks ? (nchunks - 1) * 4 : 0;
	struct wimlib_decompressor *d;
	struct timespec t0, t1;
	double secs;
	if (!out || wimlib_create_decompressor(fmt->ctype, fmt->chunk, &d))
		die("decompressor", NULL);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (int r = 0; r < rounds; r++) {
		for (size_t i = 0; i < nchunks; i++) {
			size_t start = i ? get(stream + (i - 1) * 4, 4) : 0;
			size_t end = i + 1 < nchunks ? get(stream + i * 4, 4) : clen - table;
			size_t n = len - i * fmt->chunk < fmt->chunk ? len - i * fmt->chunk : fmt->chunk;
			if (end - start == n)
				memcpy(out + i * fmt->chunk, stream + table + start, n);
			else if (wimlib_decompress(stream + table + start, end - start, out + i * fmt->chunk, n, d)) {
				errno = EINVAL;
				die("wimlib_decompress", in);
			}
		}
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	if (memcmp(out, data, len)) {
		errno = EINVAL;
		die("round trip differs", in);
	}
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("MB/s %.1f\n", (double)len * rounds / secs / 1e6);
}

static void decompress_records(const struct format *fmt)
{
	struct wimlib_decompressor *d;
	unsigned char hdr[8], *in = malloc(1 << 20), *out = malloc(fmt->chunk);
	if (!in || !out || wimlib_create_decompressor(fmt->ctype, fmt->chunk, &d))
		die("decompressor", fmt->name);
	while (fread(hdr, 1, 8, stdin) == 8) {
		size_t usize = get(hdr, 4), csize = get(hdr + 4, 4);
		unsigned char ok;
		if (usize > fmt->chunk || csize > 1 << 20 || fread(in, 1, csize, stdin) != csize) {
			errno = EINVAL;
			die("bad record", NULL);
		}
		memset(out, 0, usize);
		ok = wimlib_decompress(in, csize, out, usize, d) == 0;
		if (!ok)
			memset(out, 0, usize);
		if (fwrite(&ok, 1, 1, stdout) != 1 || fwrite(out, 1, usize, stdout) != usize)
			die("write", NULL);
	}
	wimlib_free_decompressor(d);
}

int main(int argc, char **argv)
{
	setlocale(LC_ALL, "C.UTF-8");
	if (argc == 6 && !strcmp(argv[1], "stream")) {
		size_t len, clen;
		unsigned char *data = slurp(argv[4], &len);
		unsigned char *s = compress(format_of(argv[2]), atoi(argv[3]), data, len, &clen);
		write_file(argv[5], s, clen);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "image")) {
		image(argv[2]);
		return 0;
	}
	if (argc >= 4 && !strcmp(argv[1], "cat")) {
		char out[4096];
		vol = ntfs_mount(argv[2], NTFS_MNT_RDONLY);
		if (!vol)
			die("mount", argv[2]);
		for (int i = 4; i < argc; i++) {
			snprintf(out, sizeof(out), "%s/%d", argv[3], i - 4);
			cat(argv[i], out);
		}
		ntfs_umount(vol, 0);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "decompress")) {
		decompress_records(format_of(argv[2]));
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "bench")) {
		bench(format_of(argv[2]), argv[3], atoi(argv[4]));
		return 0;
	}
	fprintf(stderr, "usage: mkwof stream FORMAT LEVEL IN OUT | image VOLUME < MANIFEST | cat VOLUME OUTDIR PATH... | decompress FORMAT | bench FORMAT IN ROUNDS\n");
	return 2;
}
