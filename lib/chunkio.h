/* SPDX-License-Identifier: Apache-2.0 */
/*
 * chunkio.h - producing a zarr array's stored chunks from a source of its
 * decoded bytes (tier 5, shared by writer.c and edit.c): gathering or
 * streaming a chunk, encoding it, and putting it into an OCDBT commit or a
 * file.  Chunks above the stream threshold whose bytes are contiguous in the
 * array are streamed straight to disk.
 */
#ifndef CKPT_CHUNKIO_H
#define CKPT_CHUNKIO_H

#include "ocdbt_write.h"
#include "writer.h"
#include "zarr_write.h"

/* puts of one OCDBT commit, owning their keys and values */
struct ckpt_putlist {
	struct ckpt_ocdbt_put *p;
	char **keys;
	uint8_t **vals;
	size_t n, cap;
};

/* takes key and val (val may be NULL); put.key is set from key */
int ckpt_putlist_add(struct ckpt_putlist *pl, char *key, struct ckpt_ocdbt_put put, uint8_t *val);
void ckpt_putlist_clear(struct ckpt_putlist *pl);
void ckpt_putlist_release(struct ckpt_putlist *pl);

/* the array to produce chunks of */
struct ckpt_chunk_src {
	const struct ckpt_zarr_spec *spec;
	ckpt_source_fn src;
	void *ctx;
	uint64_t stream_threshold;
	bool no_fsync;
};

uint64_t ckpt_spec_grid(const struct ckpt_zarr_spec *s, uint64_t *grid);
void ckpt_spec_coords(const struct ckpt_zarr_spec *s, uint64_t lin, uint64_t *ci);
/* "<param>/<chunk key>" (new) */
char *ckpt_spec_chunk_key(const struct ckpt_zarr_spec *s, const char *param, const uint64_t *ci);
/* "<param>/.zarray" or "<param>/zarr.json" (new) */
char *ckpt_spec_meta_key(const struct ckpt_zarr_spec *s, const char *param);

/* chunk ci into w's next commit: a value, or streamed into w's data file */
int ckpt_chunk_to_ocdbt(const struct ckpt_chunk_src *c, const uint64_t *ci, const char *param,
			struct ckpt_ocdbt_wr *w, struct ckpt_putlist *pl, struct ckpt_err *err);
/* chunk ci into the file rel beneath dirfd */
int ckpt_chunk_to_file(const struct ckpt_chunk_src *c, const uint64_t *ci, int dirfd,
		       const char *label, const char *rel, struct ckpt_err *err);

/* helpers for files written beneath a directory */
int ckpt_write_file_at(bool no_fsync, int dirfd, const char *label, const char *rel, const void *p,
		       size_t n, struct ckpt_err *err);
int ckpt_mkdirs_beneath(int dirfd, const char *rel);

#endif
